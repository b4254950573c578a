#include "nmcore/kernels.h"

#include "parallel.h"

#include "fast_math.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
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
#pragma omp parallel for schedule(static) if ((long)N * OC > kParallelMin)
        for (int r = 0; r < N; ++r)
            std::copy(bias, bias + OC, out + (long)r * OC);
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
#pragma omp parallel for schedule(static) if ((long)N * OC > kParallelMin)
        for (int blk = 0; blk < blocks; ++blk) {
            const int c0 = blk * kColBlock, c1 = std::min(OC, c0 + kColBlock);
            float acc[kColBlock] = {};
            for (int r = 0; r < N; ++r) {
                const float *row = dout + (long)r * OC;
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

void layernormForward(float *out, float *mean, float *rstd, const float *inp, const float *weight, const float *bias,
                      int N, int C)
{
#pragma omp parallel for schedule(static) if ((long)N * C > kParallelMin)
    for (int r = 0; r < N; ++r) {
        const float *x = inp + (long)r * C;
        float m = 0.0f;
        for (int i = 0; i < C; ++i)
            m += x[i];
        m /= C;
        float v = 0.0f;
        for (int i = 0; i < C; ++i) {
            const float d = x[i] - m;
            v += d * d;
        }
        v /= C;
        const float s = 1.0f / std::sqrt(v + kLnEps);
        float *o = out + (long)r * C;
        for (int i = 0; i < C; ++i)
            o[i] = (x[i] - m) * s * weight[i] + bias[i];
        mean[r] = m;
        rstd[r] = s;
    }
}

void layernormBackward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                       const float *weight, const float *mean, const float *rstd, int N, int C)
{
#pragma omp parallel for schedule(static) if ((long)N * C > kParallelMin)
    for (int r = 0; r < N; ++r) {
        const float *x = inp + (long)r * C;
        const float *g = dout + (long)r * C;
        const float m = mean[r], s = rstd[r];
        float dnormMean = 0.0f, dnormNormMean = 0.0f;
        for (int i = 0; i < C; ++i) {
            const float norm = (x[i] - m) * s;
            const float dnorm = weight[i] * g[i];
            dnormMean += dnorm;
            dnormNormMean += dnorm * norm;
        }
        dnormMean /= C;
        dnormNormMean /= C;
        float *dx = dinp + (long)r * C;
        for (int i = 0; i < C; ++i) {
            const float norm = (x[i] - m) * s;
            const float dnorm = weight[i] * g[i];
            dx[i] += (dnorm - dnormMean - norm * dnormNormMean) * s;
        }
    }
    const int blocks = (C + kColBlock - 1) / kColBlock;
#pragma omp parallel for schedule(static) if ((long)N * C > kParallelMin)
    for (int blk = 0; blk < blocks; ++blk) {
        const int c0 = blk * kColBlock, c1 = std::min(C, c0 + kColBlock);
        float accW[kColBlock] = {}, accB[kColBlock] = {};
        for (int r = 0; r < N; ++r) {
            const float *x = inp + (long)r * C;
            const float *g = dout + (long)r * C;
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
#pragma omp parallel for schedule(static) if ((long)B * T * C > kParallelMin)
    for (int bt = 0; bt < B * T; ++bt) {
        const float *te = wte + (long)tokens[bt] * C;
        const float *pe = wpe + (long)(bt % T) * C;
        float *o = out + (long)bt * C;
        for (int i = 0; i < C; ++i)
            o[i] = te[i] + pe[i];
    }
}

void embeddingBackward(float *dwte, float *dwpe, const float *dout, const int *tokens, int B, int T, int C)
{
    // Threads own column blocks, so repeated tokens never race and sums keep row order.
    const int blocks = (C + kColBlock - 1) / kColBlock;
#pragma omp parallel for schedule(static) if ((long)B * T * C > kParallelMin)
    for (int blk = 0; blk < blocks; ++blk) {
        const int c0 = blk * kColBlock, c1 = std::min(C, c0 + kColBlock);
        for (int bt = 0; bt < B * T; ++bt) {
            const float *g = dout + (long)bt * C;
            float *te = dwte + (long)tokens[bt] * C;
            float *pe = dwpe + (long)(bt % T) * C;
            for (int c = c0; c < c1; ++c) {
                te[c] += g[c];
                pe[c] += g[c];
            }
        }
    }
}

void attentionForward(float *out, float *att, const float *qkv, int B, int T, int C, int NH, bool causal)
{
    const int hs = C / NH;
    const int C3 = 3 * C;
    const float scale = 1.0f / std::sqrt(static_cast<float>(hs));
    // One (batch, head) pair per iteration; OpenBLAS runs single-threaded inside the region.
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < B * NH; ++bh) {
        const int b = bh / NH, h = bh % NH;
        const float *q = qkv + (long)b * T * C3 + h * hs; // (T, hs), row stride 3C
        const float *k = q + C;
        const float *v = q + 2 * C;
        float *a = att + (long)bh * T * T; // (T, T)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hs, scale, q, C3, k, C3, 0.0f, a, T);
        for (int t = 0; t < T; ++t) {
            float *row = a + (long)t * T;
            const int last = causal ? t : T - 1; // keys 0..last are visible
            float mx = row[0];
            for (int j = 1; j <= last; ++j)
                mx = std::max(mx, row[j]);
            float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
            for (int j = 0; j <= last; ++j) {
                row[j] = fastmath::exp(row[j] - mx);
                sum += row[j];
            }
            const float inv = 1.0f / sum;
            for (int j = 0; j <= last; ++j)
                row[j] *= inv;
            for (int j = last + 1; j < T; ++j)
                row[j] = 0.0f;
        }
        float *o = out + (long)b * T * C + h * hs; // (T, hs), row stride C
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hs, T, 1.0f, a, T, v, C3, 0.0f, o, C);
    }
}

void attentionBackward(float *dqkv, float *scratch, const float *dout, const float *qkv, const float *att, int B, int T,
                       int C, int NH, bool causal)
{
    const int hs = C / NH;
    const int C3 = 3 * C;
    const float scale = 1.0f / std::sqrt(static_cast<float>(hs));
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < B * NH; ++bh) {
        const int b = bh / NH, h = bh % NH;
        const long qOff = (long)b * T * C3 + h * hs;
        const float *q = qkv + qOff, *k = q + C, *v = q + 2 * C;
        float *dq = dqkv + qOff, *dk = dq + C, *dv = dq + 2 * C;
        const float *a = att + (long)bh * T * T;
        const float *g = dout + (long)b * T * C + h * hs;
        float *da = scratch + (long)bh * T * T;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hs, 1.0f, g, C, v, C3, 0.0f, da, T);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hs, T, 1.0f, a, T, g, C, 1.0f, dv, C3);
        // Softmax backward, in place: dpre = a ⊙ (da − Σ a·da); zero where the mask hides a key.
        for (int t = 0; t < T; ++t) {
            const float *ar = a + (long)t * T;
            float *dr = da + (long)t * T;
            const int last = causal ? t : T - 1;
            float dot = 0.0f;
            for (int j = 0; j <= last; ++j)
                dot += ar[j] * dr[j];
            for (int j = 0; j <= last; ++j)
                dr[j] = ar[j] * (dr[j] - dot);
            for (int j = last + 1; j < T; ++j)
                dr[j] = 0.0f;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hs, T, scale, da, T, k, C3, 1.0f, dq, C3);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hs, T, scale, da, T, q, C3, 1.0f, dk, C3);
    }
}

float crossEntropyForward(float *probs, const float *logits, const int *targets, int N, int V)
{
    std::vector<double> rowLoss(N);
#pragma omp parallel for schedule(static) if ((long)N * V > kParallelMin)
    for (int r = 0; r < N; ++r) {
        const float *z = logits + (long)r * V;
        float *p = probs + (long)r * V;
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
        rowLoss[r] = static_cast<double>(std::log(sum)) + mx - z[targets[r]];
    }
    double total = 0.0;
    for (double l : rowLoss)
        total += l;
    return static_cast<float>(total / N);
}

void crossEntropyBackward(float *dlogits, const float *probs, const int *targets, int N, int V, float scale)
{
#pragma omp parallel for schedule(static) if ((long)N * V > kParallelMin)
    for (int r = 0; r < N; ++r) {
        const float *p = probs + (long)r * V;
        float *d = dlogits + (long)r * V;
        for (int i = 0; i < V; ++i)
            d[i] += (p[i] - (i == targets[r] ? 1.0f : 0.0f)) * scale;
    }
}

long countCorrect(const float *probs, const int *targets, int N, int V)
{
    long correct = 0;
    for (int r = 0; r < N; ++r) {
        const float *p = probs + (long)r * V;
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
