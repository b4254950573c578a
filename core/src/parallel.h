#pragma once
// When a loop is worth an OpenMP team: below these many elements the fork costs more than the
// loop. Changing them changes how some reductions split their sums (so their rounding), never
// what is computed; results stay bit-identical for a given thread count.
namespace nm {

// Per-weight passes of the sparsifier, the recipes and the optimisers (one cheap operation
// per element, over a whole weight matrix).
inline constexpr long kWeightParallelMin = 65536;
// The model's kernels and the N:M operations (more work per element).
inline constexpr long kKernelParallelMin = 1 << 14;

} // namespace nm
