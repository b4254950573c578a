// The ISA-independent part of the compressed N:M GEMMs: choosing the kernel build, building
// the compressed matrices, splitting a product over the OpenMP team, and timing the sparse
// path against the dense GEMM (nm_gemm.h).
#include "nmcore/nm_gemm.h"

#include "gemm/nm_gemm_impl.h"
#include "nmcore/rng.h"

#include <cblas.h>
#include <nlohmann/json.hpp>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iomanip>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <tuple>

namespace nm::spgemm {

const char *toString(Isa isa)
{
    switch (isa) {
    case Isa::Avx512:
        return "avx512";
    case Isa::Avx2:
        return "avx2";
    case Isa::Portable:
        break;
    }
    return "portable";
}

bool supported(Isa isa)
{
    switch (isa) {
    case Isa::Avx512:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    case Isa::Avx2:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::Portable:
        break;
    }
    return true;
}

Isa bestIsa()
{
    static const Isa best = [] {
        if (const char *e = std::getenv("NM_SPARSE_ISA")) {
            for (Isa i : {Isa::Avx512, Isa::Avx2, Isa::Portable})
                if (std::strcmp(e, toString(i)) == 0 && supported(i))
                    return i;
        }
        return supported(Isa::Avx512) ? Isa::Avx512 : supported(Isa::Avx2) ? Isa::Avx2 : Isa::Portable;
    }();
    return best;
}

namespace {

int vectorWidth(Isa isa)
{
    return isa == Isa::Avx512 ? avx512::vectorWidth()
           : isa == Isa::Avx2 ? avx2::vectorWidth()
                              : portable::vectorWidth();
}

struct AlignedFree {
    void operator()(float *p) const { std::free(p); }
};

// Products below this many multiply-adds run on one thread (the fork costs more).
constexpr double kParallelMacs = 1 << 20;

} // namespace

float *scratchFloats(int slot, long n)
{
    thread_local std::unique_ptr<float, AlignedFree> buf[2];
    thread_local long cap[2] = {0, 0};
    if (cap[slot] < n) {
        const size_t bytes = (static_cast<size_t>(n) * sizeof(float) + 63) / 64 * 64;
        buf[slot].reset(static_cast<float *>(std::aligned_alloc(64, bytes)));
        if (!buf[slot])
            throw std::bad_alloc();
        cap[slot] = n;
    }
    return buf[slot].get();
}

Plan defaultPlan(int rows, int cols, int batch, double density, Isa isa)
{
    (void)rows;
    Plan p;
    p.isa = isa;
    const int vl = vectorWidth(isa);
    p.tile = batch >= 8 * vl ? (vl >= 16 ? 4 : 8) : batch > 2 * vl ? 4 : batch > vl ? 2 : 1;
    // About 16 kept entries per row and block, a panel within L1/L2.
    const int want = density > 0 ? static_cast<int>(16.0 / density) : cols;
    p.block = std::clamp(want, 32, 256);
    p.block = std::min(p.block, std::max(cols, 1));
    return p;
}

void compress(SparseMatrix &a, const float *dense, int rows, int cols, int block, Isa isa)
{
    block = std::clamp(block, 1, 65536);
    a.rows = rows;
    a.cols = cols;
    a.block = block;
    a.blocks = cols > 0 ? (cols + block - 1) / block : 0;
    const int stride = a.blocks + 1;
    a.ptr.assign(static_cast<size_t>(rows) * static_cast<size_t>(stride), 0);
    auto count = isa == Isa::Avx512 ? avx512::countRow : isa == Isa::Avx2 ? avx2::countRow : portable::countRow;
    auto fill = isa == Isa::Avx512 ? avx512::fillRow : isa == Isa::Avx2 ? avx2::fillRow : portable::fillRow;
    std::vector<int> start(static_cast<size_t>(rows) + 1, 0);
    const bool par = static_cast<long>(rows) * cols > (1 << 16);
#pragma omp parallel for schedule(static) if (par)
    for (int r = 0; r < rows; ++r)
        start[static_cast<size_t>(r) + 1] = count(dense + static_cast<long>(r) * cols, cols);
    for (int r = 0; r < rows; ++r)
        start[static_cast<size_t>(r) + 1] += start[static_cast<size_t>(r)];
    const size_t nnz = static_cast<size_t>(start[static_cast<size_t>(rows)]);
    a.col.resize(nnz);
    a.val.resize(nnz);
#pragma omp parallel for schedule(static) if (par)
    for (int r = 0; r < rows; ++r)
        fill(dense + static_cast<long>(r) * cols, cols, block, start[static_cast<size_t>(r)],
             start[static_cast<size_t>(r) + 1], a.ptr.data() + static_cast<long>(r) * stride, a.col.data(),
             a.val.data());
}

void compressTransposed(SparseMatrix &at, const float *dense, int rows, int cols, int block, Isa isa,
                        std::vector<float> &scratch)
{
    scratch.resize(static_cast<size_t>(rows) * static_cast<size_t>(cols));
    auto transpose = isa == Isa::Avx512 ? avx512::transposeDense
                     : isa == Isa::Avx2 ? avx2::transposeDense
                                        : portable::transposeDense;
    transpose(scratch.data(), dense, rows, cols);
    compress(at, scratch.data(), cols, rows, block, isa);
}

void transposeCompressed(SparseMatrix &at, const SparseMatrix &a, int block)
{
    block = std::clamp(block, 1, 65536);
    at.rows = a.cols;
    at.cols = a.rows;
    at.block = block;
    at.blocks = a.rows > 0 ? (a.rows + block - 1) / block : 0;
    const int stride = at.blocks + 1, astride = a.blocks + 1;
    // Entries per (row c of Aᵀ, block of a's rows), then their starts; a.rows ascending keeps
    // every block's entries in column order.
    std::vector<int> next(static_cast<size_t>(at.rows) * static_cast<size_t>(at.blocks) + 1, 0);
    auto forEach = [&](auto &&f) {
        for (int r = 0; r < a.rows; ++r)
            for (int jb = 0; jb < a.blocks; ++jb) {
                const int base = jb * a.block;
                const int *p = a.ptr.data() + static_cast<long>(r) * astride + jb;
                for (int e = p[0]; e < p[1]; ++e)
                    f(r, base + a.col[static_cast<size_t>(e)], a.val[static_cast<size_t>(e)]);
            }
    };
    // next's entry of (row c of Aᵀ, block of a's row r).
    auto cell = [&](int r, int c) {
        return static_cast<size_t>(c) * static_cast<size_t>(at.blocks) + static_cast<size_t>(r / block);
    };
    forEach([&](int r, int c, float) { ++next[cell(r, c)]; });
    at.ptr.assign(static_cast<size_t>(at.rows) * static_cast<size_t>(stride), 0);
    int off = 0;
    for (int c = 0; c < at.rows; ++c) {
        int *p = at.ptr.data() + static_cast<long>(c) * stride;
        int *n = next.data() + static_cast<long>(c) * at.blocks;
        for (int j = 0; j < at.blocks; ++j) {
            p[j] = off;
            off += n[j];
            n[j] = p[j]; // from now on: the next free entry of the block
        }
        p[at.blocks] = off;
    }
    at.col.resize(static_cast<size_t>(off));
    at.val.resize(static_cast<size_t>(off));
    forEach([&](int r, int c, float v) {
        const int slot = next[cell(r, c)]++;
        at.col[static_cast<size_t>(slot)] = static_cast<uint16_t>(r % block);
        at.val[static_cast<size_t>(slot)] = v;
    });
}

void multiply(float *out, const float *x, const SparseMatrix &a, const float *bias, int N, bool accumulate, int tile,
              Isa isa)
{
    if (N <= 0 || a.rows <= 0)
        return;
    tile = tile >= 8 ? 8 : tile >= 4 ? 4 : tile >= 2 ? 2 : 1;
    const MultiplyArgs m{out, x, &a, bias, accumulate, tile};
    auto run = isa == Isa::Avx512 ? avx512::multiplyTile
               : isa == Isa::Avx2 ? avx2::multiplyTile
                                  : portable::multiplyTile;
    const int W = vectorWidth(isa) * tile;
    const int tiles = (N + W - 1) / W;
    const double macs = static_cast<double>(a.nonzeros()) * N;
    const int threads = macs > kParallelMacs && !omp_in_parallel() ? omp_get_max_threads() : 1;
    // Split the rows too when there are fewer batch tiles than threads (each part packs its
    // own panels); chunks of whole groups of 4 rows.
    int chunks = tiles >= threads ? 1 : (threads + tiles - 1) / tiles;
    chunks = std::min(chunks, std::max(1, a.rows / 16));
    const int chunkRows = ((a.rows + chunks - 1) / chunks + 3) / 4 * 4;
    const int units = tiles * chunks;
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
    for (int u = 0; u < units; ++u) {
        const int t = u / chunks, c = u % chunks;
        const int b0 = t * W, r0 = c * chunkRows, r1 = std::min(a.rows, r0 + chunkRows);
        if (r0 < r1)
            run(m, b0, std::min(W, N - b0), r0, r1);
    }
}

void SparseWeight::use(const Choice &c)
{
    forward = c.forward;
    backward = c.backward;
    useForward = c.useForward;
    useBackward = c.useBackward && c.hasBackward;
}

namespace {

nlohmann::json productRecord(bool sparse, const Plan &p, float speedup)
{
    return {{"path", sparse ? "sparse" : "dense"},
            {"isa", toString(p.isa)},
            {"tile", p.tile},
            {"block", p.block},
            {"speedup", std::round(static_cast<double>(speedup) * 1000.0) / 1000.0}};
}

void readProduct(const nlohmann::json &j, bool &sparse, Plan &p, float &speedup)
{
    const std::string path = j.at("path").get<std::string>();
    if (path != "sparse" && path != "dense")
        throw std::runtime_error("path '" + path + "' is neither sparse nor dense");
    sparse = path == "sparse";
    const std::string isa = j.at("isa").get<std::string>();
    bool known = false;
    for (Isa i : {Isa::Avx512, Isa::Avx2, Isa::Portable})
        if (isa == toString(i)) {
            p.isa = i;
            known = true;
        }
    if (!known)
        throw std::runtime_error("unknown instruction set '" + isa + "'");
    p.tile = j.at("tile").get<int>();
    p.block = j.at("block").get<int>();
    if (p.tile < 1 || p.tile > 8 || p.block < 1 || p.block > 65536)
        throw std::runtime_error("tile " + std::to_string(p.tile) + " or block " + std::to_string(p.block) +
                                 " out of range");
    speedup = j.value("speedup", 0.0f);
}

std::string ratio(float x)
{
    std::ostringstream o;
    o << std::fixed << std::setprecision(2) << x << "×";
    return o.str();
}

} // namespace

std::string toRecord(const std::vector<Choice> &choices)
{
    if (choices.empty())
        return {};
    nlohmann::json patterns = nlohmann::json::array();
    for (const Choice &c : choices) {
        nlohmann::json p = {{"nm", std::to_string(c.n) + ":" + std::to_string(c.m)},
                            {"forward", productRecord(c.useForward, c.forward, c.speedupForward)}};
        if (c.hasBackward)
            p["backward"] = productRecord(c.useBackward, c.backward, c.speedupBackward);
        patterns.push_back(std::move(p));
    }
    return nlohmann::json{{"patterns", patterns}}.dump();
}

std::vector<Choice> fromRecord(const std::string &record)
{
    std::vector<Choice> out;
    if (record.empty())
        return out;
    try {
        const nlohmann::json j = nlohmann::json::parse(record);
        for (const nlohmann::json &p : j.at("patterns")) {
            Choice c;
            const std::string nm = p.at("nm").get<std::string>();
            char colon = 0;
            std::istringstream in(nm);
            if (!(in >> c.n >> colon >> c.m) || colon != ':' || c.n < 1 || c.m < c.n)
                throw std::runtime_error("pattern '" + nm + "' is not N:M");
            readProduct(p.at("forward"), c.useForward, c.forward, c.speedupForward);
            c.hasBackward = p.contains("backward");
            if (c.hasBackward)
                readProduct(p.at("backward"), c.useBackward, c.backward, c.speedupBackward);
            out.push_back(c);
        }
    } catch (const nlohmann::json::exception &e) {
        throw std::runtime_error(std::string("sparse GEMM record: ") + e.what());
    } catch (const std::runtime_error &e) {
        throw std::runtime_error(std::string("sparse GEMM record: ") + e.what());
    }
    return out;
}

std::string describe(const std::vector<Choice> &choices, int n, int m)
{
    for (const Choice &c : choices) {
        if (c.n != n || c.m != m)
            continue;
        const bool b = c.hasBackward && c.useBackward;
        std::string path =
            c.useForward ? (b || !c.hasBackward ? "sparse" : "sparse forward") : (b ? "sparse backward" : "dense");
        std::string measured;
        if (c.speedupForward > 0)
            measured = "forward " + ratio(c.speedupForward);
        if (c.hasBackward && c.speedupBackward > 0)
            measured += (measured.empty() ? "" : ", ") + std::string("backward ") + ratio(c.speedupBackward);
        return measured.empty() ? path : path + " (" + measured + ")";
    }
    return {};
}

std::string describe(const std::string &record, int n, int m)
{
    try {
        return describe(fromRecord(record), n, m);
    } catch (const std::runtime_error &) {
        return {};
    }
}

void SparseWeight::build(const float *wTilde, int out, int in, bool withTransposed)
{
    source = wTilde;
    if (useForward)
        compress(w, wTilde, out, in, forward.block, forward.isa);
    if (useBackward && withTransposed) {
        // From the compressed W̃ when there is one and it is sparse enough that moving its
        // nonzeros one by one beats the vectorised dense transpose (measured: 1:8 and sparser
        // win, 2:4 loses), else from W̃.
        if (useForward && w.rows == out && w.cols == in && 4 * w.nonzeros() <= static_cast<long>(out) * in)
            transposeCompressed(wt, w, backward.block);
        else
            compressTransposed(wt, wTilde, out, in, backward.block, backward.isa, scratch);
    }
}

namespace {

double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
}

template <class F> double timeIt(F &&f, int reps)
{
    f(); // warm caches and scratch
    std::vector<double> t;
    for (int i = 0; i < reps; ++i) {
        const auto a = std::chrono::steady_clock::now();
        f();
        t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count());
    }
    return median(std::move(t));
}

// Decisions are shared by every layer and run in the process with the same shape, batch,
// sparsity and ISA: measured once, and the same layers take the same path in every run.
using TuneKey = std::tuple<int, int, int, long, bool, int, int>;
std::mutex g_tuneMutex;
std::map<TuneKey, std::pair<SparseWeight, Timing>> g_tuned;

struct Candidate {
    Plan plan;
    double seconds = 0;
};

// The fastest plan for out (N, a.rows) = x (N, a.cols) · Aᵀ over a few tiles and blocks.
Candidate bestPlan(const float *dense, int rows, int cols, bool transposed, const float *x, float *y, int N,
                   double density, Isa isa, int reps)
{
    const Plan base = defaultPlan(transposed ? cols : rows, transposed ? rows : cols, N, density, isa);
    const int k = transposed ? rows : cols; // the product's inner dimension
    std::vector<int> blocks = {base.block, 64, 128, 256, k};
    std::vector<int> tiles = {base.tile};
    if (N >= 4 * vectorWidth(isa))
        tiles = {4, 8};
    Candidate best;
    best.seconds = 1e30;
    SparseMatrix a;
    std::vector<float> scratch;
    std::vector<int> seen;
    for (int b : blocks) {
        b = std::clamp(b, 1, std::max(k, 1));
        if (std::find(seen.begin(), seen.end(), b) != seen.end())
            continue;
        seen.push_back(b);
        if (transposed)
            compressTransposed(a, dense, rows, cols, b, isa, scratch);
        else
            compress(a, dense, rows, cols, b, isa);
        for (int t : tiles) {
            const double s = timeIt([&] { multiply(y, x, a, nullptr, N, false, t, isa); }, reps);
            if (s < best.seconds)
                best = {Plan{t, b, isa}, s};
        }
    }
    return best;
}

} // namespace

Timing tune(SparseWeight &sw, const float *wTilde, int out, int in, int N, bool withBackward, Isa isa, int threads)
{
    if (threads <= 0)
        threads = omp_get_max_threads();
    const long size = static_cast<long>(out) * in;
    long nnz = 0;
    for (long i = 0; i < size; ++i)
        nnz += wTilde[i] != 0.0f;
    const double density = size > 0 ? static_cast<double>(nnz) / static_cast<double>(size) : 1.0;
    // The density to a thousandth: W̃ of one N:M pattern keys the same decision.
    const TuneKey key{out, in, N, std::lround(density * 1000), withBackward, static_cast<int>(isa), threads};
    {
        std::lock_guard lock(g_tuneMutex);
        auto it = g_tuned.find(key);
        if (it != g_tuned.end()) {
            const SparseWeight &t = it->second.first;
            sw.forward = t.forward;
            sw.backward = t.backward;
            sw.useForward = t.useForward;
            sw.useBackward = t.useBackward;
            return it->second.second;
        }
    }
    // The products below run on the run's thread count (this thread's setting, restored after).
    struct Threads {
        int saved = omp_get_max_threads();
        explicit Threads(int n) { omp_set_num_threads(n); }
        ~Threads() { omp_set_num_threads(saved); }
    } scope(threads);
    Rng rng(0x5eed + static_cast<uint64_t>(size));
    std::vector<float> x(static_cast<size_t>(N) * static_cast<size_t>(in)),
        dy(static_cast<size_t>(N) * static_cast<size_t>(out));
    for (float &v : x)
        v = rng.normal();
    for (float &v : dy)
        v = rng.normal();
    std::vector<float> y(static_cast<size_t>(N) * static_cast<size_t>(out)),
        dx(static_cast<size_t>(N) * static_cast<size_t>(in));
    constexpr int kReps = 5;
    Timing t;
    t.denseForward = timeIt(
        [&] {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, out, in, 1.0f, x.data(), in, wTilde, in, 0.0f,
                        y.data(), out);
        },
        kReps);
    const Candidate f = bestPlan(wTilde, out, in, false, x.data(), y.data(), N, density, isa, kReps);
    t.sparseForward = f.seconds;
    sw.forward = f.plan;
    sw.useForward = f.seconds < t.denseForward;
    if (withBackward) {
        t.denseBackward = timeIt(
            [&] {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, in, out, 1.0f, dy.data(), out, wTilde, in,
                            1.0f, dx.data(), in);
            },
            kReps);
        const Candidate b = bestPlan(wTilde, out, in, true, dy.data(), dx.data(), N, density, isa, kReps);
        t.sparseBackward = b.seconds;
        sw.backward = b.plan;
        sw.useBackward = b.seconds < t.denseBackward;
    }
    std::lock_guard lock(g_tuneMutex);
    SparseWeight keep;
    keep.forward = sw.forward;
    keep.backward = sw.backward;
    keep.useForward = sw.useForward;
    keep.useBackward = sw.useBackward;
    g_tuned.emplace(key, std::make_pair(std::move(keep), t));
    return t;
}

} // namespace nm::spgemm
