#pragma once
// What the numerical back end runs on. The GEMM kernel is chosen by OpenBLAS when the
// library loads; programs make sure it is the right one before that (see app/blas_setup.h).
#include <string>

namespace nm {

// nmstudio's version: project() in the top CMakeLists.txt, the one place it is written.
const char *version();
// OpenBLAS's kernel name, e.g. "SkylakeX" (fast on AVX-512) or "Prescott" (the slow fallback).
std::string blasCoreName();
// OpenBLAS build configuration string.
std::string blasConfig();
// Number of cores OpenMP would use by default.
int hardwareThreads();
// Threads for OpenMP loops and OpenBLAS on the calling thread (n ≤ 0: every core).
// OpenBLAS's OpenMP build follows the OpenMP setting, so both share one pool.
void setThreadCount(int n);
int threadCount();

} // namespace nm
