// Recording that cannot go on: a full disk, a file-size limit, a removed folder. The runs go
// on, recording stops with a message naming the file and the cause, and what was flushed
// stays readable, its runs marked Stopped at their last flushed step.
#include "test_runfile_util.h"

#include "nmcore/runfile.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;
using nmtest::readAll;
using nmtest::TempDir;

namespace {

struct Child {
    pid_t pid = -1;
    std::string errPath;
};

// nmtrain with stderr to a file, optionally under a file-size limit (as `ulimit -f` sets it).
Child startNmtrain(const TempDir &logDir, std::vector<std::string> args, rlim_t fileSizeLimit = RLIM_INFINITY)
{
    Child c;
    c.errPath = logDir.file("stderr.txt");
    args.insert(args.begin(), {NMTRAIN_PATH, "--quiet"});
    std::vector<char *> argv;
    for (auto &a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    std::fflush(nullptr);
    c.pid = fork();
    if (c.pid == 0) {
        const int out = open("/dev/null", O_WRONLY), err = open(c.errPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(out, STDOUT_FILENO);
        dup2(err, STDERR_FILENO);
        if (fileSizeLimit != RLIM_INFINITY) {
            rlimit lim{fileSizeLimit, fileSizeLimit};
            setrlimit(RLIMIT_FSIZE, &lim);
        }
        execv(NMTRAIN_PATH, argv.data());
        _exit(127);
    }
    return c;
}

int waitExit(const Child &c)
{
    int status = 0;
    waitpid(c.pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// What a stopped recording must leave: the runs it stopped say Stopped (a run that ended
// before says Completed), each with its steps 1..n in order and finite, its summary step n,
// its snapshots readable.
void expectStoppedAndReadable(const std::string &path, int runs)
{
    nm::RunFileReader reader(path);
    ASSERT_EQ(reader.runCount(), runs);
    int stopped = 0;
    for (int i = 0; i < runs; ++i) {
        const nm::RunHeader &h = reader.run(i);
        EXPECT_TRUE(h.status == "Stopped" || h.status == "Completed") << h.name << ": " << h.status;
        stopped += h.status == "Stopped";
        const nm::Series loss = reader.series(i, "train/loss");
        EXPECT_EQ(h.summary.step, static_cast<long>(loss.steps.size())) << h.name;
        for (size_t k = 0; k < loss.steps.size(); ++k) {
            ASSERT_EQ(loss.steps[k], long(k + 1));
            ASSERT_TRUE(std::isfinite(loss.values[k]));
        }
        for (long s : reader.snapshotSteps(i)) {
            EXPECT_LE(s, static_cast<long>(loss.steps.size())) << "a snapshot past the recorded series";
            EXPECT_EQ(reader.snapshot(i, 0, s).rows, 16);
        }
    }
    EXPECT_GT(stopped, 0) << "recording was to stop before the runs ended";
}

// Two small runs that write about 2 MB in a few seconds.
std::vector<std::string> longRun(const std::string &out, long steps = 4000)
{
    return {"--data",    "synthetic",        "--steps", std::to_string(steps), "--mlp-hidden", "16,16", "--recipes",
            "ste,srste", "--snapshot-every", "250",     "--eval-every",        "1000",         "--out", out};
}

} // namespace

TEST(RecordingStops, AtTheFileSizeLimitTheRunsFinishAndTheFileIsReadable)
{
    TempDir dir;
    const std::string path = dir.file("limited.h5");
    const Child c = startNmtrain(dir, longRun(path), 1 << 20); // 1 MiB
    const int rc = waitExit(c);
    const std::string err = readAll(c.errPath);
    EXPECT_EQ(rc, 1) << err;
    EXPECT_NE(err.find("nmtrain: warning: recording to '" + path + "' stopped: the file-size limit (ulimit -f"),
              std::string::npos)
        << err;
    EXPECT_NE(err.find("the runs go on, and the file keeps every step flushed before"), std::string::npos) << err;
    EXPECT_NE(err.find("nmtrain: error: the run file is incomplete"), std::string::npos) << err;
    EXPECT_LE(fs::file_size(path), 1u << 20);
    expectStoppedAndReadable(path, 2);
    EXPECT_GT(nm::RunFileReader(path).series(0, "train/loss").steps.size(), 0u);
}

TEST(RecordingStops, WhenTheFolderIsRemovedTheRunsFinishWithAClearMessage)
{
    TempDir logs, dir;
    const std::string path = dir.file("gone.h5");
    const Child c = startNmtrain(logs, longRun(path, 20000));
    bool seen = false;
    for (int i = 0; i < 600 && !seen; ++i) {
        usleep(50000);
        try {
            seen = nm::RunFileReader(path).run(0).lastStep > 0;
        } catch (const nm::RunFileError &) {
        }
    }
    ASSERT_TRUE(seen);
    fs::remove_all(dir.path());
    const int rc = waitExit(c);
    const std::string err = readAll(c.errPath);
    EXPECT_EQ(rc, 1) << err;
    EXPECT_NE(err.find("recording to '" + path + "' stopped: the file was removed or replaced (or its folder was)"),
              std::string::npos)
        << err;
    EXPECT_EQ(err.find("keeps every step"), std::string::npos) << err;
}

TEST(RecordingStops, OnAFullDiskTheRunsFinishAndTheFileIsReadable)
{
    // A 1 MiB tmpfs (needs the right to mount, as root has in CI).
    TempDir mountPoint, logs;
    if (mount("tmpfs", mountPoint.path().c_str(), "tmpfs", 0, "size=1m") != 0)
        GTEST_SKIP() << "cannot mount a small tmpfs here (" << std::strerror(errno) << ")";
    struct Unmount {
        std::string at;
        ~Unmount() { umount2(at.c_str(), MNT_DETACH); }
    } unmount{mountPoint.path()};
    const std::string path = mountPoint.file("full.h5");
    const Child c = startNmtrain(logs, longRun(path));
    const int rc = waitExit(c);
    const std::string err = readAll(c.errPath);
    EXPECT_EQ(rc, 1) << err;
    EXPECT_NE(err.find("recording to '" + path + "' stopped: the disk is full"), std::string::npos) << err;
    expectStoppedAndReadable(path, 2);
    EXPECT_GT(nm::RunFileReader(path).series(1, "train/loss").steps.size(), 0u);
}

TEST(RecordingStops, TheWriterReportsOnceAndObserversNeverThrow)
{
    TempDir dir;
    const std::string path = dir.file("removed.h5");
    std::vector<std::string> messages;
    nm::RunFileOptions o;
    o.flushSeconds = 0; // every step flushes
    o.onFailure = [&](const std::string &m) { messages.push_back(m); };
    nm::RunFileWriter writer(path, std::vector<nm::RunInfo>{nmtest::fakeInfo("a")}, o);
    nm::TrainingObserver &obs = *writer.observer(0);
    nmtest::feedStart(obs, nmtest::fakeInfo("a"));
    nmtest::feedSteps(obs, 1, 5);
    EXPECT_TRUE(writer.failure().empty());
    fs::remove(path);
    EXPECT_NO_THROW(nmtest::feedSteps(obs, 6, 20));
    EXPECT_NO_THROW(obs.onSnapshot(nmtest::fakeSnapshot(20)));
    EXPECT_NO_THROW(writer.flush());
    EXPECT_NO_THROW(writer.close());
    ASSERT_EQ(messages.size(), 1u);
    EXPECT_NE(messages[0].find("recording to '" + path + "' stopped: the file was removed"), std::string::npos)
        << messages[0];
    EXPECT_EQ(writer.failure(), messages[0]);
}
