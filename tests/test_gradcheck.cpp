// Gradient checks, in the spirit of ggml's test-backend-ops: every kernel with a backward is a
// row of a table, and three behaviours are checked for each row:
//  - its forward matches a double-precision reference written here (so the finite differences
//    below differentiate the right function, not merely a self-consistent one);
//  - its backward matches central differences of the scalar loss L = Σ r ⊙ out for a fixed
//    random r, with the loss accumulated in double and the inputs perturbed in float;
//  - its backward accumulates (+=) into the gradients instead of overwriting them.
// Then whole models: the gradient buffer after zeroGrad/forward/backward must match central
// differences of Model::forward() over their parameters.
#include "nmcore/data.h"
#include "nmcore/kernels.h"
#include "nmcore/model.h"
#include "nmcore/rng.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

namespace {

namespace K = nm::kernels;

using Tensors = std::vector<std::vector<float>>;
using Doubles = std::vector<double>;

std::vector<float> uniform(nm::Rng &rng, size_t n, float lo, float hi)
{
    std::vector<float> v(n);
    for (auto &x : v)
        x = lo + (hi - lo) * rng.uniform();
    return v;
}

std::vector<float> normal(nm::Rng &rng, size_t n, float stdev, float mean = 0.0f)
{
    std::vector<float> v(n);
    for (auto &x : v)
        x = mean + stdev * rng.normal();
    return v;
}

std::vector<int> tokens(nm::Rng &rng, size_t n, int vocab)
{
    std::vector<int> v(n);
    for (auto &t : v)
        t = static_cast<int>(rng.below(static_cast<uint64_t>(vocab)));
    return v;
}

// Relative error with an absolute floor, so that tiny gradients are compared absolutely.
double relErr(double num, double ana, double floor)
{
    return std::fabs(num - ana) / std::max({std::fabs(num), std::fabs(ana), floor});
}

// ---- Double-precision references -------------------------------------------------------

Doubles refLinear(const Tensors &a, int N, int C, int OC, bool bias)
{
    const float *x = a[0].data(), *w = a[1].data();
    Doubles out(static_cast<size_t>(N) * static_cast<size_t>(OC));
    for (int r = 0; r < N; ++r)
        for (int o = 0; o < OC; ++o) {
            double s = bias ? static_cast<double>(a[2][static_cast<size_t>(o)]) : 0.0;
            for (int c = 0; c < C; ++c)
                s += static_cast<double>(x[r * C + c]) * static_cast<double>(w[o * C + c]);
            out[static_cast<size_t>(r * OC + o)] = s;
        }
    return out;
}

double refGelu(double x)
{
    return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}

Doubles refLayernorm(const Tensors &a, int N, int C)
{
    const float *w = a[1].data(), *b = a[2].data();
    Doubles out(static_cast<size_t>(N) * static_cast<size_t>(C));
    for (int r = 0; r < N; ++r) {
        const float *x = a[0].data() + r * C;
        double m = 0.0, v = 0.0;
        for (int i = 0; i < C; ++i)
            m += static_cast<double>(x[i]);
        m /= C;
        for (int i = 0; i < C; ++i)
            v += (static_cast<double>(x[i]) - m) * (static_cast<double>(x[i]) - m);
        v /= C;
        const double s = 1.0 / std::sqrt(v + 1e-5);
        for (int i = 0; i < C; ++i)
            out[static_cast<size_t>(r * C + i)] =
                (static_cast<double>(x[i]) - m) * s * static_cast<double>(w[i]) + static_cast<double>(b[i]);
    }
    return out;
}

Doubles refAttention(const std::vector<float> &qkv, int B, int T, int C, int NH, bool causal)
{
    const int hs = C / NH, C3 = 3 * C;
    Doubles out(static_cast<size_t>(B) * static_cast<size_t>(T) * static_cast<size_t>(C), 0.0);
    for (int b = 0; b < B; ++b)
        for (int h = 0; h < NH; ++h)
            for (int t = 0; t < T; ++t) {
                const float *q = qkv.data() + (b * T + t) * C3 + h * hs;
                const int last = causal ? t : T - 1;
                Doubles w(static_cast<size_t>(last + 1));
                double mx = -1e300, sum = 0.0;
                for (int j = 0; j <= last; ++j) {
                    const float *k = qkv.data() + (b * T + j) * C3 + C + h * hs;
                    double d = 0.0;
                    for (int i = 0; i < hs; ++i)
                        d += static_cast<double>(q[i]) * static_cast<double>(k[i]);
                    w[static_cast<size_t>(j)] = d / std::sqrt(static_cast<double>(hs));
                    mx = std::max(mx, w[static_cast<size_t>(j)]);
                }
                for (auto &x : w)
                    sum += (x = std::exp(x - mx));
                for (int j = 0; j <= last; ++j) {
                    const float *v = qkv.data() + (b * T + j) * C3 + 2 * C + h * hs;
                    for (int i = 0; i < hs; ++i)
                        out[static_cast<size_t>((b * T + t) * C + h * hs + i)] +=
                            w[static_cast<size_t>(j)] / sum * static_cast<double>(v[i]);
                }
            }
    return out;
}

double refCrossEntropy(const std::vector<float> &logits, const std::vector<int> &targets, int N, int V)
{
    double total = 0.0;
    for (int r = 0; r < N; ++r) {
        const float *z = logits.data() + r * V;
        double mx = z[0], sum = 0.0;
        for (int i = 1; i < V; ++i)
            mx = std::max(mx, static_cast<double>(z[i]));
        for (int i = 0; i < V; ++i)
            sum += std::exp(static_cast<double>(z[i]) - mx);
        total += std::log(sum) + mx - static_cast<double>(z[targets[static_cast<size_t>(r)]]);
    }
    return total / N;
}

// ---- The table ---------------------------------------------------------------------------

struct KernelCase {
    std::string name;
    std::vector<std::string> argNames;
    Tensors args;
    std::vector<bool> differentiable; // args that receive a gradient
    std::function<std::vector<float>(const Tensors &)> forward;
    std::function<Doubles(const Tensors &)> reference;
    // Runs the forward for whatever backward needs (mean/rstd, att, probs), then the backward
    // with upstream gradient dout, accumulating into grads (shaped like args; entries of
    // arguments without a gradient are empty).
    std::function<void(const Tensors &, const std::vector<float> &dout, Tensors &grads)> backward;
    float h = 1e-2f;
    // Below it the comparison is absolute: the float forward's rounding, summed over many
    // outputs, puts ~1e-4 of noise on the numerical slope of the wide attention cases.
    double floor = 1e-2;
};

KernelCase linearCase(const std::string &name, int N, int C, int OC, bool full)
{
    nm::Rng rng(static_cast<uint64_t>(100 + N * 31 + C * 7 + OC));
    KernelCase k;
    k.name = name;
    k.argNames = {"inp", "weight", "bias"};
    k.args = {uniform(rng, static_cast<size_t>(N * C), -1, 1), uniform(rng, static_cast<size_t>(OC * C), -1, 1),
              uniform(rng, static_cast<size_t>(OC), -1, 1)};
    // full: bias and dinp; otherwise the input-layer form: no bias, dinp and dbias null.
    k.differentiable = {full, true, full};
    k.forward = [=](const Tensors &a) {
        std::vector<float> out(static_cast<size_t>(N) * static_cast<size_t>(OC));
        K::linearForward(out.data(), a[0].data(), a[1].data(), full ? a[2].data() : nullptr, N, C, OC);
        return out;
    };
    k.reference = [=](const Tensors &a) { return refLinear(a, N, C, OC, full); };
    k.backward = [=](const Tensors &a, const std::vector<float> &dout, Tensors &g) {
        K::linearBackward(full ? g[0].data() : nullptr, g[1].data(), full ? g[2].data() : nullptr, dout.data(),
                          a[0].data(), a[1].data(), N, C, OC);
    };
    return k;
}

KernelCase reluCase()
{
    nm::Rng rng(201);
    const long n = 40;
    // Magnitudes in [0.1, 2] with random signs: no input within h of the kink at zero.
    std::vector<float> x = uniform(rng, n, 0.1f, 2.0f);
    for (auto &v : x)
        v = rng.uniform() < 0.5f ? -v : v;
    KernelCase k;
    k.name = "Relu";
    k.argNames = {"inp"};
    k.args = {x};
    k.differentiable = {true};
    k.forward = [=](const Tensors &a) {
        std::vector<float> out(n);
        K::reluForward(out.data(), a[0].data(), n);
        return out;
    };
    k.reference = [=](const Tensors &a) {
        Doubles out(n);
        for (long i = 0; i < n; ++i)
            out[static_cast<size_t>(i)] = std::max(0.0, static_cast<double>(a[0][static_cast<size_t>(i)]));
        return out;
    };
    k.backward = [=](const Tensors &a, const std::vector<float> &dout, Tensors &g) {
        std::vector<float> out(n);
        K::reluForward(out.data(), a[0].data(), n);
        K::reluBackward(g[0].data(), out.data(), dout.data(), n);
    };
    return k;
}

KernelCase geluCase()
{
    nm::Rng rng(202);
    // Both tails (where the fast tanh saturates) and the curved middle.
    std::vector<float> x = uniform(rng, 48, -5.0f, 5.0f);
    for (float v : {0.0f, 1e-3f, -0.5f, 0.5f, 1.0f, -1.0f, 3.0f, -3.0f})
        x.push_back(v);
    const long n = static_cast<long>(x.size());
    KernelCase k;
    k.name = "Gelu";
    k.argNames = {"inp"};
    k.args = {x};
    k.differentiable = {true};
    k.forward = [=](const Tensors &a) {
        std::vector<float> out(static_cast<size_t>(n));
        K::geluForward(out.data(), a[0].data(), n);
        return out;
    };
    k.reference = [=](const Tensors &a) {
        Doubles out(static_cast<size_t>(n));
        for (long i = 0; i < n; ++i)
            out[static_cast<size_t>(i)] = refGelu(a[0][static_cast<size_t>(i)]);
        return out;
    };
    k.backward = [=](const Tensors &a, const std::vector<float> &dout, Tensors &g) {
        K::geluBackward(g[0].data(), a[0].data(), dout.data(), n);
    };
    return k;
}

KernelCase layernormCase(const std::string &name, int N, int C)
{
    nm::Rng rng(static_cast<uint64_t>(300 + N * 13 + C));
    KernelCase k;
    k.name = name;
    k.argNames = {"inp", "weight", "bias"};
    k.args = {normal(rng, static_cast<size_t>(N * C), 1.5f, 0.3f), normal(rng, static_cast<size_t>(C), 0.5f, 1.0f),
              normal(rng, static_cast<size_t>(C), 0.5f)};
    k.differentiable = {true, true, true};
    k.forward = [=](const Tensors &a) {
        std::vector<float> out(static_cast<size_t>(N) * static_cast<size_t>(C)), mean(static_cast<size_t>(N)),
            rstd(static_cast<size_t>(N));
        K::layernormForward(out.data(), mean.data(), rstd.data(), a[0].data(), a[1].data(), a[2].data(), N, C);
        return out;
    };
    k.reference = [=](const Tensors &a) { return refLayernorm(a, N, C); };
    k.backward = [=](const Tensors &a, const std::vector<float> &dout, Tensors &g) {
        std::vector<float> out(static_cast<size_t>(N) * static_cast<size_t>(C)), mean(static_cast<size_t>(N)),
            rstd(static_cast<size_t>(N));
        K::layernormForward(out.data(), mean.data(), rstd.data(), a[0].data(), a[1].data(), a[2].data(), N, C);
        K::layernormBackward(g[0].data(), g[1].data(), g[2].data(), dout.data(), a[0].data(), a[1].data(), mean.data(),
                             rstd.data(), N, C);
    };
    return k;
}

KernelCase embeddingCase(const std::string &name, int B, int T, int C, int V)
{
    nm::Rng rng(static_cast<uint64_t>(400 + C));
    // Few tokens over many positions, so tokens repeat and their gradients must add up.
    const std::vector<int> tok = tokens(rng, static_cast<size_t>(B) * static_cast<size_t>(T), V);
    KernelCase k;
    k.name = name;
    k.argNames = {"wte", "wpe"};
    k.args = {uniform(rng, static_cast<size_t>(V * C), -1, 1), uniform(rng, static_cast<size_t>(T * C), -1, 1)};
    k.differentiable = {true, true};
    k.forward = [=](const Tensors &a) {
        std::vector<float> out(static_cast<size_t>(B) * static_cast<size_t>(T) * static_cast<size_t>(C));
        K::embeddingForward(out.data(), tok.data(), a[0].data(), a[1].data(), B, T, C);
        return out;
    };
    k.reference = [=](const Tensors &a) {
        const float *wte = a[0].data(), *wpe = a[1].data();
        Doubles out(static_cast<size_t>(B) * static_cast<size_t>(T) * static_cast<size_t>(C));
        for (int bt = 0; bt < B * T; ++bt)
            for (int i = 0; i < C; ++i)
                out[static_cast<size_t>(bt * C + i)] = static_cast<double>(wte[tok[static_cast<size_t>(bt)] * C + i]) +
                                                       static_cast<double>(wpe[(bt % T) * C + i]);
        return out;
    };
    k.backward = [=](const Tensors &, const std::vector<float> &dout, Tensors &g) {
        K::embeddingBackward(g[0].data(), g[1].data(), dout.data(), tok.data(), B, T, C);
    };
    return k;
}

// The fused kernels tile 4 query rows by 32 columns: the small case has a partial row group and
// heads narrower than a tile, the wide one several key and head-column tiles and a remainder.
KernelCase attentionCase(bool causal, bool wide = false)
{
    const int B = wide ? 1 : 2, T = wide ? 37 : 5, C = wide ? 96 : 8, NH = 2;
    nm::Rng rng(static_cast<uint64_t>((causal ? 500 : 501) + (wide ? 10 : 0)));
    KernelCase k;
    k.name = std::string(causal ? "Attention" : "AttentionBidirectional") + (wide ? "Wide" : "");
    k.floor = wide ? 3e-2 : 1e-2;
    k.argNames = {"qkv"};
    k.args = {normal(rng, static_cast<size_t>(B * T * 3 * C), 1.0f)};
    k.differentiable = {true};
    k.forward = [=](const Tensors &a) {
        std::vector<float> out(static_cast<size_t>(B * T * C)), att(static_cast<size_t>(B * NH * T * T));
        K::attentionForward(out.data(), att.data(), a[0].data(), B, T, C, NH, causal);
        return out;
    };
    k.reference = [=](const Tensors &a) { return refAttention(a[0], B, T, C, NH, causal); };
    k.backward = [=](const Tensors &a, const std::vector<float> &dout, Tensors &g) {
        std::vector<float> out(static_cast<size_t>(B * T * C)), att(static_cast<size_t>(B * NH * T * T));
        K::attentionForward(out.data(), att.data(), a[0].data(), B, T, C, NH, causal);
        K::attentionBackward(g[0].data(), dout.data(), a[0].data(), att.data(), B, T, C, NH, causal);
    };
    return k;
}

KernelCase crossEntropyCase()
{
    constexpr int N = 6, V = 5;
    nm::Rng rng(600);
    const std::vector<int> targets = tokens(rng, N, V);
    KernelCase k;
    k.name = "CrossEntropy";
    k.argNames = {"logits"};
    k.args = {normal(rng, N * V, 2.0f)};
    k.differentiable = {true};
    // The output is the mean loss (one value); backward gets dout = r[0] through its scale.
    k.forward = [=](const Tensors &a) {
        std::vector<float> probs(N * V);
        return std::vector<float>{K::crossEntropyForward(probs.data(), a[0].data(), targets.data(), N, V)};
    };
    k.reference = [=](const Tensors &a) { return Doubles{refCrossEntropy(a[0], targets, N, V)}; };
    k.backward = [=](const Tensors &a, const std::vector<float> &dout, Tensors &g) {
        std::vector<float> probs(N * V);
        K::crossEntropyForward(probs.data(), a[0].data(), targets.data(), N, V);
        K::crossEntropyBackward(g[0].data(), probs.data(), targets.data(), N, V, dout[0] / static_cast<float>(N));
    };
    return k;
}

std::vector<KernelCase> kernelCases()
{
    return {
        linearCase("Linear", 3, 5, 4, true),
        linearCase("LinearWideOutput", 6, 3, 35, true), // OC spans two column blocks of the bias sum
        linearCase("LinearInputLayerNoBias", 4, 6, 3, false),
        reluCase(),
        geluCase(),
        layernormCase("LayerNorm", 3, 6),
        layernormCase("LayerNormWide", 4, 37), // C spans two column blocks of the dweight sums
        embeddingCase("Embedding", 3, 4, 5, 3),
        embeddingCase("EmbeddingWide", 2, 3, 35, 4),
        attentionCase(true),
        attentionCase(false),
        attentionCase(true, true),
        attentionCase(false, true),
        crossEntropyCase(),
    };
}

// Upstream gradient r (fixed per case) and the scalar loss L = Σ r ⊙ out in double.
std::vector<float> upstream(const KernelCase &k)
{
    nm::Rng rng(7);
    return uniform(rng, k.forward(k.args).size(), -1.0f, 1.0f);
}

double lossOf(const KernelCase &k, const Tensors &args, const std::vector<float> &r)
{
    const std::vector<float> out = k.forward(args);
    double l = 0.0;
    for (size_t i = 0; i < out.size(); ++i)
        l += static_cast<double>(r[i]) * static_cast<double>(out[i]);
    return l;
}

Tensors zeroGrads(const KernelCase &k)
{
    Tensors g(k.args.size());
    for (size_t a = 0; a < k.args.size(); ++a)
        if (k.differentiable[a])
            g[a].assign(k.args[a].size(), 0.0f);
    return g;
}

// gtest prints the parameter of a failing test: its name, not its bytes.
void PrintTo(const KernelCase &k, std::ostream *os) // NOLINT(readability-identifier-naming): gtest hook
{
    *os << k.name;
}

class KernelCaseTest : public ::testing::TestWithParam<KernelCase> {};

TEST_P(KernelCaseTest, ForwardMatchesDoubleReference)
{
    const KernelCase &k = GetParam();
    const std::vector<float> out = k.forward(k.args);
    const Doubles ref = k.reference(k.args);
    ASSERT_EQ(out.size(), ref.size());
    // Float kernels against double: observed ≤ 1.3e-7 relative (GELU's fast tanh included).
    for (size_t i = 0; i < out.size(); ++i)
        ASSERT_NEAR(out[i], ref[i], 2e-6 * (1.0 + std::fabs(ref[i]))) << k.name << " output " << i;
}

TEST_P(KernelCaseTest, BackwardMatchesFiniteDifferences)
{
    // Tolerance: at h = 1e-2 the truncation error of central differences is ~h²·f'''/6 ≈ 1e-5
    // relative, and the float rounding of the forward contributes ~1e-6/(2h) ≈ 5e-5 absolute
    // to the numerical slope; gradients here are O(0.1..3), and the floor 1e-2 bounds that
    // noise's relative weight for tiny entries. Observed worst: 3e-3 (LayerNormWide dinp),
    // most cases below 1e-3; a sign error, a missing term or a factor off by 5 % fails.
    constexpr double kTolerance = 1e-2;
    const KernelCase &k = GetParam();
    const double kFloor = k.floor;
    const std::vector<float> r = upstream(k);
    Tensors grads = zeroGrads(k);
    k.backward(k.args, r, grads);
    Tensors args = k.args;
    for (size_t a = 0; a < args.size(); ++a) {
        if (!k.differentiable[a])
            continue;
        double worst = 0.0, worstNum = 0.0, worstAna = 0.0, maxAbs = 0.0;
        size_t worstAt = 0;
        for (size_t i = 0; i < args[a].size(); ++i) {
            const float x = args[a][i];
            args[a][i] = x + k.h;
            const double up = static_cast<double>(args[a][i]) - static_cast<double>(x); // the step float really took
            const double lp = lossOf(k, args, r);
            args[a][i] = x - k.h;
            const double down = static_cast<double>(x) - static_cast<double>(args[a][i]);
            const double lm = lossOf(k, args, r);
            args[a][i] = x;
            const double num = (lp - lm) / (up + down);
            const double ana = grads[a][i];
            maxAbs = std::max(maxAbs, std::fabs(num));
            const double e = relErr(num, ana, kFloor);
            if (e > worst) {
                worst = e;
                worstAt = i;
                worstNum = num;
                worstAna = ana;
            }
        }
        EXPECT_LT(worst, kTolerance) << k.name << " d" << k.argNames[a] << "[" << worstAt << "]: numerical " << worstNum
                                     << ", analytic " << worstAna;
        // The check must be about something: some entries lie above the floor, where the
        // comparison is relative.
        EXPECT_GT(maxAbs, 2 * kFloor) << k.name << " d" << k.argNames[a];
    }
}

TEST_P(KernelCaseTest, BackwardAccumulatesIntoGradients)
{
    const KernelCase &k = GetParam();
    const std::vector<float> r = upstream(k);
    Tensors fresh = zeroGrads(k);
    k.backward(k.args, r, fresh);
    // Start from non-zero gradients: the result must be start + fresh, not fresh.
    Tensors start = zeroGrads(k);
    nm::Rng rng(11);
    for (auto &g : start)
        g = normal(rng, g.size(), 1.0f);
    Tensors acc = start;
    k.backward(k.args, r, acc);
    for (size_t a = 0; a < acc.size(); ++a)
        for (size_t i = 0; i < acc[a].size(); ++i) {
            const double want = static_cast<double>(start[a][i]) + static_cast<double>(fresh[a][i]);
            ASSERT_NEAR(acc[a][i], want, 1e-5 * (1.0 + std::fabs(want)))
                << k.name << " d" << k.argNames[a] << "[" << i << "] started at " << start[a][i];
        }
}

INSTANTIATE_TEST_SUITE_P(Kernels, KernelCaseTest, ::testing::ValuesIn(kernelCases()),
                         [](const ::testing::TestParamInfo<KernelCase> &p) { return p.param.name; });

// ---- Whole models ------------------------------------------------------------------------

struct ModelCheck {
    double worst = 0.0;
    std::string where;
    long checked = 0;
};

// Compares the backward's gradient with central differences of forward() at the parameters
// `which`, and reports the worst relative error (floor: `floor`). A step on `warmup` (a larger
// batch) comes first, so that buffers are reused at another size and stale scratch shows.
ModelCheck checkModel(nm::Model &model, const nm::Batch &warmup, const nm::Batch &batch, const std::vector<long> &which,
                      float h, double floor)
{
    model.zeroGrad();
    model.forward(warmup);
    model.backward(warmup);
    model.zeroGrad();
    model.forward(batch);
    model.backward(batch);
    const std::vector<float> grads(model.grads().begin(), model.grads().end());
    auto params = model.params();
    ModelCheck out;
    for (long i : which) {
        const size_t j = static_cast<size_t>(i);
        const float x = params[j];
        params[j] = x + h;
        const double up = static_cast<double>(params[j]) - static_cast<double>(x);
        const double lp = model.forward(batch);
        params[j] = x - h;
        const double down = static_cast<double>(x) - static_cast<double>(params[j]);
        const double lm = model.forward(batch);
        params[j] = x;
        const double num = (lp - lm) / (up + down);
        const double e = relErr(num, grads[j], floor);
        ++out.checked;
        if (e > out.worst) {
            out.worst = e;
            std::string name;
            for (const auto &t : model.tensors())
                if (i >= t.offset && i < t.offset + t.size)
                    name = t.name + "[" + std::to_string(i - t.offset) + "]";
            out.where = name + ": numerical " + std::to_string(num) + ", analytic " + std::to_string(grads[j]);
        }
    }
    return out;
}

// Double-precision reference of the MLP's forward. Also returns how close a hidden
// pre-activation comes to the ReLU kink, and a bound on how far perturbing any one parameter
// by h can move a hidden pre-activation: h·(1 + max|activation|) for the layer it belongs to,
// times (1 + max_o Σ_c |W[o][c]|) for each later hidden layer (ReLU is 1-Lipschitz).
struct MlpReference {
    double loss = 0.0, minAbsPre = 1e300, reach = 0.0;
};

MlpReference mlpReference(const nm::Model &model, const nm::Batch &batch, int inputs, double h)
{
    MlpReference ref;
    const auto &ts = model.tensors(); // fc1.weight, fc1.bias, fc2.weight, ...
    const auto p = model.params();
    double maxAct = 0.0, maxRowSum = 0.0;
    for (size_t l = 2; l + 2 < ts.size(); l += 2)
        for (int o = 0; o < ts[l].shape[0]; ++o) {
            double s = 0.0;
            for (int c = 0; c < ts[l].shape[1]; ++c)
                s += static_cast<double>(std::fabs(p[static_cast<size_t>(ts[l].offset + o * ts[l].shape[1] + c)]));
            maxRowSum = std::max(maxRowSum, s);
        }
    for (int r = 0; r < batch.rows; ++r) {
        std::vector<double> x(batch.inputs.begin() + r * inputs, batch.inputs.begin() + (r + 1) * inputs);
        for (size_t l = 0; l + 1 < ts.size(); l += 2) {
            for (double v : x)
                maxAct = std::max(maxAct, std::fabs(v));
            const auto &w = ts[l], &b = ts[l + 1];
            const int out = w.shape[0], in = w.shape[1];
            std::vector<double> y(static_cast<size_t>(out));
            for (int o = 0; o < out; ++o) {
                double s = p[static_cast<size_t>(b.offset + o)];
                for (int c = 0; c < in; ++c)
                    s += static_cast<double>(p[static_cast<size_t>(w.offset + o * in + c)]) * x[static_cast<size_t>(c)];
                y[static_cast<size_t>(o)] = s;
            }
            if (l + 2 < ts.size())
                for (auto &v : y) {
                    ref.minAbsPre = std::min(ref.minAbsPre, std::fabs(v));
                    v = std::max(v, 0.0);
                }
            x = y;
        }
        const double mx = *std::max_element(x.begin(), x.end());
        double sum = 0.0;
        for (double v : x)
            sum += std::exp(v - mx);
        ref.loss += (std::log(sum) + mx - x[static_cast<size_t>(batch.targets[static_cast<size_t>(r)])]) / batch.rows;
    }
    const int laterHidden = static_cast<int>(ts.size()) / 2 - 2;
    ref.reach = h * (1.0 + maxAct) * std::pow(1.0 + maxRowSum, laterHidden);
    return ref;
}

std::vector<long> allParams(const nm::Model &model)
{
    std::vector<long> all(static_cast<size_t>(model.parameterCount()));
    for (long i = 0; i < model.parameterCount(); ++i)
        all[static_cast<size_t>(i)] = i;
    return all;
}

// Up to `perTensor` distinct parameters of every tensor, drawn deterministically.
std::vector<long> sampleParams(const nm::Model &model, long perTensor, nm::Rng &rng)
{
    std::vector<long> out;
    for (const auto &t : model.tensors()) {
        std::vector<long> idx(static_cast<size_t>(t.size));
        for (long i = 0; i < t.size; ++i)
            idx[static_cast<size_t>(i)] = t.offset + i;
        const long n = std::min(perTensor, t.size);
        for (long i = 0; i < n; ++i) { // partial Fisher-Yates
            const size_t j = static_cast<size_t>(i + static_cast<long>(rng.below(static_cast<uint64_t>(t.size - i))));
            std::swap(idx[static_cast<size_t>(i)], idx[j]);
            out.push_back(idx[static_cast<size_t>(i)]);
        }
    }
    return out;
}

// The fused forward passes give exactly what the passes they replace give (the gradients
// through them are checked by the whole-model cases below).
TEST(FusedKernels, LayernormResidualIsTheAddThenTheLayernorm)
{
    constexpr int N = 7, C = 37;
    nm::Rng rng(900);
    const auto res = normal(rng, N * C, 1.0f), add = normal(rng, N * C, 0.5f), w = normal(rng, C, 1.0f, 1.0f),
               b = normal(rng, C, 0.1f);
    std::vector<float> fused = res, out(N * C), mean(N), rstd(N);
    K::layernormResidualForward(fused.data(), out.data(), mean.data(), rstd.data(), add.data(), w.data(), b.data(), N,
                                C);
    std::vector<float> sum = res, ref(N * C), refMean(N), refRstd(N);
    K::addInPlace(sum.data(), add.data(), N * C);
    K::layernormForward(ref.data(), refMean.data(), refRstd.data(), sum.data(), w.data(), b.data(), N, C);
    EXPECT_EQ(fused, sum);
    EXPECT_EQ(out, ref);
    EXPECT_EQ(mean, refMean);
    EXPECT_EQ(rstd, refRstd);
}

TEST(FusedKernels, BiasGeluIsTheBiasThenTheGelu)
{
    constexpr int N = 5, C = 44;
    nm::Rng rng(901);
    const auto pre = normal(rng, N * C, 2.0f), bias = normal(rng, C, 0.5f);
    std::vector<float> fused = pre, out(N * C);
    K::biasGeluForward(fused.data(), out.data(), bias.data(), N, C);
    std::vector<float> withBias = pre, ref(N * C);
    for (int r = 0; r < N; ++r)
        for (int c = 0; c < C; ++c)
            withBias[static_cast<size_t>(r * C + c)] += bias[static_cast<size_t>(c)];
    K::geluForward(ref.data(), withBias.data(), N * C);
    EXPECT_EQ(fused, withBias);
    for (int i = 0; i < N * C; ++i) { // the same formula; vectorised differently, so within an ulp or two
        const size_t j = static_cast<size_t>(i);
        ASSERT_NEAR(out[j], ref[j], 4e-7 * static_cast<double>(1.0f + std::fabs(ref[j]))) << i;
    }
}

TEST(ModelGradients, MlpBackwardMatchesFiniteDifferences)
{
    const nm::MlpShape shape{12, {8, 6}, 4};
    auto model = nm::makeMlp(shape, 3);
    nm::Rng rng(31);
    // Non-zero biases, so that every path (and the bias gradients) is exercised.
    for (const auto &t : model->tensors())
        if (t.shape.size() == 1)
            for (long i = 0; i < t.size; ++i)
                model->params()[static_cast<size_t>(t.offset + i)] = 0.1f * rng.normal();

    // ReLU has kinks, and central differences across one are meaningless. Draw batches until
    // one keeps every hidden pre-activation out of reach of a step (about every other draw).
    const float h = 1e-3f;
    nm::Batch batch;
    batch.rows = 5;
    batch.targets = {0, 3, 1, 2, 3};
    MlpReference ref;
    for (int attempt = 0; attempt < 50; ++attempt) {
        batch.inputs = uniform(rng, 5 * 12, -1.0f, 1.0f);
        ref = mlpReference(*model, batch, 12, h);
        if (ref.minAbsPre > ref.reach)
            break;
    }
    ASSERT_GT(ref.minAbsPre, ref.reach) << "no batch keeps the ReLU kinks out of reach of the step";
    EXPECT_NEAR(model->forward(batch), ref.loss, 1e-5 * ref.loss);

    nm::Batch warmup;
    warmup.rows = 7;
    warmup.inputs = uniform(rng, 7 * 12, -1.0f, 1.0f);
    warmup.targets = tokens(rng, 7, 4);
    // Tolerance: forward() returns the mean loss as a float, so the numerical slope carries
    // float rounding of ~1e-7/(2h) ≈ 1e-4 absolute at h = 1e-3 (h is this small to keep the
    // kinks out of reach). Gradients are O(0.01..0.3); the floor 5e-2 keeps the noise under
    // ~1e-3 relative for the small ones. Observed worst: 1.2e-3, against a tolerance of 1e-2.
    const ModelCheck c = checkModel(*model, warmup, batch, allParams(*model), h, 5e-2);
    EXPECT_EQ(c.checked, 186);
    EXPECT_LT(c.worst, 1e-2) << c.where;
}

// Transformer parameters drawn larger than their initialisation: LayerNorm weights near 1,
// other vectors N(0, 0.1²), matrices N(0, 0.35²).
void drawTransformerParams(nm::Model &model, nm::Rng &rng)
{
    for (const auto &t : model.tensors()) {
        const bool lnWeight = t.name.find("ln") != std::string::npos && t.name.ends_with(".weight");
        const bool vector = t.shape.size() == 1;
        for (long i = 0; i < t.size; ++i)
            model.params()[static_cast<size_t>(t.offset + i)] = lnWeight ? 1.0f + 0.2f * rng.normal()
                                                                : vector ? 0.1f * rng.normal()
                                                                         : 0.35f * rng.normal();
    }
}

TEST(ModelGradients, GptBackwardMatchesFiniteDifferences)
{
    const nm::GptShape shape{7, 6, 2, 2, 8};
    auto model = nm::makeGpt(shape, 5);
    // GPT-2's N(0, 0.02) initialisation leaves attention uniform and many gradients near
    // 1e-5, below what float finite differences resolve. Draw larger parameters instead
    // (O(1) pre-activations, peaked attention, GELU in its curved range): the backward must
    // be right at every point.
    nm::Rng rng(41);
    drawTransformerParams(*model, rng);
    nm::Batch batch;
    batch.rows = 2;
    batch.seqLen = 5; // shorter than the context: the last wpe row must get no gradient
    batch.tokens = tokens(rng, 10, 7);
    batch.targets = tokens(rng, 10, 7);

    nm::Batch warmup;
    warmup.rows = 3;
    warmup.seqLen = 6;
    warmup.tokens = tokens(rng, 18, 7);
    warmup.targets = tokens(rng, 18, 7);
    // 16 parameters of every tensor (all of the smaller ones): 359 of the 1927, so a few
    // hundred forwards, each with OpenMP regions that get slow on an oversubscribed machine.
    // Smooth everywhere, so h = 1e-2: truncation (~h² relative) stays ~1e-4 while the float
    // rounding of the mean loss (~1e-7/(2h) absolute) is 10x smaller than at h = 1e-3. 60 %
    // of the gradients exceed the floor 1e-2. Observed worst over all 1927 parameters:
    // 2.7e-3, against a tolerance of 1e-2.
    const ModelCheck c = checkModel(*model, warmup, batch, sampleParams(*model, 16, rng), 1e-2f, 1e-2);
    EXPECT_EQ(c.checked, 359);
    EXPECT_LT(c.worst, 1e-2) << c.where;
    // Positions beyond the batch's sequence length take no part.
    const nm::ParamTensor &wpe = model->tensors()[1];
    ASSERT_EQ(wpe.name, "wpe");
    for (long i = 5 * 8; i < 6 * 8; ++i)
        EXPECT_EQ(model->grads()[static_cast<size_t>(wpe.offset + i)], 0.0f) << "wpe[" << i << "]";
}

TEST(ModelGradients, VitBackwardMatchesFiniteDifferences)
{
    // 8×8 images in 4×4 patches (4 tokens), a class token or mean pooling; both checked.
    for (const bool classToken : {true, false}) {
        SCOPED_TRACE(classToken ? "class token" : "mean pooling");
        nm::VitShape shape;
        shape.side = 8;
        shape.classes = 5;
        shape.patch = 4;
        shape.layers = 2;
        shape.heads = 2;
        shape.width = 8;
        shape.classToken = classToken;
        auto model = nm::makeVit(shape, 9);
        // Larger parameters than the initialisation, as for the GPT: peaked attention, GELU
        // in its curved range, gradients well above what float differences resolve.
        nm::Rng rng(classToken ? 43 : 44);
        drawTransformerParams(*model, rng);
        nm::Batch batch;
        batch.rows = 3;
        batch.inputs = uniform(rng, 3 * 64, -1.0f, 1.0f);
        batch.targets = tokens(rng, 3, 5);
        nm::Batch warmup;
        warmup.rows = 5;
        warmup.inputs = uniform(rng, 5 * 64, -1.0f, 1.0f);
        warmup.targets = tokens(rng, 5, 5);
        // Smooth everywhere, but with 8-wide LayerNorms more curved than the GPT's case: h = 3e-3
        // (at 1e-2 the truncation error reached 2.6 % on the class token). Float rounding of the
        // mean loss stays ~2e-5 absolute, below the floor 1e-2.
        const ModelCheck c = checkModel(*model, warmup, batch, sampleParams(*model, 16, rng), 3e-3f, 1e-2);
        EXPECT_GT(c.checked, 300);
        EXPECT_LT(c.worst, 1e-2) << c.where;
    }
}

TEST(ModelGradients, VitCountsItsTrainingFlopsPerToken)
{
    nm::VitShape shape; // 28×28, 4×4 patches: 49 tokens + the class token
    shape.patch = 4;
    auto model = nm::makeVit(shape, 1);
    nm::Batch b;
    b.rows = 8;
    const double C = shape.width, T = 50, B = 8;
    // Per block 12·C² weights at 3 products each over B·T rows; QKᵀ and A·V 12·B·T²·C.
    const double blocks = shape.layers * (3 * 2 * B * T * 12 * C * C + 12 * B * T * T * C);
    const double embed = 2 * B * 49 * 16 * C * 2; // forward and weight gradient, no data gradient
    const double head = 3 * 2 * B * C * 10;
    const std::vector<double> dense(model->linears().size(), 1.0);
    EXPECT_NEAR(model->trainingFlops(b, dense), blocks + embed + head, 1e-9 * (blocks + embed + head));
}

} // namespace
