// S-STE (Hu, Zhu, Chen, NeurIPS 2024; algorithms.md §2.5).
// Forward: W̃ = β·S_soft(W) with S_soft(a)_i = sign(a_i)·max(|a_i| − t, 0), t the (M−N)-th
// smallest magnitude of the group (correct for every N:M; the legacy torch code's index N−1
// is right only when M = 2N). β = <W,S>/<S,S> per tensor, computed once from the initial
// weights and frozen (reference code: a registered buffer); sste_beta = dynamic recomputes it
// every step (the paper's ablation, which makes β grow). Backward: plain STE, ∂L/∂W = G
// (not multiplied by β, as in the reference code). The mask reported for flip rates is the
// hard top-N mask, whose support S_soft shares up to ties.
#include "recipes/recipe.h"

#include <cmath>

namespace nm {

namespace {
class SSteRecipe final : public Recipe {
  public:
    explicit SSteRecipe(const RunConfig &c) : Recipe(c), m_dynamic(c.ssteBeta == SsteBeta::Dynamic) {}

    void init(SparseLayerState &s) override
    {
        s.scratch.resize(static_cast<size_t>(s.size));
        const LinearLayer &l = *s.layer;
        nmops::softThreshold(s.scratch.data(), l.weight, l.out, l.in, s.targetN, s.targetM);
        s.beta = static_cast<float>(nmops::ssteBeta(l.weight, s.scratch.data(), s.size));
    }

    void forward(SparseLayerState &s, long, float *out) override
    {
        const LinearLayer &l = *s.layer;
        s.n = s.targetN;
        s.m = s.targetM;
        s.alpha = 0.0f;
        nmops::nmMask(s.mask.data(), l.weight, l.out, l.in, s.n, s.m);
        nmops::softThreshold(out, l.weight, l.out, l.in, s.n, s.m);
        if (m_dynamic)
            s.beta = static_cast<float>(nmops::ssteBeta(l.weight, out, s.size));
        scale(out, s.size, s.beta);
    }

    // Support frozen at the previous mask: per group the threshold is the largest magnitude
    // outside that support, so the frozen function is S_soft with the old support.
    void frozenForward(SparseLayerState &s, long, float *out) override
    {
        const LinearLayer &l = *s.layer;
        const int m = s.m;
        const long groups = s.size / m;
        const float beta = s.beta;
#pragma omp parallel for schedule(static) if (s.size > kWeightParallelMin)
        for (long g = 0; g < groups; ++g) {
            const float *w = l.weight + g * m;
            const uint8_t *mk = s.prevMask.data() + g * m;
            float t = 0.0f;
            for (int i = 0; i < m; ++i)
                if (!mk[i])
                    t = std::fabs(w[i]) > t ? std::fabs(w[i]) : t;
            for (int i = 0; i < m; ++i) {
                const float a = std::fabs(w[i]) - t;
                out[g * m + i] = mk[i] && a > 0.0f ? beta * std::copysign(a, w[i]) : 0.0f;
            }
        }
    }

  private:
    static void scale(float *x, long n, float b)
    {
#pragma omp parallel for simd schedule(static) if (n > kWeightParallelMin)
        for (long i = 0; i < n; ++i)
            x[i] *= b;
    }
    bool m_dynamic;
};
} // namespace

std::unique_ptr<Recipe> makeSSteRecipe(const RunConfig &c)
{
    return std::make_unique<SSteRecipe>(c);
}

} // namespace nm
