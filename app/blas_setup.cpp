#include "blas_setup.h"

#include "nmcore/platform.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

namespace nm {

namespace {
constexpr const char *kGuard = "NMSTUDIO_BLAS_REEXEC";

const char *fastCoreType()
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return "Haswell";
    return nullptr;
}
} // namespace

void ensureFastBlas(int /*argc*/, char **argv)
{
    if (std::getenv("OPENBLAS_CORETYPE") || std::getenv(kGuard))
        return;
    const char *core = fastCoreType();
    const std::string detected = blasCoreName();
    // Keep any AVX-512 kernel OpenBLAS picked by itself (e.g. Cooperlake on some CPUs).
    if (!core || detected == core || detected == "Cooperlake" || detected == "SapphireRapids")
        return;
    setenv("OPENBLAS_CORETYPE", core, 1);
    setenv(kGuard, "1", 1);
    execv("/proc/self/exe", argv);
    // exec failed: carry on with whatever kernel was detected.
    std::fprintf(stderr, "warning: could not re-execute to select the %s BLAS kernel; running on %s\n", core,
                 blasCoreName().c_str());
}

std::string blasBanner(int threads)
{
    std::string banner;
    const std::string core = blasCoreName();
    banner = "BLAS: OpenBLAS (OpenMP build), kernel " + core + ", " + std::to_string(threads) + " threads";
    if (core == "Prescott" || core == "unknown")
        banner += " -- slow generic kernel; set OPENBLAS_CORETYPE (e.g. SkylakeX or Haswell) for your CPU";
    return banner;
}

} // namespace nm
