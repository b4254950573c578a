#pragma once
// Internal interface between the ISA-independent driver (nm_gemm.cpp) and the per-ISA kernels
// (nm_gemm_kernels.inc, built three times).
#include "nmcore/nm_gemm.h"

namespace nm::spgemm {

struct MultiplyArgs {
    float *out = nullptr;
    const float *x = nullptr;
    const SparseMatrix *a = nullptr;
    const float *bias = nullptr;
    bool accumulate = false;
    int tile = 4;
};

// Per-thread scratch, 64-byte aligned, grown on demand: slot 0 the panel, slot 1 the tile.
float *scratchFloats(int slot, long n);

#define NM_DECLARE_ISA(ns)                                                                                             \
    namespace ns {                                                                                                     \
    int vectorWidth();                                                                                                 \
    void multiplyTile(const MultiplyArgs &m, int b0, int nb, int r0, int r1);                                          \
    int countRow(const float *row, int cols);                                                                          \
    void transposeDense(float *dst, const float *src, int rows, int cols);                                             \
    void fillRow(const float *row, int cols, int block, int e, int end, int *ptr, uint16_t *col, float *val);          \
    }
NM_DECLARE_ISA(avx512)
NM_DECLARE_ISA(avx2)
NM_DECLARE_ISA(portable)
#undef NM_DECLARE_ISA

} // namespace nm::spgemm
