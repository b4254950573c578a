// Dense baseline (algorithms.md §2.1): W̃ = W, ∂L/∂W = G. The mask it *would* have, m(W) at
// the configured N:M, is still computed every step so the dense run has "virtual" flip
// rates to compare with (S-STE Fig. 4(d) plots the same curve).
#include "recipes/recipe.h"

namespace nm {

namespace {
class DenseRecipe final : public Recipe {
  public:
    using Recipe::Recipe;
    void forward(SparseLayerState &s, long, float *out) override { denseForward(s, out); }
};
} // namespace

std::unique_ptr<Recipe> makeDenseRecipe(const RunConfig &c)
{
    return std::make_unique<DenseRecipe>(c);
}

} // namespace nm
