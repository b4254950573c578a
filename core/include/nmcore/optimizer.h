#pragma once
// Optimisers over a model's flat parameter buffer, the learning-rate schedule and global
// gradient-norm clipping. Conventions follow PyTorch so results can be checked against it:
//  - SGD: g ← ∇ + wd·w (L2, on tensors with decay); b ← μ·b + g; step = Nesterov ? g + μ·b : b;
//    w ← w − lr·step.
//  - AdamW: w ← w·(1 − lr·wd) (decoupled, tensors with decay); m, v EMAs with bias
//    correction; w ← w − lr·m̂/(√v̂ + ε).
#include "nmcore/model.h"

#include <memory>
#include <span>
#include <vector>

namespace nm {

struct OptimizerSettings {
    double momentum = 0.9;
    bool nesterov = false;
    double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
    double weightDecay = 0.0;
};

class Optimizer {
  public:
    virtual ~Optimizer() = default;
    // One update with learning rate lr; `step` counts from 1 (AdamW bias correction).
    virtual void update(std::span<float> params, std::span<const float> grads, const std::vector<ParamTensor> &tensors,
                        float lr, long step) = 0;
    // The moment buffers, flat (forking a run continues with the same optimiser state).
    virtual std::vector<float> saveState() const = 0;
    virtual void loadState(const std::vector<float> &state) = 0;
};

std::unique_ptr<Optimizer> makeSgd(const OptimizerSettings &s, long paramCount);
std::unique_ptr<Optimizer> makeAdamW(const OptimizerSettings &s, long paramCount);

struct LrSchedule {
    double peak = 1e-3;
    double minRatio = 0.0; // final lr = peak · minRatio
    long warmup = 0;
    long total = 1;
    // Step counts from 0. Warm-up: peak·(step+1)/warmup; then cosine from peak to the floor,
    // reaching it at the last step (total − 1).
    double at(long step) const;
};

// Global L2 norm of the gradient (accumulated in double, deterministic for a thread count).
double gradNorm(std::span<const float> grads);
// Scales gradients so that their global norm is at most maxNorm; returns the norm before
// clipping. maxNorm ≤ 0 only measures.
double clipGradNorm(std::span<float> grads, double maxNorm);

} // namespace nm
