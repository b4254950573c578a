#pragma once
// Makes sure OpenBLAS runs its fast kernel. Debian 12's OpenBLAS 0.3.21 does not recognise
// recent Intel CPUs and falls back to the SSE3 "Prescott" kernel (~5x slower on AVX-512
// machines). The kernel is chosen when the library loads, from OPENBLAS_CORETYPE, so a
// program calls ensureFastBlas() first thing in main(): if the variable is unset and the CPU
// has AVX-512 (or AVX2), it sets it and re-executes itself once. A value set by the user is
// always respected.

#include <string>

namespace nm {

void ensureFastBlas(int argc, char **argv);

// One line for start-up logs: BLAS kernel, build and thread count.
std::string blasBanner(int threads);

} // namespace nm
