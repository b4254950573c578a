// The avx512 build of the compressed N:M GEMM kernels (target flags in core/CMakeLists.txt).
#define NM_ISA_NS avx512
#include "gemm/nm_gemm_kernels.inc"
