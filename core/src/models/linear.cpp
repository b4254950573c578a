// Linear layers through their GEMM variant: plain fp32, MVUE 2:4 on the weight-gradient GEMM's
// output gradient, simulated FP8 (algorithms.md §4; the GEMMs accumulate in fp32 like the
// reference's Triton kernels; the bias and its gradient stay in fp32).
#include "nmcore/kernels.h"
#include "nmcore/model.h"
#include "nmcore/nm_gemm.h"
#include "nmcore/nm_ops.h"

#include "parallel.h"

#include <cblas.h>

namespace nm {

namespace {
float *scratch(std::vector<float> &v, long n)
{
    if (static_cast<long>(v.size()) < n)
        v.resize(static_cast<size_t>(n));
    return v.data();
}
// The compressed W̃ when it is current and chosen for this product (FP8 stays dense).
const spgemm::SparseWeight *sparseFor(const LinearLayer &l, bool backward)
{
    const spgemm::SparseWeight *s = l.sparse;
    if (!s || s->source != l.forwardWeight || (l.variant && l.variant->fp8))
        return nullptr;
    return (backward ? s->useBackward : s->useForward) ? s : nullptr;
}
} // namespace

void linearForward(const LinearLayer &l, float *out, const float *inp, int N, bool withBias)
{
    LinearVariant *v = l.variant;
    const float *bias = withBias ? l.bias : nullptr;
    if (const spgemm::SparseWeight *s = sparseFor(l, false)) {
        spgemm::multiply(out, inp, s->w, bias, N, false, s->forward.tile, s->forward.isa);
        return;
    }
    if (!v || !v->fp8) {
        kernels::linearForward(out, inp, l.forwardWeight, bias, N, l.in, l.out);
        return;
    }
    const long nx = static_cast<long>(N) * l.in, nw = static_cast<long>(l.out) * l.in;
    float *xq = scratch(v->a, nx), *wq = scratch(v->b, nw);
    nmops::fakeQuantizeFp8(xq, inp, nx, nmops::Fp8Format::E4M3);
    nmops::fakeQuantizeFp8(wq, l.forwardWeight, nw, nmops::Fp8Format::E4M3);
    kernels::linearForward(out, xq, wq, bias, N, l.in, l.out);
}

void linearBackward(const LinearLayer &l, float *dinp, const float *dout, const float *inp, int N)
{
    LinearVariant *v = l.variant;
    const spgemm::SparseWeight *s = dinp ? sparseFor(l, true) : nullptr;
    if (s) {
        // dX = dY · W̃ through W̃ᵀ compressed; dW and db below as without it.
        spgemm::multiply(dinp, dout, s->wt, nullptr, N, true, s->backward.tile, s->backward.isa);
        dinp = nullptr;
    }
    if (!v || (!v->fp8 && !v->mvue)) {
        kernels::linearBackward(dinp, l.dweight, l.dbias, dout, inp, l.forwardWeight, N, l.in, l.out);
        return;
    }
    const int C = l.in, OC = l.out;
    const long nz = static_cast<long>(N) * OC, nx = static_cast<long>(N) * C, nw = static_cast<long>(OC) * C;
    // Bias gradient from the unquantised, unsparsified dZ.
    kernels::linearBackward(nullptr, nullptr, l.dbias, dout, inp, l.forwardWeight, N, C, OC);
    const nmops::Fp8Format e5 = nmops::Fp8Format::E5M2;

    // dX = dZ · W̃ (no MVUE here: sparsifying this GEMM's operand is the harmful variant).
    const float *dz = dout;
    if (v->fp8) {
        float *dzq = scratch(v->a, nz);
        nmops::fakeQuantizeFp8(dzq, dout, nz, e5);
        dz = dzq;
    }
    if (dinp) {
        const float *w = l.forwardWeight;
        if (v->fp8) {
            float *wq = scratch(v->b, nw);
            nmops::fakeQuantizeFp8(wq, l.forwardWeight, nw, e5);
            w = wq;
        }
        kernels::linearBackward(dinp, nullptr, nullptr, dz, inp, w, N, C, OC);
    }

    // dW = Gᵀ · X with Gᵀ = MVUE(dZᵀ) (groups of 4 tokens per output feature) or dZᵀ.
    const float *x = inp;
    if (v->fp8) {
        float *xq = scratch(v->c, nx);
        nmops::fakeQuantizeFp8(xq, inp, nx, e5);
        x = xq;
    }
    if (!v->mvue) {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1.0f, dz, OC, x, C, 1.0f, l.dweight, C);
        return;
    }
    float *gt = scratch(v->d, 2 * nz), *gs = gt + nz;
#pragma omp parallel for schedule(static) if (nz > kWeightParallelMin)
    for (int o = 0; o < OC; ++o)
        for (int r = 0; r < N; ++r)
            gt[static_cast<long>(o) * N + r] = dout[static_cast<long>(r) * OC + o];
    nmops::mvue24(gs, gt, OC, N, v->rng);
    if (v->fp8)
        nmops::fakeQuantizeFp8(gs, gs, nz, e5);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, OC, C, N, 1.0f, gs, N, x, C, 1.0f, l.dweight, C);
}

} // namespace nm
