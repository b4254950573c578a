// Recipes, schedules and per-layer diagnostics (algorithms.md §2–§3).
#include "nmcore/config.h"
#include "nmcore/error.h"
#include "nmcore/nm_ops.h"
#include "nmcore/optimizer.h"
#include "nmcore/sparsity.h"
#include "nmcore/trainer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace {

using Flags = std::map<std::string, std::string>;

nm::RunConfig cfgWith(std::map<std::string, std::string> extra)
{
    std::map<std::string, std::string> flags = {{"data", "synthetic"},
                                                {"steps", "60"},
                                                {"eval_every", "0"},
                                                {"mlp_hidden", "32,32"},
                                                {"continuity_every", "0"}};
    for (const auto &[k, v] : extra)
        flags[k] = v;
    return nm::parseConfig("", "test", flags);
}

std::shared_ptr<const nm::Dataset> synthetic()
{
    static auto d = nm::loadDataset(nm::dataOptions(cfgWith({})));
    return d;
}

nm::Batch batchOf(const nm::RunConfig &c, long step)
{
    nm::TrainSampler s(synthetic(), c.seed, c.batch, 1);
    nm::Batch b;
    s.fill(b, step);
    return b;
}

std::vector<float> copyOf(const float *p, long n)
{
    return std::vector<float>(p, p + n);
}

struct Recorder : nm::TrainingObserver {
    std::vector<nm::StepMetrics> steps;
    std::vector<long> snapshots;
    nm::Snapshot last;
    nm::RunInfo info;
    void onStart(const nm::RunInfo &i) override { info = i; }
    void onStep(const nm::StepMetrics &m) override { steps.push_back(m); }
    void onSnapshot(const nm::Snapshot &s) override
    {
        snapshots.push_back(s.step);
        last = s;
    }
};

} // namespace

// ---- Schedules ------------------------------------------------------------------------------

TEST(Schedules, MdgfAlphaFollowsTheFormulas)
{
    EXPECT_DOUBLE_EQ(nm::mdgfAlpha(nm::RecipeKind::MdgfLinear, 1e-3, 0), 1.0);
    EXPECT_DOUBLE_EQ(nm::mdgfAlpha(nm::RecipeKind::MdgfLinear, 1e-3, 250), 0.75);
    EXPECT_DOUBLE_EQ(nm::mdgfAlpha(nm::RecipeKind::MdgfLinear, 1e-3, 5000), 0.0);
    EXPECT_NEAR(nm::mdgfAlpha(nm::RecipeKind::MdgfExp, 1e-4, 10000), std::exp(-1.0), 1e-12);
    EXPECT_NEAR(nm::mdgfAlpha(nm::RecipeKind::MdgfExp, 1e-4, 50000), 0.0067, 1e-4);
    // κ from the fraction of the sparse span: α ≈ 0 there (linear exactly, exponential e⁻⁵).
    const double kl = nm::mdgfKappa(nm::RecipeKind::MdgfLinear, 0.5, 1000);
    EXPECT_DOUBLE_EQ(nm::mdgfAlpha(nm::RecipeKind::MdgfLinear, kl, 500), 0.0);
    EXPECT_GT(nm::mdgfAlpha(nm::RecipeKind::MdgfLinear, kl, 499), 0.0);
    const double ke = nm::mdgfKappa(nm::RecipeKind::MdgfExp, 0.5, 1000);
    EXPECT_NEAR(nm::mdgfAlpha(nm::RecipeKind::MdgfExp, ke, 500), std::exp(-5.0), 1e-12);
}

TEST(Schedules, SdgfStepwiseFrames)
{
    const auto p = nm::pgfPhases(800, 0.0, 0.0);
    const auto f = nm::sdgfFrames(nm::RecipeKind::SdgfStepwise, 1, 8, p, 800);
    ASSERT_EQ(f.size(), 4u);
    const int n[] = {7, 4, 2, 1};
    for (int i = 0; i < 4; ++i) {
        const nm::NmFrame &fi = f[static_cast<size_t>(i)];
        EXPECT_EQ(fi.n, n[i]);
        EXPECT_EQ(fi.m, 8);
        EXPECT_EQ(fi.start, 200L * i);
    }
    const auto g = nm::sdgfFrames(nm::RecipeKind::SdgfStepwise, 1, 16, nm::pgfPhases(1000, 0.1, 0.1), 1000);
    ASSERT_EQ(g.size(), 5u);
    const int n16[] = {15, 8, 4, 2, 1};
    for (int i = 0; i < 5; ++i) {
        const nm::NmFrame &gi = g[static_cast<size_t>(i)];
        EXPECT_EQ(gi.n, n16[i]);
        EXPECT_EQ(gi.start, 100 + i * 800L / 5); // frames over the sparse span only
    }
}

TEST(Schedules, SdgfGeometricFrames)
{
    const auto f = nm::sdgfFrames(nm::RecipeKind::SdgfGeometric, 1, 8, nm::pgfPhases(400, 0, 0), 400);
    ASSERT_EQ(f.size(), 4u);
    const int n[] = {8, 4, 2, 1}, m[] = {64, 32, 16, 8};
    for (int i = 0; i < 4; ++i) {
        const nm::NmFrame &fi = f[static_cast<size_t>(i)];
        EXPECT_EQ(fi.n, n[i]);
        EXPECT_EQ(fi.m, m[i]);
        EXPECT_EQ(fi.start, 100L * i);
    }
}

TEST(Schedules, PgfPhases)
{
    const auto p = nm::pgfPhases(1000, 0.2, 0.1);
    EXPECT_EQ(p.denseEnd, 200);
    EXPECT_EQ(p.finetuneStart, 900);
}

TEST(Recipes, NamesAndNmParse)
{
    for (const auto &n : nm::recipeNames())
        EXPECT_EQ(nm::toString(nm::parseRecipe(n)), n);
    int n = 0, m = 0;
    nm::parseNm("1:16", n, m);
    EXPECT_EQ(n, 1);
    EXPECT_EQ(m, 16);
    EXPECT_THROW(nm::parseNm("4:4", n, m), nm::ConfigError);
    EXPECT_THROW(nm::parseNm("2-4", n, m), nm::ConfigError);
    EXPECT_THROW(nm::parseNm("1:256", n, m), nm::ConfigError);
    try {
        cfgWith({{"nm", "2:x"}});
        FAIL();
    } catch (const nm::ConfigError &e) {
        EXPECT_NE(std::string(e.what()).find("nm: expected N:M"), std::string::npos) << e.what();
    }
}

// ---- Layer selection ------------------------------------------------------------------------

TEST(Sparsifier, DefaultLayersAreTheHiddenOnes)
{
    const auto c = cfgWith({{"recipe", "ste"}});
    nm::Trainer t(c, synthetic());
    const auto &layers = t.info().layers;
    ASSERT_EQ(layers.size(), 3u);
    EXPECT_FALSE(layers[0].sparse);
    EXPECT_TRUE(layers[1].sparse);
    EXPECT_FALSE(layers[2].sparse);
    EXPECT_EQ(layers[1].effectiveParams, 32 * 16 + 32);
    EXPECT_EQ(t.info().effectiveParameterCount, t.info().parameterCount - 32 * 16);
}

TEST(Sparsifier, IndivisibleLayerIsAnErrorNamingIt)
{
    // Synthetic inputs are 64 wide: fc1 cannot be 1:128... but 32-wide fc2 cannot be 1:64.
    try {
        nm::Trainer t(cfgWith({{"recipe", "ste"}, {"nm", "1:64"}, {"sparse_layers", "fc1,fc2"}}), synthetic());
        FAIL() << "expected an error";
    } catch (const nm::ConfigError &e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("layer fc2: input size 32 is not a multiple of M"), std::string::npos) << msg;
        EXPECT_NE(msg.find("--keep-indivisible-dense"), std::string::npos) << msg;
    }
    nm::Trainer ok(
        cfgWith({{"recipe", "ste"}, {"nm", "1:64"}, {"sparse_layers", "fc1,fc2"}, {"keep_indivisible_dense", "true"}}),
        synthetic());
    EXPECT_TRUE(ok.info().layers[0].sparse);
    EXPECT_FALSE(ok.info().layers[1].sparse);
    EXPECT_THROW(nm::Trainer(cfgWith({{"recipe", "ste"}, {"sparse_layers", "fc9"}}), synthetic()), nm::ConfigError);
    // Geometric SDGF at 1:8 needs M = 64 on the way: a 32-wide input is refused up front.
    EXPECT_THROW(nm::Trainer(cfgWith({{"recipe", "sdgf-geometric"}, {"nm", "1:8"}}), synthetic()), nm::ConfigError);
}

// ---- Exact update rules ---------------------------------------------------------------------

namespace {
// One manual step through the hooks, SGD without momentum or weight decay.
struct ManualStep {
    nm::RunConfig cfg;
    std::unique_ptr<nm::Model> model;
    std::unique_ptr<nm::Sparsifier> sp;
    std::unique_ptr<nm::Optimizer> opt;
    nm::Batch batch;
    explicit ManualStep(std::map<std::string, std::string> extra)
    {
        extra.emplace("momentum", "0");
        extra.emplace("weight_decay", "0");
        extra.emplace("nesterov", "false");
        // Bit-exact comparisons with a dense model at W̃ need the same (dense) GEMMs; the
        // compressed N:M GEMMs are compared within rounding in SparseGemmPath below.
        extra.emplace("sparse_gemm", "off");
        cfg = cfgWith(extra);
        model = nm::makeModel(cfg, *synthetic());
        sp = std::make_unique<nm::Sparsifier>(*model, cfg);
        nm::OptimizerSettings s;
        s.momentum = 0;
        opt = nm::makeSgd(s, model->parameterCount());
        batch = batchOf(cfg, 0);
    }
    nm::LinearLayer &fc2() { return model->linears()[1]; }
    // Forward and backward; returns G = ∂L/∂W̃ of fc2.
    std::vector<float> backward()
    {
        model->zeroGrad();
        sp->beforeForward(0);
        model->forward(batch);
        model->backward(batch);
        return copyOf(fc2().dweight, 32 * 32);
    }
    void finish(float lr)
    {
        sp->afterBackward(0);
        sp->afterClip(0);
        opt->update(model->params(), model->grads(), model->tensors(), lr, 1);
        sp->afterUpdate(0, lr);
    }
};
} // namespace

TEST(SrSte, CoupledSgdStepIsExact)
{
    ManualStep s(Flags{{"recipe", "srste"}, {"lambda", "0.01"}});
    const auto w0 = copyOf(s.fc2().weight, 32 * 32);
    std::vector<uint8_t> m(32 * 32);
    nm::nmops::nmMask(m.data(), w0.data(), 32, 32, 2, 4);
    // The forward used W ⊙ m.
    for (int i = 0; i < 32 * 32; ++i)
        ASSERT_EQ(s.fc2().forwardWeight[i], m[static_cast<size_t>(i)] ? w0[static_cast<size_t>(i)] : 0.0f);
    const auto g = s.backward();
    const float lr = 0.1f, lam = 0.01f;
    s.finish(lr);
    int pruned = 0;
    for (int i = 0; i < 32 * 32; ++i) {
        const size_t j = static_cast<size_t>(i);
        const float gi = g[j] + (m[j] ? 0.0f : lam * w0[j]);
        EXPECT_EQ(s.fc2().weight[i], w0[j] - lr * gi) << i;
        pruned += !m[j];
    }
    EXPECT_EQ(pruned, 32 * 16);
    EXPECT_NEAR(s.sp->stats()[0].lambda, 0.01, 1e-9);
    EXPECT_GT(s.sp->stats()[0].decayNorm, 0.0f);
}

TEST(SrSte, DecoupledShrinksPrunedWeightsAfterTheStep)
{
    ManualStep s(Flags{{"recipe", "srste"}, {"lambda", "0.01"}, {"srste_decay", "decoupled"}});
    const auto w0 = copyOf(s.fc2().weight, 32 * 32);
    std::vector<uint8_t> m(32 * 32);
    nm::nmops::nmMask(m.data(), w0.data(), 32, 32, 2, 4);
    const auto g = s.backward();
    const float lr = 0.1f, lam = 0.01f;
    s.finish(lr);
    for (int i = 0; i < 32 * 32; ++i) {
        const size_t j = static_cast<size_t>(i);
        const float w1 = w0[j] - lr * g[j];
        const float expect = m[j] ? w1 : w1 - lr * lam * w1;
        EXPECT_EQ(s.fc2().weight[i], expect) << i;
    }
}

TEST(Ste, GradientPassesStraightThroughAndMatchesADenseModelAtWTilde)
{
    for (const char *recipe : {"ste", "sste", "mdgf-exp", "srste"}) {
        SCOPED_TRACE(recipe);
        ManualStep s(Flags{{"recipe", recipe}});
        const auto wTilde = copyOf(s.fc2().forwardWeight, 32 * 32);
        const auto g = s.backward();
        // A dense model whose fc2 weight is W̃ has exactly the same gradient.
        auto dense = nm::makeModel(s.cfg, *synthetic());
        std::copy(s.model->params().begin(), s.model->params().end(), dense->params().begin());
        std::copy(wTilde.begin(), wTilde.end(), dense->linears()[1].weight);
        dense->zeroGrad();
        dense->forward(s.batch);
        dense->backward(s.batch);
        for (int i = 0; i < 32 * 32; ++i)
            ASSERT_EQ(g[static_cast<size_t>(i)], dense->linears()[1].dweight[i]) << i;
        // And ∂L/∂W̃ is the derivative of the loss in W̃ (central differences, one entry per row).
        auto *wf = const_cast<float *>(s.fc2().forwardWeight);
        for (int r = 0; r < 32; r += 5) {
            const int k = r * 32 + (r * 7) % 32;
            const float keep = wf[k], h = 1e-3f;
            wf[k] = keep + h;
            const double lp = s.model->forward(s.batch);
            wf[k] = keep - h;
            const double lm = s.model->forward(s.batch);
            wf[k] = keep;
            const float gk = g[static_cast<size_t>(k)];
            EXPECT_NEAR((lp - lm) / static_cast<double>(2 * h), gk, 1e-3 + 0.03 * static_cast<double>(std::fabs(gk)))
                << k;
        }
    }
}

TEST(Mdgf, ForwardDecaysPrunedWeightsAndScaledGradientOption)
{
    ManualStep s(Flags{{"recipe", "mdgf-linear"}, {"mdgf_kappa", "0.25"}, {"mdgf_grad", "scaled"}});
    // Step 0: α = 1 → W̃ = W.
    for (int i = 0; i < 32 * 32; ++i)
        ASSERT_EQ(s.fc2().forwardWeight[i], s.fc2().weight[i]);
    s.backward();
    s.finish(0.05f);
    // Step 1: α = 0.75.
    const auto w = copyOf(s.fc2().weight, 32 * 32);
    std::vector<uint8_t> m(32 * 32);
    nm::nmops::nmMask(m.data(), w.data(), 32, 32, 2, 4);
    for (int i = 0; i < 32 * 32; ++i) {
        const size_t j = static_cast<size_t>(i);
        ASSERT_FLOAT_EQ(s.fc2().forwardWeight[i], m[j] ? w[j] : 0.75f * w[j]);
    }
    // Scaled gradient: pruned positions get α·G.
    s.model->zeroGrad();
    s.model->forward(s.batch);
    s.model->backward(s.batch);
    const auto g = copyOf(s.fc2().dweight, 32 * 32);
    s.sp->afterBackward(1);
    for (int i = 0; i < 32 * 32; ++i) {
        const size_t j = static_cast<size_t>(i);
        ASSERT_FLOAT_EQ(s.fc2().dweight[i], m[j] ? g[j] : 0.75f * g[j]);
    }
}

// ---- Recipe behaviour through the trainer -----------------------------------------------------

TEST(SSte, BetaIsFrozenAfterInitialisationUnlessDynamic)
{
    for (const char *mode : {"frozen", "dynamic"}) {
        SCOPED_TRACE(mode);
        nm::Trainer t(cfgWith({{"recipe", "sste"}, {"sste_beta", mode}, {"steps", "40"}}), synthetic());
        Recorder r;
        t.addObserver(&r);
        const auto init = t.snapshot();
        t.run();
        ASSERT_EQ(r.steps.size(), 40u);
        const float b0 = init.layers[0].beta;
        EXPECT_GT(b0, 1.0f);
        EXPECT_LT(b0, 2.5f);
        bool changed = false;
        for (const auto &m : r.steps)
            changed = changed || m.layers[0].beta != b0;
        EXPECT_EQ(changed, std::string(mode) == "dynamic");
        // W̃ = β·S_soft(W): at most 2 nonzeros per group of 4.
        const auto &l = r.last.layers[0];
        std::vector<float> s(l.weight.size());
        nm::nmops::softThreshold(s.data(), l.weight.data(), l.rows, l.cols, 2, 4);
        for (size_t i = 0; i < s.size(); ++i)
            ASSERT_NEAR(l.forward[i], l.beta * s[i], 1e-6f * (1 + std::fabs(s[i])));
    }
}

TEST(Asp, MaskIsFixedAfterThePruneAndPrunedWeightsStayZero)
{
    nm::Trainer t(cfgWith({{"recipe", "asp"}, {"asp_prune_at", "0.25"}, {"steps", "40"}}), synthetic());
    Recorder r;
    t.addObserver(&r);
    t.run();
    for (const auto &m : r.steps) {
        if (m.step <= 10)
            EXPECT_EQ(m.layers[0].n, 0) << m.step; // dense phase (steps 0..9 taken dense)
        else
            EXPECT_EQ(m.layers[0].n, 2) << m.step;
        if (m.step > 10) {
            EXPECT_EQ(m.layers[0].flips, 0) << m.step; // fixed mask after the prune
        }
    }
    const auto &l = r.last.layers[0];
    for (size_t i = 0; i < l.weight.size(); ++i)
        if (!l.mask[i]) {
            ASSERT_EQ(l.weight[i], 0.0f);
        }
}

TEST(TSrSteDf, TransposableMaskRefreshedPeriodicallyThenDense)
{
    nm::Trainer t(cfgWith({{"recipe", "tsrste-df"},
                           {"tsrste_refresh", "10"},
                           {"steps", "60"},
                           {"tsrste_dense_tail", "0.25"},
                           {"lr", "0.2"}}),
                  synthetic());
    Recorder r;
    t.addObserver(&r);
    const auto s0 = t.snapshot();
    // Transposable: 2 of every 4 along rows and along columns of each 4×4 block.
    const auto &l = s0.layers[0];
    for (int i = 0; i < l.rows; ++i)
        for (int j = 0; j < l.cols; j += 4) {
            int rowSum = 0, colSum = 0;
            for (int k = 0; k < 4; ++k) {
                rowSum += l.mask[static_cast<size_t>(i * l.cols + j + k)];
                colSum += l.mask[static_cast<size_t>((4 * (i / 4) + k) * l.cols + j + (i % 4))];
            }
            ASSERT_EQ(rowSum, 2);
            ASSERT_EQ(colSum, 2);
        }
    t.run();
    long refreshFlips = 0;
    for (const auto &m : r.steps) {
        const long t1 = m.step; // the mask for step t1 was just prepared
        if (t1 % 10 != 0)
            EXPECT_EQ(m.layers[0].flips, 0) << t1;
        else
            refreshFlips += m.layers[0].flips;
        if (m.step > 45) {
            EXPECT_EQ(m.layers[0].n, 0) << m.step; // dense tail: steps 45..59
        }
        EXPECT_EQ(m.layers[0].lambda > 0, m.step <= 45) << m.step;
    }
    EXPECT_GT(refreshFlips, 0);
    const auto &end = r.last.layers[0];
    EXPECT_EQ(end.forward, end.weight); // ends dense
}

TEST(Sdgf, StepwiseFramesReachTheTarget)
{
    nm::Trainer t(cfgWith({{"recipe", "sdgf-stepwise"}, {"nm", "1:8"}, {"steps", "40"}}), synthetic());
    Recorder r;
    t.addObserver(&r);
    t.run();
    const int expectN[] = {7, 4, 2, 1};
    for (const auto &m : r.steps) {
        const long step = m.step - 1; // the step the stats describe
        EXPECT_EQ(m.layers[0].n, expectN[step / 10]) << step;
        EXPECT_EQ(m.layers[0].m, 8);
    }
    EXPECT_NEAR(r.steps.back().layers[0].sparsity, 7.0 / 8.0, 0.02);
}

TEST(Sdgf, EveryColumnOfARowDescribesTheSameStep)
{
    // A row's N:M and sparsity are those of the W̃ the step used, also at a frame change; the
    // row's flips are the jump to the next frame.
    nm::Trainer t(cfgWith({{"recipe", "sdgf-stepwise"}, {"nm", "1:8"}, {"steps", "40"}}), synthetic());
    Recorder r;
    t.addObserver(&r);
    t.run();
    for (const auto &m : r.steps) {
        const nm::LayerStats &l = m.layers[0];
        ASSERT_GT(l.m, 0);
        EXPECT_NEAR(l.sparsity, 1.0 - static_cast<double>(l.n) / l.m, 1e-3)
            << "step " << m.step << ", " << l.n << ":" << l.m;
    }
    // Steps 10, 20, 30 change the frame (7:8 → 4:8 → 2:8 → 1:8): each prunes about 3/8, 2/8, 1/8
    // of the weights at once.
    for (long k : {10, 20, 30})
        EXPECT_GT(r.steps[static_cast<size_t>(k - 1)].layers[0].flipRate, 0.1) << "step " << k;
}

// ---- Diagnostics ----------------------------------------------------------------------------

TEST(Diagnostics, FlipsMatchMaskDifferencesAndGradientSplitsAddUp)
{
    nm::Trainer t(cfgWith({{"recipe", "ste"},
                           {"steps", "30"},
                           {"lr", "0.3"},
                           {"sad_every", "10"},
                           {"noise_window", "5"},
                           {"snapshot_every", "1"}}),
                  synthetic());
    struct Check : Recorder {
        std::vector<nm::Snapshot> snaps;
        void onSnapshot(const nm::Snapshot &s) override
        {
            Recorder::onSnapshot(s);
            snaps.push_back(s);
        }
    } r;
    t.addObserver(&r);
    t.run();
    ASSERT_EQ(r.snaps.size(), 31u); // steps 0..30
    long sumSinceSad = 0;
    for (size_t k = 0; k < r.steps.size(); ++k) {
        const auto &st = r.steps[k].layers[0];
        const auto &a = r.snaps[k].layers[0].mask, &b = r.snaps[k + 1].layers[0].mask;
        const long flips = nm::nmops::countFlips(a.data(), b.data(), static_cast<long>(a.size()));
        EXPECT_EQ(st.flips, flips) << k;
        EXPECT_FLOAT_EQ(st.flipRate, static_cast<float>(flips) / (32 * 32));
        EXPECT_EQ(st.flips % 2, 0); // a flip inside a group comes with its partner
        EXPECT_NEAR(st.gradNorm * st.gradNorm,
                    st.gradNormKept * st.gradNormKept + st.gradNormPruned * st.gradNormPruned,
                    1e-4 * static_cast<double>(st.gradNorm) * static_cast<double>(st.gradNorm) + 1e-12);
        EXPECT_NEAR(st.prunedShare, st.gradNormPruned / st.gradNorm, 1e-5);
        EXPECT_EQ(std::isnan(st.gradNoise), k < 4) << k; // window of 5
        sumSinceSad += flips;
        const long step = r.steps[k].step;
        if (step % 10 == 0) {
            const auto &s0 = r.snaps[static_cast<size_t>(step - 10)].layers[0].mask;
            const long net = nm::nmops::countFlips(s0.data(), b.data(), static_cast<long>(b.size()));
            EXPECT_FLOAT_EQ(st.sad, static_cast<float>(net) / (32 * 32));
            if (net > 0) {
                EXPECT_FLOAT_EQ(st.oscillation, static_cast<float>(sumSinceSad) / static_cast<float>(net));
            }
            EXPECT_GE(sumSinceSad, net);
            sumSinceSad = 0;
        } else {
            EXPECT_TRUE(std::isnan(st.sad));
        }
        // ‖ΔW̃‖ between consecutive forward weights.
        const auto &f0 = r.snaps[k].layers[0].forward, &f1 = r.snaps[k + 1].layers[0].forward;
        double d2 = 0;
        for (size_t i = 0; i < f0.size(); ++i)
            d2 += (static_cast<double>(f1[i]) - static_cast<double>(f0[i])) *
                  (static_cast<double>(f1[i]) - static_cast<double>(f0[i]));
        EXPECT_NEAR(st.deltaForward, std::sqrt(d2), 1e-5 * (1 + std::sqrt(d2)));
    }
}

// Per-weight flip counts: each mask bit's count is the number of times it differs between
// consecutive masks (snapshot k holds the mask of step k + 1), and a step's increments add up
// to the layer's flips; also with diagnostics off (the bare pass) and across SDGF frames.
TEST(Diagnostics, PerWeightFlipCountsAreTheChangesOfEachMaskBit)
{
    for (const Flags &extra : {Flags{{"recipe", "ste"}}, Flags{{"recipe", "srste"}, {"diagnostics", "false"}},
                               Flags{{"recipe", "sdgf-stepwise"}, {"nm", "1:8"}}}) {
        SCOPED_TRACE(extra.at("recipe"));
        Flags flags = {{"steps", "30"}, {"lr", "0.3"}, {"snapshot_every", "1"}};
        flags.insert(extra.begin(), extra.end());
        nm::Trainer t(cfgWith(flags), synthetic());
        struct Check : Recorder {
            std::vector<nm::Snapshot> snaps;
            void onSnapshot(const nm::Snapshot &s) override { snaps.push_back(s); }
        } r;
        t.addObserver(&r);
        t.run();
        ASSERT_EQ(r.snaps.size(), 31u);
        const size_t layers = r.snaps[0].layers.size();
        ASSERT_GT(layers, 0u);
        for (size_t l = 0; l < layers; ++l) {
            const size_t size = r.snaps[0].layers[l].mask.size();
            std::vector<long> counted(size, 0); // from consecutive masks alone
            ASSERT_EQ(r.snaps[0].layers[l].flipCount, std::vector<uint16_t>(size, 0));
            long most = 0;
            for (size_t k = 1; k < r.snaps.size(); ++k) {
                const nm::LayerSnapshot &a = r.snaps[k - 1].layers[l], &b = r.snaps[k].layers[l];
                ASSERT_EQ(b.flipCount.size(), size);
                long increments = 0;
                for (size_t i = 0; i < size; ++i) {
                    counted[i] += a.mask[i] != b.mask[i];
                    ASSERT_EQ(b.flipCount[i], counted[i]) << "layer " << l << " snapshot " << k << " weight " << i;
                    increments += b.flipCount[i] - a.flipCount[i];
                    most = std::max(most, counted[i]);
                }
                EXPECT_EQ(increments, r.steps[k - 1].layers[l].flips) << "step " << k;
            }
            EXPECT_GT(most, 1) << "no weight flipped twice: the test shows little";
        }
    }
}

TEST(Diagnostics, ContinuityDenseHasEqualDeltasAndPredictionTracksSmallSteps)
{
    nm::Trainer t(
        cfgWith(
            {{"recipe", "dense"}, {"steps", "20"}, {"continuity_every", "2"}, {"lr", "0.01"}, {"min_lr_ratio", "1"}}),
        synthetic());
    Recorder r;
    t.addObserver(&r);
    t.run();
    int measured = 0;
    for (const auto &m : r.steps) {
        EXPECT_EQ(m.hasContinuity, m.step % 2 == 0);
        if (!m.hasContinuity)
            continue;
        ++measured;
        EXPECT_EQ(m.continuity.dF1, m.continuity.dF2); // no mask in the forward
        EXPECT_FLOAT_EQ(m.continuity.aodActual, -m.continuity.dF1);
        EXPECT_GT(m.continuity.aodPredicted, 0.0f);
        EXPECT_NEAR(m.continuity.aodActual, m.continuity.aodPredicted,
                    0.3 * static_cast<double>(m.continuity.aodPredicted));
        EXPECT_EQ(m.continuity.aodPredictedSte, m.continuity.aodPredicted); // W̃ = W: the same prediction
    }
    EXPECT_EQ(measured, 10);
}

TEST(Diagnostics, StraightThroughPredictionIsGTimesTheDenseStep)
{
    // Plain SGD (no momentum, no decay, no clipping) moves W by −lr·G, so the straight-through
    // prediction −⟨G, ΔW⟩ is lr·‖G‖²; the prediction in W̃ differs once masks flip.
    const auto c = cfgWith({{"recipe", "ste"},
                            {"steps", "12"},
                            {"continuity_every", "3"},
                            {"lr", "0.3"},
                            {"momentum", "0"},
                            {"grad_clip", "0"},
                            {"weight_decay", "0"},
                            {"sparse_layers", "all"}});
    nm::Trainer t(c, synthetic());
    Recorder r;
    t.addObserver(&r);
    t.run();
    int measured = 0, differ = 0;
    for (const auto &m : r.steps) {
        if (!m.hasContinuity)
            continue;
        ++measured;
        const double expect = m.lr * m.gradNorm * m.gradNorm;
        EXPECT_NEAR(m.continuity.aodPredictedSte, expect, 1e-3 * expect) << "step " << m.step;
        differ += m.continuity.aodPredictedSte != m.continuity.aodPredicted;
    }
    EXPECT_EQ(measured, 4);
    EXPECT_GT(differ, 0);
}

TEST(Diagnostics, HardMaskFrozenForwardDiffersOnlyWhenTheMaskFlips)
{
    nm::Trainer t(cfgWith({{"recipe", "ste"}, {"steps", "40"}, {"continuity_every", "1"}, {"lr", "0.3"}}), synthetic());
    Recorder r;
    t.addObserver(&r);
    t.run();
    int withFlips = 0;
    for (const auto &m : r.steps) {
        ASSERT_TRUE(m.hasContinuity);
        if (m.continuity.flips == 0)
            EXPECT_EQ(m.continuity.dF1, m.continuity.dF2) << m.step;
        else
            ++withFlips;
    }
    EXPECT_GT(withFlips, 0);
}

// ---- Options: MVUE and FP8 ---------------------------------------------------------------------

TEST(Variants, MvueWeightGradientIsUnbiasedAndFp8StaysClose)
{
    ManualStep exact(Flags{{"recipe", "ste"}});
    const auto g = exact.backward();
    ManualStep mv(Flags{{"recipe", "ste"}, {"mvue", "true"}});
    std::vector<double> mean(g.size(), 0.0);
    const int draws = 400;
    bool differs = false;
    for (int d = 0; d < draws; ++d) {
        const auto gd = mv.backward();
        for (size_t i = 0; i < g.size(); ++i) {
            mean[i] += static_cast<double>(gd[i] / draws);
            differs = differs || gd[i] != g[i];
        }
    }
    EXPECT_TRUE(differs);
    double err = 0, ref = 0;
    for (size_t i = 0; i < g.size(); ++i) {
        err += (mean[i] - static_cast<double>(g[i])) * (mean[i] - static_cast<double>(g[i]));
        ref += static_cast<double>(g[i]) * static_cast<double>(g[i]);
    }
    EXPECT_LT(std::sqrt(err / ref), 0.1); // relative error of the mean of 400 draws

    ManualStep f8(Flags{{"recipe", "ste"}, {"fp8", "true"}});
    const float l32 = exact.model->forward(exact.batch), l8 = f8.model->forward(f8.batch);
    EXPECT_NE(l32, l8);
    EXPECT_NEAR(l8, l32, 0.05 * static_cast<double>(l32));
    const auto g8 = f8.backward();
    double e8 = 0;
    for (size_t i = 0; i < g.size(); ++i)
        e8 += (static_cast<double>(g8[i]) - static_cast<double>(g[i])) *
              (static_cast<double>(g8[i]) - static_cast<double>(g[i]));
    EXPECT_LT(std::sqrt(e8 / ref), 0.2);
}

// ---- Trainer: snapshots, fork, live settings -------------------------------------------------

TEST(Trainer, SnapshotsAtStartEveryKAndAtTheEnd)
{
    nm::Trainer t(cfgWith({{"recipe", "srste"}, {"steps", "25"}, {"snapshot_every", "10"}}), synthetic());
    Recorder r;
    t.addObserver(&r);
    t.run();
    EXPECT_EQ(r.snapshots, (std::vector<long>{0, 10, 20, 25}));
    ASSERT_EQ(r.last.layers.size(), 1u);
    EXPECT_EQ(r.last.layers[0].name, "fc2");
    EXPECT_EQ(r.last.layers[0].rows * r.last.layers[0].cols, 32 * 32);
}

TEST(Trainer, ForkContinuesExactlyWhereTheRunWas)
{
    const auto c = cfgWith({{"recipe", "srste"}, {"steps", "30"}});
    nm::Trainer whole(c, synthetic());
    whole.run();
    nm::Trainer first(c, synthetic());
    for (int i = 0; i < 12; ++i)
        first.stepOnce();
    auto rest = first.fork(c);
    EXPECT_EQ(rest->step(), 12);
    rest->run();
    const auto a = whole.model().params(), b = rest->model().params();
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i)
        ASSERT_EQ(a[i], b[i]) << i;
    // Another recipe from the same prefix.
    auto other = first.fork(cfgWith({{"recipe", "sste"}, {"steps", "30"}}));
    EXPECT_EQ(other->info().recipe, nm::RecipeKind::SSte);
    other->run();
    EXPECT_EQ(other->step(), 30);
    EXPECT_THROW(first.fork(cfgWith({{"recipe", "ste"}, {"seed", "9"}})), nm::ConfigError);
}

TEST(Trainer, ForkAndResumeContinueThePerWeightFlipCounts)
{
    const auto c = cfgWith({{"recipe", "srste"}, {"steps", "30"}, {"lr", "0.3"}});
    nm::Trainer whole(c, synthetic());
    whole.run();
    nm::Trainer first(c, synthetic());
    for (int i = 0; i < 12; ++i)
        first.stepOnce();
    auto rest = first.fork(c);
    rest->run();
    const nm::Snapshot a = whole.snapshot(), b = rest->snapshot();
    ASSERT_EQ(a.layers.size(), b.layers.size());
    for (size_t l = 0; l < a.layers.size(); ++l) {
        EXPECT_EQ(a.layers[l].flipCount, b.layers[l].flipCount) << l;
        EXPECT_GT(*std::max_element(a.layers[l].flipCount.begin(), a.layers[l].flipCount.end()), 0);
    }
    // Another recipe starts its masks, and so its counts, afresh.
    auto other = first.fork(cfgWith({{"recipe", "sste"}, {"steps", "30"}}));
    for (const auto &l : other->snapshot().layers)
        EXPECT_EQ(l.flipCount, std::vector<uint16_t>(l.mask.size(), 0));
    // A checkpoint without counts (older run files) resumes with counts from 0, and the same steps.
    nm::Checkpoint ck = first.checkpoint();
    for (auto &l : ck.layers)
        l.flipCount.clear();
    auto fromOld = nm::Trainer::resume(c, c, synthetic(), ck);
    for (const auto &l : fromOld->snapshot().layers)
        EXPECT_EQ(l.flipCount, std::vector<uint16_t>(l.mask.size(), 0));
    fromOld->run();
    const auto pa = whole.model().params(), pb = fromOld->model().params();
    ASSERT_EQ(pa.size(), pb.size());
    for (size_t i = 0; i < pa.size(); ++i)
        ASSERT_EQ(pa[i], pb[i]) << i;
    // Counts of another shape are refused.
    ck.layers[0].flipCount.assign(3, 1);
    EXPECT_THROW(nm::Trainer::resume(c, c, synthetic(), ck), nm::ConfigError);
}

TEST(Trainer, LiveSettingsApplyAtTheNextStep)
{
    nm::Trainer t(cfgWith({{"recipe", "srste"}, {"steps", "10"}, {"lr", "0.05"}, {"min_lr_ratio", "1"}}), synthetic());
    Recorder r;
    t.addObserver(&r);
    t.stepOnce();
    t.setLiveSettings({0.01, 1e-3});
    t.stepOnce();
    ASSERT_EQ(r.steps.size(), 2u);
    EXPECT_DOUBLE_EQ(r.steps[0].lr, 0.05);
    EXPECT_DOUBLE_EQ(r.steps[1].lr, 0.01);
    EXPECT_FLOAT_EQ(r.steps[0].layers[0].lambda, 2e-4f);
    EXPECT_FLOAT_EQ(r.steps[1].layers[0].lambda, 1e-3f);
}

TEST(Ste, EverySparseGptLayerPassesTheGradientAtWTilde)
{
    const auto c = nm::parseConfig("", "test",
                                   {{"model", "gpt"},
                                    {"data", "synthetic"},
                                    {"gpt_width", "32"},
                                    {"context", "16"},
                                    {"batch", "4"},
                                    {"recipe", "ste"},
                                    {"sparse_layers", "all"},
                                    {"sparse_gemm", "off"}});
    const auto data = nm::loadDataset(nm::dataOptions(c));
    auto model = nm::makeModel(c, *data);
    nm::Sparsifier sp(*model, c);
    ASSERT_EQ(sp.sparseLayerCount(), static_cast<int>(model->linears().size()));
    nm::TrainSampler sampler(data, c.seed, c.batch, c.context);
    nm::Batch b;
    sampler.fill(b, 0);
    model->zeroGrad();
    sp.beforeForward(0);
    const float loss = model->forward(b);
    model->backward(b);
    auto dense = nm::makeModel(c, *data);
    std::copy(model->params().begin(), model->params().end(), dense->params().begin());
    for (size_t i = 0; i < model->linears().size(); ++i) {
        const auto &l = model->linears()[i];
        std::copy_n(l.forwardWeight, static_cast<long>(l.in) * l.out, dense->linears()[i].weight);
    }
    dense->zeroGrad();
    EXPECT_EQ(dense->forward(b), loss);
    dense->backward(b);
    const auto g = model->grads(), gd = dense->grads();
    for (size_t i = 0; i < g.size(); ++i)
        ASSERT_EQ(g[i], gd[i]) << i;
}

// ---- The compressed N:M GEMMs in training --------------------------------------------------

namespace {
struct StepResult {
    float loss = 0;
    std::vector<float> grads;
    int sparseLayers = 0; // layers whose products went through the compressed W̃
};

StepResult oneStep(std::map<std::string, std::string> flags, const char *gemm)
{
    flags["sparse_gemm"] = gemm;
    flags.emplace("data", "synthetic");
    flags.emplace("sparse_layers", "all");
    flags.emplace("keep_indivisible_dense", "true");
    const auto c = nm::parseConfig("", "test", flags);
    const auto data = nm::loadDataset(nm::dataOptions(c));
    auto model = nm::makeModel(c, *data);
    nm::Sparsifier sp(*model, c);
    nm::TrainSampler sampler(data, c.seed, c.batch, c.context);
    nm::Batch b;
    sampler.fill(b, 0);
    model->zeroGrad();
    sp.beforeForward(0);
    StepResult r;
    r.loss = model->forward(b);
    model->backward(b);
    r.grads.assign(model->grads().begin(), model->grads().end());
    for (const auto &l : model->linears())
        r.sparseLayers += l.sparse != nullptr;
    return r;
}
} // namespace

TEST(SparseGemmPath, GradientsEqualTheDenseGemmsWithinRounding)
{
    const std::map<std::string, std::string> mlp = {{"batch", "37"}};
    const std::map<std::string, std::string> gpt = {
        {"model", "gpt"}, {"gpt_width", "32"}, {"context", "16"}, {"batch", "3"}};
    const std::map<std::string, std::string> vit = {
        {"model", "vit"}, {"vit_patch", "2"}, {"vit_width", "32"}, {"batch", "5"}};
    for (const auto *model : {&mlp, &gpt, &vit})
        for (const char *recipe : {"ste", "srste", "sste", "asp"})
            for (const char *nm : {"2:4", "1:8"}) {
                auto flags = *model;
                flags["recipe"] = recipe;
                flags["nm"] = nm;
                flags["asp_prune_at"] = "0";
                SCOPED_TRACE(std::string(recipe) + " " + nm + " " + flags.begin()->second);
                const StepResult on = oneStep(flags, "on"), off = oneStep(flags, "off");
                EXPECT_GT(on.sparseLayers, 0);
                EXPECT_EQ(off.sparseLayers, 0);
                EXPECT_NEAR(on.loss, off.loss, 1e-5 * static_cast<double>(std::fabs(off.loss)));
                ASSERT_EQ(on.grads.size(), off.grads.size());
                double scale = 0, err = 0;
                for (size_t i = 0; i < on.grads.size(); ++i) {
                    scale = std::max(scale, static_cast<double>(std::fabs(off.grads[i])));
                    err = std::max(err, static_cast<double>(std::fabs(on.grads[i] - off.grads[i])));
                }
                EXPECT_LE(err, 1e-4 * scale);
            }
}

TEST(SparseGemmPath, OnlyStepsWithAnNmWeightUseIt)
{
    // MDGF: α > 0 in its sparse span is dense (the pruned weights are scaled, not removed).
    const StepResult mdgf = oneStep({{"recipe", "mdgf-linear"}, {"steps", "100"}}, "on");
    EXPECT_EQ(mdgf.sparseLayers, 0);
    // T-SR-STE outside its dense tail, SDGF in its first frame (3:4 for a 2:4 target): N:M.
    EXPECT_GT(oneStep({{"recipe", "tsrste-df"}, {"steps", "100"}}, "on").sparseLayers, 0);
    EXPECT_GT(oneStep({{"recipe", "sdgf-stepwise"}, {"steps", "100"}}, "on").sparseLayers, 0);
    // ASP before its prune: dense.
    EXPECT_EQ(oneStep({{"recipe", "asp"}, {"steps", "100"}, {"asp_prune_at", "0.5"}}, "on").sparseLayers, 0);
    EXPECT_EQ(oneStep({{"recipe", "dense"}}, "on").sparseLayers, 0);
    // FP8 keeps its quantised dense GEMMs.
    EXPECT_EQ(oneStep({{"recipe", "ste"}, {"fp8", "true"}}, "on").sparseLayers, 0);
}

TEST(SparseGemmPath, EveryPatternIsRecordedAndAResumeTakesTheParentsPaths)
{
    // SDGF 1:8 steps through 7:8, 4:8, 2:8 and 1:8: each pattern has its paths from the start.
    const nm::RunConfig sdgf = cfgWith({{"recipe", "sdgf-stepwise"}, {"nm", "1:8"}, {"steps", "20"}});
    nm::Trainer t(sdgf, synthetic());
    for (const nm::SparseLayerInfo &l : t.info().layers) {
        if (!l.sparse)
            continue;
        SCOPED_TRACE(l.name);
        const auto choices = nm::spgemm::fromRecord(l.gemm);
        ASSERT_EQ(choices.size(), 4u);
        EXPECT_EQ(choices[0].n, 7);
        EXPECT_EQ(choices[3].n, 1);
        EXPECT_EQ(choices[3].m, 8);
        EXPECT_NE(nm::spgemm::describe(l.gemm, 1, 8), "");
    }
    // A checkpoint whose record says otherwise than this process's timing: the resumed run
    // takes the record's paths (its parent's), so it rounds as the parent did.
    const nm::RunConfig c = cfgWith({{"recipe", "srste"}, {"steps", "20"}, {"mlp_hidden", "64,64"}});
    nm::Trainer parent(c, synthetic());
    for (int i = 0; i < 5; ++i)
        parent.stepOnce();
    nm::Checkpoint cp = parent.checkpoint();
    std::vector<bool> wanted;
    for (nm::SparseLayerCheckpoint &l : cp.layers) {
        auto choices = nm::spgemm::fromRecord(l.gemm);
        ASSERT_EQ(choices.size(), 1u) << l.name;
        choices[0].useForward = !choices[0].useForward;
        choices[0].useBackward = choices[0].useForward;
        wanted.push_back(choices[0].useForward);
        l.gemm = nm::spgemm::toRecord(choices);
    }
    auto child = nm::Trainer::resume(c, c, synthetic(), cp);
    size_t sparse = 0;
    for (const nm::SparseLayerInfo &l : child->info().layers) {
        if (!l.sparse)
            continue;
        ASSERT_LT(sparse, wanted.size());
        EXPECT_EQ(nm::spgemm::fromRecord(l.gemm).at(0).useForward, wanted[sparse]) << l.name;
        EXPECT_EQ(l.gemm, cp.layers[sparse].gemm) << l.name;
        ++sparse;
    }
    sparse = 0;
    for (const nm::LinearLayer &l : child->model().linears()) {
        if (sparse < wanted.size() && l.name == cp.layers[sparse].name) {
            EXPECT_EQ(l.sparse != nullptr, wanted[sparse]) << l.name;
            ++sparse;
        }
    }
    EXPECT_EQ(sparse, wanted.size());
    EXPECT_TRUE(child->stepOnce());
}

// ---- Training FLOPs -------------------------------------------------------------------------

namespace {

// README "Training FLOPs", written out independently of Model::trainingFlops: per Linear layer
// 2·B·in·out for the forward and the backward-data product at the step's density (no
// backward-data product for the first layer, whose input is the data), and the weight gradient
// dense.
double expectedFlops(const nm::RunInfo &info, const nm::StepMetrics &m, int batch)
{
    double total = 0;
    size_t sparse = 0;
    for (size_t i = 0; i < info.layers.size(); ++i) {
        const nm::SparseLayerInfo &l = info.layers[i];
        double density = 1;
        if (l.sparse) {
            const nm::LayerStats &st = m.layers[sparse++];
            if (st.m > 0 && st.alpha == 0)
                density = static_cast<double>(st.n) / st.m;
        }
        const double dense = 2.0 * batch * l.in * l.out;
        total += dense * ((i == 0 ? 1 : 2) * density + 1);
    }
    return total;
}

} // namespace

TEST(TrainingFlops, EachStepCountsItsProductsAtTheDensityOfItsForward)
{
    const Flags cases[] = {
        {{"recipe", "dense"}},
        {{"recipe", "ste"}},
        {{"recipe", "srste"}, {"nm", "1:8"}},
        {{"recipe", "mdgf-linear"}, {"nm", "1:4"}, {"mdgf_fraction", "0.5"}},
        {{"recipe", "sdgf-stepwise"}, {"nm", "1:8"}},
        {{"recipe", "sdgf-geometric"}, {"nm", "1:4"}, {"pgf_dense", "0.25"}},
    };
    for (const Flags &flags : cases) {
        SCOPED_TRACE(flags.at("recipe") + (flags.count("nm") ? " " + flags.at("nm") : std::string()));
        const nm::RunConfig c = cfgWith(flags);
        nm::Trainer t(c, synthetic());
        Recorder r;
        t.addObserver(&r);
        t.run();
        ASSERT_EQ(r.steps.size(), 60u);
        double total = 0, lowest = INFINITY, highest = 0;
        for (const nm::StepMetrics &m : r.steps) {
            const double want = expectedFlops(r.info, m, c.batch);
            ASSERT_NEAR(m.flops, want, 1e-9 * want) << "step " << m.step;
            total += m.flops;
            ASSERT_NEAR(m.totalFlops, total, 1e-9 * total) << "step " << m.step;
            lowest = std::min(lowest, m.flops);
            highest = std::max(highest, m.flops);
        }
        // Dense, STE and SR-STE steps all cost the same; the decays and dense phases vary.
        const std::string recipe = flags.at("recipe");
        if (recipe == "dense" || recipe == "ste" || recipe == "srste")
            EXPECT_EQ(lowest, highest);
        else
            EXPECT_LT(lowest, highest);
    }
}

TEST(TrainingFlops, SparseStepsCostLessAndForksContinueTheCount)
{
    const auto dense = cfgWith({{"recipe", "dense"}, {"steps", "20"}});
    const auto sparse = cfgWith({{"recipe", "srste"}, {"nm", "1:8"}, {"steps", "20"}});
    nm::Trainer d(dense, synthetic()), s(sparse, synthetic());
    Recorder rd, rs;
    d.addObserver(&rd);
    s.addObserver(&rs);
    d.run();
    s.run();
    EXPECT_LT(rs.steps.back().totalFlops, rd.steps.back().totalFlops);

    nm::Trainer first(sparse, synthetic());
    for (int i = 0; i < 7; ++i)
        first.stepOnce();
    auto rest = first.fork(sparse);
    Recorder rr;
    rest->addObserver(&rr);
    rest->run();
    ASSERT_FALSE(rr.steps.empty());
    EXPECT_DOUBLE_EQ(rr.steps.back().totalFlops, rs.steps.back().totalFlops);
}

TEST(TrainingFlops, GptCountsAttentionOverTheWholeContext)
{
    nm::GptShape g;
    g.vocab = 16;
    g.context = 8;
    g.layers = 2;
    g.heads = 2;
    g.width = 16;
    auto model = nm::makeGpt(g, 1);
    nm::Batch b;
    b.rows = 3;
    b.seqLen = 8;
    const double tokens = 3.0 * 8, C = 16;
    // Per block qkv (C→3C), proj (C→C), fc1 (C→4C), fc2 (4C→C); the head C→V; each 3 products.
    const double linears = 3 * 2 * tokens * (2 * (3 * C * C + C * C + 4 * C * C + 4 * C * C) + C * 16);
    const double attention = 12.0 * 3 * 8 * 8 * C * 2;
    EXPECT_DOUBLE_EQ(model->trainingFlops(b, {}), linears + attention);
    std::vector<double> half(model->linears().size(), 1.0);
    half[2] = 0.5; // h0.mlp.fc1 at 2:4: its forward and backward-data products halve
    EXPECT_DOUBLE_EQ(model->trainingFlops(b, half), linears + attention - 2 * tokens * C * 4 * C);
}
