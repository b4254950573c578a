// Plain STE with a hard threshold (algorithms.md §2.3): W̃ = W ⊙ m(W) with the top-N-of-M
// mask recomputed every step; the gradient passes straight through to every weight,
// pruned ones included: ∂L/∂W = G.
#include "recipes/recipe.h"

namespace nm {

namespace {
class SteRecipe final : public Recipe {
  public:
    using Recipe::Recipe;
    void forward(SparseLayerState &s, long, float *out) override { hardForward(s, s.targetN, s.targetM, out); }
};
} // namespace

std::unique_ptr<Recipe> makeSteRecipe(const RunConfig &c)
{
    return std::make_unique<SteRecipe>(c);
}

} // namespace nm
