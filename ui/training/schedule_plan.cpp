#include "training/schedule_plan.h"

#include "nmcore/optimizer.h"
#include "nmcore/sparsity.h"

#include <algorithm>
#include <cmath>
#include <set>

namespace nmui {

namespace {

struct PointValues {
    float alpha = 0, density = 1, lambda = 0;
};

// Sparsity state of step t (0-based: steps completed before it) for each recipe; mirrors
// core/src/recipes/*.cpp.
class RecipePlan {
  public:
    explicit RecipePlan(const nm::RunConfig &c) : m_c(c), m_kind(nm::parseRecipe(c.recipe))
    {
        nm::parseNm(c.nm, m_n, m_m);
        m_phases = nm::pgfPhases(c.steps, c.pgfDense, c.pgfFinetune);
        const long span = m_phases.finetuneStart - m_phases.denseEnd;
        if (m_kind == nm::RecipeKind::MdgfLinear || m_kind == nm::RecipeKind::MdgfExp)
            m_kappa = c.mdgfKappa > 0 ? c.mdgfKappa : nm::mdgfKappa(m_kind, c.mdgfFraction, span);
        if (m_kind == nm::RecipeKind::SdgfStepwise || m_kind == nm::RecipeKind::SdgfGeometric)
            m_frames = nm::sdgfFrames(m_kind, m_n, m_m, m_phases, c.steps);
        m_pruneStep = std::llround(c.aspPruneAt * static_cast<double>(c.steps));
        m_denseTail = c.steps - std::llround(c.tsrsteDenseTail * static_cast<double>(c.steps));
    }

    PointValues at(long t) const
    {
        using K = nm::RecipeKind;
        const float target = static_cast<float>(m_n) / static_cast<float>(m_m);
        const PointValues dense{1.0f, 1.0f, 0.0f};
        const PointValues hard{0.0f, target, 0.0f};
        switch (m_kind) {
        case K::Dense:
            return dense;
        case K::Ste:
        case K::SSte:
            return hard;
        case K::SrSte:
            return {0.0f, target, static_cast<float>(m_c.lambda)};
        case K::MdgfLinear:
        case K::MdgfExp:
            if (t < m_phases.denseEnd)
                return dense;
            if (t >= m_phases.finetuneStart)
                return hard;
            return {static_cast<float>(nm::mdgfAlpha(m_kind, m_kappa, t - m_phases.denseEnd)), target, 0.0f};
        case K::SdgfStepwise:
        case K::SdgfGeometric: {
            if (t < m_phases.denseEnd)
                return dense;
            PointValues v = hard;
            for (const auto &f : m_frames)
                if (t >= f.start && t < m_phases.finetuneStart)
                    v.density = static_cast<float>(f.n) / static_cast<float>(f.m);
            return v;
        }
        case K::TSrSteDf:
            if (t >= m_denseTail)
                return dense;
            return {0.0f, target, static_cast<float>(m_c.lambda)};
        case K::Asp:
            return t < m_pruneStep ? dense : hard;
        }
        return dense;
    }

    std::vector<PhaseMark> marks() const
    {
        using K = nm::RecipeKind;
        std::vector<PhaseMark> out;
        const bool pgf =
            m_kind == K::MdgfLinear || m_kind == K::MdgfExp || m_kind == K::SdgfStepwise || m_kind == K::SdgfGeometric;
        if (pgf && m_phases.denseEnd > 0)
            out.push_back({m_phases.denseEnd, QStringLiteral("sparse")});
        for (const auto &f : m_frames)
            if (f.start > m_phases.denseEnd || m_phases.denseEnd == 0)
                out.push_back({f.start, QStringLiteral("%1:%2").arg(f.n).arg(f.m)});
        if (pgf && m_phases.finetuneStart < m_c.steps)
            out.push_back({m_phases.finetuneStart, QStringLiteral("fine-tune")});
        if (m_kind == K::TSrSteDf && m_denseTail < m_c.steps)
            out.push_back({m_denseTail, QStringLiteral("dense tail")});
        if (m_kind == K::Asp)
            out.push_back({m_pruneStep, QStringLiteral("prune")});
        return out;
    }

  private:
    nm::RunConfig m_c;
    nm::RecipeKind m_kind;
    int m_n = 2, m_m = 4;
    nm::PgfPhases m_phases;
    double m_kappa = 0;
    std::vector<nm::NmFrame> m_frames;
    long m_pruneStep = 0, m_denseTail = 0;
};

} // namespace

PlannedSchedule planSchedule(const nm::RunConfig &config, int maxPoints)
{
    PlannedSchedule p;
    RecipePlan recipe(config);
    p.marks = recipe.marks();
    nm::LrSchedule lr;
    lr.peak = config.lr;
    lr.minRatio = config.minLrRatio;
    lr.warmup = config.warmup;
    lr.total = config.steps;

    // Sample t = 0 … steps−1 evenly, plus both sides of each boundary and of the warm-up end.
    std::set<long> ts;
    const long total = config.steps;
    const long stride = std::max<long>(1, total / std::max(maxPoints, 2));
    for (long t = 0; t < total; t += stride)
        ts.insert(t);
    ts.insert(total - 1);
    auto boundary = [&](long b) {
        for (long t : {b - 1, b})
            if (t >= 0 && t < total)
                ts.insert(t);
    };
    for (const auto &m : p.marks)
        boundary(m.step);
    boundary(config.warmup);
    for (long t : ts) {
        const PointValues v = recipe.at(t);
        p.step.push_back(static_cast<double>(t + 1));
        p.lr.push_back(static_cast<float>(lr.at(t)));
        p.alpha.push_back(v.alpha);
        p.density.push_back(v.density);
        p.lambda.push_back(v.lambda);
    }
    return p;
}

} // namespace nmui
