// Run files: round trip of every series and snapshot, killed and live writers, damaged files.
#include "test_runfile_util.h"

#include "nmcore/config.h"
#include "nmcore/runfile.h"
#include "nmcore/trainer.h"

#include <gtest/gtest.h>

#include <hdf5.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace fs = std::filesystem;
using nmtest::TempDir;

namespace {

// Records everything a trainer reports, to compare with what the file holds.
struct Recorder : nm::TrainingObserver {
    std::vector<nm::StepMetrics> steps;
    std::vector<nm::EvalMetrics> evals;
    std::vector<nm::Snapshot> snapshots;
    nm::RunSummary summary;
    nm::RunInfo info;
    void onStart(const nm::RunInfo &i) override { info = i; }
    void onStep(const nm::StepMetrics &m) override { steps.push_back(m); }
    void onEval(const nm::EvalMetrics &e) override { evals.push_back(e); }
    void onSnapshot(const nm::Snapshot &s) override { snapshots.push_back(s); }
    void onEnd(const nm::RunSummary &s) override { summary = s; }
};

// The expected value of every scalar series, written independently of the writer's tables.
using StepGetter = std::function<double(const nm::StepMetrics &)>;
const std::map<std::string, StepGetter> &trainGetters()
{
    static const std::map<std::string, StepGetter> g = {
        {"train/loss", [](const nm::StepMetrics &m) { return double(m.loss); }},
        {"train/accuracy", [](const nm::StepMetrics &m) { return double(m.accuracy); }},
        {"train/lr", [](const nm::StepMetrics &m) { return m.lr; }},
        {"train/grad_norm", [](const nm::StepMetrics &m) { return m.gradNorm; }},
        {"train/step_seconds", [](const nm::StepMetrics &m) { return m.stepSeconds; }},
        {"train/elapsed_seconds", [](const nm::StepMetrics &m) { return m.elapsedSeconds; }},
        {"train/flops", [](const nm::StepMetrics &m) { return m.totalFlops; }},
    };
    return g;
}

using ContGetter = std::function<double(const nm::ContinuityMetrics &)>;
const std::map<std::string, ContGetter> &continuityGetters()
{
    static const std::map<std::string, ContGetter> g = {
        {"continuity/loss_before", [](const nm::ContinuityMetrics &c) { return double(c.lossBefore); }},
        {"continuity/dF1", [](const nm::ContinuityMetrics &c) { return double(c.dF1); }},
        {"continuity/dF2", [](const nm::ContinuityMetrics &c) { return double(c.dF2); }},
        {"continuity/aod_actual", [](const nm::ContinuityMetrics &c) { return double(c.aodActual); }},
        {"continuity/aod_predicted", [](const nm::ContinuityMetrics &c) { return double(c.aodPredicted); }},
        {"continuity/aod_predicted_ste", [](const nm::ContinuityMetrics &c) { return double(c.aodPredictedSte); }},
        {"continuity/flips", [](const nm::ContinuityMetrics &c) { return double(c.flips); }},
    };
    return g;
}

using LayerGetter = std::function<double(const nm::LayerStats &)>;
const std::map<std::string, LayerGetter> &layerGetters()
{
    static const std::map<std::string, LayerGetter> g = {
        {"flip_rate", [](const nm::LayerStats &s) { return double(s.flipRate); }},
        {"flips", [](const nm::LayerStats &s) { return double(s.flips); }},
        {"sad", [](const nm::LayerStats &s) { return double(s.sad); }},
        {"oscillation", [](const nm::LayerStats &s) { return double(s.oscillation); }},
        {"grad_norm", [](const nm::LayerStats &s) { return double(s.gradNorm); }},
        {"grad_norm_kept", [](const nm::LayerStats &s) { return double(s.gradNormKept); }},
        {"grad_norm_pruned", [](const nm::LayerStats &s) { return double(s.gradNormPruned); }},
        {"pruned_share", [](const nm::LayerStats &s) { return double(s.prunedShare); }},
        {"grad_std_kept", [](const nm::LayerStats &s) { return double(s.gradStdKept); }},
        {"grad_std_pruned", [](const nm::LayerStats &s) { return double(s.gradStdPruned); }},
        {"grad_noise", [](const nm::LayerStats &s) { return double(s.gradNoise); }},
        {"grad_noise_kept", [](const nm::LayerStats &s) { return double(s.gradNoiseKept); }},
        {"grad_noise_pruned", [](const nm::LayerStats &s) { return double(s.gradNoisePruned); }},
        {"delta_forward", [](const nm::LayerStats &s) { return double(s.deltaForward); }},
        {"decay_norm", [](const nm::LayerStats &s) { return double(s.decayNorm); }},
        {"alpha", [](const nm::LayerStats &s) { return double(s.alpha); }},
        {"n", [](const nm::LayerStats &s) { return double(s.n); }},
        {"m", [](const nm::LayerStats &s) { return double(s.m); }},
        {"lambda", [](const nm::LayerStats &s) { return double(s.lambda); }},
        {"beta", [](const nm::LayerStats &s) { return double(s.beta); }},
        {"sparsity", [](const nm::LayerStats &s) { return double(s.sparsity); }},
    };
    return g;
}

// Same float, NaN included.
void expectSame(float expected, float actual, const std::string &what)
{
    if (std::isnan(expected))
        EXPECT_TRUE(std::isnan(actual)) << what;
    else
        EXPECT_EQ(expected, actual) << what;
}

nm::RunConfig smallConfig(std::map<std::string, std::string> extra = {})
{
    std::map<std::string, std::string> flags = {
        {"data", "synthetic"}, {"steps", "30"},      {"eval_every", "10"},     {"mlp_hidden", "32,32,32"},
        {"recipe", "sste"},    {"nm", "2:4"},        {"snapshot_every", "12"}, {"continuity_every", "7"},
        {"sad_every", "5"},    {"noise_window", "4"}};
    for (const auto &[k, v] : extra)
        flags[k] = v;
    return nm::parseConfig("", "", flags);
}

} // namespace

TEST(RunFile, MaskBitsArePackedLeastSignificantBitFirst)
{
    const std::vector<uint8_t> mask = {1, 0, 0, 0, 0, 0, 0, 0, 1, 1, //
                                       0, 1, 0, 0, 0, 0, 0, 1, 0, 1};
    const auto packed = nm::packMask(mask, 2, 10);
    ASSERT_EQ(packed.size(), 4u); // ceil(10 / 8) bytes per row
    EXPECT_EQ(packed[0], 0x01);
    EXPECT_EQ(packed[1], 0x03);
    EXPECT_EQ(packed[2], 0x82);
    EXPECT_EQ(packed[3], 0x02);
    EXPECT_EQ(nm::unpackMask(packed, 2, 10), mask);
    EXPECT_THROW(nm::packMask(mask, 3, 10), nm::RunFileError);
}

TEST(RunFile, RoundTripOfEverySeriesSnapshotAndHeader)
{
    TempDir dir;
    const std::string path = dir.file("round_trip.h5");
    const nm::RunConfig cfg = smallConfig();
    nm::Trainer trainer(cfg, nm::loadDataset(nm::dataOptions(cfg)));
    Recorder rec;
    {
        nm::RunFileWriter writer(path, std::vector<nm::RunInfo>{trainer.info()});
        trainer.addObserver(&rec);
        trainer.addObserver(writer.observer(0));
        trainer.run();
    }
    EXPECT_FALSE(fs::exists(path + ".partial"));

    nm::RunFileReader reader(path);
    EXPECT_EQ(reader.schemaVersion(), nm::kRunFileVersion);
    EXPECT_EQ(reader.toolVersion(), "0.1.0");
    EXPECT_EQ(reader.createdAt().size(), 20u); // 2026-01-02T03:04:05Z
    EXPECT_FALSE(std::isnan(reader.lastFlushTime()));
    ASSERT_EQ(reader.runCount(), 1);
    const nm::RunHeader &h = reader.run(0);
    EXPECT_EQ(h.name, cfg.name);
    EXPECT_EQ(h.configJson, nm::configToJson(trainer.info().config));
    EXPECT_EQ(nm::configToJson(h.config), h.configJson);
    EXPECT_EQ(h.recipe, nm::RecipeKind::SSte);
    EXPECT_EQ(h.status, "Completed");
    EXPECT_EQ(h.lastStep, 30);
    EXPECT_EQ(h.seed, cfg.seed);
    EXPECT_EQ(h.nm, "2:4");
    EXPECT_EQ(h.modelDescription, rec.info.modelDescription);
    EXPECT_EQ(h.dataDescription, rec.info.dataDescription);
    EXPECT_EQ(h.parameterCount, rec.info.parameterCount);
    EXPECT_EQ(h.effectiveParameterCount, rec.info.effectiveParameterCount);
    ASSERT_EQ(h.layers.size(), rec.info.layers.size());
    for (size_t i = 0; i < h.layers.size(); ++i) {
        const auto &a = rec.info.layers[i], &b = h.layers[i];
        EXPECT_EQ(a.name, b.name);
        EXPECT_EQ(a.in, b.in);
        EXPECT_EQ(a.out, b.out);
        EXPECT_EQ(a.sparse, b.sparse);
        EXPECT_EQ(a.n, b.n);
        EXPECT_EQ(a.m, b.m);
        EXPECT_EQ(a.denseParams, b.denseParams);
        EXPECT_EQ(a.effectiveParams, b.effectiveParams);
        EXPECT_EQ(a.gemm, b.gemm);
        EXPECT_EQ(a.gemm.empty(), !a.sparse) << a.name; // sparse layers record their GEMM paths
    }
    ASSERT_EQ(h.sparseLayers, (std::vector<std::string>{"fc2", "fc3"}));
    EXPECT_EQ(h.summary.status, nm::RunStatus::Completed);
    EXPECT_EQ(h.summary.step, rec.summary.step);
    EXPECT_EQ(h.summary.valLoss, rec.summary.valLoss);
    EXPECT_EQ(h.summary.valAccuracy, rec.summary.valAccuracy);
    EXPECT_EQ(h.summary.testLoss, rec.summary.testLoss);
    EXPECT_EQ(h.summary.testAccuracy, rec.summary.testAccuracy);
    EXPECT_EQ(h.summary.seconds, rec.summary.seconds);

    // Every scalar series the reader names.
    size_t checked = 0;
    for (const auto &name : nm::scalarSeriesNames()) {
        const nm::Series s = reader.series(0, name);
        std::vector<long> steps;
        std::vector<float> values;
        if (auto it = trainGetters().find(name); it != trainGetters().end()) {
            for (const auto &m : rec.steps) {
                steps.push_back(m.step);
                values.push_back(static_cast<float>(it->second(m)));
            }
        } else if (auto ct = continuityGetters().find(name); ct != continuityGetters().end()) {
            for (const auto &m : rec.steps)
                if (m.hasContinuity) {
                    steps.push_back(m.step);
                    values.push_back(static_cast<float>(ct->second(m.continuity)));
                }
        } else {
            const bool val = name.rfind("val/", 0) == 0;
            const std::string field = name.substr(name.find('/') + 1);
            for (const auto &e : rec.evals)
                if ((e.split == nm::Split::Validation) == val) {
                    steps.push_back(e.step);
                    values.push_back(field == "loss" ? e.loss : field == "accuracy" ? e.accuracy : e.bitsPerChar);
                }
        }
        ASSERT_FALSE(steps.empty()) << name << ": the test run should produce this series";
        EXPECT_EQ(s.steps, steps) << name;
        ASSERT_EQ(s.values.size(), values.size()) << name;
        for (size_t i = 0; i < values.size(); ++i)
            expectSame(values[i], s.values[i], name + " row " + std::to_string(i));
        ++checked;
    }
    EXPECT_EQ(checked, 20u); // train 7, val 3, test 3, continuity 7
    EXPECT_TRUE(reader.series(0, "train/nothing").steps.empty());
    EXPECT_TRUE(reader.series(0, "nonsense").steps.empty());

    // Every per-layer series, every layer.
    ASSERT_EQ(nm::layerSeriesNames().size(), layerGetters().size());
    for (const auto &name : nm::layerSeriesNames()) {
        const auto &get = layerGetters().at(name);
        const nm::LayerSeries s = reader.layerSeries(0, name);
        ASSERT_EQ(s.layers, 2) << name;
        ASSERT_EQ(s.steps.size(), rec.steps.size()) << name;
        for (size_t i = 0; i < rec.steps.size(); ++i) {
            EXPECT_EQ(s.steps[i], rec.steps[i].step);
            for (size_t l = 0; l < 2; ++l)
                expectSame(static_cast<float>(get(rec.steps[i].layers[l])), s.values[i * 2 + l],
                           name + " step " + std::to_string(s.steps[i]) + " layer " + std::to_string(l));
        }
    }

    // Snapshots at 0, every 12 steps and the last step; every field of every layer.
    EXPECT_EQ(reader.snapshotSteps(0), (std::vector<long>{0, 12, 24, 30}));
    ASSERT_EQ(rec.snapshots.size(), 4u);
    for (const auto &snap : rec.snapshots)
        for (int l = 0; l < 2; ++l) {
            const nm::LayerSnapshot &want = snap.layers[static_cast<size_t>(l)];
            const nm::LayerSnapshot got = reader.snapshot(0, l, snap.step);
            EXPECT_EQ(got.name, want.name);
            EXPECT_EQ(got.rows, want.rows);
            EXPECT_EQ(got.cols, want.cols);
            EXPECT_EQ(got.weight, want.weight);
            EXPECT_EQ(got.forward, want.forward);
            EXPECT_EQ(got.mask, want.mask);
            ASSERT_EQ(want.flipCount.size(), want.mask.size());
            EXPECT_EQ(got.flipCount, want.flipCount);
            EXPECT_EQ(got.beta, want.beta);
            EXPECT_EQ(got.alpha, want.alpha);
            EXPECT_EQ(got.n, want.n);
            EXPECT_EQ(got.m, want.m);
        }
    EXPECT_NE(rec.snapshots[0].layers[0].beta, 1.0f);              // S-STE's β is really recorded
    const auto &counts = rec.snapshots.back().layers[0].flipCount; // the counts are really recorded
    EXPECT_GT(*std::max_element(counts.begin(), counts.end()), 0);
    EXPECT_THROW(reader.snapshot(0, 0, 5), nm::RunFileError);
    EXPECT_THROW(reader.snapshot(0, 2, 0), nm::RunFileError);
    EXPECT_THROW(reader.run(1), nm::RunFileError);
}

TEST(RunFile, WriterFromConfigsMatchesTheTrainersLayout)
{
    TempDir dir;
    const std::string path = dir.file("from_config.h5");
    const nm::RunConfig cfg = smallConfig({{"steps", "5"}, {"name", "cfg"}});
    nm::Trainer trainer(cfg, nm::loadDataset(nm::dataOptions(cfg)));
    {
        nm::RunFileWriter writer(path, std::vector<nm::RunConfig>{cfg});
        trainer.addObserver(writer.observer(0));
        trainer.run();
    }
    nm::RunFileReader reader(path);
    EXPECT_EQ(reader.run(0).status, "Completed");
    EXPECT_EQ(reader.series(0, "train/loss").steps.size(), 5u);
    EXPECT_EQ(reader.snapshotSteps(0), (std::vector<long>{0, 5}));
}

TEST(RunFile, WriterWithABadConfigLeavesTheExistingFileAlone)
{
    TempDir dir;
    const std::string path = dir.file("keep.h5");
    {
        std::ofstream(path) << "precious";
    }
    nm::RunConfig bad = smallConfig({{"sparse_layers", "nosuchlayer"}});
    EXPECT_THROW(nm::RunFileWriter(path, std::vector<nm::RunConfig>{bad}), nm::ConfigError);
    std::ifstream in(path);
    std::string text;
    in >> text;
    EXPECT_EQ(text, "precious");
    EXPECT_FALSE(fs::exists(path + ".partial"));
}

TEST(RunFile, UnwritableDirectoryIsAClearError)
{
    const nm::RunInfo info = nmtest::fakeInfo("x");
    try {
        nm::RunFileWriter writer("/nonexistent-dir/run.h5", std::vector<nm::RunInfo>{info});
        FAIL() << "expected RunFileError";
    } catch (const nm::RunFileError &e) {
        EXPECT_NE(std::string(e.what()).find("cannot create run file '/nonexistent-dir/run.h5.partial'"),
                  std::string::npos)
            << e.what();
    }
}

TEST(RunFile, RunsThatNeverEndAreRecordedAsStopped)
{
    TempDir dir;
    const std::string path = dir.file("unfinished.h5");
    {
        nm::RunFileWriter writer(path, std::vector<nm::RunInfo>{nmtest::fakeInfo("a"), nmtest::fakeInfo("b")});
        nmtest::feedStart(*writer.observer(0), nmtest::fakeInfo("a"));
        nmtest::feedSteps(*writer.observer(0), 1, 20);
    } // closed without onEnd
    nm::RunFileReader reader(path);
    ASSERT_EQ(reader.runCount(), 2);
    EXPECT_EQ(reader.run(0).status, "Stopped");
    EXPECT_EQ(reader.run(0).summary.step, 20);
    EXPECT_EQ(reader.run(0).lastStep, 20);
    EXPECT_EQ(reader.run(1).status, "Stopped");
    EXPECT_EQ(reader.run(1).lastStep, 0);
    EXPECT_EQ(reader.run(1).name, "b");
}

// ---- Killed writers ------------------------------------------------------------------------

namespace {
// Forks a child that writes synthetic steps (flushing every few milliseconds) until killed.
pid_t forkEndlessWriter(const std::string &path, double flushSeconds)
{
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid != 0)
        return pid;
    try {
        nm::RunFileOptions o;
        o.flushSeconds = flushSeconds;
        nm::RunFileWriter writer(path, std::vector<nm::RunInfo>{nmtest::fakeInfo("endless")}, o);
        nm::TrainingObserver &obs = *writer.observer(0);
        nmtest::feedStart(obs, nmtest::fakeInfo("endless"));
        obs.onSnapshot(nmtest::fakeSnapshot(0));
        for (long step = 1;; ++step) {
            nmtest::feedSteps(obs, step, step);
            if (step % 50 == 0)
                obs.onSnapshot(nmtest::fakeSnapshot(step));
            if (step % 20 == 0)
                usleep(200);
        }
    } catch (...) {
        _exit(3);
    }
}

void waitForFile(const std::string &path)
{
    for (int i = 0; i < 2000 && !fs::exists(path); ++i)
        usleep(1000);
    ASSERT_TRUE(fs::exists(path)) << "the writer never created " << path;
}

// Everything a reader can see must be exactly what the synthetic writer wrote.
void expectConsistentPrefix(const nm::RunFileReader &reader, long &seen)
{
    const nm::RunHeader &h = reader.run(0);
    const nm::Series loss = reader.series(0, "train/loss");
    for (size_t i = 0; i < loss.steps.size(); ++i) {
        ASSERT_EQ(loss.steps[i], long(i + 1));
        ASSERT_EQ(loss.values[i], nmtest::fakeLoss(loss.steps[i]));
    }
    seen = static_cast<long>(loss.steps.size());
    EXPECT_GE(h.lastStep, 0);
    const nm::LayerSeries flips = reader.layerSeries(0, "flips");
    ASSERT_EQ(flips.layers, 2);
    for (size_t i = 0; i < flips.steps.size(); ++i) {
        ASSERT_EQ(flips.steps[i], long(i + 1));
        ASSERT_EQ(flips.values[i * 2 + 1], float(nmtest::fakeFlips(flips.steps[i], 1)));
    }
    const nm::Series cont = reader.series(0, "continuity/dF1");
    for (size_t i = 0; i < cont.steps.size(); ++i)
        ASSERT_EQ(cont.steps[i], long(5 * (i + 1)));
    const auto snaps = reader.snapshotSteps(0);
    for (size_t i = 0; i < snaps.size(); ++i) {
        ASSERT_EQ(snaps[i], long(i == 0 ? 0 : 50 * i));
        const nm::LayerSnapshot s = reader.snapshot(0, 1, snaps[i]);
        ASSERT_EQ(s.weight, nmtest::fakeSnapshot(snaps[i]).layers[1].weight);
        ASSERT_EQ(s.mask, nmtest::fakeSnapshot(snaps[i]).layers[1].mask);
    }
}
} // namespace

TEST(RunFile, SigkillAtAnyMomentLeavesAReadableFileWithEveryFlushedStep)
{
    TempDir dir;
    std::mt19937 rng(7);
    for (int round = 0; round < 8; ++round) {
        const std::string path = dir.file("killed" + std::to_string(round) + ".h5");
        const pid_t pid = forkEndlessWriter(path, 0.005);
        ASSERT_GT(pid, 0);
        waitForFile(path);
        usleep(static_cast<useconds_t>(std::uniform_int_distribution<int>(0, 300000)(rng)));
        kill(pid, SIGKILL);
        int status = 0;
        waitpid(pid, &status, 0);
        ASSERT_TRUE(WIFSIGNALED(status)) << "the writer child failed on its own (status " << status << ")";
        nm::RunFileReader reader(path);
        EXPECT_EQ(reader.run(0).status, "Running") << "killed writers leave Running and an old lastFlushTime";
        long seen = 0;
        expectConsistentPrefix(reader, seen);
        EXPECT_EQ(reader.run(0).lastStep, seen);
    }
}

TEST(RunFile, ReaderFollowsAFileWhileAnotherProcessWritesIt)
{
    TempDir dir;
    const std::string path = dir.file("live.h5");
    std::fflush(nullptr);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        try {
            nm::RunFileOptions o;
            o.flushSeconds = 0.01;
            nm::RunFileWriter writer(path, std::vector<nm::RunInfo>{nmtest::fakeInfo("live")}, o);
            nm::TrainingObserver &obs = *writer.observer(0);
            nmtest::feedStart(obs, nmtest::fakeInfo("live"));
            obs.onSnapshot(nmtest::fakeSnapshot(0));
            for (long step = 1; step <= 600; ++step) {
                nmtest::feedSteps(obs, step, step);
                if (step % 50 == 0)
                    obs.onSnapshot(nmtest::fakeSnapshot(step));
                usleep(1000);
            }
            nm::RunSummary s;
            s.name = "live";
            s.step = 600;
            s.status = nm::RunStatus::Completed;
            obs.onEnd(s);
            writer.close();
        } catch (...) {
            _exit(3);
        }
        _exit(0);
    }
    waitForFile(path);
    nm::RunFileReader reader(path);
    EXPECT_TRUE(reader.followsWriter());
    long last = -1, seen = 0;
    int growing = 0;
    for (int i = 0; i < 3000 && reader.run(0).status != "Completed"; ++i) {
        reader.refresh();
        const long now = reader.run(0).lastStep;
        EXPECT_GE(now, last);
        if (now > last && last > 0)
            ++growing;
        last = now;
        expectConsistentPrefix(reader, seen);
        usleep(5000);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    reader.refresh();
    EXPECT_EQ(reader.run(0).status, "Completed");
    EXPECT_EQ(reader.run(0).lastStep, 600);
    EXPECT_GE(growing, 3) << "the reader should have seen the run grow several times";
    expectConsistentPrefix(reader, seen);
    EXPECT_EQ(seen, 600);
    EXPECT_EQ(reader.snapshotSteps(0).size(), 13u);
}

TEST(RunFile, ReaderInTheWritersProcessSeesFlushedSteps)
{
    TempDir dir;
    const std::string path = dir.file("same_process.h5");
    nm::RunFileOptions o;
    o.flushSeconds = 0;
    nm::RunFileWriter writer(path, std::vector<nm::RunInfo>{nmtest::fakeInfo("p")}, o);
    nmtest::feedStart(*writer.observer(0), nmtest::fakeInfo("p"));
    std::thread training([&] { nmtest::feedSteps(*writer.observer(0), 1, 300); });
    nm::RunFileReader reader(path);
    long seen = 0;
    for (int i = 0; i < 20; ++i) {
        reader.refresh();
        expectConsistentPrefix(reader, seen);
    }
    training.join();
    writer.flush();
    reader.refresh();
    expectConsistentPrefix(reader, seen);
    EXPECT_EQ(seen, 300);
}

// ---- Damaged and foreign files -------------------------------------------------------------

namespace {
std::string openError(const std::string &path)
{
    try {
        nm::RunFileReader r(path);
    } catch (const nm::RunFileError &e) {
        return e.what();
    }
    return "";
}

// Opens and reads everything; any failure must be a RunFileError.
bool readsCompletely(const std::string &path)
{
    try {
        nm::RunFileReader r(path);
        for (int i = 0; i < r.runCount(); ++i) {
            for (const auto &n : nm::scalarSeriesNames())
                r.series(i, n);
            for (const auto &n : nm::layerSeriesNames())
                r.layerSeries(i, n);
            for (long s : r.snapshotSteps(i))
                for (size_t l = 0; l < r.run(i).sparseLayers.size(); ++l)
                    r.snapshot(i, static_cast<int>(l), s);
        }
        r.refresh();
        return true;
    } catch (const nm::RunFileError &) {
        return false;
    }
}

std::string completedFile(const TempDir &dir)
{
    const std::string path = dir.file("complete.h5");
    nm::RunFileWriter writer(path, std::vector<nm::RunInfo>{nmtest::fakeInfo("c")});
    nmtest::feedStart(*writer.observer(0), nmtest::fakeInfo("c"));
    nmtest::feedSteps(*writer.observer(0), 1, 400);
    writer.observer(0)->onSnapshot(nmtest::fakeSnapshot(0));
    writer.observer(0)->onSnapshot(nmtest::fakeSnapshot(400));
    writer.close();
    return path;
}

void setRootAttr(const std::string &path, const char *name, const char *text, int value)
{
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    H5Adelete(f, name);
    const hid_t space = H5Screate(H5S_SCALAR);
    hid_t type = H5Tcopy(H5T_STD_I32LE);
    if (text) {
        H5Tclose(type);
        type = H5Tcopy(H5T_C_S1);
        H5Tset_size(type, std::strlen(text) + 1);
    }
    const hid_t a = H5Acreate2(f, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    if (text)
        H5Awrite(a, type, text);
    else
        H5Awrite(a, H5T_NATIVE_INT, &value);
    H5Aclose(a);
    H5Tclose(type);
    H5Sclose(space);
    H5Fclose(f);
}
} // namespace

TEST(RunFile, FilesThatAreNotRunFilesGiveClearErrors)
{
    TempDir dir;
    EXPECT_NE(openError(dir.file("missing.h5")).find("No such file"), std::string::npos);
    EXPECT_NE(openError(dir.path()).find("is a directory"), std::string::npos);
    const std::string empty = dir.file("empty.h5");
    std::ofstream(empty).close();
    EXPECT_NE(openError(empty).find("is empty, not an nmstudio run file"), std::string::npos);
    const std::string text = dir.file("notes.h5");
    std::ofstream(text) << "just some text, not HDF5 at all\n";
    EXPECT_NE(openError(text).find("is not an HDF5 file"), std::string::npos) << openError(text);
    // A valid HDF5 file of someone else's.
    const std::string other = dir.file("other.h5");
    H5Fclose(H5Fcreate(other.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
    EXPECT_NE(openError(other).find("is an HDF5 file but not an nmstudio run file (it has no 'schema' attribute)"),
              std::string::npos)
        << openError(other);
}

TEST(RunFile, WrongSchemaNameOrVersionIsRejected)
{
    TempDir dir;
    const std::string path = completedFile(dir);
    ASSERT_TRUE(readsCompletely(path));
    setRootAttr(path, "schema_version", nullptr, 2);
    EXPECT_NE(openError(path).find("run-file version 2, written by a newer nmstudio; this build reads version 1"),
              std::string::npos)
        << openError(path);
    setRootAttr(path, "schema_version", nullptr, 0);
    EXPECT_NE(openError(path).find("unknown run-file version 0"), std::string::npos) << openError(path);
    setRootAttr(path, "schema_version", nullptr, 1);
    EXPECT_EQ(openError(path), "");
    setRootAttr(path, "schema", "someone-elses-format", 0);
    EXPECT_NE(openError(path).find("not an nmstudio run file (schema 'someone-elses-format'"), std::string::npos)
        << openError(path);
}

TEST(RunFile, TruncatedFilesGiveErrorsNotCrashes)
{
    TempDir dir;
    const std::string path = completedFile(dir);
    const auto size = static_cast<long>(fs::file_size(path));
    std::ifstream in(path, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    int failures = 0;
    for (double frac : {0.001, 0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99}) {
        const long keep = std::max(1L, static_cast<long>(frac * static_cast<double>(size)));
        const std::string cut = dir.file("cut" + std::to_string(keep) + ".h5");
        std::ofstream(cut, std::ios::binary).write(bytes.data(), keep);
        if (!readsCompletely(cut))
            ++failures;
    }
    EXPECT_EQ(failures, 8) << "every truncated copy should be reported";
    EXPECT_NE(openError(dir.file(
                  "cut" + std::to_string(std::max(1L, static_cast<long>(0.001 * static_cast<double>(size)))) + ".h5")),
              "");
}

TEST(RunFile, CorruptBytesGiveErrorsNotCrashes)
{
    TempDir dir;
    const std::string path = completedFile(dir);
    std::ifstream in(path, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::mt19937 rng(11);
    int detected = 0;
    const int rounds = 60;
    for (int round = 0; round < rounds; ++round) {
        std::string damaged = bytes;
        // Metadata lives mostly in the first few KiB; hit it and anywhere else.
        const size_t span = round % 2 ? damaged.size() : std::min<size_t>(damaged.size(), 8192);
        const size_t at = std::uniform_int_distribution<size_t>(0, span - 1)(rng);
        for (size_t i = at; i < std::min(damaged.size(), at + 16); ++i)
            damaged[i] = static_cast<char>(damaged[i] ^ 0x5A);
        const std::string bad = dir.file("bad.h5");
        std::ofstream(bad, std::ios::binary | std::ios::trunc).write(damaged.data(), static_cast<long>(damaged.size()));
        if (!readsCompletely(bad))
            ++detected;
    }
    // Raw data carries no checksum, so not every hit is detectable; metadata damage is.
    EXPECT_GE(detected, rounds / 4);
}

TEST(RunFile, LargeFileOpensWithoutReadingItsData)
{
    TempDir dir;
    const std::string path = dir.file("large.h5");
    nm::RunFileOptions o;
    o.deflate = 0; // incompressible size on disk
    {
        nm::RunInfo info = nmtest::fakeInfo("large");
        info.layers[2].in = 1024; // fc3: snapshot layer 1
        info.layers[2].out = 512;
        nm::RunFileWriter writer(path, std::vector<nm::RunInfo>{info}, o);
        nm::TrainingObserver &obs = *writer.observer(0);
        nmtest::feedStart(obs, info);
        nmtest::feedSteps(obs, 1, 20000);
        for (int i = 0; i < 24; ++i) {
            nm::Snapshot s = nmtest::fakeSnapshot(i);
            s.layers[1].rows = 512;
            s.layers[1].cols = 1024;
            s.layers[1].weight.assign(512 * 1024, float(i));
            s.layers[1].forward = s.layers[1].weight;
            s.layers[1].mask.assign(512 * 1024, 1);
            obs.onSnapshot(s);
        }
    }
    EXPECT_GT(fs::file_size(path), 90u << 20);
    const auto t0 = std::chrono::steady_clock::now();
    nm::RunFileReader reader(path);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_LT(seconds, 0.5) << "opening read more than the headers";
    EXPECT_EQ(reader.run(0).lastStep, 20000);
    EXPECT_EQ(reader.snapshot(0, 1, 23).weight[777], 23.0f);
}
