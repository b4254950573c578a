// SR-STE (Zhou et al., ICLR 2021; algorithms.md §2.4). Forward as STE; the gradient for W is
// g = G + λ(1−m)⊙W with m the mask of this step's forward. λ = 2e-4 (the official code's
// default). The term is added once per optimiser step after clipping, as the ICML-24 code
// does; the official code adds it inside backward (k times under gradient accumulation,
// before clipping). srste_decay = coupled (default, the official code: the term goes through
// momentum / Adam's moments) or decoupled (W ← W − lr·λ(1−m)⊙W after the step). The
// Sparsifier applies the term for every recipe whose lambda() is nonzero.
#include "recipes/recipe.h"

namespace nm {

namespace {
class SrSteRecipe final : public Recipe {
  public:
    using Recipe::Recipe;
    void forward(SparseLayerState &s, long, float *out) override { hardForward(s, s.targetN, s.targetM, out); }
    double lambda(long, double live) const override { return live; }
};
} // namespace

std::unique_ptr<Recipe> makeSrSteRecipe(const RunConfig &c)
{
    return std::make_unique<SrSteRecipe>(c);
}

} // namespace nm
