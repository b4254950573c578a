#include "nmcore/nm_ops.h"

#include "nmcore/error.h"

#include "parallel.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace nm::nmops {

namespace {
constexpr long kParallelMin = kKernelParallelMin;
constexpr int kMaxM = 128;
// Fixed chunk for double reductions: partial sums per chunk, then summed in order, so the
// result does not depend on the thread count.
constexpr long kChunk = 4096;

void checkNM(const char *fn, const void *out, const float *w, long rows, int cols, int n, int m)
{
    const std::string f = fn;
    if (m < 2 || m > kMaxM)
        throw ConfigError(f + ": M must be in [2, " + std::to_string(kMaxM) + "], got " + std::to_string(m));
    if (n < 1 || n >= m)
        throw ConfigError(f + ": N must satisfy 1 <= N < M, got N=" + std::to_string(n) + " M=" + std::to_string(m));
    if (rows < 0 || cols <= 0)
        throw ConfigError(f + ": invalid shape rows=" + std::to_string(rows) + " cols=" + std::to_string(cols));
    if (cols % m != 0)
        throw ConfigError(f + ": cols (" + std::to_string(cols) + ") must be a multiple of M (" + std::to_string(m) +
                          ")");
    if (rows > 0 && (!out || !w))
        throw ConfigError(f + ": null pointer");
}

// Magnitude key with a total order: NaN ranks as +inf.
inline float magKey(float x)
{
    const float a = std::fabs(x);
    return std::isnan(a) ? std::numeric_limits<float>::infinity() : a;
}

// Element i outranks j: larger magnitude, ties to the lower index.
inline bool outranks(float ai, int i, float aj, int j)
{
    return ai > aj || (ai == aj && i < j);
}

// Rank-counting mask for small M (compile-time M unrolls, e.g. the 2:4 fast path).
template <int M> inline void maskGroupSmall(uint8_t *mk, const float *g, int n)
{
    float a[static_cast<size_t>(M)];
    int rank[static_cast<size_t>(M)] = {};
    for (int i = 0; i < M; ++i)
        a[i] = magKey(g[i]);
    if (n == 1) { // 1:M keeps the first largest: two reductions instead of M² comparisons
        float mx = a[0];
#pragma omp simd reduction(max : mx)
        for (int i = 0; i < M; ++i)
            mx = std::max(mx, a[i]);
        int first = M;
#pragma omp simd reduction(min : first)
        for (int i = 0; i < M; ++i)
            first = std::min(first, a[i] == mx ? i : M);
        for (int i = 0; i < M; ++i)
            mk[i] = i == first ? 1 : 0;
        return;
    }
    // j outside, i inside: every element's rank is one vector lane (M = 16: one AVX-512 vector).
    for (int j = 0; j < M; ++j) {
#pragma omp simd
        for (int i = 0; i < M; ++i)
            rank[i] += (a[j] > a[i]) | ((a[j] == a[i]) & (j < i));
    }
    for (int i = 0; i < M; ++i)
        mk[i] = rank[i] < n ? 1 : 0;
}

// One row of groups of 4 (any N), branch-free and de-interleaved into four lanes so the
// rank loop vectorises. Rank of element i = number of elements that outrank it (larger, or
// equal with a lower index); keep iff rank < n.
inline float key4(float v)
{
    const float a = std::fabs(v);
    return a != a ? std::numeric_limits<float>::infinity() : a;
}

inline void maskRow4(uint8_t *mk, float *out, const float *w, int groups, int n)
{
    constexpr int kTile = 256;
    alignas(64) float x0[kTile], x1[kTile], x2[kTile], x3[kTile];
    alignas(64) uint8_t k0[kTile], k1[kTile], k2[kTile], k3[kTile];
    for (int t0 = 0; t0 < groups; t0 += kTile) {
        const int T = std::min(kTile, groups - t0);
        const float *p = w + 4L * t0;
#pragma omp simd
        for (int g = 0; g < T; ++g) {
            x0[g] = key4(p[4 * g]);
            x1[g] = key4(p[4 * g + 1]);
            x2[g] = key4(p[4 * g + 2]);
            x3[g] = key4(p[4 * g + 3]);
        }
#pragma omp simd
        for (int g = 0; g < T; ++g) {
            const float a = x0[g], b = x1[g], c = x2[g], d = x3[g];
            const int r0 = (b > a) + (c > a) + (d > a);
            const int r1 = (a >= b) + (c > b) + (d > b);
            const int r2 = (a >= c) + (b >= c) + (d > c);
            const int r3 = (a >= d) + (b >= d) + (c >= d);
            k0[g] = r0 < n;
            k1[g] = r1 < n;
            k2[g] = r2 < n;
            k3[g] = r3 < n;
        }
        uint8_t *m = mk + 4L * t0;
        for (int g = 0; g < T; ++g) {
            m[4 * g] = k0[g];
            m[4 * g + 1] = k1[g];
            m[4 * g + 2] = k2[g];
            m[4 * g + 3] = k3[g];
        }
        if (out) {
            float *o = out + 4L * t0;
#pragma omp simd
            for (int e = 0; e < 4 * T; ++e)
                o[e] = m[e] ? p[e] : 0.0f;
        }
    }
}

// Soft threshold of one row of groups of 4: thresholds from a min/max sorting network over
// de-interleaved lanes (vectorises), then the elementwise shrink. out may alias w (each tile's
// thresholds are computed before the tile is written).
inline void softRow4(float *out, const float *w, int groups, int n)
{
    constexpr int kTile = 256;
    alignas(64) float th[kTile];
    const int pick = 3 - n; // (4−n)-th smallest, 0-indexed
    for (int t0 = 0; t0 < groups; t0 += kTile) {
        const int T = std::min(kTile, groups - t0);
        const float *p = w + 4L * t0;
#pragma omp simd
        for (int g = 0; g < T; ++g) {
            float a = key4(p[4 * g]), b = key4(p[4 * g + 1]), c = key4(p[4 * g + 2]), d = key4(p[4 * g + 3]);
            auto cx = [](float &lo, float &hi) {
                const float l = lo < hi ? lo : hi, h = lo < hi ? hi : lo;
                lo = l;
                hi = h;
            };
            cx(a, b);
            cx(c, d);
            cx(a, c);
            cx(b, d);
            cx(b, c);
            th[g] = pick == 0 ? a : pick == 1 ? b : c;
        }
        float *o = out + 4L * t0;
#pragma omp simd
        for (int e = 0; e < 4 * T; ++e) {
            const float a = p[e];
            const float d = std::fabs(a) - th[e >> 2];
            o[e] = d != d ? a : std::copysign(d > 0.0f ? d : 0.0f, a);
        }
    }
}

inline void maskGroupGeneric(uint8_t *mk, const float *g, int n, int m)
{
    float a[kMaxM];
    int idx[kMaxM];
    for (int i = 0; i < m; ++i) {
        a[i] = magKey(g[i]);
        idx[i] = i;
        mk[i] = 0;
    }
    std::nth_element(idx, idx + (n - 1), idx + m, [&](int x, int y) { return outranks(a[x], x, a[y], y); });
    // idx[0..n-1] are the n top-ranked elements (strict total order, so deterministic).
    for (int k = 0; k < n; ++k)
        mk[idx[k]] = 1;
}

// (m−n)-th smallest magnitude, 1-indexed. Small M: sorting network-like insertion sort on
// registers (no calls); larger M: nth_element.
template <int M> inline float thresholdSmall(const float *g, int n)
{
    float a[static_cast<size_t>(M)];
    for (int i = 0; i < M; ++i)
        a[i] = magKey(g[i]);
    for (int i = 1; i < M; ++i)
        for (int j = i; j > 0; --j) {
            const float lo = a[j - 1] < a[j] ? a[j - 1] : a[j];
            const float hi = a[j - 1] < a[j] ? a[j] : a[j - 1];
            a[j - 1] = lo;
            a[j] = hi;
        }
    return a[M - n - 1];
}

// The same order statistic by ranks: element i's rank is the number of elements before it in
// the strict order (magnitude, then index); exactly one has rank m − n − 1. M² comparisons, all
// vectorised (a group of 16 is one AVX-512 vector), against nth_element's branches: S-STE's
// 1:16 step spent most of its time in nth_element.
template <int M> inline float thresholdRank(const float *g, int n)
{
    float a[static_cast<size_t>(M)];
    int rank[static_cast<size_t>(M)] = {};
    for (int i = 0; i < M; ++i)
        a[i] = magKey(g[i]);
    for (int j = 0; j < M; ++j) {
#pragma omp simd
        for (int i = 0; i < M; ++i)
            rank[i] += (a[j] < a[i]) | ((a[j] == a[i]) & (j < i));
    }
    const int k = M - n - 1;
    float t = 0.0f;
    for (int i = 0; i < M; ++i)
        t = rank[i] == k ? a[i] : t;
    return t;
}

inline float thresholdOf(const float *g, int n, int m)
{
    switch (m) {
    case 4:
        return thresholdSmall<4>(g, n);
    case 8:
        return thresholdSmall<8>(g, n);
    case 16:
        return thresholdRank<16>(g, n);
    case 32:
        return thresholdRank<32>(g, n);
    default:
        break;
    }
    float a[kMaxM];
    for (int i = 0; i < m; ++i)
        a[i] = magKey(g[i]);
    const int k = m - n - 1;
    std::nth_element(a, a + k, a + m);
    return a[k];
}

inline double sumChunks(const double *parts, long nchunks)
{
    double s = 0.0;
    for (long c = 0; c < nchunks; ++c)
        s += parts[c];
    return s;
}

uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

// Round |x| onto a binary FP grid with mbits mantissa bits, min normal exponent emin, max
// finite value maxv; round half to even; saturating.
float roundFp8(float x, int mbits, int emin, float maxv)
{
    if (std::isnan(x))
        return x;
    const double a = std::fabs(static_cast<double>(x));
    if (a == 0.0)
        return x; // keeps the sign of zero
    if (a >= static_cast<double>(maxv))
        return std::copysign(maxv, x);
    int e2 = 0;
    std::frexp(a, &e2);                   // a = f·2^e2, f in [0.5, 1) → floor(log2 a) = e2 − 1
    const int e = std::max(e2 - 1, emin); // subnormals share the min-normal step
    const double step = std::ldexp(1.0, e - mbits);
    double q = std::nearbyint(a / step) * step; // a/step exact; default FE_TONEAREST = ties-to-even
    if (q > static_cast<double>(maxv))
        q = maxv;
    return static_cast<float>(std::copysign(q, static_cast<double>(x)));
}
} // namespace

// ---------------------------------------------------------------------------------------------

void nmMask(uint8_t *mask, const float *w, long rows, int cols, int n, int m)
{
    checkNM("nmMask", mask, w, rows, cols, n, m);
    const int groups = cols / m;
#pragma omp parallel for schedule(static) if (rows * cols > kParallelMin)
    for (long r = 0; r < rows; ++r) {
        const float *wr = w + r * cols;
        uint8_t *mr = mask + r * cols;
        if (m == 4) {
            maskRow4(mr, nullptr, wr, groups, n);
            continue;
        }
        for (int gi = 0; gi < groups; ++gi) {
            const float *g = wr + static_cast<long>(gi) * m;
            uint8_t *mk = mr + static_cast<long>(gi) * m;
            switch (m) {
            case 4:
                maskGroupSmall<4>(mk, g, n);
                break;
            case 8:
                maskGroupSmall<8>(mk, g, n);
                break;
            case 16:
                maskGroupSmall<16>(mk, g, n);
                break;
            default:
                maskGroupGeneric(mk, g, n, m);
                break;
            }
        }
    }
}

void nmMaskApply(uint8_t *mask, float *out, const float *w, long rows, int cols, int n, int m)
{
    checkNM("nmMaskApply", mask, w, rows, cols, n, m);
    if (!out && rows > 0)
        throw ConfigError("nmMaskApply: null pointer");
    const int groups = cols / m;
#pragma omp parallel for schedule(static) if (rows * cols > kParallelMin)
    for (long r = 0; r < rows; ++r) {
        const float *wr = w + r * cols;
        uint8_t *mr = mask + r * cols;
        float *orow = out + r * cols;
        if (m == 4) {
            maskRow4(mr, orow, wr, groups, n);
            continue;
        }
        for (int gi = 0; gi < groups; ++gi) {
            const float *g = wr + static_cast<long>(gi) * m;
            uint8_t *mk = mr + static_cast<long>(gi) * m;
            switch (m) {
            case 8:
                maskGroupSmall<8>(mk, g, n);
                break;
            case 16:
                maskGroupSmall<16>(mk, g, n);
                break;
            default:
                maskGroupGeneric(mk, g, n, m);
                break;
            }
        }
        for (int c = 0; c < cols; ++c)
            orow[c] = mr[c] ? wr[c] : 0.0f;
    }
}

void applyMask(float *out, const float *w, const uint8_t *mask, long count)
{
    if (count < 0)
        throw ConfigError("applyMask: negative count");
    if (count > 0 && (!out || !w || !mask))
        throw ConfigError("applyMask: null pointer");
#pragma omp parallel for simd schedule(static) if (count > kParallelMin)
    for (long i = 0; i < count; ++i)
        out[i] = mask[i] ? w[i] : 0.0f;
}

void softThreshold(float *out, const float *w, long rows, int cols, int n, int m)
{
    checkNM("softThreshold", out, w, rows, cols, n, m);
    const int groups = cols / m;
#pragma omp parallel for schedule(static) if (rows * cols > kParallelMin)
    for (long r = 0; r < rows; ++r) {
        if (m == 4) {
            softRow4(out + r * cols, w + r * cols, groups, n);
            continue;
        }
        for (int gi = 0; gi < groups; ++gi) {
            const long base = r * cols + static_cast<long>(gi) * m;
            const float t = thresholdOf(w + base, n, m);
            for (int i = 0; i < m; ++i) {
                const float a = w[base + i];
                const float d = std::fabs(a) - t;
                // NaN passes through (d is NaN); everything at or below t becomes 0.
                out[base + i] = std::isnan(d) ? a : std::copysign(d > 0.0f ? d : 0.0f, a);
            }
        }
    }
}

double ssteBeta(const float *w, const float *s, long count)
{
    if (count < 0)
        throw ConfigError("ssteBeta: negative count");
    if (count > 0 && (!w || !s))
        throw ConfigError("ssteBeta: null pointer");
    const long nchunks = (count + kChunk - 1) / kChunk;
    std::vector<double> ws(static_cast<size_t>(nchunks)), ss(static_cast<size_t>(nchunks));
#pragma omp parallel for schedule(static) if (count > kParallelMin)
    for (long c = 0; c < nchunks; ++c) {
        const long i0 = c * kChunk, i1 = std::min(count, i0 + kChunk);
        double a = 0.0, b = 0.0;
        for (long i = i0; i < i1; ++i) {
            a += static_cast<double>(w[i]) * static_cast<double>(s[i]);
            b += static_cast<double>(s[i]) * static_cast<double>(s[i]);
        }
        ws[static_cast<size_t>(c)] = a;
        ss[static_cast<size_t>(c)] = b;
    }
    const double num = sumChunks(ws.data(), nchunks), den = sumChunks(ss.data(), nchunks);
    return den == 0.0 ? 1.0 : num / den;
}

void mvue24(float *out, const float *g, long rows, int cols, Rng &rng)
{
    if (rows < 0 || cols <= 0 || cols % 4 != 0)
        throw ConfigError("mvue24: cols must be a positive multiple of 4, got rows=" + std::to_string(rows) +
                          " cols=" + std::to_string(cols));
    if (rows > 0 && (!out || !g))
        throw ConfigError("mvue24: null pointer");
    if (rows > 0 && out == g)
        throw ConfigError("mvue24: out must not alias g");
    const uint64_t seed = rng.next();
    constexpr double kEps = 1.19209e-7;
    const int groups = cols / 4;
#pragma omp parallel for schedule(static) if (rows * cols > kParallelMin)
    for (long r = 0; r < rows; ++r) {
        Rng rr(mix64(seed ^ mix64(static_cast<uint64_t>(r))));
        for (int gi = 0; gi < groups; ++gi) {
            const long base = r * cols + static_cast<long>(gi) * 4;
            const float *x = g + base;
            double a[4], S = 0.0;
            for (int k = 0; k < 4; ++k) {
                a[k] = std::fabs(static_cast<double>(x[k])) + kEps;
                if (!std::isfinite(a[k]))
                    a[k] = kEps; // NaN/inf gradients: sampled like zeros, value passes through below
                S += a[k];
            }
            // First draw: inverse CDF over k = 0..3.
            const double u0 = static_cast<double>(rr.uniform()) * S;
            int i = 3;
            double c = 0.0;
            for (int k = 0; k < 4; ++k) {
                c += a[k];
                if (u0 < c) {
                    i = k;
                    break;
                }
            }
            // Second draw among the other three with P = a_j / (S − a_i).
            const double u1 = static_cast<double>(rr.uniform()) * (S - a[i]);
            int j = -1, last = -1;
            c = 0.0;
            for (int k = 0; k < 4; ++k) {
                if (k == i)
                    continue;
                last = k;
                c += a[k];
                if (u1 < c) {
                    j = k;
                    break;
                }
            }
            if (j < 0)
                j = last; // rounding at the top of the CDF
            float *o = out + base;
            for (int k = 0; k < 4; ++k)
                o[k] = 0.0f;
            for (int k : {i, j}) {
                double p = a[k] / S;
                for (int l = 0; l < 4; ++l)
                    if (l != k)
                        p += a[k] * (a[l] / S) / (S - a[l]);
                o[k] = static_cast<float>(static_cast<double>(x[k]) / p);
            }
        }
    }
}

float toE4M3(float x)
{
    return roundFp8(x, 3, -6, 448.0f);
}
float toE5M2(float x)
{
    return roundFp8(x, 2, -14, 57344.0f);
}
float toFp8(float x, Fp8Format fmt)
{
    return fmt == Fp8Format::E4M3 ? toE4M3(x) : toE5M2(x);
}
float fp8Max(Fp8Format fmt)
{
    return fmt == Fp8Format::E4M3 ? 448.0f : 57344.0f;
}

namespace {
float fp8Impl(float *out, const float *x, long count, Fp8Format fmt, bool dequant, const char *fn)
{
    if (count < 0)
        throw ConfigError(std::string(fn) + ": negative count");
    if (count > 0 && (!out || !x))
        throw ConfigError(std::string(fn) + ": null pointer");
    float amax = 0.0f;
#pragma omp parallel for schedule(static) reduction(max : amax) if (count > kParallelMin)
    for (long i = 0; i < count; ++i) {
        const float a = std::fabs(x[i]);
        if (a > amax) // NaN compares false: ignored
            amax = a;
    }
    const float s = (amax > 0.0f && std::isfinite(amax)) ? fp8Max(fmt) / amax : 1.0f;
    const float inv = 1.0f / s;
#pragma omp parallel for schedule(static) if (count > kParallelMin)
    for (long i = 0; i < count; ++i) {
        const float q = toFp8(x[i] * s, fmt);
        out[i] = dequant ? q * inv : q;
    }
    return s;
}
} // namespace

float quantizeFp8(float *out, const float *x, long count, Fp8Format fmt)
{
    return fp8Impl(out, x, count, fmt, false, "quantizeFp8");
}

float fakeQuantizeFp8(float *out, const float *x, long count, Fp8Format fmt)
{
    return fp8Impl(out, x, count, fmt, true, "fakeQuantizeFp8");
}

long countFlips(const uint8_t *a, const uint8_t *b, long count)
{
    if (count < 0)
        throw ConfigError("countFlips: negative count");
    if (count > 0 && (!a || !b))
        throw ConfigError("countFlips: null pointer");
    long flips = 0;
#pragma omp parallel for schedule(static) reduction(+ : flips) if (count > kParallelMin)
    for (long i = 0; i < count; ++i)
        flips += (a[i] != b[i]);
    return flips;
}

} // namespace nm::nmops
