// ASP-style fixed mask (NVIDIA apex ASP; algorithms.md §2.2). Trains dense for the first
// asp_prune_at of training (ASP's "train dense → prune → retrain" in one run; 0 prunes the
// initial weights), then computes the top-N-of-M mask once and keeps it: W̃ = W ⊙ m,
// the gradient is masked (pruned weights get none: this is not an STE) and the weights are
// re-masked after every optimiser step, as ASP's patched optimizer.step does.
#include "recipes/recipe.h"

#include <cmath>

namespace nm {

namespace {
class AspRecipe final : public Recipe {
  public:
    AspRecipe(const RunConfig &c, long total)
        : Recipe(c), m_pruneStep(static_cast<long>(std::llround(c.aspPruneAt * static_cast<double>(total))))
    {
    }

    bool persistentMask() const override { return true; }

    void forward(SparseLayerState &s, long t, float *out) override
    {
        if (t < m_pruneStep) {
            denseForward(s, out);
            return;
        }
        if (s.n == 0) { // the one-shot prune (also when a fork starts past the prune step)
            hardForward(s, s.targetN, s.targetM, out);
            return;
        }
        nmops::applyMask(out, s.layer->weight, s.mask.data(), s.size);
    }

    void gradient(SparseLayerState &s, long t) override
    {
        if (t >= m_pruneStep)
            nmops::applyMask(s.layer->dweight, s.layer->dweight, s.mask.data(), s.size);
    }

    void afterUpdate(SparseLayerState &s, long t) override
    {
        if (t >= m_pruneStep)
            nmops::applyMask(s.layer->weight, s.layer->weight, s.mask.data(), s.size);
    }

  private:
    long m_pruneStep;
};
} // namespace

std::unique_ptr<Recipe> makeAspRecipe(const RunConfig &c, long totalSteps)
{
    return std::make_unique<AspRecipe>(c, totalSteps);
}

} // namespace nm
