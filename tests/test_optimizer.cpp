// Optimisers, the learning-rate schedule and gradient clipping, against values computed here
// in double from the formulas documented in optimizer.h (PyTorch's conventions) and against
// hand-worked numbers.
#include "nmcore/model.h"
#include "nmcore/optimizer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <span>
#include <vector>

namespace {

// Two tensors in one flat buffer: a "weight" that decays and a "bias" that does not.
std::vector<nm::ParamTensor> twoTensors()
{
    return {nm::ParamTensor{.name = "w", .offset = 0, .size = 3, .shape = {3}, .decay = true},
            nm::ParamTensor{.name = "b", .offset = 3, .size = 2, .shape = {2}, .decay = false}};
}

// One tensor of n parameters that decays.
std::vector<nm::ParamTensor> oneTensor(long n)
{
    return {nm::ParamTensor{.name = "w", .offset = 0, .size = n, .shape = {static_cast<int>(n)}, .decay = true}};
}

const std::vector<float> kStart = {0.5f, -1.0f, 2.0f, 0.25f, -0.75f};
// One gradient per step; the middle one flips signs and has a zero.
const std::vector<std::vector<float>> kGrads = {
    {0.3f, -0.2f, 1.5f, -0.4f, 0.1f},
    {-0.1f, 0.0f, 1.0f, 0.6f, -0.3f},
    {0.2f, 0.5f, -0.7f, -0.2f, 0.05f},
};
const std::vector<float> kLr = {0.1f, 0.05f, 0.02f}; // changes every step, as under a schedule

bool decays(long i)
{
    return i < 3;
}

// Reference SGD in double: g ← ∇ + wd·w (decaying tensors only); b ← μ·b + g;
// step = Nesterov ? g + μ·b : b; w ← w − lr·step.
std::vector<std::vector<double>> referenceSgd(double mu, double wd, bool nesterov)
{
    std::vector<double> w(kStart.begin(), kStart.end()), buf(w.size(), 0.0);
    std::vector<std::vector<double>> after;
    for (size_t s = 0; s < kGrads.size(); ++s) {
        for (size_t i = 0; i < w.size(); ++i) {
            const double g = static_cast<double>(kGrads[s][i]) + (decays(static_cast<long>(i)) ? wd * w[i] : 0.0);
            buf[i] = mu * buf[i] + g;
            w[i] -= static_cast<double>(kLr[s]) * (nesterov ? g + mu * buf[i] : buf[i]);
        }
        after.push_back(w);
    }
    return after;
}

// Reference AdamW in double: w ← w·(1 − lr·wd) (decaying tensors only); m, v EMAs;
// w ← w − lr·m̂/(√v̂ + ε) with m̂ = m/(1 − β1^t), v̂ = v/(1 − β2^t).
std::vector<std::vector<double>> referenceAdamW(const nm::OptimizerSettings &s)
{
    std::vector<double> w(kStart.begin(), kStart.end()), m(w.size(), 0.0), v(w.size(), 0.0);
    std::vector<std::vector<double>> after;
    for (size_t step = 0; step < kGrads.size(); ++step) {
        const double lr = kLr[step];
        const double t = static_cast<double>(step + 1);
        for (size_t i = 0; i < w.size(); ++i) {
            const double g = kGrads[step][i];
            if (decays(static_cast<long>(i)))
                w[i] *= 1.0 - lr * s.weightDecay;
            m[i] = s.beta1 * m[i] + (1.0 - s.beta1) * g;
            v[i] = s.beta2 * v[i] + (1.0 - s.beta2) * g * g;
            const double mhat = m[i] / (1.0 - std::pow(s.beta1, t));
            const double vhat = v[i] / (1.0 - std::pow(s.beta2, t));
            w[i] -= lr * mhat / (std::sqrt(vhat) + s.eps);
        }
        after.push_back(w);
    }
    return after;
}

// Runs the optimizer over the three steps and compares with the reference after each step.
// Float arithmetic on O(1) weights: a few ulp (~1e-7) per operation.
void expectMatches(nm::Optimizer &opt, const std::vector<std::vector<double>> &want, const char *what)
{
    const auto tensors = twoTensors();
    std::vector<float> w = kStart;
    for (size_t s = 0; s < kGrads.size(); ++s) {
        opt.update(w, kGrads[s], tensors, kLr[s], static_cast<long>(s + 1));
        for (size_t i = 0; i < w.size(); ++i)
            EXPECT_NEAR(w[i], want[s][i], 1e-6) << what << ": step " << s + 1 << ", parameter " << i;
    }
}

TEST(Sgd, MomentumStepsMatchHandWorkedNumbers)
{
    // w = 1, ∇ = 0.5 twice, μ = 0.9, lr = 0.1:
    //   step 1: b = 0.5,              w = 1 − 0.05 = 0.95
    //   step 2: b = 0.45 + 0.5 = 0.95, w = 0.95 − 0.095 = 0.855
    // Nesterov uses g + μ·b: 0.5 + 0.45 = 0.95, then 0.5 + 0.855 = 1.355:
    //   w = 1 − 0.095 = 0.905, then 0.905 − 0.1355 = 0.7695
    const auto tensors = oneTensor(1);
    const std::vector<float> g = {0.5f};
    for (bool nesterov : {false, true}) {
        nm::OptimizerSettings s;
        s.momentum = 0.9;
        s.nesterov = nesterov;
        auto opt = nm::makeSgd(s, 1);
        std::vector<float> w = {1.0f};
        opt->update(w, g, tensors, 0.1f, 1);
        EXPECT_NEAR(w[0], nesterov ? 0.905 : 0.95, 1e-6) << "nesterov=" << nesterov;
        opt->update(w, g, tensors, 0.1f, 2);
        EXPECT_NEAR(w[0], nesterov ? 0.7695 : 0.855, 1e-6) << "nesterov=" << nesterov;
    }
}

TEST(Sgd, MatchesReferenceWithWeightDecayOnDecayingTensorsOnly)
{
    nm::OptimizerSettings s;
    s.momentum = 0.9;
    s.weightDecay = 0.1;
    auto opt = nm::makeSgd(s, 5);
    expectMatches(*opt, referenceSgd(0.9, 0.1, false), "sgd");
}

TEST(Sgd, NesterovMatchesReferenceWithWeightDecayOnDecayingTensorsOnly)
{
    nm::OptimizerSettings s;
    s.momentum = 0.9;
    s.nesterov = true;
    s.weightDecay = 0.1;
    auto opt = nm::makeSgd(s, 5);
    expectMatches(*opt, referenceSgd(0.9, 0.1, true), "sgd nesterov");
}

TEST(Sgd, WeightDecayPullsOnlyDecayingTensorsWhenGradientIsZero)
{
    // With ∇ = 0 and no momentum, one step is w ← w·(1 − lr·wd) on decaying tensors and no
    // change on the others.
    nm::OptimizerSettings s;
    s.momentum = 0.0;
    s.weightDecay = 0.5;
    auto opt = nm::makeSgd(s, 5);
    std::vector<float> w = kStart;
    const std::vector<float> zero(5, 0.0f);
    opt->update(w, zero, twoTensors(), 0.1f, 1);
    for (size_t i = 0; i < w.size(); ++i)
        EXPECT_FLOAT_EQ(w[i], decays(static_cast<long>(i)) ? kStart[i] * 0.95f : kStart[i]) << i;
}

TEST(AdamW, MatchesReferenceWithBiasCorrectionAndDecoupledDecay)
{
    nm::OptimizerSettings s;
    s.beta1 = 0.9;
    s.beta2 = 0.999;
    s.eps = 1e-8;
    s.weightDecay = 0.1;
    auto opt = nm::makeAdamW(s, 5);
    expectMatches(*opt, referenceAdamW(s), "adamw");
}

TEST(AdamW, MatchesReferenceWithOtherBetasAndStrongDecay)
{
    // Different betas make a swapped β1/β2 or a missing bias correction visible at step 1.
    nm::OptimizerSettings s;
    s.beta1 = 0.5;
    s.beta2 = 0.9;
    s.eps = 1e-3;
    s.weightDecay = 2.0;
    auto opt = nm::makeAdamW(s, 5);
    expectMatches(*opt, referenceAdamW(s), "adamw");
}

TEST(AdamW, FirstStepMovesEachWeightByLrTimesSignOfGradient)
{
    // Step 1 with bias correction: m̂ = g, v̂ = g², so Δw = −lr·g/(|g| + ε) ≈ −lr·sign(g),
    // whatever the gradient's size. Zero gradient: no move.
    nm::OptimizerSettings s;
    s.weightDecay = 0.0;
    const std::vector<float> g = {3.0f, -0.01f, 1e-3f, -250.0f, 0.0f, 42.0f};
    const std::vector<float> start = {0.5f, 0.5f, -0.5f, 0.25f, 1.0f, -2.0f};
    std::vector<float> w = start;
    const float lr = 1e-3f;
    auto opt = nm::makeAdamW(s, 6);
    opt->update(w, g, oneTensor(6), lr, 1);
    for (size_t i = 0; i < w.size(); ++i) {
        const double sign = g[i] > 0 ? 1.0 : g[i] < 0 ? -1.0 : 0.0;
        // Tolerance: one ulp of the weights (≤ 2.4e-7) on a move of 1e-3.
        EXPECT_NEAR(static_cast<double>(w[i]) - static_cast<double>(start[i]), static_cast<double>(-lr) * sign,
                    1e-3 * static_cast<double>(lr))
            << "gradient " << g[i];
    }
}

TEST(AdamW, EpsilonIsAddedOutsideTheSquareRoot)
{
    // A gradient equal to ε on step 1: Δw = −lr·ε/(ε + ε) = −lr/2. (Inside the root it would
    // be −lr·ε/√(ε² + ε) ≈ −lr·1e-4.)
    nm::OptimizerSettings s;
    s.eps = 1e-6;
    std::vector<float> w = {0.0f};
    auto opt = nm::makeAdamW(s, 1);
    opt->update(w, std::vector<float>{1e-6f}, oneTensor(1), 0.1f, 1);
    EXPECT_NEAR(w[0], -0.05, 1e-6);
}

// ---- Learning-rate schedule ------------------------------------------------------------

TEST(LrSchedule, WarmupRisesLinearlyToThePeak)
{
    const nm::LrSchedule s{1e-3, 0.1, 10, 111};
    for (long step = 0; step < 10; ++step)
        EXPECT_DOUBLE_EQ(s.at(step), 1e-3 * static_cast<double>(step + 1) / 10.0) << step;
    EXPECT_DOUBLE_EQ(s.at(0), 1e-4);
    EXPECT_DOUBLE_EQ(s.at(9), 1e-3);
}

TEST(LrSchedule, CosineRunsFromPeakToFloorAtTheLastStep)
{
    // warmup 10, total 111: the cosine spans steps 10..110 (100 intervals).
    const nm::LrSchedule s{1e-3, 0.1, 10, 111};
    EXPECT_DOUBLE_EQ(s.at(10), 1e-3);                  // peak right after warm-up
    EXPECT_NEAR(s.at(60), 0.5 * (1e-3 + 1e-4), 1e-15); // midpoint: halfway between peak and floor
    // A quarter of the way: floor + (peak − floor)·(1 + cos(π/4))/2.
    EXPECT_NEAR(s.at(35), 1e-4 + 0.9e-3 * (1.0 + std::sqrt(0.5)) / 2.0, 1e-15);
    EXPECT_NEAR(s.at(110), 1e-4, 1e-15); // floor = peak·minRatio at total − 1
    EXPECT_NEAR(s.at(500), 1e-4, 1e-15); // and it stays there
}

TEST(LrSchedule, DecreasesStrictlyAfterWarmup)
{
    const nm::LrSchedule s{3e-4, 0.0, 5, 60};
    for (long step = 5; step < 59; ++step)
        EXPECT_LT(s.at(step + 1), s.at(step)) << step;
    EXPECT_NEAR(s.at(59), 0.0, 1e-18);
}

TEST(LrSchedule, WithoutWarmupStartsAtThePeak)
{
    const nm::LrSchedule s{0.1, 0.0, 0, 101};
    EXPECT_DOUBLE_EQ(s.at(0), 0.1);
    EXPECT_NEAR(s.at(50), 0.05, 1e-15);
    EXPECT_NEAR(s.at(100), 0.0, 1e-15);
    EXPECT_LT(s.at(1), s.at(0));
}

// ---- Gradient norm and clipping ----------------------------------------------------------

TEST(GradNorm, IsTheEuclideanNorm)
{
    const std::vector<float> g = {3.0f, -4.0f, 12.0f}; // √(9 + 16 + 144) = 13
    EXPECT_DOUBLE_EQ(nm::gradNorm(g), 13.0);
    EXPECT_DOUBLE_EQ(nm::gradNorm(std::span<const float>()), 0.0);
    // Long enough to be summed in several chunks, and accumulated in double: summing the
    // squares of 0.1f in float would drift by ~1e-4 relative.
    const std::vector<float> many(100000, 0.1f);
    const double want = std::sqrt(100000.0 * static_cast<double>(0.1f) * static_cast<double>(0.1f));
    EXPECT_NEAR(nm::gradNorm(many), want, want * 1e-12);
}

TEST(ClipGradNorm, ScalesToMaxNormAndKeepsDirection)
{
    std::vector<float> g = {3.0f, -4.0f, 12.0f};
    EXPECT_DOUBLE_EQ(nm::clipGradNorm(g, 6.5), 13.0); // returns the norm before clipping
    EXPECT_NEAR(nm::gradNorm(g), 6.5, 6.5 * 1e-6);
    // Same direction: every component halved.
    EXPECT_NEAR(g[0], 1.5f, 1e-6);
    EXPECT_NEAR(g[1], -2.0f, 1e-6);
    EXPECT_NEAR(g[2], 6.0f, 1e-6);
}

TEST(ClipGradNorm, ScalesALongVectorToMaxNorm)
{
    std::vector<float> g(100000);
    for (size_t i = 0; i < g.size(); ++i)
        g[i] = static_cast<float>(std::sin(0.001 * static_cast<double>(i) * static_cast<double>(i)));
    const std::vector<float> before = g;
    const double norm = nm::clipGradNorm(g, 1.0);
    EXPECT_GT(norm, 100.0);
    EXPECT_NEAR(nm::gradNorm(g), 1.0, 1e-5);
    const double ratio = 1.0 / norm;
    for (size_t i = 0; i < g.size(); i += 997)
        EXPECT_NEAR(g[i], static_cast<double>(before[i]) * ratio, 1e-6) << i;
}

TEST(ClipGradNorm, LeavesGradientsAtOrBelowTheThresholdUnchanged)
{
    const std::vector<float> start = {3.0f, -4.0f, 12.0f};
    for (double maxNorm : {13.0, 20.0, 1e9}) {
        std::vector<float> g = start;
        EXPECT_DOUBLE_EQ(nm::clipGradNorm(g, maxNorm), 13.0);
        EXPECT_EQ(g, start) << "maxNorm " << maxNorm;
    }
}

TEST(ClipGradNorm, NonPositiveMaxNormOnlyMeasures)
{
    const std::vector<float> start = {3.0f, -4.0f, 12.0f};
    for (double maxNorm : {0.0, -1.0}) {
        std::vector<float> g = start;
        EXPECT_DOUBLE_EQ(nm::clipGradNorm(g, maxNorm), 13.0);
        EXPECT_EQ(g, start) << "maxNorm " << maxNorm;
    }
}

} // namespace
