// The avx2 build of the compressed N:M GEMM kernels (target flags in core/CMakeLists.txt).
#define NM_ISA_NS avx2
#include "gemm/nm_gemm_kernels.inc"
