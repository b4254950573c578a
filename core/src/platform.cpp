#include "nmcore/platform.h"

#include <cblas.h>
#include <omp.h>

extern "C" {
char *openblas_get_corename(void);
char *openblas_get_config(void);
}

namespace nm {

const char *version()
{
    return NMSTUDIO_VERSION;
}

std::string blasCoreName()
{
    const char *n = openblas_get_corename();
    return n ? n : "unknown";
}

std::string blasConfig()
{
    const char *c = openblas_get_config();
    return c ? c : "unknown";
}

int hardwareThreads()
{
    return omp_get_num_procs();
}

void setThreadCount(int n)
{
    omp_set_num_threads(n > 0 ? n : omp_get_num_procs());
}

int threadCount()
{
    return omp_get_max_threads();
}

} // namespace nm
