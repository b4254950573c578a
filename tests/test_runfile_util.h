#pragma once
// Helpers for the run-file and experiment tests: a temporary directory and a synthetic run
// (RunInfo, steps, snapshots) whose every value is a known function of the step.
#include "nmcore/config.h"
#include "nmcore/sparsity.h"
#include "nmcore/trainer.h"

#include <cmath>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <spawn.h>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace nmtest {

class TempDir {
  public:
    TempDir()
    {
        std::string tmpl = (std::filesystem::temp_directory_path() / "nmstudio-test-XXXXXX").string();
        if (!mkdtemp(tmpl.data()))
            throw std::runtime_error("cannot create a temporary directory");
        m_path = tmpl;
    }
    ~TempDir()
    {
        std::error_code ec;
        std::filesystem::remove_all(m_path, ec);
    }
    TempDir(const TempDir &) = delete;
    TempDir &operator=(const TempDir &) = delete;
    const std::string &path() const { return m_path; }
    std::string file(const std::string &name) const { return m_path + "/" + name; }

  private:
    std::string m_path;
};

inline std::string readAll(const std::string &path)
{
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

#ifdef NMTRAIN_PATH
struct Result {
    int status = -1;
    std::string err;
};

// Runs the nmtrain built with the tests (NMTRAIN_PATH); its exit status and stderr.
inline Result runNmtrain(const TempDir &dir, std::vector<std::string> args)
{
    const std::string errPath = dir.file("stderr.txt");
    args.insert(args.begin(), NMTRAIN_PATH);
    std::vector<char *> argv;
    for (auto &a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, errPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid = -1;
    Result r;
    if (posix_spawn(&pid, NMTRAIN_PATH, &actions, nullptr, argv.data(), environ) == 0) {
        int status = 0;
        waitpid(pid, &status, 0);
        r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    posix_spawn_file_actions_destroy(&actions);
    r.err = readAll(errPath);
    return r;
}
#endif

// Layers fc1 (dense), fc2 (12×16) and fc3 (10×24), both sparse 2:4.
inline nm::RunInfo fakeInfo(const std::string &name)
{
    nm::RunInfo info;
    info.name = name;
    info.config = nm::defaultConfig();
    info.config.name = name;
    info.config.recipe = "ste";
    info.recipe = nm::RecipeKind::Ste;
    info.modelDescription = "synthetic model";
    info.dataDescription = "synthetic data";
    info.parameterCount = 1000;
    info.effectiveParameterCount = 800;
    info.threads = 1;
    info.blasCore = "none";
    info.layers = {{"fc1", 8, 16, false, 2, 4, 144, 144},
                   {"fc2", 16, 12, true, 2, 4, 204, 108},
                   {"fc3", 24, 10, true, 2, 4, 250, 130}};
    return info;
}

inline float fakeLoss(long step)
{
    return 1.0f / static_cast<float>(step) + 0.125f;
}
inline long fakeFlips(long step, int layer)
{
    return step * 3 + layer;
}

inline void feedStart(nm::TrainingObserver &obs, const nm::RunInfo &info)
{
    obs.onStart(info);
}

// Steps from..to (inclusive); continuity every 5 steps.
inline void feedSteps(nm::TrainingObserver &obs, long from, long to)
{
    for (long s = from; s <= to; ++s) {
        nm::StepMetrics m;
        m.step = s;
        m.loss = fakeLoss(s);
        m.accuracy = static_cast<float>(s % 100) / 100.0f;
        m.lr = 0.1;
        m.gradNorm = static_cast<double>(s);
        m.stepSeconds = 0.001;
        m.elapsedSeconds = 0.001 * static_cast<double>(s);
        m.flops = 3e9;
        m.totalFlops = 3e9 * static_cast<double>(s);
        for (int l = 0; l < 2; ++l) {
            nm::LayerStats row;
            row.flips = fakeFlips(s, l);
            row.flipRate = static_cast<float>(row.flips) * 1e-4f;
            row.n = 2;
            row.m = 4;
            m.layers.push_back(row);
        }
        if (s % 5 == 0) {
            m.hasContinuity = true;
            m.continuity.dF1 = -1.0f / static_cast<float>(s);
            m.continuity.flips = s;
            m.continuity.aodPredictedSte = 0.25f * static_cast<float>(s);
        }
        obs.onStep(m);
    }
}

inline nm::Snapshot fakeSnapshot(long step)
{
    nm::Snapshot snap;
    snap.step = step;
    const int shapes[2][2] = {{12, 16}, {10, 24}};
    for (int l = 0; l < 2; ++l) {
        nm::LayerSnapshot s;
        s.name = l == 0 ? "fc2" : "fc3";
        s.rows = shapes[l][0];
        s.cols = shapes[l][1];
        const size_t n = static_cast<size_t>(s.rows * s.cols);
        for (size_t i = 0; i < n; ++i) {
            s.weight.push_back(static_cast<float>(step) + 0.25f * static_cast<float>(i));
            s.mask.push_back(static_cast<uint8_t>((i + static_cast<size_t>(step)) % 2));
            s.forward.push_back(s.weight.back() * s.mask.back());
        }
        s.beta = 1.0f + 0.5f * static_cast<float>(step);
        s.alpha = 0.5f;
        s.n = 2;
        s.m = 4;
        snap.layers.push_back(std::move(s));
    }
    return snap;
}

} // namespace nmtest
