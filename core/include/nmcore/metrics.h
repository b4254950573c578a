#pragma once
// The recorded quantities of a step, one table each: the run-file writer and reader, the GUI's
// charts and the README's run-file format all go by these names, in this order.
#include "nmcore/sparsity.h"

#include <cstddef>

namespace nm {

// How a run file stores a value.
enum class ValueKind { F32, F64, I32, I64 };
// How one chart point that stands for several steps combines them.
enum class Aggregation { Mean, Sum, Last };

template <typename Source> struct MetricField {
    const char *name; // dataset name in the run file (and chart column)
    ValueKind kind;
    double (*get)(const Source &);
    Aggregation aggregation = Aggregation::Mean;
};

// layer_stats/: one row per step, one column per sparse layer (LayerStats).
inline constexpr size_t kLayerMetricCount = 21;
extern const MetricField<LayerStats> kLayerMetrics[kLayerMetricCount];
// continuity/: one row per measured step.
inline constexpr size_t kContinuityMetricCount = 7;
extern const MetricField<ContinuityMetrics> kContinuityMetrics[kContinuityMetricCount];

} // namespace nm
