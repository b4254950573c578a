// nmbench: one training step of the reference models, and GEMM throughput on their shapes as
// a fraction of this machine's measured FMA peak. Peer timings (PyTorch) come from
// tests/bench/compare.py, which runs this program and prints nmstudio/PyTorch ratios.
#include "blas_setup.h"

#include "nmcore/kernels.h"
#include "nmcore/model.h"
#include "nmcore/optimizer.h"
#include "nmcore/platform.h"
#include "nmcore/rng.h"

#include <benchmark/benchmark.h>
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace {

// --- Machine peak: independent AVX-512 FMA chains on every thread -------------------------

double fmaPeakGflops(int threads)
{
    constexpr int kChains = 24;
    constexpr long kIters = 2'000'000;
    double best = 0.0;
    for (int rep = 0; rep < 5; ++rep) {
        const auto t0 = std::chrono::steady_clock::now();
        float sink = 0.0f;
#pragma omp parallel num_threads(threads) reduction(+ : sink)
        {
            __m512 acc[kChains];
            for (int c = 0; c < kChains; ++c)
                acc[c] = _mm512_set1_ps(0.001f * c);
            const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
            for (long i = 0; i < kIters; ++i) {
#pragma GCC unroll 24
                for (int c = 0; c < kChains; ++c)
                    acc[c] = _mm512_fmadd_ps(acc[c], a, b);
            }
            __m512 s = acc[0];
            for (int c = 1; c < kChains; ++c)
                s = _mm512_add_ps(s, acc[c]);
            alignas(64) float lanes[16];
            _mm512_store_ps(lanes, s);
            for (float l : lanes)
                sink += l;
        }
        const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        benchmark::DoNotOptimize(sink);
        best = std::max(best, 2.0 * 16 * kChains * kIters * threads / dt * 1e-9);
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
struct StepFixture {
    std::unique_ptr<nm::Model> model;
    std::unique_ptr<nm::Optimizer> opt;
    std::vector<nm::Batch> batches;
    float lr = 0.05f;
    long step = 0;

    void run()
    {
        const nm::Batch &b = batches[step % batches.size()];
        model->zeroGrad();
        benchmark::DoNotOptimize(model->forward(b));
        model->backward(b);
        ++step;
        opt->update(model->params(), model->grads(), model->tensors(), lr, step);
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

// --- GEMMs on the models' shapes (forward layout: out = inp · Wᵀ) -------------------------

void BM_Gemm(benchmark::State &state)
{
    const int M = static_cast<int>(state.range(0)), N = static_cast<int>(state.range(1)),
              K = static_cast<int>(state.range(2)), threads = static_cast<int>(state.range(3));
    nm::setThreadCount(threads);
    nm::Rng rng(3);
    std::vector<float> a(static_cast<size_t>(M) * K), w(static_cast<size_t>(N) * K), out(static_cast<size_t>(M) * N);
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
        {256, 512, 784}, {256, 512, 512}, // MLP hidden layers, batch 256
        {2048, 384, 128},                 // GPT qkv, 32×64 tokens
        {2048, 512, 128},                 // GPT fc1
        {2048, 128, 512},                 // GPT fc2
    };
    for (int t : {1, 2})
        for (const auto &s : shapes)
            b->Args({s[0], s[1], s[2], t});
    b->ArgNames({"M", "N", "K", "threads"});
}

// Repetitions and minimum time come from defaults given in main() (overridable on the
// command line), so benchmark names stay plain: BM_MlpStep/1, BM_GptStep/2, ...
BENCHMARK(BM_MlpStep)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_GptStep)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Gemm)->Apply(gemmShapes)->Unit(benchmark::kMicrosecond)->UseRealTime();

} // namespace

int main(int argc, char **argv)
{
    nm::ensureFastBlas(argc, argv);
    g_peakPerCore = fmaPeakGflops(1);
    std::fprintf(stderr, "nmbench | %s | measured fp32 FMA peak %.1f GFLOP/s per core\n",
                 nm::blasBanner(nm::hardwareThreads()).c_str(), g_peakPerCore);
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
