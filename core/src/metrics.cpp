#include "nmcore/metrics.h"

namespace nm {

namespace {
using K = ValueKind;
using A = Aggregation;
} // namespace

const MetricField<ContinuityMetrics> kContinuityMetrics[kContinuityMetricCount] = {
    {"loss_before", K::F32, [](const ContinuityMetrics &c) -> double { return c.lossBefore; }},
    {"dF1", K::F32, [](const ContinuityMetrics &c) -> double { return c.dF1; }},
    {"dF2", K::F32, [](const ContinuityMetrics &c) -> double { return c.dF2; }},
    {"aod_actual", K::F32, [](const ContinuityMetrics &c) -> double { return c.aodActual; }},
    {"aod_predicted", K::F32, [](const ContinuityMetrics &c) -> double { return c.aodPredicted; }},
    {"aod_predicted_ste", K::F32, [](const ContinuityMetrics &c) -> double { return c.aodPredictedSte; }},
    {"flips", K::I64, [](const ContinuityMetrics &c) -> double { return static_cast<double>(c.flips); }},
};

const MetricField<LayerStats> kLayerMetrics[kLayerMetricCount] = {
    {"flip_rate", K::F32, [](const LayerStats &s) -> double { return s.flipRate; }, A::Mean},
    {"flips", K::I64, [](const LayerStats &s) -> double { return static_cast<double>(s.flips); }, A::Sum},
    {"sad", K::F32, [](const LayerStats &s) -> double { return s.sad; }, A::Last},
    {"oscillation", K::F32, [](const LayerStats &s) -> double { return s.oscillation; }, A::Last},
    {"grad_norm", K::F32, [](const LayerStats &s) -> double { return s.gradNorm; }, A::Mean},
    {"grad_norm_kept", K::F32, [](const LayerStats &s) -> double { return s.gradNormKept; }, A::Mean},
    {"grad_norm_pruned", K::F32, [](const LayerStats &s) -> double { return s.gradNormPruned; }, A::Mean},
    {"pruned_share", K::F32, [](const LayerStats &s) -> double { return s.prunedShare; }, A::Mean},
    {"grad_std_kept", K::F32, [](const LayerStats &s) -> double { return s.gradStdKept; }, A::Mean},
    {"grad_std_pruned", K::F32, [](const LayerStats &s) -> double { return s.gradStdPruned; }, A::Mean},
    {"grad_noise", K::F32, [](const LayerStats &s) -> double { return s.gradNoise; }, A::Last},
    {"grad_noise_kept", K::F32, [](const LayerStats &s) -> double { return s.gradNoiseKept; }, A::Last},
    {"grad_noise_pruned", K::F32, [](const LayerStats &s) -> double { return s.gradNoisePruned; }, A::Last},
    {"delta_forward", K::F32, [](const LayerStats &s) -> double { return s.deltaForward; }, A::Mean},
    {"decay_norm", K::F32, [](const LayerStats &s) -> double { return s.decayNorm; }, A::Mean},
    {"alpha", K::F32, [](const LayerStats &s) -> double { return s.alpha; }, A::Last},
    {"n", K::I32, [](const LayerStats &s) -> double { return s.n; }, A::Last},
    {"m", K::I32, [](const LayerStats &s) -> double { return s.m; }, A::Last},
    {"lambda", K::F32, [](const LayerStats &s) -> double { return s.lambda; }, A::Last},
    {"beta", K::F32, [](const LayerStats &s) -> double { return s.beta; }, A::Last},
    {"sparsity", K::F32, [](const LayerStats &s) -> double { return s.sparsity; }, A::Last},
};

} // namespace nm
