// MDGF, mask decay (Bambhaniya et al., PGF; algorithms.md §2.6).
// Forward: W̃ = W ⊙ (m + α(t)(1−m)) with the hard mask m recomputed every step and
// α linear max(1 − κt, 0) or exponential exp(−κt), t counted from the start of the sparse
// span (the PGF code's "/100" clock bug is not copied). κ = mdgf_kappa, or derived so that α
// reaches ~0 at mdgf_fraction of the span (a 5k-step run with the repo's κ = 1e-4 would never
// decay). Gradient: identity (official PGF code, mdgf_grad = identity) or scaled by
// (m + α(1−m)) (praxis / autodiff of the forward, mdgf_grad = scaled).
// Phases: dense for the first pgf_dense of training, hard-mask STE at the target N:M for the
// last pgf_finetune.
#include "recipes/recipe.h"

namespace nm {

namespace {
class MdgfRecipe final : public Recipe {
  public:
    MdgfRecipe(const RunConfig &c, RecipeKind kind, long total)
        : Recipe(c), m_kind(kind), m_phases(pgfPhases(total, c.pgfDense, c.pgfFinetune)),
          m_kappa(c.mdgfKappa > 0 ? c.mdgfKappa
                                  : mdgfKappa(kind, c.mdgfFraction, m_phases.finetuneStart - m_phases.denseEnd)),
          m_scaled(c.mdgfGrad == MdgfGrad::Scaled)
    {
    }

    void forward(SparseLayerState &s, long t, float *out) override
    {
        if (t < m_phases.denseEnd) {
            denseForward(s, out);
            return;
        }
        hardForward(s, s.targetN, s.targetM, out);
        if (t >= m_phases.finetuneStart)
            return;
        s.alpha = static_cast<float>(mdgfAlpha(m_kind, m_kappa, t - m_phases.denseEnd));
        const float a = s.alpha;
        const float *w = s.layer->weight;
        const uint8_t *mk = s.mask.data();
#pragma omp parallel for simd schedule(static) if (s.size > kWeightParallelMin)
        for (long i = 0; i < s.size; ++i)
            out[i] = mk[i] ? w[i] : a * w[i];
    }

    void gradient(SparseLayerState &s, long t) override
    {
        if (!m_scaled || t < m_phases.denseEnd || t >= m_phases.finetuneStart)
            return;
        const float a = s.alpha;
        float *g = s.layer->dweight;
        const uint8_t *mk = s.mask.data();
#pragma omp parallel for simd schedule(static) if (s.size > kWeightParallelMin)
        for (long i = 0; i < s.size; ++i)
            g[i] = mk[i] ? g[i] : a * g[i];
    }

  private:
    RecipeKind m_kind;
    PgfPhases m_phases;
    double m_kappa;
    bool m_scaled;
};
} // namespace

std::unique_ptr<Recipe> makeMdgfRecipe(const RunConfig &c, RecipeKind kind, long totalSteps)
{
    return std::make_unique<MdgfRecipe>(c, kind, totalSteps);
}

} // namespace nm
