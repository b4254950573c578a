#pragma once
// The run-file layout shared by the writer and the reader (README "Run-file format").
#include "nmcore/metrics.h"
#include "nmcore/sparsity.h"
#include "nmcore/trainer.h"

#include <hdf5.h>

namespace nm::schema {

constexpr const char *kRunsGroup = "runs";
constexpr size_t kStatusBytes = 16; // fixed-length status string, NUL-terminated

using Kind = ValueKind;
hid_t fileType(Kind k);
hid_t memType(Kind k);
size_t byteSize(Kind k);

// One column of a series group; `get` reads it from the observer's value struct.
template <typename Source> using Field = MetricField<Source>;

// train/: one row per step.
extern const Field<StepMetrics> kTrainFields[7];
// val/ and test/: one row per evaluation of that split.
extern const Field<EvalMetrics> kEvalFields[3];
// continuity/ and layer_stats/: the core's metric tables (nmcore/metrics.h).
inline const auto &kContinuityFields = kContinuityMetrics;
inline const auto &kLayerFields = kLayerMetrics;

// "runs/003_ste_s1" for run 3 named "ste_s1" (characters other than [A-Za-z0-9_.-] become _).
std::string runGroupName(int index, const std::string &name);
// Group name of a layer under snapshots/ ('/' is not allowed in HDF5 names).
std::string layerGroupName(const std::string &layer);

} // namespace nm::schema
