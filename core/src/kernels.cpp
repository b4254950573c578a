#include "nmcore/kernels.h"

#include "parallel.h"

#include "fast_math.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace nm::kernels {

namespace {
constexpr long kParallelMin = kKernelParallelMin;
constexpr float kLnEps = 1e-5f;
// Column block for reductions over rows: each thread owns whole columns, so sums are
// accumulated in row order whatever the thread count (bit-identical results).
constexpr int kColBlock = 32;
} // namespace

void linearForward(float *out, const float *inp, const float *weight, const float *bias, int N, int C, int OC)
{
    if (bias) {
        const bool par = static_cast<long>(N) * OC > kParallelMin;
#pragma omp parallel for schedule(static) if (par)
        for (int r = 0; r < N; ++r)
            std::copy(bias, bias + OC, out + static_cast<long>(r) * OC);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, inp, C, weight, C, bias ? 1.0f : 0.0f, out,
                OC);
}

void linearBackward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp, const float *weight,
                    int N, int C, int OC)
{
    if (dinp)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, 1.0f, dout, OC, weight, C, 1.0f, dinp, C);
    if (dweight)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f, dweight, C);
    if (dbias) {
        const int blocks = (OC + kColBlock - 1) / kColBlock;
        const bool par = static_cast<long>(N) * OC > kParallelMin;
#pragma omp parallel for schedule(static) if (par)
        for (int blk = 0; blk < blocks; ++blk) {
            const int c0 = blk * kColBlock, c1 = std::min(OC, c0 + kColBlock);
            float acc[kColBlock] = {};
            for (int r = 0; r < N; ++r) {
                const float *row = dout + static_cast<long>(r) * OC;
                for (int c = c0; c < c1; ++c)
                    acc[c - c0] += row[c];
            }
            for (int c = c0; c < c1; ++c)
                dbias[c] += acc[c - c0];
        }
    }
}

void reluForward(float *out, const float *inp, long n)
{
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
    for (long i = 0; i < n; ++i)
        out[i] = inp[i] > 0.0f ? inp[i] : 0.0f;
}

void reluBackward(float *dinp, const float *out, const float *dout, long n)
{
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
    for (long i = 0; i < n; ++i)
        dinp[i] += out[i] > 0.0f ? dout[i] : 0.0f;
}

namespace {
constexpr float kGeluScale = 0.7978845608028654f; // sqrt(2/pi)
}

void geluForward(float *out, const float *inp, long n)
{
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
    for (long i = 0; i < n; ++i) {
        const float x = inp[i];
        const float cube = 0.044715f * x * x * x;
        out[i] = 0.5f * x * (1.0f + fastmath::tanh(kGeluScale * (x + cube)));
    }
}

void geluBackward(float *dinp, const float *inp, const float *dout, long n)
{
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
    for (long i = 0; i < n; ++i) {
        const float x = inp[i];
        const float cube = 0.044715f * x * x * x;
        const float tanhOut = fastmath::tanh(kGeluScale * (x + cube));
        const float sech2 = 1.0f - tanhOut * tanhOut;
        const float local = 0.5f * (1.0f + tanhOut) + x * 0.5f * sech2 * kGeluScale * (1.0f + 3.0f * 0.044715f * x * x);
        dinp[i] += local * dout[i];
    }
}

void biasGeluForward(float *pre, float *out, const float *bias, int N, int C)
{
    const bool par = static_cast<long>(N) * C > kParallelMin;
#pragma omp parallel for schedule(static) if (par)
    for (int r = 0; r < N; ++r) {
        float *x = pre + static_cast<long>(r) * C;
        float *o = out + static_cast<long>(r) * C;
#pragma omp simd
        for (int c = 0; c < C; ++c) {
            const float v = x[c] + bias[c];
            x[c] = v;
            o[c] = 0.5f * v * (1.0f + fastmath::tanh(kGeluScale * (v + 0.044715f * v * v * v)));
        }
    }
}

namespace {
// One row of LayerNorm: o = (x − mean) · rstd · w + b; returns mean and rstd.
inline void normRow(float *o, const float *x, const float *w, const float *b, int C, float &mean, float &rstd)
{
    // Vectorised sums (an ordered float sum is one long dependency chain): the order is fixed
    // by the build's vector width, not by the thread count.
    float m = 0.0f;
#pragma omp simd reduction(+ : m)
    for (int i = 0; i < C; ++i)
        m += x[i];
    m /= static_cast<float>(C);
    float v = 0.0f;
#pragma omp simd reduction(+ : v)
    for (int i = 0; i < C; ++i) {
        const float d = x[i] - m;
        v += d * d;
    }
    v /= static_cast<float>(C);
    const float s = 1.0f / std::sqrt(v + kLnEps);
#pragma omp simd
    for (int i = 0; i < C; ++i)
        o[i] = (x[i] - m) * s * w[i] + b[i];
    mean = m;
    rstd = s;
}
} // namespace

void layernormResidualForward(float *res, float *out, float *mean, float *rstd, const float *add, const float *weight,
                              const float *bias, int N, int C)
{
    const bool par = static_cast<long>(N) * C > kParallelMin;
#pragma omp parallel for schedule(static) if (par)
    for (int r = 0; r < N; ++r) {
        float *x = res + static_cast<long>(r) * C;
        const float *y = add + static_cast<long>(r) * C;
#pragma omp simd
        for (int i = 0; i < C; ++i) // the row stays in L1 for the normalisation below
            x[i] += y[i];
        normRow(out + static_cast<long>(r) * C, x, weight, bias, C, mean[r], rstd[r]);
    }
}

void layernormForward(float *out, float *mean, float *rstd, const float *inp, const float *weight, const float *bias,
                      int N, int C)
{
    const bool par = static_cast<long>(N) * C > kParallelMin;
#pragma omp parallel for schedule(static) if (par)
    for (int r = 0; r < N; ++r)
        normRow(out + static_cast<long>(r) * C, inp + static_cast<long>(r) * C, weight, bias, C, mean[r], rstd[r]);
}

void layernormBackward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                       const float *weight, const float *mean, const float *rstd, int N, int C)
{
    const bool par = static_cast<long>(N) * C > kParallelMin;
#pragma omp parallel for schedule(static) if (par)
    for (int r = 0; r < N; ++r) {
        const float *x = inp + static_cast<long>(r) * C;
        const float *g = dout + static_cast<long>(r) * C;
        const float m = mean[r], s = rstd[r];
        float dnormMean = 0.0f, dnormNormMean = 0.0f;
#pragma omp simd reduction(+ : dnormMean, dnormNormMean)
        for (int i = 0; i < C; ++i) {
            const float norm = (x[i] - m) * s;
            const float dnorm = weight[i] * g[i];
            dnormMean += dnorm;
            dnormNormMean += dnorm * norm;
        }
        dnormMean /= static_cast<float>(C);
        dnormNormMean /= static_cast<float>(C);
        float *dx = dinp + static_cast<long>(r) * C;
#pragma omp simd
        for (int i = 0; i < C; ++i) {
            const float norm = (x[i] - m) * s;
            const float dnorm = weight[i] * g[i];
            dx[i] += (dnorm - dnormMean - norm * dnormNormMean) * s;
        }
    }
    const int blocks = (C + kColBlock - 1) / kColBlock;
#pragma omp parallel for schedule(static) if (par)
    for (int blk = 0; blk < blocks; ++blk) {
        const int c0 = blk * kColBlock, c1 = std::min(C, c0 + kColBlock);
        float accW[kColBlock] = {}, accB[kColBlock] = {};
        for (int r = 0; r < N; ++r) {
            const float *x = inp + static_cast<long>(r) * C;
            const float *g = dout + static_cast<long>(r) * C;
            for (int c = c0; c < c1; ++c) {
                accW[c - c0] += (x[c] - mean[r]) * rstd[r] * g[c];
                accB[c - c0] += g[c];
            }
        }
        for (int c = c0; c < c1; ++c) {
            dweight[c] += accW[c - c0];
            dbias[c] += accB[c - c0];
        }
    }
}

void embeddingForward(float *out, const int *tokens, const float *wte, const float *wpe, int B, int T, int C)
{
    const bool par = static_cast<long>(B) * T * C > kParallelMin;
#pragma omp parallel for schedule(static) if (par)
    for (int bt = 0; bt < B * T; ++bt) {
        const float *te = wte + static_cast<long>(tokens[bt]) * C;
        const float *pe = wpe + static_cast<long>(bt % T) * C;
        float *o = out + static_cast<long>(bt) * C;
        for (int i = 0; i < C; ++i)
            o[i] = te[i] + pe[i];
    }
}

void embeddingBackward(float *dwte, float *dwpe, const float *dout, const int *tokens, int B, int T, int C)
{
    // Threads own column blocks, so repeated tokens never race and sums keep row order.
    const int blocks = (C + kColBlock - 1) / kColBlock;
    const bool par = static_cast<long>(B) * T * C > kParallelMin;
#pragma omp parallel for schedule(static) if (par)
    for (int blk = 0; blk < blocks; ++blk) {
        const int c0 = blk * kColBlock, c1 = std::min(C, c0 + kColBlock);
        for (int bt = 0; bt < B * T; ++bt) {
            const float *g = dout + static_cast<long>(bt) * C;
            float *te = dwte + static_cast<long>(tokens[bt]) * C;
            float *pe = dwpe + static_cast<long>(bt % T) * C;
            for (int c = c0; c < c1; ++c) {
                te[c] += g[c];
                pe[c] += g[c];
            }
        }
    }
}

namespace {

// Fused attention works per (batch, head) on small operands that live in L1: the head's keys,
// values and gradients are packed once, then each group of query rows goes through scores,
// softmax and output before the next group starts (no pass over a materialised T×T matrix per
// operation, and a causal row group computes only the keys it sees).
constexpr int kAttRows = 8;  // query rows per register tile
constexpr int kAttCols = 32; // output columns per register tile (two AVX-512 vectors)

int roundUp(int x, int m)
{
    return (x + m - 1) / m * m;
}

// Per-thread scratch for one (batch, head), grown on demand.
float *attBuffer(int slot, long n)
{
    thread_local std::vector<float> buf[6];
    auto &b = buf[slot];
    if (static_cast<long>(b.size()) < n)
        b.resize(static_cast<size_t>(n));
    return b.data();
}

// Two 16-float vectors make a column tile; GCC lowers the generic vector type to whatever
// registers the build targets (zmm with AVX-512), so the accumulators stay in registers.
typedef float AttVec __attribute__((vector_size(64)));

AttVec loadVec(const float *p)
{
    AttVec v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

// out[r][c] (=|+=) alpha · Σ_{k ∈ [lo, hi)} a(r, k) · b[k][c] for R rows and c < cols, with
// a(r, k) = a[r·lda + k], or a[k·lda + r] when TransA (a read down its columns: Pᵀ and dSᵀ
// without a transposed copy). b has ldb ≥ cols rounded up to kAttCols (zero padding read,
// never stored). Every sum runs in k order.
template <int R, bool TransA>
void attTile(float *out, long ldo, const float *a, long lda, const float *b, long ldb, int lo, int hi, int cols,
             float alpha, bool accumulate)
{
    static_assert(kAttCols == 2 * 16);
    for (int c0 = 0; c0 < cols; c0 += kAttCols) {
        AttVec acc[static_cast<size_t>(R)][2] = {};
        for (int k = lo; k < hi; ++k) {
            const float *bk = b + k * ldb + c0;
            const AttVec b0 = loadVec(bk), b1 = loadVec(bk + 16);
#pragma GCC unroll 8
            for (int r = 0; r < R; ++r) {
                const float ar = TransA ? a[k * lda + r] : a[r * lda + k];
                acc[r][0] += ar * b0;
                acc[r][1] += ar * b1;
            }
        }
        const int n = std::min(kAttCols, cols - c0);
        for (int r = 0; r < R; ++r) {
            float *o = out + r * ldo + c0;
            if (n == kAttCols) {
                for (int h = 0; h < 2; ++h) {
                    AttVec v = alpha * acc[r][h];
                    if (accumulate)
                        v += loadVec(o + 16 * h);
                    std::memcpy(o + 16 * h, &v, sizeof v);
                }
                continue;
            }
            float tile[kAttCols];
            std::memcpy(tile, acc[r], sizeof tile);
            for (int l = 0; l < n; ++l)
                o[l] = accumulate ? o[l] + alpha * tile[l] : alpha * tile[l];
        }
    }
}

// attTile over `rows` rows from row `r0`: tiles of kAttRows, then single rows. range(r0, rr)
// gives the [lo, hi) of k for rows r0 .. r0 + rr − 1.
template <bool TransA = false, class Range>
void attRows(int r0, int rows, float *out, long ldo, const float *a, long lda, const float *b, long ldb, int cols,
             float alpha, bool accumulate, Range range)
{
    int r = r0;
    for (; r + kAttRows <= r0 + rows; r += kAttRows) {
        const auto [lo, hi] = range(r, kAttRows);
        attTile<kAttRows, TransA>(out + r * ldo, ldo, TransA ? a + r : a + r * lda, lda, b, ldb, lo, hi, cols, alpha,
                                  accumulate);
    }
    for (; r < r0 + rows; ++r) {
        const auto [lo, hi] = range(r, 1);
        attTile<1, TransA>(out + r * ldo, ldo, TransA ? a + r : a + r * lda, lda, b, ldb, lo, hi, cols, alpha,
                           accumulate);
    }
}

// dst (cols × ld) = srcᵀ for src (rows × cols, leading dimension lds); columns rows .. ld − 1 zero.
void packTransposed(float *dst, long ld, const float *src, long lds, int rows, int cols)
{
    for (int c = 0; c < cols; ++c) {
        float *d = dst + c * ld;
        for (int r = 0; r < rows; ++r)
            d[r] = src[r * lds + c];
        std::fill(d + rows, d + ld, 0.0f);
    }
}

// dst (rows × ld) = src (rows × cols, leading dimension lds); columns cols .. ld − 1 zero.
void packRows(float *dst, long ld, const float *src, long lds, int rows, int cols)
{
    for (int r = 0; r < rows; ++r) {
        std::copy(src + r * lds, src + r * lds + cols, dst + r * ld);
        std::fill(dst + r * ld + cols, dst + (r + 1) * ld, 0.0f);
    }
}

} // namespace

void attentionForward(float *out, float *att, const float *qkv, int B, int T, int C, int NH, bool causal)
{
    const int hs = C / NH;
    const long C3 = 3L * C;
    const float scale = 1.0f / std::sqrt(static_cast<float>(hs));
    const int tp = roundUp(T, kAttCols), hp = roundUp(hs, kAttCols);
    // Query rows r0 .. r0 + rr − 1 see keys [0, hi).
    auto keys = [&](int r0, int rr) { return std::pair{0, causal ? std::min(T, r0 + rr) : T}; };
    const bool par = static_cast<long>(B) * NH * T * T * hs > kParallelMin;
#pragma omp parallel for schedule(static) if (par)
    for (int bh = 0; bh < B * NH; ++bh) {
        const int b = bh / NH, h = bh % NH;
        const float *q = qkv + static_cast<long>(b) * T * C3 + h * hs; // (T, hs), row stride 3C
        const float *k = q + C;
        const float *v = q + 2 * C;
        float *kt = attBuffer(0, static_cast<long>(hs) * tp); // (hs, tp): the keys as columns
        float *vp = attBuffer(1, static_cast<long>(T) * hp);  // (T, hp)
        float *s = attBuffer(2, static_cast<long>(T) * tp);   // scores of the row group
        packTransposed(kt, tp, k, C3, T, hs);
        packRows(vp, hp, v, C3, T, hs);
        float *a = att + static_cast<long>(bh) * T * T; // (T, T) probabilities, kept for backward
        float *o = out + static_cast<long>(b) * T * C + h * hs;
        for (int t0 = 0; t0 < T; t0 += kAttRows) {
            const int rows = std::min(kAttRows, T - t0);
            const int seen = keys(t0, rows).second;
            // Whole column tiles (s is padded to tp): the softmax reads only the keys each row sees.
            attRows(t0, rows, s, tp, q, C3, kt, tp, roundUp(seen, kAttCols), scale, false, [&](int, int) {
                return std::pair{0, hs};
            });
            for (int t = t0; t < t0 + rows; ++t) {
                float *row = s + static_cast<long>(t) * tp;
                float *p = a + static_cast<long>(t) * T;
                const int n = causal ? t + 1 : T; // keys 0 .. n − 1 are visible
                float mx = row[0];
#pragma omp simd reduction(max : mx)
                for (int j = 1; j < n; ++j)
                    mx = std::max(mx, row[j]);
                float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
                for (int j = 0; j < n; ++j) {
                    p[j] = fastmath::exp(row[j] - mx);
                    sum += p[j];
                }
                const float inv = 1.0f / sum;
#pragma omp simd
                for (int j = 0; j < n; ++j)
                    p[j] *= inv;
                std::fill(p + n, p + T, 0.0f);
            }
            attRows(t0, rows, o, C, a, T, vp, hp, hs, 1.0f, false, keys);
        }
    }
}

void attentionBackward(float *dqkv, const float *dout, const float *qkv, const float *att, int B, int T, int C, int NH,
                       bool causal)
{
    const int hs = C / NH;
    const long C3 = 3L * C;
    const float scale = 1.0f / std::sqrt(static_cast<float>(hs));
    const int tp = roundUp(T, kAttCols), hp = roundUp(hs, kAttCols);
    auto keys = [&](int r0, int rr) { return std::pair{0, causal ? std::min(T, r0 + rr) : T}; };
    // Key rows j0 .. j0 + rr − 1 are seen by queries [lo, T).
    auto queries = [&](int j0, int) { return std::pair{causal ? j0 : 0, T}; };
    auto head = [&](int, int) { return std::pair{0, hs}; };
    const bool par = static_cast<long>(B) * NH * T * T * hs > kParallelMin;
#pragma omp parallel for schedule(static) if (par)
    for (int bh = 0; bh < B * NH; ++bh) {
        const int b = bh / NH, h = bh % NH;
        const long qOff = static_cast<long>(b) * T * C3 + h * hs;
        const float *q = qkv + qOff, *k = q + C, *v = q + 2 * C;
        float *dq = dqkv + qOff, *dk = dq + C, *dv = dq + 2 * C;
        const float *a = att + static_cast<long>(bh) * T * T;
        const float *g = dout + static_cast<long>(b) * T * C + h * hs;
        float *vt = attBuffer(0, static_cast<long>(hs) * tp); // (hs, tp): the values as columns
        float *kp = attBuffer(1, static_cast<long>(T) * hp);  // (T, hp) keys
        float *ds = attBuffer(2, static_cast<long>(T) * tp);  // (T, tp) score gradients
        float *gp = attBuffer(3, static_cast<long>(T) * hp);  // (T, hp) output gradients, then queries
        packTransposed(vt, tp, v, C3, T, hs);
        packRows(kp, hp, k, C3, T, hs);
        for (int t0 = 0; t0 < T; t0 += kAttRows) {
            const int rows = std::min(kAttRows, T - t0);
            const int seen = keys(t0, rows).second;
            // dP = G · Vᵀ, then the softmax backward dS = P ⊙ (dP − Σ P·dP) · scale in place.
            attRows(t0, rows, ds, tp, g, C, vt, tp, roundUp(seen, kAttCols), 1.0f, false, head);
            for (int t = t0; t < t0 + rows; ++t) {
                const float *p = a + static_cast<long>(t) * T;
                float *dr = ds + static_cast<long>(t) * tp;
                const int n = causal ? t + 1 : T;
                float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
                for (int j = 0; j < n; ++j)
                    dot += p[j] * dr[j];
#pragma omp simd
                for (int j = 0; j < n; ++j)
                    dr[j] = p[j] * (dr[j] - dot) * scale;
                std::fill(dr + n, dr + tp, 0.0f);
            }
            attRows(t0, rows, dq, C3, ds, tp, kp, hp, hs, 1.0f, true, keys); // dQ += dS · K
        }
        // dV += Pᵀ · G and dK += dSᵀ · Q, row groups of keys over the queries that see them.
        packRows(gp, hp, g, C, T, hs);
        attRows<true>(0, T, dv, C3, a, T, gp, hp, hs, 1.0f, true, queries);
        packRows(gp, hp, q, C3, T, hs);
        attRows<true>(0, T, dk, C3, ds, tp, gp, hp, hs, 1.0f, true, queries);
    }
}

float crossEntropyForward(float *probs, const float *logits, const int *targets, int N, int V)
{
    std::vector<double> rowLoss(static_cast<size_t>(N));
    const bool par = static_cast<long>(N) * V > kParallelMin;
#pragma omp parallel for schedule(static) if (par)
    for (int r = 0; r < N; ++r) {
        const float *z = logits + static_cast<long>(r) * V;
        float *p = probs + static_cast<long>(r) * V;
        float mx = z[0];
        for (int i = 1; i < V; ++i)
            mx = std::max(mx, z[i]);
        float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
        for (int i = 0; i < V; ++i) {
            p[i] = fastmath::exp(z[i] - mx);
            sum += p[i];
        }
        const float inv = 1.0f / sum;
        for (int i = 0; i < V; ++i)
            p[i] *= inv;
        rowLoss[static_cast<size_t>(r)] =
            static_cast<double>(std::log(sum)) + static_cast<double>(mx) - static_cast<double>(z[targets[r]]);
    }
    double total = 0.0;
    for (double l : rowLoss)
        total += l;
    return static_cast<float>(total / N);
}

void crossEntropyBackward(float *dlogits, const float *probs, const int *targets, int N, int V, float scale)
{
    const bool par = static_cast<long>(N) * V > kParallelMin;
#pragma omp parallel for schedule(static) if (par)
    for (int r = 0; r < N; ++r) {
        const float *p = probs + static_cast<long>(r) * V;
        float *d = dlogits + static_cast<long>(r) * V;
        for (int i = 0; i < V; ++i)
            d[i] += (p[i] - (i == targets[r] ? 1.0f : 0.0f)) * scale;
    }
}

long countCorrect(const float *probs, const int *targets, int N, int V)
{
    long correct = 0;
    for (int r = 0; r < N; ++r) {
        const float *p = probs + static_cast<long>(r) * V;
        const int best = static_cast<int>(std::max_element(p, p + V) - p);
        correct += best == targets[r];
    }
    return correct;
}

void addInPlace(float *a, const float *b, long n)
{
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
    for (long i = 0; i < n; ++i)
        a[i] += b[i];
}

} // namespace nm::kernels
