#pragma once
// N:M structured-sparsity primitives, llm.c style: free functions, outputs first, then
// inputs, then sizes. A weight is row-major [rows, cols] = [out, in]; a group is M
// consecutive elements inside one row (along the input / reduction dimension), so
// cols % M == 0 is required (algorithms.md §1.1). Argument errors throw nm::ConfigError
// at the function boundary; nothing throws inside the OpenMP regions. Results do not
// depend on the OpenMP thread count.
#include "nmcore/rng.h"

#include <cstdint>

namespace nm::nmops {

// Hard top-N mask (algorithms.md §1.2). mask (rows, cols) = 1 for the n largest |w| of
// each group of m, 0 elsewhere; exactly n ones per group, always.
// Tie rule: among equal magnitudes the LOWER index (inside the group) wins, i.e. element
// i outranks j iff |w_i| > |w_j| or (|w_i| == |w_j| and i < j). An all-zero 2:4 group
// keeps elements 0 and 1. NaN magnitudes rank as +inf (they are kept, so they stay visible).
// Requires 1 <= n < m <= 128 and cols % m == 0.
void nmMask(uint8_t *mask, const float *w, long rows, int cols, int n, int m);

// nmMask and applyMask in one pass: mask as nmMask, out = w ⊙ mask (out must not alias w).
void nmMaskApply(uint8_t *mask, float *out, const float *w, long rows, int cols, int n, int m);

// out (count) = w ⊙ mask. out may alias w.
void applyMask(float *out, const float *w, const uint8_t *mask, long count);

// S-STE soft threshold, general N:M (algorithms.md §2.5). Per group a of m:
// t = (m−n)-th smallest |a| (1-indexed; the largest pruned magnitude),
// out_i = sign(a_i)·max(|a_i| − t, 0). Continuous in w; at most n nonzeros per group
// (fewer when magnitudes tie at the threshold). out may alias w.
// Requires 1 <= n < m <= 128 and cols % m == 0.
void softThreshold(float *out, const float *w, long rows, int cols, int n, int m);

// S-STE per-tensor scale β = <w,s>/<s,s> (minimises ‖w − β·s‖²), accumulated in double in a
// fixed order. Returns 1 when <s,s> == 0.
double ssteBeta(const float *w, const float *s, long count);

// Unbiased approximate-MVUE 2:4 of a gradient (algorithms.md §4.2, "MVUE 2:4, approximate",
// the scheme of 2by4-pretrain utils.py::_MVUE24_approx). Per group of 4 consecutive
// elements x of a row, with a_j = |x_j| + 1.19209e-7 and S = Σ a_j:
//   draw i with P = a_i/S, then j ≠ i with P = a_j/(S − a_i)  (sampling without replacement);
//   p_k = a_k/S + a_k·Σ_{l≠k} (a_l/S)/(S − a_l)                (inclusion probability, Σ p_k = 2);
//   out_k = x_k/p_k at the two drawn positions, 0 elsewhere    (Horvitz–Thompson: E[out] = x).
// Exactly two positions per group are kept (a kept x_k == 0 stays 0). For dW = MVUE(dZᵀ)·X the
// caller passes dZᵀ [out, T], so groups run along tokens. One 64-bit seed is drawn from rng
// per call; each row then uses its own Rng seeded from (seed, row), so the result is
// independent of the thread count. Requires cols % 4 == 0. out must not alias g.
void mvue24(float *out, const float *g, long rows, int cols, Rng &rng);

// FP8 simulation (algorithms.md §4.3). Round to nearest, ties to even, onto the format's grid,
// subnormals included; finite values beyond the largest finite value (and ±inf) saturate to
// ±max; NaN stays NaN.
//   E4M3 (float8_e4m3fn): 3 mantissa bits, min normal 2⁻⁶, subnormal step 2⁻⁹, max 448.
//   E5M2:                 2 mantissa bits, min normal 2⁻¹⁴, subnormal step 2⁻¹⁶, max 57344.
enum class Fp8Format { E4M3, E5M2 };
float toE4M3(float x);
float toE5M2(float x);
float toFp8(float x, Fp8Format fmt);
float fp8Max(Fp8Format fmt); // 448 or 57344

// Per-tensor just-in-time scaling, margin 0: s = FP8_MAX / amax(|x|) (NaNs ignored; s = 1 when
// amax is 0 or not finite). out (count) = cast_fp8(x·s), i.e. in the *scaled* domain; returns s.
// A simulated GEMM is (A_q B_q) / (s_A s_B). out may alias x.
float quantizeFp8(float *out, const float *x, long count, Fp8Format fmt);
// Same, but out = cast_fp8(x·s) / s (back in x's units); returns s.
float fakeQuantizeFp8(float *out, const float *x, long count, Fp8Format fmt);

// Number of positions where two masks differ (a[i] != b[i]).
long countFlips(const uint8_t *a, const uint8_t *b, long count);

} // namespace nm::nmops
