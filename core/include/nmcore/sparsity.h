#pragma once
// N:M sparse training: the recipes, their schedules and the per-layer diagnostics
// (algorithms.md §2–§3). The Sparsifier sits between the trainer and the model's Linear
// layers; it owns, per sparse layer, the mask m, the forward weight W̃ and the recipe state,
// and calls the recipe at four points of a step (see Recipe below).
//
// Conventions (also in the README):
// - A group is M consecutive weights along the input dimension of a [out, in] weight.
// - Mask ties: equal magnitudes → the lower index is kept (nmops::nmMask).
// - Flip rate r_t: fraction of the layer's mask bits that differ between the mask used by
//   the forward of step t and the one used by step t+1; every changed bit counts (a swap
//   inside a group counts 2). The mask is the hard top-N mask of W for every recipe except
//   T-SR-STE (its transposable mask, which only changes at refreshes) and ASP (the fixed
//   mask once pruned); dense runs and dense phases report the "virtual" mask m(W) at the
//   configured N:M.
// - Flip count per weight: for every mask bit, how many of these changes it took part in
//   since step 0 (uint16, saturating at 65535); the per-layer flips of a step are the sum of
//   its increments. Kept in the same pass, so also with diagnostics off.
// - Gradient statistics use the gradient for W before clipping and without SR-STE's
//   regulariser term, i.e. ∂L/∂W as the recipe passes it to the optimiser (G for the
//   STE family, (m+α(1−m))⊙G for MDGF with scaled gradients, m⊙G for ASP). The SR-STE term
//   is reported separately as decayNorm = ‖λ(1−m)⊙W‖.
#include "nmcore/config.h"
#include "nmcore/model.h"
#include "nmcore/nm_gemm.h"

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace nm {

enum class RecipeKind {
    Dense,
    Ste,
    SrSte,
    SSte,
    MdgfLinear,
    MdgfExp,
    SdgfStepwise,
    SdgfGeometric,
    TSrSteDf,
    Asp,
};
const char *toString(RecipeKind kind);           // the --recipe spelling, e.g. "srste"
RecipeKind parseRecipe(const std::string &name); // throws ConfigError listing the choices
const std::vector<std::string> &recipeNames();   // every --recipe spelling, in order
std::string recipeTitle(RecipeKind kind);        // for legends, e.g. "SR-STE"

// Parses "N:M" (1 <= N < M <= 128); throws ConfigError naming `key`.
void parseNm(const std::string &text, int &n, int &m, const std::string &key = "nm");

// ---- Schedules: pure functions of the step and the run length ---------------------------

// The PGF phases (algorithms.md §2.6): dense for the first `denseFraction` of the steps,
// hard-mask fine-tune for the last `finetuneFraction`, the recipe's sparse span between.
struct PgfPhases {
    long denseEnd = 0;      // first sparse step
    long finetuneStart = 0; // first fine-tune step (== total when there is none)
};
PgfPhases pgfPhases(long totalSteps, double denseFraction, double finetuneFraction);

// MDGF α(t) for t steps into the sparse span: linear max(1 − κt, 0), exponential exp(−κt).
double mdgfAlpha(RecipeKind kind, double kappa, long t);
// κ such that α reaches ~0 at `fraction` of a sparse span of `span` steps: linear 1/(f·span)
// (exactly 0), exponential 5/(f·span) (α = e⁻⁵ ≈ 0.7 %).
double mdgfKappa(RecipeKind kind, double fraction, long span);

// SDGF frames: the sparse span is split into equal frames, frame i starts at
// denseEnd + floor(i·span/frames). Stepwise: (M−1):M, then M/2^i : M down to N:M
// (1:8 → 7:8, 4:8, 2:8, 1:8). Geometric: 4 frames (N·2^(3−i)) : (M·2^(3−i))
// (1:8 → 8:64, 4:32, 2:16, 1:8).
struct NmFrame {
    long start = 0; // first step of the frame
    int n = 0, m = 0;
};
std::vector<NmFrame> sdgfFrames(RecipeKind kind, int n, int m, const PgfPhases &phases, long totalSteps);

// ---- Diagnostics -----------------------------------------------------------------------

struct SparseLayerInfo {
    std::string name;
    int in = 0, out = 0;
    bool sparse = false;      // false: kept dense (not selected, or indivisible and allowed)
    int n = 0, m = 0;         // the configured (final) N:M
    long denseParams = 0;     // weights + biases
    long effectiveParams = 0; // nonzero forward weights + biases at the final N:M
    // The GEMMs of its N:M steps (--sparse-gemm): for each N:M pattern of the recipe, whether
    // the forward and the backward-data product run sparse, their plans and measured speedups,
    // as the run file's record (spgemm::toRecord; spgemm::describe says it in words). Empty:
    // dense GEMMs throughout (a dense layer or recipe, --sparse-gemm off, FP8, an older file).
    std::string gemm = {};
};

// One row per sparse layer per step. NaN marks "not measured at this step".
struct LayerStats {
    long flips = 0;          // changed mask bits (see the convention above)
    float flipRate = 0;      // flips / (in·out)
    float sad = NAN;         // ‖m_t ⊕ m_{t−K}‖₁ / D every K = sad_every steps
    float oscillation = NAN; // Σ per-step flips over the same window / ‖m_t ⊕ m_{t−K}‖₁ (≥ 1; inf if net 0)
    float gradNorm = 0;      // ‖G‖₂
    float gradNormKept = 0;  // ‖m⊙G‖₂
    float gradNormPruned = 0; // ‖(1−m)⊙G‖₂
    float prunedShare = 0;    // gradNormPruned / gradNorm
    float gradStdKept = 0;    // element std of G over kept positions
    float gradStdPruned = 0;  // … over pruned positions
    float gradNoise = NAN;    // coefficient of variation of ‖G‖ over the last noise_window steps
    float gradNoiseKept = NAN;
    float gradNoisePruned = NAN;
    float deltaForward = 0; // ‖W̃_{t+1} − W̃_t‖₂
    float decayNorm = 0;    // ‖λ(1−m)⊙W‖₂ (SR-STE family), else 0
    float alpha = 1;        // factor on pruned weights in W̃: MDGF α; 1 dense; 0 hard mask
    int n = 0, m = 0;       // N:M of the mask used in this step (SDGF frames; M = 0 in a dense phase)
    float lambda = 0;       // SR-STE λ in effect
    float beta = 1;         // S-STE β (1 otherwise)
    float sparsity = 0;     // fraction of zeros in the W̃ this step's forward used
};

// S-STE continuity (algorithms.md §3.4) on the step's own batch, every continuity_every steps.
struct ContinuityMetrics {
    float lossBefore = 0;      // F(S(W_t))
    float dF1 = 0;             // F(S(W_{t+1})) − F(S(W_t))          (weights and masks move)
    float dF2 = 0;             // F(S_frozen(W_{t+1})) − F(S(W_t))   (mask frozen at m(W_t))
    float aodActual = 0;       // F(S(W_t)) − F(S(W_{t+1}))
    float aodPredicted = 0;    // −⟨∇_{W̃}F, S(W_{t+1}) − S(W_t)⟩ over every parameter
    float aodPredictedSte = 0; // −⟨G, W_{t+1} − W_t⟩: the straight-through prediction (G = ∇_{W̃}F taken for W)
    long flips = 0;            // mask bits changed by the step (all sparse layers)
};

// A sparse layer's state at one step (run files, the layer inspector).
struct LayerSnapshot {
    std::string name;
    int rows = 0, cols = 0;     // out, in
    std::vector<float> weight;  // W
    std::vector<float> forward; // W̃
    std::vector<uint8_t> mask;  // 0/1 per weight
    // Per weight: changes of its mask bit since step 0 (saturating; see the convention above).
    // Empty when unknown (run files written before the counts were recorded).
    std::vector<uint16_t> flipCount;
    float beta = 1, alpha = 1;
    int n = 0, m = 0;
};
struct Snapshot {
    long step = 0;
    std::vector<LayerSnapshot> layers;
};

// What a sparse layer carries from one step to the next besides W: with the parameters and the
// optimiser state it lets a continued run take exactly the steps the original would have
// (Trainer::checkpoint). Captured between steps, after the update of step `step`.
struct SparseLayerCheckpoint {
    std::string name;
    int rows = 0, cols = 0;                       // out, in
    std::vector<float> forward;                   // W̃ for the next step
    std::vector<uint8_t> mask, prevMask, sadMask; // 0/1 per weight: next step's, this step's, at the last SAD
    std::vector<uint16_t> flipCount;              // per weight, since step 0; empty: restore starts at 0
    float beta = 1, alpha = 1;                    // of the next step's forward
    int n = 0, m = 0;
    // The step just taken (the frozen forward of continuity measures uses them).
    int lastN = 0, lastM = 0;
    float lastAlpha = 1, lastBeta = 1;
    float sparsity = 0; // of `forward`
    long flipsSinceSad = 0, maskStep = -1;
    std::array<uint64_t, 6> rng{};                               // MVUE / FP8 stochastic rounding stream
    std::vector<double> normHistory, keptHistory, prunedHistory; // the gradient-noise windows
    std::string gemm; // the GEMM paths and plans (SparseLayerInfo::gemm); empty: time them anew
};

// ---- The recipes -----------------------------------------------------------------------

class Recipe;
struct SparseLayerState;

// Settings the trainer may change between steps (the GUI's live settings).
struct SparsityLive {
    double lambda = 2e-4;
};

class Sparsifier {
  public:
    // Selects the sparse layers (config.sparseLayers), checks divisibility for every N:M
    // the recipe will use, computes the initial masks and W̃ and points each layer's
    // forwardWeight at it. Throws ConfigError naming the layer.
    // startStep > 0 continues a run (fork): masks and W̃ are computed for that step from the
    // current weights (S-STE's β from them too).
    Sparsifier(Model &model, const RunConfig &config, long startStep = 0);
    ~Sparsifier();
    Sparsifier(const Sparsifier &) = delete;
    Sparsifier &operator=(const Sparsifier &) = delete;

    RecipeKind kind() const { return m_kind; }
    const std::vector<SparseLayerInfo> &layerInfo() const { return m_info; }
    int sparseLayerCount() const { return static_cast<int>(m_layers.size()); }

    // The step protocol (t = steps completed before this one).
    void beforeForward(long t);          // W̃ for step t (prepared after the last update)
    void afterBackward(long t);          // dweight := gradient for W; gradient statistics
    void afterClip(long t);              // coupled SR-STE term
    void afterUpdate(long t, double lr); // decoupled terms, re-masking; prepares W̃ for t+1
    const std::vector<LayerStats> &stats() const { return m_stats; }

    // Forward weights with the mask frozen at the current step's mask (continuity ΔF₂):
    // swaps every sparse layer's forwardWeight; restoreForward() undoes it.
    void useFrozenForward();
    void restoreForward();
    long lastFlips() const;
    // The density of W̃ in the step just taken, for each of the model's Linear layers (model
    // order): N/M where its mask was N:M (α = 0), 1 for dense layers and dense forwards.
    std::vector<double> linearDensities() const;

    Snapshot snapshot(long step) const;
    // The per-layer state between steps, and its restoration into a Sparsifier built for the
    // same recipe, N:M and layers (throws ConfigError naming the first layer that differs).
    std::vector<SparseLayerCheckpoint> checkpoint() const;
    void restore(const std::vector<SparseLayerCheckpoint> &layers);
    void setLive(const SparsityLive &live) { m_live = live; }
    const SparsityLive &live() const { return m_live; }

  private:
    void prepare(long t, bool first);
    // The state of sparse layer `l` at target n:m (masks, W̃ buffers, the GEMM paths of `patterns`).
    std::unique_ptr<SparseLayerState> makeLayerState(LinearLayer &l, int n, int m,
                                                     const std::vector<std::pair<int, int>> &patterns);
    void updateGemm(SparseLayerState &s); // the compressed W̃ of the step (or none)
    spgemm::Choice tuneGemm(const SparseLayerState &s, int n, int m, const float *wTilde);
    const spgemm::Choice &gemmChoice(SparseLayerState &s, int n, int m);
    void restoreGemm(SparseLayerState &s, const std::string &record);
    std::vector<float> &frozenBuffer(size_t i);

    Model &m_model;
    RunConfig m_config;
    RecipeKind m_kind;
    SparsityLive m_live;
    std::unique_ptr<Recipe> m_recipe;
    std::vector<std::unique_ptr<SparseLayerState>> m_layers;
    std::vector<SparseLayerInfo> m_info;
    std::vector<LayerStats> m_stats;
    std::vector<std::vector<float>> m_frozen;
};

} // namespace nm
