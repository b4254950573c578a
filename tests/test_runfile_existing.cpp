// Existing run files are never lost: the writer refuses them unless asked, replaces them only
// when asked, and appends runs after the file's own; nmtrain's --out, --overwrite, --append.
#include "test_runfile_util.h"

#include "nmcore/runfile.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <spawn.h>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;
using nmtest::readAll;
using nmtest::Result;
using nmtest::runNmtrain;
using nmtest::TempDir;

extern char **environ;

namespace {

void writeText(const std::string &path, const std::string &text)
{
    std::ofstream(path, std::ios::binary) << text;
}

void feedEnd(nm::TrainingObserver &obs, const std::string &name, long steps)
{
    nm::RunSummary s;
    s.name = name;
    s.step = steps;
    s.status = nm::RunStatus::Completed;
    obs.onEnd(s);
}

// A finished file with the given runs, each `steps` synthetic steps long.
void writeFinished(const std::string &path, const std::vector<std::string> &names, long steps,
                   nm::ExistingRunFile existing = nm::ExistingRunFile::Refuse)
{
    std::vector<nm::RunInfo> infos;
    for (const auto &n : names)
        infos.push_back(nmtest::fakeInfo(n));
    nm::RunFileOptions o;
    o.existing = existing;
    nm::RunFileWriter writer(path, infos, o);
    for (size_t i = 0; i < infos.size(); ++i) {
        nmtest::feedStart(*writer.observer(static_cast<int>(i)), infos[i]);
        nmtest::feedSteps(*writer.observer(static_cast<int>(i)), 1, steps);
        feedEnd(*writer.observer(static_cast<int>(i)), infos[i].name, steps);
    }
}

nm::RunFileOptions with(nm::ExistingRunFile e)
{
    nm::RunFileOptions o;
    o.existing = e;
    return o;
}

} // namespace

TEST(RunFileExisting, RefusedByDefaultAndLeftAsItWas)
{
    TempDir dir;
    const std::string path = dir.file("keep.h5");
    writeText(path, "precious");
    try {
        nm::RunFileWriter writer(path, std::vector<nm::RunInfo>{nmtest::fakeInfo("a")});
        FAIL() << "expected RunFileExists";
    } catch (const nm::RunFileExists &e) {
        EXPECT_NE(std::string(e.what()).find("run file '" + path + "' already exists and was left as it is"),
                  std::string::npos)
            << e.what();
    }
    EXPECT_EQ(readAll(path), "precious");
    EXPECT_FALSE(fs::exists(path + ".partial"));
}

TEST(RunFileExisting, AnythingAtThePathCountsAsExisting)
{
    TempDir dir;
    const std::string folder = dir.file("folder.h5"), link = dir.file("dangling.h5");
    fs::create_directory(folder);
    fs::create_symlink(dir.file("nowhere"), link);
    EXPECT_THROW(nm::RunFileWriter(folder, std::vector<nm::RunInfo>{nmtest::fakeInfo("a")}), nm::RunFileExists);
    EXPECT_THROW(nm::RunFileWriter(link, std::vector<nm::RunInfo>{nmtest::fakeInfo("a")}), nm::RunFileExists);
    EXPECT_TRUE(fs::is_directory(folder));
    EXPECT_TRUE(fs::is_symlink(link));
    EXPECT_FALSE(fs::exists(dir.file("nowhere")));
}

TEST(RunFileExisting, OverwriteReplacesOnlyWhenAsked)
{
    TempDir dir;
    const std::string path = dir.file("replace.h5");
    writeText(path, "old");
    writeFinished(path, {"new"}, 4, nm::ExistingRunFile::Overwrite);
    nm::RunFileReader reader(path);
    ASSERT_EQ(reader.runCount(), 1);
    EXPECT_EQ(reader.run(0).name, "new");
    EXPECT_EQ(reader.run(0).lastStep, 4);
}

TEST(RunFileExisting, AppendAddsRunsAfterTheFilesOwnAndKeepsThem)
{
    TempDir dir;
    const std::string path = dir.file("grow.h5");
    writeFinished(path, {"a", "b"}, 5);
    const std::vector<float> lossA = nm::RunFileReader(path).series(0, "train/loss").values;
    writeFinished(path, {"c"}, 7, nm::ExistingRunFile::Append);
    writeFinished(path, {"a"}, 2, nm::ExistingRunFile::Append); // a name may come again
    EXPECT_FALSE(fs::exists(path + ".partial"));
    nm::RunFileReader reader(path);
    ASSERT_EQ(reader.runCount(), 4);
    EXPECT_EQ(reader.run(0).name, "a");
    EXPECT_EQ(reader.run(1).name, "b");
    EXPECT_EQ(reader.run(2).name, "c");
    EXPECT_EQ(reader.run(3).name, "a");
    EXPECT_EQ(reader.run(2).group, "runs/002_c");
    EXPECT_EQ(reader.run(3).group, "runs/003_a");
    EXPECT_EQ(reader.series(0, "train/loss").values, lossA);
    EXPECT_EQ(reader.run(1).lastStep, 5);
    EXPECT_EQ(reader.run(2).lastStep, 7);
    EXPECT_EQ(reader.run(3).lastStep, 2);
    for (int i = 0; i < 4; ++i)
        EXPECT_EQ(reader.run(i).status, "Completed");
}

TEST(RunFileExisting, AppendToNoFileCreatesIt)
{
    TempDir dir;
    const std::string path = dir.file("new.h5");
    writeFinished(path, {"only"}, 3, nm::ExistingRunFile::Append);
    nm::RunFileReader reader(path);
    ASSERT_EQ(reader.runCount(), 1);
    EXPECT_EQ(reader.run(0).group, "runs/000_only");
}

TEST(RunFileExisting, AppendRefusesWhatIsNotARunFileAndAFileStillBeingWritten)
{
    TempDir dir;
    const std::string text = dir.file("notes.h5");
    writeText(text, "not hdf5");
    EXPECT_THROW(
        nm::RunFileWriter(text, std::vector<nm::RunInfo>{nmtest::fakeInfo("a")}, with(nm::ExistingRunFile::Append)),
        nm::RunFileError);
    EXPECT_EQ(readAll(text), "not hdf5");
    EXPECT_FALSE(fs::exists(text + ".partial"));

    const std::string live = dir.file("live.h5");
    nm::RunFileWriter writer(live, std::vector<nm::RunInfo>{nmtest::fakeInfo("running")});
    nmtest::feedStart(*writer.observer(0), nmtest::fakeInfo("running"));
    nmtest::feedSteps(*writer.observer(0), 1, 3);
    writer.flush();
    try {
        nm::RunFileWriter second(live, std::vector<nm::RunInfo>{nmtest::fakeInfo("b")},
                                 with(nm::ExistingRunFile::Append));
        FAIL() << "expected RunFileError";
    } catch (const nm::RunFileError &e) {
        EXPECT_NE(std::string(e.what()).find("its run 'running' is still being written"), std::string::npos)
            << e.what();
    }
    writer.close();
    EXPECT_EQ(nm::RunFileReader(live).runCount(), 1);
}

TEST(RunFileExisting, FreshPathsNeverNameAnExistingFile)
{
    TempDir dir;
    const std::string path = dir.file("experiment.h5");
    EXPECT_EQ(nm::freshRunFilePath(path), path);
    writeText(path, "1");
    EXPECT_EQ(nm::freshRunFilePath(path), dir.file("experiment-2.h5"));
    writeText(dir.file("experiment-2.h5"), "2");
    EXPECT_EQ(nm::freshRunFilePath(path), dir.file("experiment-3.h5"));
    EXPECT_EQ(nm::freshRunFilePath(dir.file("noext")), dir.file("noext"));
}

// ---- nmtrain --out ---------------------------------------------------------------------------

namespace {

const std::vector<std::string> kShortRun = {"--data",       "synthetic", "--steps", "4",
                                            "--mlp-hidden", "16,16",     "--quiet", "--out"};

std::vector<std::string> shortRun(const std::string &out, std::vector<std::string> extra = {})
{
    auto args = kShortRun;
    args.push_back(out);
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
}

} // namespace

TEST(RunFileExistingCli, OutNeverReplacesAFileUnlessAsked)
{
    TempDir dir;
    const std::string path = dir.file("mine.h5");
    writeText(path, "precious");
    const Result refused = runNmtrain(dir, shortRun(path));
    EXPECT_EQ(refused.status, 1);
    EXPECT_NE(refused.err.find("nmtrain: error: run file '" + path +
                               "' already exists and was left as it is; pass --overwrite to replace it, "
                               "--append to add these runs to it, or choose another --out"),
              std::string::npos)
        << refused.err;
    EXPECT_EQ(readAll(path), "precious");

    const Result both = runNmtrain(dir, shortRun(path, {"--overwrite", "--append"}));
    EXPECT_EQ(both.status, 1);
    EXPECT_NE(both.err.find("give either --overwrite or --append, not both"), std::string::npos) << both.err;
    EXPECT_EQ(readAll(path), "precious");

    const Result noOut = runNmtrain(dir, {"--data", "synthetic", "--steps", "1", "--append"});
    EXPECT_EQ(noOut.status, 1);
    EXPECT_NE(noOut.err.find("--append applies to the run file of --out"), std::string::npos) << noOut.err;

    const Result replaced = runNmtrain(dir, shortRun(path, {"--overwrite"}));
    EXPECT_EQ(replaced.status, 0) << replaced.err;
    EXPECT_EQ(nm::RunFileReader(path).runCount(), 1);
}

TEST(RunFileExistingCli, AppendAddsTheRunsOfASecondCommand)
{
    TempDir dir;
    const std::string path = dir.file("sweep.h5");
    ASSERT_EQ(runNmtrain(dir, shortRun(path, {"--recipes", "ste,srste"})).status, 0);
    const Result appended = runNmtrain(dir, shortRun(path, {"--recipe", "sste", "--append"}));
    ASSERT_EQ(appended.status, 0) << appended.err;
    nm::RunFileReader reader(path);
    ASSERT_EQ(reader.runCount(), 3);
    EXPECT_EQ(reader.run(0).config.recipe, "ste");
    EXPECT_EQ(reader.run(1).config.recipe, "srste");
    EXPECT_EQ(reader.run(2).config.recipe, "sste");
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(reader.run(i).status, "Completed");
        EXPECT_EQ(reader.series(i, "train/loss").steps.size(), 4u);
    }
}
