// Building blocks the recipes share.
#include "recipes/recipe.h"

#include <algorithm>

namespace nm {

namespace {
constexpr long kParallelMin = kWeightParallelMin;
} // namespace

void copyWeight(const SparseLayerState &s, float *out)
{
    std::copy_n(s.layer->weight, s.size, out);
}

void hardForward(SparseLayerState &s, int n, int m, float *out)
{
    const LinearLayer &l = *s.layer;
    s.n = n;
    s.m = m;
    s.alpha = 0.0f;
    nmops::nmMaskApply(s.mask.data(), out, l.weight, l.out, l.in, n, m);
}

void denseForward(SparseLayerState &s, float *out)
{
    const LinearLayer &l = *s.layer;
    s.n = s.m = 0;
    s.alpha = 1.0f;
    nmops::nmMask(s.mask.data(), l.weight, l.out, l.in, s.targetN, s.targetM);
    copyWeight(s, out);
}

void Recipe::frozenForward(SparseLayerState &s, long, float *out)
{
    const float a = s.alpha;
    const float *w = s.layer->weight;
    const uint8_t *mk = s.prevMask.data();
#pragma omp parallel for simd schedule(static) if (s.size > kParallelMin)
    for (long i = 0; i < s.size; ++i)
        out[i] = mk[i] ? w[i] : a * w[i];
}

} // namespace nm
