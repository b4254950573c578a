// Schedules of the progressive recipes: PGF phases, MDGF's decay factor, SDGF's frames.
#include "nmcore/error.h"
#include "nmcore/sparsity.h"

#include <algorithm>
#include <cmath>

namespace nm {

PgfPhases pgfPhases(long total, double denseFraction, double finetuneFraction)
{
    PgfPhases p;
    p.denseEnd = std::clamp<long>(std::lround(denseFraction * static_cast<double>(total)), 0, total);
    p.finetuneStart =
        std::clamp<long>(total - std::lround(finetuneFraction * static_cast<double>(total)), p.denseEnd, total);
    return p;
}

double mdgfAlpha(RecipeKind kind, double kappa, long t)
{
    const double x = kappa * static_cast<double>(std::max<long>(t, 0));
    if (kind == RecipeKind::MdgfLinear)
        return std::max(1.0 - x, 0.0);
    return std::exp(-x);
}

double mdgfKappa(RecipeKind kind, double fraction, long span)
{
    const double steps = std::max(1.0, fraction * static_cast<double>(std::max<long>(span, 1)));
    return (kind == RecipeKind::MdgfLinear ? 1.0 : 5.0) / steps;
}

std::vector<NmFrame> sdgfFrames(RecipeKind kind, int n, int m, const PgfPhases &phases, long)
{
    std::vector<std::pair<int, int>> nm;
    if (kind == RecipeKind::SdgfGeometric) {
        for (int i = 0; i < 4; ++i)
            nm.emplace_back(n << (3 - i), m << (3 - i));
    } else {
        nm.emplace_back(m - 1, m);
        for (int k = m / 2; k > n; k /= 2)
            nm.emplace_back(k, m);
        if (nm.back().first != n)
            nm.emplace_back(n, m);
    }
    const long span = phases.finetuneStart - phases.denseEnd;
    const long frames = static_cast<long>(nm.size());
    std::vector<NmFrame> out;
    for (long i = 0; i < frames; ++i) {
        const auto &f = nm[static_cast<size_t>(i)];
        out.push_back({phases.denseEnd + i * span / frames, f.first, f.second});
    }
    return out;
}

} // namespace nm
