#pragma once
// The recipe strategy (design.md): one small class per recipe, one file each. A recipe
// computes the mask and the forward weight W̃ for a step, may transform the weight
// gradient, and may act after the optimiser. The SR-STE decay term (coupled or decoupled)
// is applied by the Sparsifier for every recipe whose lambda() is nonzero.
#include "nmcore/model.h"
#include "nmcore/nm_gemm.h"
#include "nmcore/nm_ops.h"
#include "nmcore/sparsity.h"
#include "parallel.h"

#include <deque>
#include <memory>
#include <utility>
#include <vector>

namespace nm {

struct SparseLayerState {
    LinearLayer *layer = nullptr;
    int index = 0;
    long size = 0; // out · in
    int targetN = 2, targetM = 4;
    // The mask used by the forward of the current step, and the one of the step before.
    std::vector<uint8_t> mask, prevMask, sadMask;
    std::vector<uint16_t> flipCount; // changes of each mask bit since step 0 (saturating)
    std::vector<float> wf, wfNext, scratch;
    float beta = 1, alpha = 1;
    float sparsity = 0; // fraction of zeros in wf (measured with diagnostics, and at the start)
    int n = 0, m = 0;   // N:M of the current forward; 0:0 while dense
    long flipsSinceSad = 0;
    long maskStep = -1; // step of the last mask refresh (recipes that refresh periodically)
    std::deque<double> normHist, keptHist, prunedHist;
    LinearVariant variant;
    // Compressed N:M GEMMs: the paths and plans of every N:M pattern the recipe uses (timed
    // at the start, or taken from the run being resumed), the compressed W̃ of the step, and
    // the rows of a training batch the plans are for.
    std::vector<spgemm::Choice> gemmChoices;
    spgemm::SparseWeight gemm;
    int gemmRows = 0;
};

class Recipe {
  public:
    explicit Recipe(const RunConfig &config) : m_config(config) {}
    virtual ~Recipe() = default;

    // Every N:M the recipe may use for a target n:m (the divisibility check covers them all).
    virtual std::vector<std::pair<int, int>> patterns(int n, int m) const { return {{n, m}}; }
    // True when forward() keeps (part of) the previous mask instead of rewriting all of it.
    virtual bool persistentMask() const { return false; }
    // The output size must be a multiple of this (transposable masks: 4).
    virtual int outMultiple() const { return 1; }
    // Once per layer, after the masks' first computation inputs (W) are final.
    virtual void init(SparseLayerState &) {}
    // Sets s.mask, s.n, s.m, s.alpha (and s.beta) for step t and writes W̃ (size s.size) to out.
    virtual void forward(SparseLayerState &s, long t, float *out) = 0;
    // The forward weight of the current W with the mask frozen at s.prevMask (continuity ΔF₂).
    virtual void frozenForward(SparseLayerState &s, long t, float *out);
    // Turns ∂L/∂W̃ (s.layer->dweight) into the gradient for W, in place, before clipping.
    virtual void gradient(SparseLayerState &, long) {}
    // The SR-STE λ in effect at step t (0: no decay term).
    virtual double lambda(long, double) const { return 0.0; }
    // After the optimiser step t (re-masking).
    virtual void afterUpdate(SparseLayerState &, long) {}

  protected:
    RunConfig m_config;
};

// Shared building blocks.
void hardForward(SparseLayerState &s, int n, int m, float *out); // mask = top-n of m; W̃ = W ⊙ mask
void denseForward(SparseLayerState &s, float *out);              // W̃ = W; mask = virtual top-N:M
void copyWeight(const SparseLayerState &s, float *out);

std::unique_ptr<Recipe> makeDenseRecipe(const RunConfig &c);
std::unique_ptr<Recipe> makeSteRecipe(const RunConfig &c);
std::unique_ptr<Recipe> makeSrSteRecipe(const RunConfig &c);
std::unique_ptr<Recipe> makeSSteRecipe(const RunConfig &c);
std::unique_ptr<Recipe> makeMdgfRecipe(const RunConfig &c, RecipeKind kind, long totalSteps);
std::unique_ptr<Recipe> makeSdgfRecipe(const RunConfig &c, RecipeKind kind, long totalSteps);
std::unique_ptr<Recipe> makeTSrSteDfRecipe(const RunConfig &c, long totalSteps);
std::unique_ptr<Recipe> makeAspRecipe(const RunConfig &c, long totalSteps);
// The recipe of a run's configuration (recipe_table.cpp).
std::unique_ptr<Recipe> makeRecipe(const RunConfig &c);

} // namespace nm
