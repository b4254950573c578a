// nmbench: one training step of the reference models, and GEMM throughput on their shapes as
// a fraction of this machine's measured FMA peak. Peer timings (PyTorch) come from
// tests/bench/compare.py, which runs this program and prints nmstudio/PyTorch ratios.
#include "blas_setup.h"

#include "nmcore/kernels.h"
#include "nmcore/model.h"
#include "nmcore/nm_gemm.h"
#include "nmcore/nm_ops.h"
#include "nmcore/optimizer.h"
#include "nmcore/platform.h"
#include "nmcore/rng.h"
#include "nmcore/sparsity.h"

#include <benchmark/benchmark.h>
#include <cblas.h>
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace {

// --- Machine peak: independent FMA chains on every thread, at the widest vectors this CPU has

constexpr int kFmaChains = 24;

// kFmaChains independent chains of `iters` FMAs on 16 lanes (AVX-512) or 8 (AVX2); returns
// their sum so the work is not optimised away. Chosen at run time: the build may not target
// AVX-512 (-march=native on a CPU without it), and OpenMP's outlined region does not inherit
// a function's target attribute, so the loops live in these functions.
__attribute__((target("avx512f"))) float fmaChainsAvx512(long iters)
{
    __m512 acc[kFmaChains];
    for (int c = 0; c < kFmaChains; ++c)
        acc[c] = _mm512_set1_ps(0.001f * static_cast<float>(c));
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (long i = 0; i < iters; ++i) {
#pragma GCC unroll 24
        for (int c = 0; c < kFmaChains; ++c)
            acc[c] = _mm512_fmadd_ps(acc[c], a, b);
    }
    __m512 s = acc[0];
    for (int c = 1; c < kFmaChains; ++c)
        s = _mm512_add_ps(s, acc[c]);
    alignas(64) float lanes[16];
    _mm512_store_ps(lanes, s);
    float sum = 0.0f;
    for (float l : lanes)
        sum += l;
    return sum;
}

__attribute__((target("avx2,fma"))) float fmaChainsAvx2(long iters)
{
    __m256 acc[kFmaChains];
    for (int c = 0; c < kFmaChains; ++c)
        acc[c] = _mm256_set1_ps(0.001f * static_cast<float>(c));
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (long i = 0; i < iters; ++i) {
#pragma GCC unroll 24
        for (int c = 0; c < kFmaChains; ++c)
            acc[c] = _mm256_fmadd_ps(acc[c], a, b);
    }
    __m256 s = acc[0];
    for (int c = 1; c < kFmaChains; ++c)
        s = _mm256_add_ps(s, acc[c]);
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, s);
    float sum = 0.0f;
    for (float l : lanes)
        sum += l;
    return sum;
}

double fmaPeakGflops(int threads)
{
    constexpr long kIters = 2'000'000;
    const bool avx512 = __builtin_cpu_supports("avx512f");
    const double lanes = avx512 ? 16.0 : 8.0;
    double best = 0.0;
    for (int rep = 0; rep < 5; ++rep) {
        const auto t0 = std::chrono::steady_clock::now();
        float sink = 0.0f;
#pragma omp parallel num_threads(threads) reduction(+ : sink)
        sink += avx512 ? fmaChainsAvx512(kIters) : fmaChainsAvx2(kIters);
        const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        benchmark::DoNotOptimize(sink);
        best = std::max(best, 2.0 * lanes * kFmaChains * kIters * threads / dt * 1e-9);
    }
    return best;
}

double g_peakPerCore = 0.0; // GFLOP/s, measured at start-up (best of 5, one thread)

// --- Training steps -----------------------------------------------------------------------

void fillRandom(std::vector<float> &v, nm::Rng &rng)
{
    for (auto &x : v)
        x = rng.normal();
}

void randomLabels(std::vector<int> &v, size_t n, int classes, nm::Rng &rng)
{
    v.resize(n);
    for (auto &x : v)
        x = static_cast<int>(rng.below(static_cast<uint64_t>(classes)));
}

// Settings match tests/bench/torch_peer.py: SGD lr 0.05 for the MLP, AdamW lr 3e-4 for the GPT.
// A recipe's step goes through the Sparsifier's four hooks exactly as the Trainer calls them.
struct StepFixture {
    std::unique_ptr<nm::Model> model;
    std::unique_ptr<nm::Optimizer> opt;
    std::unique_ptr<nm::Sparsifier> sparsifier;
    std::vector<nm::Batch> batches;
    float lr = 0.05f;
    long step = 0;

    void run()
    {
        const nm::Batch &b = batches[static_cast<size_t>(step) % batches.size()];
        model->zeroGrad();
        if (sparsifier)
            sparsifier->beforeForward(step);
        benchmark::DoNotOptimize(model->forward(b));
        model->backward(b);
        if (sparsifier) {
            sparsifier->afterBackward(step);
            sparsifier->afterClip(step);
        }
        opt->update(model->params(), model->grads(), model->tensors(), lr, step + 1);
        if (sparsifier)
            sparsifier->afterUpdate(step, lr);
        ++step;
    }

    // The peer's sparse layers: every Linear of the MLP; every Linear but the head of the GPT.
    // threads: the step's thread count, which --sparse-gemm auto times the GEMMs on.
    void sparsify(int threads, const std::string &recipe, bool diagnostics, bool gpt, const char *nm = "2:4",
                  nm::SparseGemmMode sparseGemm = nm::SparseGemmMode::Auto)
    {
        nm::RunConfig c = nm::defaultConfig(gpt ? nm::ModelKind::Gpt : nm::ModelKind::Mlp);
        c.threads = threads;
        c.recipe = recipe;
        c.nm = nm;
        c.sparseGemm = sparseGemm;
        c.steps = 1000000;
        c.diagnostics = diagnostics;
        c.aspPruneAt = 0.0;            // sparse from the first step
        c.keepIndivisibleDense = true; // T-SR-STE: the MLP's 10-output head stays dense
        c.sparseLayers.clear();
        const auto &ls = model->linears();
        for (size_t i = 0; i < ls.size(); ++i)
            if (!gpt || i + 1 < ls.size())
                c.sparseLayers += (c.sparseLayers.empty() ? "" : ",") + ls[i].name;
        sparsifier = std::make_unique<nm::Sparsifier>(*model, c);
    }
};

StepFixture mlpFixture()
{
    StepFixture f;
    f.model = nm::makeMlp({784, {512, 512}, 10}, 1);
    nm::OptimizerSettings s;
    s.momentum = 0.9;
    f.opt = nm::makeSgd(s, f.model->parameterCount());
    nm::Rng rng(2);
    for (int i = 0; i < 8; ++i) {
        nm::Batch b;
        b.rows = 256;
        b.inputs.resize(256 * 784);
        fillRandom(b.inputs, rng);
        randomLabels(b.targets, 256, 10, rng);
        f.batches.push_back(std::move(b));
    }
    return f;
}

StepFixture gptFixture()
{
    StepFixture f;
    nm::GptShape shape{96, 64, 2, 4, 128};
    f.model = nm::makeGpt(shape, 1);
    nm::OptimizerSettings s;
    s.beta1 = 0.9;
    s.beta2 = 0.95;
    s.weightDecay = 0.1;
    f.opt = nm::makeAdamW(s, f.model->parameterCount());
    f.lr = 3e-4f;
    nm::Rng rng(2);
    for (int i = 0; i < 8; ++i) {
        nm::Batch b;
        b.rows = 32;
        b.seqLen = 64;
        randomLabels(b.tokens, 32 * 64, 96, rng);
        randomLabels(b.targets, 32 * 64, 96, rng);
        f.batches.push_back(std::move(b));
    }
    return f;
}

void runSteps(benchmark::State &state, StepFixture f)
{
    nm::setThreadCount(static_cast<int>(state.range(0)));
    for (int i = 0; i < 5; ++i) // warm-up: page in buffers, settle the thread pool
        f.run();
    for (auto _ : state)
        f.run();
    state.counters["threads"] = static_cast<double>(state.range(0));
}

void BM_MlpStep(benchmark::State &state)
{
    runSteps(state, mlpFixture());
}

void BM_GptStep(benchmark::State &state)
{
    runSteps(state, gptFixture());
}

// Recipe steps: BM_<Model>Step<Recipe>/<threads>; "Bare" variants switch the diagnostics
// off (masks and flip counts only), so the diagnostics' cost is the difference.
template <bool Gpt> void recipeStep(benchmark::State &state, const char *recipe, bool diagnostics)
{
    StepFixture f = Gpt ? gptFixture() : mlpFixture();
    f.sparsify(static_cast<int>(state.range(0)), recipe, diagnostics, Gpt);
    runSteps(state, std::move(f));
}

#define NM_RECIPE_BENCH(Model, Gpt, Name, recipe)                                                                      \
    void BM_##Model##Step##Name(benchmark::State &state)                                                               \
    {                                                                                                                  \
        recipeStep<Gpt>(state, recipe, true);                                                                          \
    }                                                                                                                  \
    BENCHMARK(BM_##Model##Step##Name)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()

NM_RECIPE_BENCH(Mlp, false, Dense, "dense");
NM_RECIPE_BENCH(Mlp, false, Ste, "ste");
NM_RECIPE_BENCH(Mlp, false, Srste, "srste");
NM_RECIPE_BENCH(Mlp, false, Sste, "sste");
NM_RECIPE_BENCH(Mlp, false, MdgfExp, "mdgf-exp");
NM_RECIPE_BENCH(Mlp, false, SdgfStepwise, "sdgf-stepwise");
NM_RECIPE_BENCH(Mlp, false, TsrsteDf, "tsrste-df");
NM_RECIPE_BENCH(Mlp, false, Asp, "asp");
NM_RECIPE_BENCH(Gpt, true, Dense, "dense");
NM_RECIPE_BENCH(Gpt, true, Ste, "ste");
NM_RECIPE_BENCH(Gpt, true, Srste, "srste");
NM_RECIPE_BENCH(Gpt, true, Sste, "sste");
NM_RECIPE_BENCH(Gpt, true, MdgfExp, "mdgf-exp");
NM_RECIPE_BENCH(Gpt, true, SdgfStepwise, "sdgf-stepwise");
NM_RECIPE_BENCH(Gpt, true, TsrsteDf, "tsrste-df");
NM_RECIPE_BENCH(Gpt, true, Asp, "asp");

void BM_MlpStepSrsteBare(benchmark::State &state)
{
    recipeStep<false>(state, "srste", false);
}
void BM_GptStepSrsteBare(benchmark::State &state)
{
    recipeStep<true>(state, "srste", false);
}
BENCHMARK(BM_MlpStepSrsteBare)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_GptStepSrsteBare)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// Sparser patterns: BM_<Model>StepSrste_1to8, …_1to16 (compressed N:M GEMMs where faster, as
// --sparse-gemm auto), and …_1to16_dense with every GEMM dense on W̃ (--sparse-gemm off), the
// same step's peer in the same run.
#define NM_NM_BENCH(Model, Gpt, Name, recipe, nm, gemm)                                                                \
    void BM_##Model##Step##Name(benchmark::State &state)                                                               \
    {                                                                                                                  \
        StepFixture f = Gpt ? gptFixture() : mlpFixture();                                                             \
        f.sparsify(static_cast<int>(state.range(0)), recipe, true, Gpt, nm, gemm);                                     \
        runSteps(state, std::move(f));                                                                                 \
    }                                                                                                                  \
    BENCHMARK(BM_##Model##Step##Name)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()

NM_NM_BENCH(Mlp, false, Srste_1to8, "srste", "1:8", nm::SparseGemmMode::Auto);
NM_NM_BENCH(Mlp, false, Srste_1to16, "srste", "1:16", nm::SparseGemmMode::Auto);
NM_NM_BENCH(Mlp, false, Srste_1to16_dense, "srste", "1:16", nm::SparseGemmMode::Off);
NM_NM_BENCH(Mlp, false, Ste_1to16, "ste", "1:16", nm::SparseGemmMode::Auto);
NM_NM_BENCH(Mlp, false, Sste_1to16, "sste", "1:16", nm::SparseGemmMode::Auto);
NM_NM_BENCH(Gpt, true, Srste_1to8, "srste", "1:8", nm::SparseGemmMode::Auto);
NM_NM_BENCH(Gpt, true, Srste_1to16, "srste", "1:16", nm::SparseGemmMode::Auto);
NM_NM_BENCH(Gpt, true, Srste_1to16_dense, "srste", "1:16", nm::SparseGemmMode::Off);
NM_NM_BENCH(Gpt, true, Ste_1to16, "ste", "1:16", nm::SparseGemmMode::Auto);
NM_NM_BENCH(Gpt, true, Sste_1to16, "sste", "1:16", nm::SparseGemmMode::Auto);

// --- GEMMs on the models' shapes (forward layout: out = inp · Wᵀ) -------------------------

void BM_Gemm(benchmark::State &state)
{
    const int M = static_cast<int>(state.range(0)), N = static_cast<int>(state.range(1)),
              K = static_cast<int>(state.range(2)), threads = static_cast<int>(state.range(3));
    nm::setThreadCount(threads);
    nm::Rng rng(3);
    std::vector<float> a(static_cast<size_t>(M) * static_cast<size_t>(K)),
        w(static_cast<size_t>(N) * static_cast<size_t>(K)), out(static_cast<size_t>(M) * static_cast<size_t>(N));
    fillRandom(a, rng);
    fillRandom(w, rng);
    for (auto _ : state) {
        nm::kernels::linearForward(out.data(), a.data(), w.data(), nullptr, M, K, N);
        benchmark::ClobberMemory();
    }
    const double flops = 2.0 * M * N * K;
    state.counters["gflops"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["peak_gflops"] = g_peakPerCore * threads;
    state.counters["threads"] = threads;
}

void gemmShapes(benchmark::internal::Benchmark *b)
{
    const int shapes[][3] = {
        {256, 512, 784},  {256, 512, 512}, // MLP hidden layers, batch 256
        {2048, 384, 128},                  // GPT qkv, 32×64 tokens
        {2048, 512, 128},                  // GPT fc1
        {2048, 128, 512},                  // GPT fc2
    };
    for (int t : {1, 2})
        for (const auto &s : shapes)
            b->Args({s[0], s[1], s[2], t});
    b->ArgNames({"M", "N", "K", "threads"});
}

// --- Compressed N:M GEMMs against cblas_sgemm on the same W̃ ----------------------------
// The dense and the sparse product alternate inside one loop (the same noise for both);
// counters give both medians and speedup = dense / sparse. Direction 0: forward
// Y = X·W̃ᵀ; 1: backward data dX += dY·W̃. The sparse plan is the one tune() picks.

double medianOf(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
}

void BM_SparseGemm(benchmark::State &state)
{
    const int M = static_cast<int>(state.range(0)), N = static_cast<int>(state.range(1)),
              K = static_cast<int>(state.range(2)), n = static_cast<int>(state.range(3)),
              m = static_cast<int>(state.range(4)), backward = static_cast<int>(state.range(5)),
              threads = static_cast<int>(state.range(6));
    nm::setThreadCount(threads);
    nm::Rng rng(3);
    std::vector<float> w(static_cast<size_t>(N) * static_cast<size_t>(K)), wt(w.size());
    std::vector<uint8_t> mask(w.size());
    fillRandom(w, rng);
    nm::nmops::nmMask(mask.data(), w.data(), N, K, n, m);
    for (size_t i = 0; i < w.size(); ++i)
        wt[i] = mask[i] ? w[i] : 0.0f;
    const int in = backward ? N : K, out = backward ? K : N; // this product's x and y widths
    std::vector<float> x(static_cast<size_t>(M) * static_cast<size_t>(in)),
        y(static_cast<size_t>(M) * static_cast<size_t>(out));
    fillRandom(x, rng);
    const nm::spgemm::Isa isa = nm::spgemm::bestIsa();
    nm::spgemm::SparseWeight sw;
    nm::spgemm::tune(sw, wt.data(), N, K, M, backward != 0, isa);
    sw.useForward = sw.useBackward = true;
    sw.build(wt.data(), N, K, backward != 0);
    std::vector<double> dense, sparse;
    using clock = std::chrono::steady_clock;
    for (auto _ : state) {
        const auto t0 = clock::now();
        if (backward)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, K, N, 1.0f, x.data(), N, wt.data(), K, 1.0f,
                        y.data(), K);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, x.data(), K, wt.data(), K, 0.0f,
                        y.data(), N);
        const auto t1 = clock::now();
        if (backward)
            nm::spgemm::multiply(y.data(), x.data(), sw.wt, nullptr, M, true, sw.backward.tile, isa);
        else
            nm::spgemm::multiply(y.data(), x.data(), sw.w, nullptr, M, false, sw.forward.tile, isa);
        const auto t2 = clock::now();
        dense.push_back(std::chrono::duration<double>(t1 - t0).count());
        sparse.push_back(std::chrono::duration<double>(t2 - t1).count());
        benchmark::ClobberMemory();
    }
    const double d = medianOf(dense), sp = medianOf(sparse);
    state.counters["dense_us"] = d * 1e6;
    state.counters["sparse_us"] = sp * 1e6;
    state.counters["speedup"] = sp > 0 ? d / sp : 0;
    const nm::spgemm::Plan &p = backward ? sw.backward : sw.forward;
    state.counters["tile"] = p.tile;
    state.counters["block"] = p.block;
    state.counters["threads"] = threads;
}

void sparseGemmShapes(benchmark::internal::Benchmark *b)
{
    // M (rows of x), N (out), K (in): the MLP's hidden layers at batch 256, the GPT's qkv,
    // fc1 and fc2 at 32×64 tokens.
    const int shapes[][3] = {{256, 512, 784}, {256, 512, 512}, {2048, 384, 128}, {2048, 512, 128}, {2048, 128, 512}};
    const int patterns[][2] = {{2, 4}, {1, 8}, {1, 16}};
    for (int t : {1, 2})
        for (const auto &s : shapes)
            for (const auto &p : patterns)
                for (int dir : {0, 1})
                    b->Args({s[0], s[1], s[2], p[0], p[1], dir, t});
    b->ArgNames({"M", "N", "K", "n", "m", "bwd", "threads"});
}

// Repetitions and minimum time come from defaults given in main() (overridable on the
// command line), so benchmark names stay plain: BM_MlpStep/1, BM_GptStep/2, ...
BENCHMARK(BM_MlpStep)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_GptStep)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Gemm)->Apply(gemmShapes)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_SparseGemm)->Apply(sparseGemmShapes)->Unit(benchmark::kMicrosecond)->UseRealTime();

} // namespace

int main(int argc, char **argv)
{
    nm::ensureFastBlas(argc, argv);
    g_peakPerCore = fmaPeakGflops(1);
    std::fprintf(stderr, "nmbench | %s | measured fp32 FMA peak %.1f GFLOP/s per core (%s)\n",
                 nm::blasBanner(nm::hardwareThreads()).c_str(), g_peakPerCore,
                 __builtin_cpu_supports("avx512f") ? "AVX-512" : "AVX2");
    benchmark::AddCustomContext("blas_kernel", nm::blasCoreName());
    benchmark::AddCustomContext("fma_peak_gflops_per_core", std::to_string(g_peakPerCore));
    // Defaults first; flags given by the user come later and win.
    std::vector<char *> args = {argv[0]};
    std::string reps = "--benchmark_repetitions=5", aggr = "--benchmark_report_aggregates_only=true",
                minTime = "--benchmark_min_time=0.5";
    for (std::string *d : {&reps, &aggr, &minTime})
        args.push_back(d->data());
    args.insert(args.end(), argv + 1, argv + argc);
    int n = static_cast<int>(args.size());
    benchmark::Initialize(&n, args.data());
    if (benchmark::ReportUnrecognizedArguments(n, args.data()))
        return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
