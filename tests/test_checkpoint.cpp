// Checkpoints: a run resumed from a run file's checkpoint takes exactly the steps the original
// took (parameters, optimiser, masks, recipe state and diagnostics windows), for every recipe.
#include "nmcore/config.h"
#include "nmcore/error.h"
#include "nmcore/runfile.h"
#include "nmcore/trainer.h"

#include "test_runfile_util.h"

#include <gtest/gtest.h>
#include <hdf5.h>

#include <cmath>
#include <cstring>
#include <map>

namespace {

using Flags = std::map<std::string, std::string>;

nm::RunConfig config(const Flags &extra)
{
    Flags flags = {{"data", "synthetic"},   {"steps", "40"},           {"eval_every", "10"},
                   {"mlp_hidden", "32,32"}, {"snapshot_every", "15"},  {"noise_window", "5"},
                   {"sad_every", "7"},      {"continuity_every", "6"}, {"threads", "1"}};
    for (const auto &[k, v] : extra)
        flags[k] = v;
    return nm::parseConfig("", "test", flags);
}

std::shared_ptr<const nm::Dataset> dataFor(const nm::RunConfig &c)
{
    return nm::loadDataset(nm::dataOptions(c));
}

struct Steps : nm::TrainingObserver {
    std::vector<nm::StepMetrics> steps;
    std::vector<long> checkpoints;
    void onStep(const nm::StepMetrics &m) override { steps.push_back(m); }
    void onCheckpoint(const nm::Checkpoint &c) override { checkpoints.push_back(c.step); }
};

// Equal as bits, NaN equal to NaN.
bool same(double a, double b)
{
    return (std::isnan(a) && std::isnan(b)) || a == b;
}

void expectSameSteps(const nm::StepMetrics &a, const nm::StepMetrics &b)
{
    ASSERT_EQ(a.step, b.step);
    EXPECT_EQ(a.loss, b.loss) << "step " << a.step;
    EXPECT_EQ(a.gradNorm, b.gradNorm) << "step " << a.step;
    EXPECT_EQ(a.lr, b.lr) << "step " << a.step;
    ASSERT_EQ(a.layers.size(), b.layers.size());
    for (size_t l = 0; l < a.layers.size(); ++l) {
        const nm::LayerStats &x = a.layers[l], &y = b.layers[l];
        EXPECT_EQ(x.flips, y.flips) << "step " << a.step;
        EXPECT_TRUE(same(x.sad, y.sad)) << "step " << a.step << ": " << x.sad << " vs " << y.sad;
        EXPECT_TRUE(same(x.oscillation, y.oscillation)) << "step " << a.step;
        EXPECT_TRUE(same(x.gradNoise, y.gradNoise))
            << "step " << a.step << ": " << x.gradNoise << " vs " << y.gradNoise;
        EXPECT_TRUE(same(x.deltaForward, y.deltaForward)) << "step " << a.step;
        EXPECT_TRUE(same(x.beta, y.beta)) << "step " << a.step;
        EXPECT_TRUE(same(x.alpha, y.alpha)) << "step " << a.step;
        EXPECT_TRUE(same(x.sparsity, y.sparsity)) << "step " << a.step;
        EXPECT_EQ(x.n, y.n);
        EXPECT_EQ(x.m, y.m);
    }
    EXPECT_EQ(a.flops, b.flops) << "step " << a.step;
    EXPECT_EQ(a.totalFlops, b.totalFlops) << "step " << a.step; // the count continues from the checkpoint
    EXPECT_EQ(a.hasContinuity, b.hasContinuity);
    if (a.hasContinuity && b.hasContinuity) {
        EXPECT_EQ(a.continuity.dF1, b.continuity.dF1) << "step " << a.step;
        EXPECT_EQ(a.continuity.dF2, b.continuity.dF2) << "step " << a.step;
    }
}

// Records the whole run to a file, resumes from the file's checkpoint at `from` and checks
// that every later step and the final parameters are the original's.
void resumeMatchesTheOriginal(const nm::RunConfig &c, long from)
{
    SCOPED_TRACE(c.recipe + " " + c.nm + (c.mvue ? " mvue" : "") + (c.fp8 ? " fp8" : ""));
    nmtest::TempDir dir;
    const std::string path = dir.file("run.h5");
    const auto data = dataFor(c);
    Steps whole;
    std::vector<float> finalParams;
    nm::Snapshot finalSnap;
    {
        nm::Trainer t(c, data);
        nm::RunFileWriter w(path, {t.info()});
        t.addObserver(&whole);
        t.addObserver(w.observer(0));
        t.run();
        w.close();
        const auto p = t.model().params();
        finalParams.assign(p.begin(), p.end());
        finalSnap = t.snapshot();
    }
    nm::RunFileReader r(path);
    ASSERT_EQ(r.checkpointSteps(0), (std::vector<long>{15, 30, 40}));
    const nm::Checkpoint ck = r.checkpoint(0, from);
    EXPECT_EQ(ck.step, from);
    auto resumed = nm::Trainer::resume(r.run(0).config, c, data, ck);
    EXPECT_EQ(resumed->step(), from);
    Steps rest;
    resumed->addObserver(&rest);
    resumed->run();
    ASSERT_EQ(rest.steps.size(), static_cast<size_t>(c.steps - from));
    for (size_t i = 0; i < rest.steps.size(); ++i)
        expectSameSteps(whole.steps[static_cast<size_t>(from) + i], rest.steps[i]);
    EXPECT_GT(rest.steps.front().elapsedSeconds, ck.elapsedSeconds);
    const auto p = resumed->model().params();
    ASSERT_EQ(p.size(), finalParams.size());
    for (size_t i = 0; i < p.size(); ++i)
        ASSERT_EQ(p[i], finalParams[i]) << "parameter " << i;
    // The per-weight flip counts continue from the checkpoint's.
    const nm::Snapshot snap = resumed->snapshot();
    ASSERT_EQ(snap.layers.size(), finalSnap.layers.size());
    ASSERT_EQ(ck.layers.size(), snap.layers.size());
    for (size_t l = 0; l < snap.layers.size(); ++l) {
        EXPECT_EQ(ck.layers[l].flipCount.size(), ck.layers[l].mask.size()) << "layer " << l;
        EXPECT_EQ(snap.layers[l].flipCount, finalSnap.layers[l].flipCount) << "layer " << l;
    }
}

} // namespace

TEST(Checkpoint, ResumeFromAFileTakesTheOriginalStepsForEveryRecipe)
{
    for (const char *recipe : {"dense", "ste", "srste", "sste", "mdgf-linear", "mdgf-exp", "sdgf-stepwise",
                               "sdgf-geometric", "tsrste-df", "asp"})
        resumeMatchesTheOriginal(config({{"recipe", recipe},
                                         {"nm", recipe[0] == 's' && recipe[1] == 'd' ? "1:8" : "2:4"},
                                         {"mlp_hidden", "64,64"},
                                         {"asp_prune_at", "0.25"},
                                         {"tsrste_refresh", "4"}}),
                                 15);
}

TEST(Checkpoint, ResumeKeepsFrozenBetaDecoupledDecayAndStochasticRounding)
{
    resumeMatchesTheOriginal(config({{"recipe", "sste"}, {"sste_beta", "frozen"}}), 30);
    resumeMatchesTheOriginal(config({{"recipe", "srste"}, {"srste_decay", "decoupled"}, {"lambda", "0.01"}}), 15);
    resumeMatchesTheOriginal(config({{"recipe", "ste"}, {"mvue", "true"}, {"fp8", "true"}}), 30);
}

TEST(Checkpoint, ResumeAGptWithAdamW)
{
    resumeMatchesTheOriginal(config({{"model", "gpt"},
                                     {"gpt_width", "32"},
                                     {"context", "16"},
                                     {"batch", "4"},
                                     {"warmup", "5"},
                                     {"recipe", "srste"},
                                     {"sparse_layers", "all"}}),
                             15);
}

TEST(Checkpoint, ResumeAVitWithEveryRecipe)
{
    for (const char *recipe : {"srste", "sste", "mdgf-exp", "sdgf-geometric"})
        resumeMatchesTheOriginal(config({{"model", "vit"},
                                         {"vit_patch", "2"},
                                         {"vit_width", "16"},
                                         {"vit_pool", "mean"},
                                         {"batch", "8"},
                                         {"warmup", "5"},
                                         {"recipe", recipe},
                                         {"nm", recipe[0] == 's' && recipe[1] == 'd' ? "1:8" : "2:4"},
                                         {"sparse_layers", "all"},
                                         {"keep_indivisible_dense", "true"}}),
                                 15);
}

TEST(Checkpoint, WrittenWithSnapshotsAndWhenARunStops)
{
    const auto c = config({{"recipe", "srste"}, {"steps", "100"}});
    nm::Trainer t(c, dataFor(c));
    Steps s;
    t.addObserver(&s);
    for (int i = 0; i < 22; ++i)
        t.stepOnce();
    t.requestStop();
    t.run();
    EXPECT_EQ(t.status(), nm::RunStatus::Stopped);
    EXPECT_EQ(s.checkpoints, (std::vector<long>{15, 22}));
    // Off: none.
    const auto off = config({{"recipe", "srste"}, {"checkpoints", "false"}});
    nm::Trainer u(off, dataFor(off));
    Steps none;
    u.addObserver(&none);
    u.run();
    EXPECT_TRUE(none.checkpoints.empty());
    // A diverged run leaves no final checkpoint (its parameters are not finite).
    const auto bad = config({{"recipe", "ste"}, {"lr", "90"}, {"momentum", "0.99"}, {"grad_clip", "0"}});
    nm::Trainer v(bad, dataFor(bad));
    Steps diverged;
    v.addObserver(&diverged);
    v.run();
    ASSERT_EQ(v.status(), nm::RunStatus::Diverged);
    for (long k : diverged.checkpoints)
        EXPECT_TRUE(k % 15 == 0 && k < v.step()) << k;
}

TEST(Checkpoint, ResumeAnotherRecipeStartsItsMasksFromTheWeights)
{
    const auto c = config({{"recipe", "srste"}});
    nm::Trainer t(c, dataFor(c));
    for (int i = 0; i < 15; ++i)
        t.stepOnce();
    const nm::Checkpoint ck = t.checkpoint();
    auto other = nm::Trainer::resume(c, config({{"recipe", "sste"}}), dataFor(c), ck);
    EXPECT_EQ(other->info().recipe, nm::RecipeKind::SSte);
    EXPECT_EQ(other->info().parentName, c.name);
    EXPECT_EQ(other->info().forkStep, 15);
    other->run();
    EXPECT_EQ(other->step(), 40);
    // What does not match is named.
    EXPECT_THROW(nm::Trainer::resume(c, config({{"seed", "7"}}), dataFor(c), ck), nm::ConfigError);
    // The same data in another place (a file from another machine) is the same data.
    EXPECT_NO_THROW(nm::Trainer::resume(c, config({{"data_dir", "/elsewhere"}}), dataFor(c), ck));
    EXPECT_THROW(nm::Trainer::resume(c, config({{"steps", "15"}}), dataFor(c), ck), nm::ConfigError);
    nm::Checkpoint shorter = ck;
    shorter.params.pop_back();
    EXPECT_THROW(nm::Trainer::resume(c, c, dataFor(c), shorter), nm::ConfigError);
    nm::Checkpoint renamed = ck;
    renamed.layers[0].name = "fc9";
    try {
        nm::Trainer::resume(c, c, dataFor(c), renamed);
        FAIL() << "a checkpoint of other layers was accepted";
    } catch (const nm::ConfigError &e) {
        EXPECT_NE(std::string(e.what()).find("fc9"), std::string::npos) << e.what();
    }
}

TEST(Checkpoint, ForkedRunsNameTheirParentInTheFile)
{
    nmtest::TempDir dir;
    const auto c = config({{"recipe", "ste"}, {"name", "base"}});
    nm::Trainer t(c, dataFor(c));
    for (int i = 0; i < 15; ++i)
        t.stepOnce();
    auto child = t.fork(config({{"recipe", "sste"}, {"name", "child"}}));
    nm::RunFileWriter w(dir.file("f.h5"), {t.info(), child->info()});
    w.close();
    nm::RunFileReader r(dir.file("f.h5"));
    EXPECT_EQ(r.run(0).parent, "");
    EXPECT_EQ(r.run(0).forkStep, -1);
    EXPECT_EQ(r.run(1).parent, "base");
    EXPECT_EQ(r.run(1).forkStep, 15);
    EXPECT_FALSE(r.run(1).blasKernel.empty());
}

TEST(Checkpoint, MissingAndDamagedCheckpointsAreClearErrors)
{
    nmtest::TempDir dir;
    const std::string path = dir.file("run.h5");
    const auto c = config({{"recipe", "sste"}});
    {
        nm::Trainer t(c, dataFor(c));
        nm::RunFileWriter w(path, {t.info()});
        t.addObserver(w.observer(0));
        t.run();
    }
    {
        nm::RunFileReader r(path);
        try {
            r.checkpoint(0, 20);
            FAIL() << "no checkpoint at step 20, yet one was returned";
        } catch (const nm::RunFileError &e) {
            EXPECT_NE(std::string(e.what()).find("no checkpoint at that step (checkpoints at: 15, 30, 40)"),
                      std::string::npos)
                << e.what();
        }
        try {
            r.snapshot(0, 0, 20);
            FAIL() << "no snapshot at step 20, yet one was returned";
        } catch (const nm::RunFileError &e) {
            EXPECT_NE(std::string(e.what()).find("no snapshot at that step (snapshots at: 0, 15, 30, 40)"),
                      std::string::npos)
                << e.what();
        }
    }
    // Remove one dataset of a layer's state: the reader names it.
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    ASSERT_GE(H5Ldelete(f, "runs/000_run/checkpoints/fc2/sad_mask", H5P_DEFAULT), 0);
    H5Fclose(f);
    nm::RunFileReader r(path);
    EXPECT_EQ(r.checkpointSteps(0).size(), 3u);
    try {
        r.checkpoint(0, 30);
        FAIL() << "a checkpoint without its sad_mask was read";
    } catch (const nm::RunFileError &e) {
        EXPECT_NE(std::string(e.what()).find("sad_mask"), std::string::npos) << e.what();
    }
}

// A file from before the per-weight flip counts: its snapshots read without them, and a resume
// from its checkpoint takes the original's steps with the counts starting at 0.
TEST(Checkpoint, FilesWithoutFlipCountsReadAndResumeWithCountsFromZero)
{
    nmtest::TempDir dir;
    const std::string path = dir.file("old.h5");
    const auto c = config({{"recipe", "ste"}, {"lr", "0.3"}});
    const auto data = dataFor(c);
    Steps whole;
    nm::Snapshot finalSnap;
    {
        nm::Trainer t(c, data);
        nm::RunFileWriter w(path, {t.info()});
        t.addObserver(&whole);
        t.addObserver(w.observer(0));
        t.run();
        finalSnap = t.snapshot();
    }
    nm::LayerSnapshot before;
    std::vector<std::string> layers;
    {
        nm::RunFileReader r(path);
        before = r.snapshot(0, 0, 15);
        ASSERT_EQ(before.flipCount.size(), before.mask.size());
        layers = r.run(0).sparseLayers;
    }
    ASSERT_FALSE(layers.empty());
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    for (const std::string &layer : layers) {
        const std::string p = "runs/000_run/snapshots/" + layer + "/flip_count";
        ASSERT_GT(H5Lexists(f, p.c_str(), H5P_DEFAULT), 0) << p;
        ASSERT_GE(H5Ldelete(f, p.c_str(), H5P_DEFAULT), 0) << p;
    }
    H5Fclose(f);
    nm::RunFileReader r(path);
    const nm::LayerSnapshot s = r.snapshot(0, 0, 15);
    EXPECT_TRUE(s.flipCount.empty());
    EXPECT_EQ(s.weight, before.weight);
    EXPECT_EQ(s.mask, before.mask);
    const nm::Checkpoint ck = r.checkpoint(0, 15);
    for (const auto &l : ck.layers)
        EXPECT_TRUE(l.flipCount.empty());
    auto resumed = nm::Trainer::resume(r.run(0).config, c, data, ck);
    for (const auto &l : resumed->snapshot().layers)
        EXPECT_EQ(l.flipCount, std::vector<uint16_t>(l.mask.size(), 0));
    Steps rest;
    resumed->addObserver(&rest);
    resumed->run();
    ASSERT_EQ(rest.steps.size(), static_cast<size_t>(c.steps - 15));
    for (size_t i = 0; i < rest.steps.size(); ++i)
        expectSameSteps(whole.steps[15 + i], rest.steps[i]);
    // The counts are those of steps 16 on: the original's minus the ones it had at step 15.
    const nm::Snapshot snap = resumed->snapshot();
    for (size_t i = 0; i < before.mask.size(); ++i)
        ASSERT_EQ(snap.layers[0].flipCount[i], finalSnap.layers[0].flipCount[i] - before.flipCount[i]) << i;
}

// ---- nmtrain --resume ------------------------------------------------------------------------

namespace {

// Rewrites a run's string attribute in a closed file (as another machine would have written it).
void setRunAttr(const std::string &path, const std::string &group, const char *name, const std::string &value)
{
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    const hid_t g = H5Gopen2(f, group.c_str(), H5P_DEFAULT);
    H5Adelete(g, name);
    const hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5T_CSET_UTF8);
    const hid_t space = H5Screate(H5S_SCALAR);
    const hid_t a = H5Acreate2(g, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    const char *text = value.c_str();
    H5Awrite(a, type, &text);
    H5Aclose(a);
    H5Sclose(space);
    H5Tclose(type);
    H5Gclose(g);
    H5Fclose(f);
}

std::vector<float> finalLosses(const std::string &path, int run)
{
    nm::RunFileReader r(path);
    return r.series(run, "train/loss").values;
}

} // namespace

TEST(ResumeCli, ContinuesARunInItsOwnFileExactly)
{
    nmtest::TempDir dir;
    const std::string path = dir.file("exp.h5");
    const std::vector<std::string> run = {"--data",  "synthetic",        "--recipe", "sste",      "--mlp-hidden",
                                          "32,32",   "--snapshot-every", "20",       "--threads", "1",
                                          "--quiet", "--name",           "base"};
    auto with = [&](std::vector<std::string> extra) {
        std::vector<std::string> a = run;
        a.insert(a.end(), extra.begin(), extra.end());
        return a;
    };
    ASSERT_EQ(nmtest::runNmtrain(dir, with({"--steps", "60", "--out", path})).status, 0);
    const auto whole = finalLosses(path, 0);
    const nmtest::Result resumed =
        nmtest::runNmtrain(dir, {"--resume", path, "--run", "base", "--from-step", "40", "--threads", "1", "--quiet"});
    ASSERT_EQ(resumed.status, 0) << resumed.err;
    EXPECT_EQ(resumed.err, "");
    nm::RunFileReader r(path);
    ASSERT_EQ(r.runCount(), 2);
    EXPECT_EQ(r.run(1).name, "base@40");
    EXPECT_EQ(r.run(1).parent, "base");
    EXPECT_EQ(r.run(1).forkStep, 40);
    const auto rest = r.series(1, "train/loss");
    ASSERT_EQ(rest.steps.front(), 41);
    ASSERT_EQ(rest.values.size(), 20u);
    for (size_t i = 0; i < rest.values.size(); ++i)
        EXPECT_EQ(rest.values[i], whole[40 + i]) << "step " << rest.steps[i];
    // Between checkpoints: replayed from the one before, with the same kernel and threads the same.
    const nmtest::Result replayed = nmtest::runNmtrain(dir, {"--resume", path, "--run", "base", "--from-step", "30",
                                                             "--threads", "1", "--quiet", "--out", dir.file("b.h5")});
    ASSERT_EQ(replayed.status, 0) << replayed.err;
    EXPECT_NE(replayed.err.find("at step 20: replaying 10 steps (same BLAS kernel"), std::string::npos) << replayed.err;
    const auto again = nm::RunFileReader(dir.file("b.h5")).series(0, "train/loss").values;
    ASSERT_EQ(again.size(), 30u);
    for (size_t i = 0; i < again.size(); ++i)
        EXPECT_EQ(again[i], whole[30 + i]);
}

TEST(ResumeCli, SaysWhenAReplayRunsOnAnotherKernelOrThreadCount)
{
    nmtest::TempDir dir;
    const std::string path = dir.file("exp.h5");
    ASSERT_EQ(
        nmtest::runNmtrain(dir, {"--data", "synthetic", "--mlp-hidden", "32,32", "--steps", "30", "--snapshot-every",
                                 "20", "--threads", "1", "--quiet", "--name", "x", "--out", path})
            .status,
        0);
    setRunAttr(path, "runs/000_x", "blas_kernel", "FarAwayKernel");
    const nmtest::Result r = nmtest::runNmtrain(dir, {"--resume", path, "--run", "x", "--from-step", "25", "--threads",
                                                      "2", "--quiet", "--out", dir.file("c.h5")});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.err.find("warning: run 'x' has its last checkpoint before step 25 at step 20: replaying 5 steps; it "
                         "was written with OpenBLAS kernel FarAwayKernel"),
              std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("and with 1 threads where this run uses 2"), std::string::npos) << r.err;
    // From a checkpoint nothing is replayed: no warning.
    const nmtest::Result exact = nmtest::runNmtrain(
        dir, {"--resume", path, "--run", "x", "--steps", "40", "--threads", "2", "--quiet", "--out", dir.file("d.h5")});
    ASSERT_EQ(exact.status, 0) << exact.err;
    EXPECT_EQ(exact.err, "");
}

TEST(ResumeCli, BadRequestsAreNamedAndTheFileIsUntouched)
{
    nmtest::TempDir dir;
    const std::string path = dir.file("exp.h5");
    ASSERT_EQ(nmtest::runNmtrain(dir, {"--data", "synthetic", "--mlp-hidden", "32,32", "--steps", "20",
                                       "--snapshot-every", "10", "--quiet", "--name", "x", "--out", path})
                  .status,
              0);
    const std::string before = nmtest::readAll(path);
    const std::pair<std::vector<std::string>, std::string> cases[] = {
        {{"--resume", path}, "--resume needs --run NAME; its runs: x"},
        {{"--resume", path, "--run", "y"}, "has no run 'y'; its runs: x"},
        {{"--resume", path, "--run", "x"}, "give --steps N with N > 20"},
        {{"--resume", path, "--run", "x", "--from-step", "21"}, "has steps 1 to 20 recorded"},
        {{"--resume", path, "--run", "x", "--from-step", "0"}, "is not a step"},
        {{"--resume", path, "--run", "x", "--steps", "30", "--seed", "4"}, "seed must be the same"},
        {{"--resume", path, "--run", "x", "--recipes", "ste,sste"}, "--recipes, --seeds and --sweep do not apply"},
        {{"--run", "x"}, "give --resume"},
        {{"--resume", dir.file("none.h5"), "--run", "x"}, "none.h5"},
    };
    for (const auto &[args, message] : cases) {
        const nmtest::Result r = nmtest::runNmtrain(dir, args);
        EXPECT_EQ(r.status, 1) << args.back();
        EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
    }
    EXPECT_EQ(nmtest::readAll(path), before);
}
