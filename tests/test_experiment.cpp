// Experiments: thread budget, same data order and initial weights per seed, stopping, the
// mean/spread helpers, nmtrain's experiment mode (Ctrl-C, SIGKILL) and the shipped sample runs.
#include "test_runfile_util.h"

#include "nmcore/experiment.h"
#include "nmcore/platform.h"
#include "nmcore/runfile.h"

#include <gtest/gtest.h>

#include <cmath>
#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <map>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;
using nmtest::TempDir;

extern char **environ;

namespace {

nm::RunConfig baseConfig(std::map<std::string, std::string> extra = {})
{
    std::map<std::string, std::string> flags = {{"data", "synthetic"},
                                                {"steps", "20"},
                                                {"eval_every", "10"},
                                                {"mlp_hidden", "32,32"},
                                                {"snapshot_every", "10"}};
    for (const auto &[k, v] : extra)
        flags[k] = v;
    return nm::parseConfig("", "", flags);
}

struct LossRecorder : nm::TrainingObserver {
    std::vector<float> losses;
    nm::Trainer *stopTrainer = nullptr;
    nm::Experiment *stopExperiment = nullptr;
    long stopAt = -1;
    void onStep(const nm::StepMetrics &m) override
    {
        losses.push_back(m.loss);
        if (m.step == stopAt && stopExperiment)
            stopExperiment->requestStop();
    }
};

} // namespace

TEST(Experiment, ThreadBudgetNeverOversubscribesTheCores)
{
    for (int cores : {1, 2, 3, 8, 16})
        for (int runs : {1, 2, 3, 5, 9, 20}) {
            const nm::ThreadBudget b = nm::threadBudget(runs, cores);
            EXPECT_LE(b.concurrentRuns * b.threadsPerRun, cores) << runs << " runs on " << cores << " cores";
            EXPECT_GE(b.threadsPerRun, 1);
            EXPECT_EQ(b.concurrentRuns, std::min(runs, cores));
            if (runs >= cores) {
                EXPECT_EQ(b.threadsPerRun, 1);
            }
        }
    EXPECT_EQ(nm::threadBudget(1, 2).threadsPerRun, 2);
    EXPECT_EQ(nm::threadBudget(2, 16).threadsPerRun, 8);
    EXPECT_EQ(nm::threadBudget(9, 0).concurrentRuns, std::min(9, nm::hardwareThreads()));
}

TEST(Experiment, ExpandsRecipesTimesSeedsWithClearErrors)
{
    const nm::RunConfig base = baseConfig();
    const auto runs = nm::expandRuns(base, {"ste", "srste", "sste"}, {1, 2});
    ASSERT_EQ(runs.size(), 6u);
    EXPECT_EQ(runs[0].name, "ste_s1");
    EXPECT_EQ(runs[1].name, "ste_s2");
    EXPECT_EQ(runs[5].name, "sste_s2");
    EXPECT_EQ(runs[3].recipe, "srste");
    EXPECT_EQ(runs[3].seed, 2u);
    nm::RunConfig named = base;
    named.name = "sweep";
    EXPECT_EQ(nm::expandRuns(named, {"ste"}, {7})[0].name, "sweep_ste_s7");
    EXPECT_THROW(nm::expandRuns(base, {"ste", "nope"}, {1}), nm::ConfigError);
    EXPECT_THROW(nm::expandRuns(base, {"ste", "ste"}, {1}), nm::ConfigError);
    EXPECT_THROW(nm::expandRuns(base, {"ste"}, {3, 3}), nm::ConfigError);
    EXPECT_THROW(nm::expandRuns(base, {}, {1}), nm::ConfigError);
}

// With lr = 0 the weights never move, so every recorded loss must equal the run's model on
// the batch a fresh sampler gives for (seed, step): the runs really trained on those batches.
TEST(Experiment, RecipesWithOneSeedShareDataOrderAndInitialWeights)
{
    const nm::RunConfig base = baseConfig({{"lr", "0"}, {"steps", "12"}, {"eval_every", "0"}});
    const auto runs = nm::expandRuns(base, {"ste", "srste", "sste"}, {5, 6});
    nm::Experiment exp(runs, 2);
    EXPECT_EQ(exp.budget().concurrentRuns, 2);
    EXPECT_EQ(exp.budget().threadsPerRun, 1);
    // Initial weights: equal within a seed, different across seeds.
    std::vector<std::vector<float>> initial;
    for (int i = 0; i < exp.runCount(); ++i) {
        auto p = exp.trainer(i).model().params();
        initial.emplace_back(p.begin(), p.end());
    }
    for (int i = 0; i < exp.runCount(); ++i)
        for (int j = 0; j < exp.runCount(); ++j) {
            const size_t a = static_cast<size_t>(i), b = static_cast<size_t>(j);
            if (runs[a].seed == runs[b].seed)
                EXPECT_EQ(initial[a], initial[b]) << runs[a].name << " vs " << runs[b].name;
            else
                EXPECT_NE(initial[a], initial[b]) << runs[a].name << " vs " << runs[b].name;
        }

    std::vector<LossRecorder> rec(runs.size());
    for (int i = 0; i < exp.runCount(); ++i)
        exp.addObserver(i, &rec[static_cast<size_t>(i)]);
    const auto summaries = exp.run();
    for (const auto &s : summaries)
        EXPECT_EQ(s.status, nm::RunStatus::Completed);

    nm::setThreadCount(1);
    const auto data = nm::loadRunData({runs[0]})[0];
    for (int i = 0; i < exp.runCount(); ++i) {
        const size_t u = static_cast<size_t>(i);
        ASSERT_EQ(rec[u].losses.size(), 12u);
        nm::TrainSampler sampler(data, runs[u].seed, runs[u].batch, 1);
        nm::Batch batch;
        for (long t = 0; t < 12; ++t) {
            sampler.fill(batch, t);
            EXPECT_EQ(exp.trainer(i).model().forward(batch), rec[u].losses[static_cast<size_t>(t)])
                << runs[u].name << " step " << t + 1;
        }
    }
    // STE and SR-STE have the same forward weights while nothing moves: identical curves.
    EXPECT_EQ(rec[0].losses, rec[2].losses);
    EXPECT_NE(rec[0].losses, rec[1].losses); // another seed, other batches and weights
}

TEST(Experiment, RecordsEveryRunIntoOneFile)
{
    TempDir dir;
    const std::string path = dir.file("experiment.h5");
    const auto runs = nm::expandRuns(baseConfig(), {"ste", "srste", "sste"}, {1, 2});
    nm::Experiment exp(runs);
    {
        nm::RunFileWriter writer(path, exp.infos());
        exp.record(writer);
        exp.run();
    }
    nm::RunFileReader reader(path);
    ASSERT_EQ(reader.runCount(), 6);
    for (int i = 0; i < 6; ++i) {
        const nm::RunHeader &h = reader.run(i);
        EXPECT_EQ(h.name, runs[static_cast<size_t>(i)].name);
        EXPECT_EQ(h.seed, runs[static_cast<size_t>(i)].seed);
        EXPECT_EQ(h.status, "Completed");
        EXPECT_EQ(h.lastStep, 20);
        EXPECT_EQ(h.threads, exp.budget().threadsPerRun);
        EXPECT_EQ(reader.series(i, "train/loss").steps.size(), 20u);
        EXPECT_EQ(reader.snapshotSteps(i), (std::vector<long>{0, 10, 20}));
    }
    // Step-0 snapshots: the same dense weights for one seed, whatever the recipe.
    const auto w = [&](int run) { return reader.snapshot(run, 0, 0).weight; };
    EXPECT_EQ(w(0), w(2));
    EXPECT_EQ(w(0), w(4));
    EXPECT_EQ(w(1), w(3));
    EXPECT_NE(w(0), w(1));
    // The bands over seeds come from the file.
    std::vector<nm::Series> seeds = {reader.series(0, "train/loss"), reader.series(1, "train/loss")};
    const nm::SeriesBand band = nm::bandOverSeeds(seeds);
    ASSERT_EQ(band.steps.size(), 20u);
    EXPECT_EQ(band.count[0], 2);
    EXPECT_FLOAT_EQ(band.mean[0], 0.5f * (seeds[0].values[0] + seeds[1].values[0]));
}

TEST(Experiment, StopEndsEveryRunWithStatusStoppedInAValidFile)
{
    TempDir dir;
    const std::string path = dir.file("stopped.h5");
    const auto runs = nm::expandRuns(baseConfig({{"steps", "100000"}}), {"ste", "sste", "srste"}, {1});
    nm::Experiment exp(runs);
    LossRecorder stopper;
    stopper.stopExperiment = &exp;
    stopper.stopAt = 15;
    exp.addObserver(1, &stopper);
    nm::RunFileWriter writer(path, exp.infos());
    exp.record(writer);
    const auto summaries = exp.run();
    writer.close();
    nm::RunFileReader reader(path);
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(summaries[static_cast<size_t>(i)].status, nm::RunStatus::Stopped);
        EXPECT_EQ(reader.run(i).status, "Stopped");
        EXPECT_LT(reader.run(i).lastStep, 100);
        EXPECT_EQ(reader.run(i).summary.step, reader.run(i).lastStep);
        EXPECT_FALSE(std::isnan(reader.run(i).summary.valLoss)); // stopped runs are still evaluated
        EXPECT_EQ(reader.snapshotSteps(i).back(), reader.run(i).lastStep);
    }
}

TEST(Experiment, BandsAndRecipeSummariesKnownAnswers)
{
    nm::Series a{{1, 2, 3}, {1.0f, 2.0f, 3.0f}}, b{{1, 2}, {3.0f, NAN}};
    const nm::SeriesBand band = nm::bandOverSeeds({a, b});
    EXPECT_EQ(band.steps, (std::vector<long>{1, 2, 3}));
    EXPECT_EQ(band.count, (std::vector<int>{2, 1, 1}));
    EXPECT_FLOAT_EQ(band.mean[0], 2.0f);
    EXPECT_FLOAT_EQ(band.stddev[0], std::sqrt(2.0f));
    EXPECT_FLOAT_EQ(band.min[0], 1.0f);
    EXPECT_FLOAT_EQ(band.max[0], 3.0f);
    EXPECT_FLOAT_EQ(band.mean[1], 2.0f);
    EXPECT_FLOAT_EQ(band.stddev[1], 0.0f);

    std::vector<nm::RunConfig> cfgs(3, nm::defaultConfig());
    cfgs[0].recipe = cfgs[1].recipe = "ste";
    cfgs[2].recipe = "sste";
    std::vector<nm::RunSummary> sums(3);
    sums[0].testAccuracy = 0.80f;
    sums[1].testAccuracy = 0.90f;
    sums[2].testAccuracy = 0.70f;
    sums[1].status = nm::RunStatus::Stopped;
    const auto groups = nm::summarizeByRecipe(cfgs, sums);
    ASSERT_EQ(groups.size(), 2u);
    EXPECT_EQ(groups[0].recipe, "ste");
    EXPECT_EQ(groups[0].runs, 2);
    EXPECT_NEAR(groups[0].testAccuracy.mean, 0.85, 1e-6);
    EXPECT_NEAR(groups[0].testAccuracy.stddev, std::sqrt(0.005), 1e-6);
    EXPECT_EQ(groups[0].statuses, (std::vector<std::string>{"Running", "Stopped"}));
    EXPECT_EQ(groups[1].testAccuracy.count, 1);
    const std::string table = nm::formatSummaryTable(groups);
    EXPECT_NE(table.find("0.8500 ± 0.0707"), std::string::npos) << table;
}

// ---- nmtrain as a user runs it -------------------------------------------------------------

namespace {
pid_t spawnNmtrain(const std::vector<std::string> &args)
{
    std::vector<std::string> all = {NMTRAIN_PATH, "--quiet"};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char *> argv;
    for (auto &a : all)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, NMTRAIN_PATH, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    return rc == 0 ? pid : -1;
}

// Waits until the file shows `step` recorded steps in every run (i.e. flushed), or 60 s.
bool waitForSteps(const std::string &path, long step)
{
    for (int i = 0; i < 600; ++i) {
        usleep(100000);
        if (!fs::exists(path))
            continue;
        try {
            nm::RunFileReader r(path);
            bool all = true;
            for (int k = 0; k < r.runCount(); ++k)
                all = all && r.run(k).lastStep >= step;
            if (all)
                return true;
        } catch (const nm::RunFileError &) {
        }
    }
    return false;
}

const std::vector<std::string> kLongExperiment = {"--data",       "synthetic", "--steps",      "1000000",
                                                  "--mlp-hidden", "64,64",     "--recipes",    "ste,sste",
                                                  "--seeds",      "1,2",       "--eval-every", "500"};
} // namespace

TEST(ExperimentCli, CtrlCStopsEveryRunAndLeavesStatusStopped)
{
    TempDir dir;
    const std::string path = dir.file("interrupted.h5");
    auto args = kLongExperiment;
    args.insert(args.end(), {"--out", path});
    const pid_t pid = spawnNmtrain(args);
    ASSERT_GT(pid, 0);
    ASSERT_TRUE(waitForSteps(path, 1));
    kill(pid, SIGINT);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status)) << "nmtrain did not exit by itself after Ctrl-C";
    EXPECT_EQ(WEXITSTATUS(status), 0);
    nm::RunFileReader reader(path);
    ASSERT_EQ(reader.runCount(), 4);
    for (int i = 0; i < 4; ++i) {
        EXPECT_EQ(reader.run(i).status, "Stopped") << reader.run(i).name;
        EXPECT_GT(reader.run(i).lastStep, 0);
        EXPECT_EQ(reader.series(i, "train/loss").steps.size(), static_cast<size_t>(reader.run(i).lastStep));
        EXPECT_EQ(reader.snapshotSteps(i).back(), reader.run(i).lastStep);
    }
}

TEST(ExperimentCli, SigkillLeavesEveryFlushedStepReadable)
{
    TempDir dir;
    const std::string path = dir.file("killed.h5");
    auto args = kLongExperiment;
    args.insert(args.end(), {"--out", path});
    const pid_t pid = spawnNmtrain(args);
    ASSERT_GT(pid, 0);
    ASSERT_TRUE(waitForSteps(path, 1));
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    nm::RunFileReader reader(path);
    ASSERT_EQ(reader.runCount(), 4);
    for (int i = 0; i < 4; ++i) {
        EXPECT_EQ(reader.run(i).status, "Running");
        const nm::Series loss = reader.series(i, "train/loss");
        ASSERT_GT(loss.steps.size(), 0u);
        for (size_t k = 0; k < loss.steps.size(); ++k) {
            ASSERT_EQ(loss.steps[k], long(k + 1));
            ASSERT_TRUE(std::isfinite(loss.values[k]));
        }
        EXPECT_EQ(reader.layerSeries(i, "flip_rate").steps.size(), loss.steps.size());
        EXPECT_EQ(reader.snapshot(i, 0, 0).rows, 64);
    }
}

TEST(SampleRuns, EveryShippedFileOpensWithTheCurrentReader)
{
    std::vector<fs::path> files;
    for (const auto &e : fs::directory_iterator(NM_SAMPLE_RUNS_DIR))
        if (e.path().extension() == ".h5")
            files.push_back(e.path());
    ASSERT_GE(files.size(), 3u) << "sample_runs/ should ship its experiments (sample_runs/regenerate.sh)";
    for (const auto &f : files) {
        SCOPED_TRACE(f.string());
        nm::RunFileReader reader(f.string());
        ASSERT_GT(reader.runCount(), 0);
        for (int i = 0; i < reader.runCount(); ++i) {
            const nm::RunHeader &h = reader.run(i);
            EXPECT_EQ(h.status, "Completed") << h.name;
            EXPECT_EQ(reader.series(i, "train/loss").steps.size(), static_cast<size_t>(h.lastStep)) << h.name;
            EXPECT_FALSE(reader.series(i, "val/loss").steps.empty());
            for (const auto &n : nm::layerSeriesNames())
                EXPECT_EQ(reader.layerSeries(i, n).steps.size(), static_cast<size_t>(h.lastStep)) << n;
            const auto snaps = reader.snapshotSteps(i);
            ASSERT_GE(snaps.size(), 2u);
            EXPECT_EQ(snaps.front(), 0);
            EXPECT_EQ(snaps.back(), h.lastStep);
            for (size_t l = 0; l < h.sparseLayers.size(); ++l)
                EXPECT_EQ(reader.snapshot(i, static_cast<int>(l), snaps.back()).name, h.sparseLayers[l]);
        }
    }
}
