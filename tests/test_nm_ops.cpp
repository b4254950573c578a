// Tests for the N:M primitives in nmcore/nm_ops.h (hard mask, soft threshold, β, MVUE 2:4,
// FP8 simulation, flip counting). Brute-force references are written out here.
#include "nmcore/error.h"
#include "nmcore/nm_ops.h"
#include "nmcore/rng.h"

#include <gtest/gtest.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

using namespace nm;
using namespace nm::nmops;

namespace {

std::vector<float> gaussian(long count, uint64_t seed)
{
    Rng rng(seed);
    std::vector<float> v(static_cast<size_t>(count));
    for (auto &x : v)
        x = rng.normal();
    return v;
}

// Brute force: stable-sort indices by |w| descending (lower index first on ties), keep n.
std::vector<uint8_t> refMask(const std::vector<float> &w, long rows, int cols, int n, int m)
{
    std::vector<uint8_t> mk(w.size(), 0);
    for (long r = 0; r < rows; ++r)
        for (int g = 0; g < cols / m; ++g) {
            const long base = r * cols + static_cast<long>(g) * m;
            std::vector<int> idx(static_cast<size_t>(m));
            std::iota(idx.begin(), idx.end(), 0);
            std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) {
                return std::fabs(w[static_cast<size_t>(base + a)]) > std::fabs(w[static_cast<size_t>(base + b)]);
            });
            for (int k = 0; k < n; ++k)
                mk[static_cast<size_t>(base + idx[static_cast<size_t>(k)])] = 1;
        }
    return mk;
}

// Brute force soft threshold: full sort of magnitudes, t = sorted[m-n-1].
std::vector<float> refSoft(const std::vector<float> &w, long rows, int cols, int n, int m)
{
    std::vector<float> out(w.size());
    for (long r = 0; r < rows; ++r)
        for (int g = 0; g < cols / m; ++g) {
            const long base = r * cols + static_cast<long>(g) * m;
            std::vector<float> a(static_cast<size_t>(m));
            for (int i = 0; i < m; ++i)
                a[static_cast<size_t>(i)] = std::fabs(w[static_cast<size_t>(base + i)]);
            std::sort(a.begin(), a.end());
            const float t = a[static_cast<size_t>(m - n - 1)];
            for (int i = 0; i < m; ++i) {
                const float x = w[static_cast<size_t>(base + i)];
                out[static_cast<size_t>(base + i)] = std::fabs(x) > t ? (x > 0 ? x - t : x + t) : 0.0f;
            }
        }
    return out;
}

struct NM {
    int n, m;
};
const NM kPatterns[] = {{2, 4}, {1, 4}, {1, 8}, {2, 8}, {4, 16}, {1, 16}, {1, 32}, {8, 32}, {3, 128}};

} // namespace

// ---------------------------------------------------------------- hard mask

TEST(NmMask, KeepsExactlyNLargestMagnitudesPerGroupForAllPatterns)
{
    for (const NM p : kPatterns) {
        const long rows = 37;
        const int cols = p.m * 6;
        const auto w = gaussian(rows * cols, static_cast<uint64_t>(100 + p.m * 7 + p.n));
        std::vector<uint8_t> mk(w.size(), 7);
        nmMask(mk.data(), w.data(), rows, cols, p.n, p.m);
        EXPECT_EQ(mk, refMask(w, rows, cols, p.n, p.m)) << p.n << ":" << p.m;
        for (long g = 0; g < rows * cols / p.m; ++g) {
            int ones = 0;
            for (int i = 0; i < p.m; ++i)
                ones += mk[static_cast<size_t>(g * p.m + i)];
            ASSERT_EQ(ones, p.n) << p.n << ":" << p.m << " group " << g;
        }
    }
}

TEST(NmMask, TwoOfFourKeepsLargestMagnitudes)
{
    const float w[8] = {0.1f, -3.0f, 2.0f, 0.5f, -0.2f, 0.3f, -0.4f, 0.25f};
    uint8_t mk[8];
    nmMask(mk, w, 1, 8, 2, 4);
    const uint8_t expect[8] = {0, 1, 1, 0, 0, 1, 1, 0};
    for (int i = 0; i < 8; ++i)
        EXPECT_EQ(mk[i], expect[i]) << i;
}

TEST(NmMask, IsIdempotentOnMaskedWeights)
{
    for (const NM p : kPatterns) {
        const long rows = 16;
        const int cols = p.m * 4;
        const auto w = gaussian(rows * cols, static_cast<uint64_t>(7 + p.m + p.n));
        std::vector<uint8_t> m1(w.size()), m2(w.size());
        std::vector<float> masked(w.size());
        nmMask(m1.data(), w.data(), rows, cols, p.n, p.m);
        applyMask(masked.data(), w.data(), m1.data(), static_cast<long>(w.size()));
        nmMask(m2.data(), masked.data(), rows, cols, p.n, p.m);
        EXPECT_EQ(m1, m2) << p.n << ":" << p.m;
    }
}

TEST(NmMask, TiesAreWonByTheLowerIndex)
{
    {
        const float zeros[4] = {0, 0, 0, 0};
        uint8_t mk[4];
        nmMask(mk, zeros, 1, 4, 2, 4);
        EXPECT_EQ(mk[0] + 2 * mk[1] + 4 * mk[2] + 8 * mk[3], 1 + 2); // keeps 0 and 1
    }
    {
        const float w[4] = {0.1f, -1.0f, 1.0f, -1.0f}; // three equal magnitudes, keep 2: indices 1,2
        uint8_t mk[4];
        nmMask(mk, w, 1, 4, 2, 4);
        EXPECT_EQ(mk[0], 0);
        EXPECT_EQ(mk[1], 1);
        EXPECT_EQ(mk[2], 1);
        EXPECT_EQ(mk[3], 0);
    }
    for (const NM p : kPatterns) { // all-equal groups, general and unrolled paths
        std::vector<float> w(static_cast<size_t>(p.m), -0.5f);
        std::vector<uint8_t> mk(static_cast<size_t>(p.m));
        nmMask(mk.data(), w.data(), 1, p.m, p.n, p.m);
        for (int i = 0; i < p.m; ++i)
            EXPECT_EQ(mk[static_cast<size_t>(i)], i < p.n ? 1 : 0) << p.n << ":" << p.m << " i=" << i;
    }
}

TEST(NmMask, RandomTiesMatchReferenceOnQuantizedWeights)
{
    // Weights drawn from {-2..2}: many ties, exercises the tie rule against the stable reference.
    for (const NM p : kPatterns) {
        const long rows = 9;
        const int cols = p.m * 3;
        Rng rng(static_cast<uint64_t>(55 + p.m));
        std::vector<float> w(static_cast<size_t>(rows * cols));
        for (auto &x : w)
            x = static_cast<float>(static_cast<long>(rng.below(5)) - 2);
        std::vector<uint8_t> mk(w.size());
        nmMask(mk.data(), w.data(), rows, cols, p.n, p.m);
        EXPECT_EQ(mk, refMask(w, rows, cols, p.n, p.m)) << p.n << ":" << p.m;
    }
}

TEST(NmMask, ResultIndependentOfThreadCount)
{
#ifndef _OPENMP
    GTEST_SKIP() << "built without OpenMP (add OpenMP::OpenMP_CXX to the test target)";
#else
    const long rows = 512;
    const int cols = 256;
    const auto w = gaussian(rows * cols, 3);
    std::vector<uint8_t> a(w.size()), b(w.size());
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    nmMask(a.data(), w.data(), rows, cols, 2, 4);
    omp_set_num_threads(std::max(2, saved));
    nmMask(b.data(), w.data(), rows, cols, 2, 4);
    omp_set_num_threads(saved);
    EXPECT_EQ(a, b);
#endif
}

TEST(NmMask, BadArgumentsThrowConfigError)
{
    std::vector<float> w(256, 1.0f);
    std::vector<uint8_t> mk(256);
    EXPECT_THROW(nmMask(mk.data(), w.data(), 1, 8, 4, 4), ConfigError);     // N == M
    EXPECT_THROW(nmMask(mk.data(), w.data(), 1, 8, 5, 4), ConfigError);     // N > M
    EXPECT_THROW(nmMask(mk.data(), w.data(), 1, 8, 0, 4), ConfigError);     // N == 0
    EXPECT_THROW(nmMask(mk.data(), w.data(), 1, 10, 2, 4), ConfigError);    // cols % M
    EXPECT_THROW(nmMask(mk.data(), w.data(), 1, 256, 2, 256), ConfigError); // M > 128
    EXPECT_THROW(nmMask(mk.data(), w.data(), -1, 8, 2, 4), ConfigError);
    EXPECT_THROW(nmMask(nullptr, w.data(), 1, 8, 2, 4), ConfigError);
    EXPECT_THROW(softThreshold(w.data(), w.data(), 1, 8, 4, 4), ConfigError);
    EXPECT_THROW(softThreshold(w.data(), w.data(), 1, 12, 1, 8), ConfigError);
    Rng rng(1);
    std::vector<float> o(256);
    EXPECT_THROW(mvue24(o.data(), w.data(), 1, 6, rng), ConfigError);
    EXPECT_THROW(mvue24(w.data(), w.data(), 1, 8, rng), ConfigError); // aliasing
    EXPECT_THROW(countFlips(mk.data(), mk.data(), -1), ConfigError);
    EXPECT_NO_THROW(nmMask(mk.data(), w.data(), 0, 8, 2, 4)); // empty is fine
}

TEST(ApplyMask, ZeroesPrunedPositions)
{
    const float w[4] = {1.0f, -2.0f, 3.0f, -4.0f};
    const uint8_t mk[4] = {1, 0, 0, 1};
    float out[4];
    applyMask(out, w, mk, 4);
    EXPECT_EQ(out[0], 1.0f);
    EXPECT_EQ(out[1], 0.0f);
    EXPECT_EQ(out[2], 0.0f);
    EXPECT_EQ(out[3], -4.0f);
}

// ---------------------------------------------------------------- soft threshold

TEST(SoftThreshold, MatchesBruteForceAndHasAtMostNNonzerosPerGroup)
{
    for (const NM p : kPatterns) {
        const long rows = 23;
        const int cols = p.m * 5;
        const auto w = gaussian(rows * cols, static_cast<uint64_t>(900 + p.m + p.n));
        std::vector<float> out(w.size());
        softThreshold(out.data(), w.data(), rows, cols, p.n, p.m);
        const auto ref = refSoft(w, rows, cols, p.n, p.m);
        for (size_t i = 0; i < w.size(); ++i)
            ASSERT_EQ(out[i], ref[i]) << p.n << ":" << p.m << " i=" << i;
        for (long g = 0; g < rows * cols / p.m; ++g) {
            int nz = 0;
            for (int i = 0; i < p.m; ++i)
                nz += out[static_cast<size_t>(g * p.m + i)] != 0.0f;
            ASSERT_LE(nz, p.n);
        }
    }
}

TEST(SoftThreshold, TwoOfFourSubtractsSecondSmallestMagnitude)
{
    const float w[4] = {0.5f, -3.0f, 2.0f, -1.0f}; // sorted |a| = .5 1 2 3 → t = 1
    float out[4];
    softThreshold(out, w, 1, 4, 2, 4);
    EXPECT_FLOAT_EQ(out[0], 0.0f);
    EXPECT_FLOAT_EQ(out[1], -2.0f);
    EXPECT_FLOAT_EQ(out[2], 1.0f);
    EXPECT_FLOAT_EQ(out[3], 0.0f);
}

TEST(SoftThreshold, OneOfFourAndOneOfEightUseLargestPrunedMagnitude)
{
    // 1:4: t = 3rd smallest (not the legacy index N−1 = 0, which would keep three values).
    const float w4[4] = {0.5f, -3.0f, 2.0f, -1.0f};
    float o4[4];
    softThreshold(o4, w4, 1, 4, 1, 4);
    EXPECT_FLOAT_EQ(o4[0], 0.0f);
    EXPECT_FLOAT_EQ(o4[1], -1.0f);
    EXPECT_FLOAT_EQ(o4[2], 0.0f);
    EXPECT_FLOAT_EQ(o4[3], 0.0f);
    // 1:8: t = 7th smallest = 2nd largest magnitude.
    const float w8[8] = {0.1f, 0.2f, -5.0f, 0.3f, 0.4f, -4.0f, 0.6f, 0.7f};
    float o8[8];
    softThreshold(o8, w8, 1, 8, 1, 8);
    for (int i = 0; i < 8; ++i)
        EXPECT_FLOAT_EQ(o8[i], i == 2 ? -1.0f : 0.0f) << i;
}

TEST(SoftThreshold, IsContinuousWhenTheRankingSwaps)
{
    // Elements 1 and 2 swap rank between w and w'; the output moves by O(δ) only.
    const float d = 1e-4f;
    const float wa[4] = {1.0f, 0.5f, 0.5f + d, 0.1f};
    const float wb[4] = {1.0f, 0.5f + d, 0.5f, 0.1f};
    float oa[4], ob[4];
    softThreshold(oa, wa, 1, 4, 2, 4);
    softThreshold(ob, wb, 1, 4, 2, 4);
    for (int i = 0; i < 4; ++i)
        EXPECT_LE(std::fabs(oa[i] - ob[i]), 2 * d) << i;
    // Whereas the hard mask jumps by ~0.5 there.
    uint8_t ma[4], mb[4];
    nmMask(ma, wa, 1, 4, 2, 4);
    nmMask(mb, wb, 1, 4, 2, 4);
    EXPECT_EQ(countFlips(ma, mb, 4), 2);
    // Random small perturbations: Lipschitz with constant 2 in the max norm per group.
    const long rows = 64;
    const int cols = 64;
    auto w = gaussian(rows * cols, 77);
    auto w2 = w;
    Rng rng(78);
    for (auto &x : w2)
        x += 1e-3f * (rng.uniform() - 0.5f);
    for (const NM p : kPatterns) {
        if (cols % p.m)
            continue;
        std::vector<float> o1(w.size()), o2(w.size());
        softThreshold(o1.data(), w.data(), rows, cols, p.n, p.m);
        softThreshold(o2.data(), w2.data(), rows, cols, p.n, p.m);
        for (size_t i = 0; i < w.size(); ++i)
            ASSERT_LE(std::fabs(o1[i] - o2[i]), 1.01e-3f) << p.n << ":" << p.m;
    }
}

TEST(SsteBeta, MatchesMonteCarloValuesForGaussianWeights)
{
    const long rows = 1000;
    const int cols = 1024; // ~1e6 weights
    const auto w = gaussian(rows * cols, 2024);
    std::vector<float> s(w.size());
    struct Case {
        int n, m;
        double beta;
    } cases[] = {{2, 4, 1.49}, {1, 4, 1.89}, {1, 8, 2.49}, {4, 8, 1.56}};
    for (const Case c : cases) {
        softThreshold(s.data(), w.data(), rows, cols, c.n, c.m);
        EXPECT_NEAR(ssteBeta(w.data(), s.data(), static_cast<long>(w.size())), c.beta, 0.02) << c.n << ":" << c.m;
    }
}

TEST(SsteBeta, MinimisesSquaredErrorAndDefaultsToOne)
{
    const float w[3] = {1.0f, 2.0f, 3.0f};
    const float s[3] = {0.5f, 1.0f, 1.5f};
    EXPECT_DOUBLE_EQ(ssteBeta(w, s, 3), 2.0);
    const float z[3] = {0, 0, 0};
    EXPECT_DOUBLE_EQ(ssteBeta(w, z, 3), 1.0);
}

// ---------------------------------------------------------------- MVUE 2:4

TEST(Mvue24, KeepsExactlyTwoPerGroupOfFour)
{
    const long rows = 200;
    const int cols = 64;
    const auto g = gaussian(rows * cols, 11);
    std::vector<float> out(g.size());
    Rng rng(12);
    mvue24(out.data(), g.data(), rows, cols, rng);
    for (long grp = 0; grp < rows * cols / 4; ++grp) {
        int nz = 0;
        for (int i = 0; i < 4; ++i) {
            const float o = out[static_cast<size_t>(grp * 4 + i)];
            nz += o != 0.0f;
            if (o != 0.0f) { // kept values keep their sign and are scaled up (1/p ≥ 1)
                ASSERT_GE(o / g[static_cast<size_t>(grp * 4 + i)], 1.0f - 1e-6f);
            }
        }
        ASSERT_EQ(nz, 2) << grp;
    }
}

TEST(Mvue24, IsUnbiasedInMonteCarlo)
{
    // K independent draws of the same groups (one row per draw). out_k = x_k/p_k with
    // probability p_k, else 0, so Var(out_k) = x_k²(1/p_k − 1) and the Monte-Carlo mean has
    // standard error x_k·sqrt((1/p_k − 1)/K). We accept |mean − x| ≤ 5 standard errors (a
    // false failure has probability ~6e-7 per coordinate), plus float slack.
    const double eps = 1.19209e-7;
    const std::vector<std::vector<float>> groups = {
        {1.0f, -2.0f, 0.5f, 3.0f}, {0.1f, 0.1f, 0.1f, 10.0f}, {0.0f, 1.0f, -1.0f, 0.25f}};
    const long K = 100000;
    for (const auto &x : groups) {
        std::vector<float> g(K * 4), out(K * 4);
        for (long r = 0; r < K; ++r)
            std::copy(x.begin(), x.end(), g.begin() + r * 4);
        Rng rng(4242);
        mvue24(out.data(), g.data(), K, 4, rng);
        double a[4], S = 0, p[4], psum = 0;
        for (int k = 0; k < 4; ++k)
            S += a[k] = std::fabs(static_cast<double>(x[static_cast<size_t>(k)])) + eps;
        for (int k = 0; k < 4; ++k) {
            p[k] = a[k] / S;
            for (int l = 0; l < 4; ++l)
                if (l != k)
                    p[k] += a[k] * (a[l] / S) / (S - a[l]);
            psum += p[k];
        }
        EXPECT_NEAR(psum, 2.0, 1e-9);
        for (int k = 0; k < 4; ++k) {
            const float xk = x[static_cast<size_t>(k)];
            double mean = 0, kept = 0;
            for (long r = 0; r < K; ++r) {
                mean += static_cast<double>(out[static_cast<size_t>(r * 4 + k)]);
                kept += out[static_cast<size_t>(r * 4 + k)] != 0.0f;
            }
            mean /= K;
            const double se = static_cast<double>(std::fabs(xk)) * std::sqrt(std::max(0.0, 1.0 / p[k] - 1.0) / K);
            EXPECT_NEAR(mean, xk, 5 * se + 1e-6) << "k=" << k;
            if (xk != 0.0f) { // empirical inclusion frequency matches p_k (binomial, 5σ)
                EXPECT_NEAR(kept / K, p[k], 5 * std::sqrt(p[k] * (1 - p[k]) / K) + 1e-6) << "k=" << k;
            }
        }
    }
}

TEST(Mvue24, DeterministicForSeedAndThreadCount)
{
#ifndef _OPENMP
    GTEST_SKIP() << "built without OpenMP (add OpenMP::OpenMP_CXX to the test target)";
#else
    const long rows = 256;
    const int cols = 256;
    const auto g = gaussian(rows * cols, 5);
    std::vector<float> a(g.size()), b(g.size());
    const int saved = omp_get_max_threads();
    Rng r1(9), r2(9);
    omp_set_num_threads(1);
    mvue24(a.data(), g.data(), rows, cols, r1);
    omp_set_num_threads(std::max(2, saved));
    mvue24(b.data(), g.data(), rows, cols, r2);
    omp_set_num_threads(saved);
    EXPECT_EQ(a, b);
    mvue24(b.data(), g.data(), rows, cols, r2); // the rng advanced: a new draw
    EXPECT_NE(a, b);
#endif
}

// ---------------------------------------------------------------- FP8

TEST(Fp8, E4M3RoundsKnownValues)
{
    // E4M3fn grid: normals (1 + m/8)·2^e for e in [−6, 8]; subnormals k·2⁻⁹, k = 1..7; max 448.
    EXPECT_EQ(toE4M3(1.0f), 1.0f);
    EXPECT_EQ(toE4M3(-2.5f), -2.5f);
    EXPECT_EQ(toE4M3(0.3f), 0.3125f);  // [0.25,0.5) step 2⁻⁵: 0.3/0.03125 = 9.6 → 10
    EXPECT_EQ(toE4M3(1.0625f), 1.0f);  // tie between 1.0 (m=0) and 1.125 (m=1) → even
    EXPECT_EQ(toE4M3(1.1875f), 1.25f); // tie between 1.125 (m=1) and 1.25 (m=2) → even
    EXPECT_EQ(toE4M3(420.0f), 416.0f); // [256,512) step 32
    EXPECT_EQ(toE4M3(432.0f), 448.0f); // tie 416 (m=5) / 448 (m=6) → even
    EXPECT_EQ(toE4M3(449.0f), 448.0f); // saturate
    EXPECT_EQ(toE4M3(1e6f), 448.0f);
    EXPECT_EQ(toE4M3(-1e6f), -448.0f);
    EXPECT_EQ(toE4M3(std::numeric_limits<float>::infinity()), 448.0f);
    EXPECT_TRUE(std::isnan(toE4M3(std::numeric_limits<float>::quiet_NaN())));
    const float sub = std::ldexp(1.0f, -9);                        // 0.001953125, smallest subnormal
    EXPECT_EQ(toE4M3(std::ldexp(1.0f, -6)), std::ldexp(1.0f, -6)); // min normal
    EXPECT_EQ(toE4M3(sub), sub);
    EXPECT_EQ(toE4M3(0.6f * sub), sub);
    EXPECT_EQ(toE4M3(0.5f * sub), 0.0f);    // tie 0 / 1 step → 0
    EXPECT_EQ(toE4M3(1.5f * sub), 2 * sub); // tie 1 / 2 steps → 2
    EXPECT_EQ(toE4M3(2.5f * sub), 2 * sub); // tie 2 / 3 steps → 2
    EXPECT_EQ(toE4M3(7.4f * sub), 7 * sub); // largest subnormal
    EXPECT_EQ(toE4M3(1e-9f), 0.0f);
}

TEST(Fp8, E4M3GridPointsAreFixedPoints)
{
    std::vector<float> grid;
    for (int e = 0; e < 16; ++e)
        for (int m = 0; m < 8; ++m) {
            if (e == 15 && m == 7)
                continue; // NaN encoding
            grid.push_back(e == 0 ? std::ldexp(static_cast<float>(m), -9)
                                  : std::ldexp(1.0f + static_cast<float>(m) / 8.0f, e - 7));
        }
    EXPECT_EQ(grid.back(), 448.0f);
    for (size_t i = 0; i < grid.size(); ++i) {
        EXPECT_EQ(toE4M3(grid[i]), grid[i]);
        EXPECT_EQ(toE4M3(-grid[i]), -grid[i]);
        if (i > 0) { // points strictly inside an interval round to the nearer end
            const float lo = grid[i - 1], hi = grid[i];
            EXPECT_EQ(toE4M3(lo + 0.4f * (hi - lo)), lo);
            EXPECT_EQ(toE4M3(lo + 0.6f * (hi - lo)), hi);
        }
    }
}

TEST(Fp8, E5M2RoundsKnownValues)
{
    // E5M2 grid: normals (1 + m/4)·2^e for e in [−14, 15]; subnormals k·2⁻¹⁶, k = 1..3; max 57344.
    EXPECT_EQ(toE5M2(1.0f), 1.0f);
    EXPECT_EQ(toE5M2(0.3f), 0.3125f); // [0.25,0.5) step 2⁻⁴: 0.3/0.0625 = 4.8 → 5
    EXPECT_EQ(toE5M2(1.125f), 1.0f);  // tie 1.0 (m=0) / 1.25 (m=1) → even
    EXPECT_EQ(toE5M2(1.375f), 1.5f);  // tie 1.25 (m=1) / 1.5 (m=2) → even
    EXPECT_EQ(toE5M2(57344.0f), 57344.0f);
    EXPECT_EQ(toE5M2(60000.0f), 57344.0f);
    EXPECT_EQ(toE5M2(1e9f), 57344.0f);
    EXPECT_EQ(toE5M2(-1e9f), -57344.0f);
    EXPECT_EQ(toE5M2(52000.0f), 49152.0f); // [32768,65536) step 8192: 6.35 → 6
    EXPECT_TRUE(std::isnan(toE5M2(std::numeric_limits<float>::quiet_NaN())));
    const float sub = std::ldexp(1.0f, -16);
    EXPECT_EQ(toE5M2(std::ldexp(1.0f, -14)), std::ldexp(1.0f, -14));
    EXPECT_EQ(toE5M2(sub), sub);
    EXPECT_EQ(toE5M2(0.5f * sub), 0.0f);    // tie → 0
    EXPECT_EQ(toE5M2(1.5f * sub), 2 * sub); // tie → even
    EXPECT_EQ(toE5M2(3.2f * sub), 3 * sub);
    EXPECT_EQ(toFp8(0.3f, Fp8Format::E5M2), 0.3125f);
}

TEST(Fp8, QuantizeScalesAmaxToFormatMax)
{
    const float x[4] = {1.0f, -2.0f, 0.5f, 4.0f};
    float q[4];
    const float s = quantizeFp8(q, x, 4, Fp8Format::E4M3);
    EXPECT_EQ(s, 112.0f); // 448 / 4
    EXPECT_EQ(q[3], 448.0f);
    EXPECT_EQ(q[1], -224.0f);
    EXPECT_EQ(q[0], 112.0f);
    EXPECT_EQ(q[2], 56.0f);
    EXPECT_EQ(quantizeFp8(q, x, 4, Fp8Format::E5M2), 14336.0f); // 57344 / 4
    EXPECT_EQ(q[3], 57344.0f);
    const float z[2] = {0.0f, 0.0f};
    EXPECT_EQ(quantizeFp8(q, z, 2, Fp8Format::E4M3), 1.0f);
    EXPECT_EQ(q[0], 0.0f);
}

TEST(Fp8, FakeQuantizeRelativeErrorWithinHalfUlp)
{
    const auto x = gaussian(100000, 31);
    std::vector<float> y(x.size());
    for (const auto fmt : {Fp8Format::E4M3, Fp8Format::E5M2}) {
        const float s = fakeQuantizeFp8(y.data(), x.data(), static_cast<long>(x.size()), fmt);
        const float amax = std::fabs(
            *std::max_element(x.begin(), x.end(), [](float a, float b) { return std::fabs(a) < std::fabs(b); }));
        EXPECT_NEAR(s * amax, fp8Max(fmt), 1e-3f * fp8Max(fmt));
        const double rel = fmt == Fp8Format::E4M3 ? 1.0 / 16 : 1.0 / 8; // half a mantissa ulp
        const double minNormal = fmt == Fp8Format::E4M3 ? std::ldexp(1.0, -6) : std::ldexp(1.0, -14);
        for (size_t i = 0; i < x.size(); ++i)
            if (static_cast<double>(std::fabs(x[i]) * s) >= minNormal) {
                ASSERT_LE(std::fabs(y[i] - x[i]), rel * static_cast<double>(std::fabs(x[i])) * 1.0001 + 1e-12) << i;
            }
    }
}

// ---------------------------------------------------------------- flips

TEST(CountFlips, CountsDifferingPositions)
{
    const uint8_t a[6] = {1, 0, 1, 0, 1, 1};
    const uint8_t b[6] = {1, 1, 0, 0, 1, 0};
    EXPECT_EQ(countFlips(a, b, 6), 3);
    EXPECT_EQ(countFlips(a, a, 6), 0);
    EXPECT_EQ(countFlips(a, b, 0), 0);
    std::vector<uint8_t> big1(100000, 0), big2(100000, 0);
    for (size_t i = 0; i < big2.size(); i += 7)
        big2[i] = 1;
    EXPECT_EQ(countFlips(big1.data(), big2.data(), static_cast<long>(big1.size())), (100000 + 6) / 7);
}

TEST(NmMaskApply, MatchesTheReferenceMaskAndAppliesIt)
{
    // Ties (values from {-2..2}), NaN, and every small-M path (4 branch-free, 8/16 rank, 32 generic).
    for (const NM p : kPatterns) {
        const long rows = 7;
        const int cols = p.m * 5;
        Rng rng(static_cast<uint64_t>(77 + p.m));
        std::vector<float> w(static_cast<size_t>(rows * cols));
        for (auto &x : w)
            x = static_cast<float>(static_cast<long>(rng.below(5)) - 2);
        std::vector<uint8_t> mk(w.size());
        std::vector<float> out(w.size());
        nmMaskApply(mk.data(), out.data(), w.data(), rows, cols, p.n, p.m);
        EXPECT_EQ(mk, refMask(w, rows, cols, p.n, p.m)) << p.n << ":" << p.m;
        for (size_t i = 0; i < w.size(); ++i) {
            if (mk[i])
                EXPECT_TRUE(out[i] == w[i] || (std::isnan(out[i]) && std::isnan(w[i]))) << i;
            else
                EXPECT_EQ(out[i], 0.0f) << i;
        }
    }
    // NaN ranks above everything (2:4 branch-free path).
    const float w4[8] = {std::numeric_limits<float>::quiet_NaN(), 1, 2, 0, -3, -3, 1, 1};
    uint8_t m4[8];
    float o4[8];
    nmMaskApply(m4, o4, w4, 1, 8, 2, 4);
    EXPECT_EQ(std::vector<uint8_t>(m4, m4 + 8), (std::vector<uint8_t>{1, 0, 1, 0, 1, 1, 0, 0}));
    EXPECT_TRUE(std::isnan(o4[0]));
    EXPECT_EQ(o4[1], 0.0f);
}
