#include "plot/series_math.h"

#include "nmcore/stats.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace nmui::plot {

double clampSmoothing(double weight)
{
    if (!std::isfinite(weight))
        return 0.0;
    return std::clamp(weight, 0.0, 0.999);
}

void EmaSmoother::reset()
{
    m_out.clear();
    m_weight = -1;
    m_last = 0;
    m_weightPow = 1;
    m_generation = 0;
}

const std::vector<float> &EmaSmoother::apply(std::span<const float> y, double weight, quint64 generation)
{
    weight = clampSmoothing(weight);
    if (weight != m_weight || y.size() < m_out.size() || generation != m_generation) {
        reset();
        m_weight = weight;
        m_generation = generation;
    }
    m_out.reserve(y.size());
    for (size_t i = m_out.size(); i < y.size(); ++i) {
        const float v = y[i];
        if (!std::isfinite(v)) {
            m_out.push_back(v);
            continue;
        }
        m_last = m_last * weight + (1.0 - weight) * static_cast<double>(v);
        m_weightPow *= weight;
        const double debias = 1.0 - m_weightPow; // 1 − w^k; exactly 1 without smoothing
        m_out.push_back(static_cast<float>(m_last / debias));
    }
    return m_out;
}

namespace {
bool usable(float v, bool positiveOnly)
{
    return std::isfinite(v) && (!positiveOnly || v > 0.0f);
}
} // namespace

void decimateMinMax(std::span<const double> x, std::span<const float> y, double x0, double x1, int columns,
                    bool positiveOnly, QList<QPointF> &out)
{
    const size_t n = std::min(x.size(), y.size());
    if (n == 0 || !(x1 >= x0))
        return;
    // First index inside [x0, x1] minus one (the point beyond the left edge), and one past the
    // point beyond the right edge.
    size_t begin = static_cast<size_t>(std::lower_bound(x.begin(), x.begin() + static_cast<long>(n), x0) - x.begin());
    size_t end = static_cast<size_t>(std::upper_bound(x.begin(), x.begin() + static_cast<long>(n), x1) - x.begin());
    begin = begin > 0 ? begin - 1 : 0;
    end = std::min(end + 1, n);
    const double span = (x1 - x0) / std::max(columns, 1);
    const double width = span > 0 ? std::exp2(std::ceil(std::log2(span))) : 0.0;
    auto push = [&](size_t i) { out.append(QPointF(x[i], static_cast<double>(y[i]))); };
    if (width <= 0.0 || !std::isfinite(width)) {
        for (size_t i = begin; i < end; ++i)
            if (usable(y[i], positiveOnly))
                push(i);
        return;
    }
    size_t i = begin;
    while (i < end) {
        const double bucket = std::floor(x[i] / width);
        size_t first = n, last = n, lo = n, hi = n;
        for (; i < end && std::floor(x[i] / width) == bucket; ++i) {
            if (!usable(y[i], positiveOnly))
                continue;
            if (first == n)
                first = lo = hi = i;
            last = i;
            if (y[i] < y[lo])
                lo = i;
            if (y[i] > y[hi])
                hi = i;
        }
        if (first == n)
            continue;
        size_t picks[4] = {first, std::min(lo, hi), std::max(lo, hi), last};
        size_t prev = n;
        for (size_t p : picks)
            if (p != prev) {
                push(p);
                prev = p;
            }
    }
}

long nearestIndex(std::span<const double> x, double v)
{
    if (x.empty())
        return -1;
    const auto it = std::lower_bound(x.begin(), x.end(), v);
    if (it == x.begin())
        return 0;
    if (it == x.end())
        return static_cast<long>(x.size()) - 1;
    const auto i = static_cast<size_t>(it - x.begin());
    return static_cast<long>(v - x[i - 1] <= x[i] - v ? i - 1 : i);
}

SeedAggregate aggregateSeeds(const std::vector<CurveRef> &curves)
{
    SeedAggregate a;
    std::vector<double> steps;
    for (const auto &c : curves)
        steps.insert(steps.end(), c.step.begin(), c.step.end());
    std::sort(steps.begin(), steps.end());
    steps.erase(std::unique(steps.begin(), steps.end()), steps.end());
    std::vector<size_t> pos(curves.size(), 0);
    std::vector<double> values;
    for (double s : steps) {
        double xsum = 0;
        float lo = std::numeric_limits<float>::infinity(), hi = -lo;
        int count = 0;
        values.clear();
        for (size_t k = 0; k < curves.size(); ++k) {
            const CurveRef &c = curves[k];
            size_t &p = pos[k];
            while (p < c.step.size() && c.step[p] < s)
                ++p;
            if (p >= c.step.size() || c.step[p] != s || p >= c.y.size() || !std::isfinite(c.y[p]))
                continue;
            values.push_back(c.y[p]);
            xsum += p < c.x.size() ? c.x[p] : s;
            lo = std::min(lo, c.y[p]);
            hi = std::max(hi, c.y[p]);
            ++count;
        }
        if (count == 0)
            continue;
        a.step.push_back(s);
        a.x.push_back(xsum / count);
        const nm::MeanCi ci = nm::meanCi(values);
        const double half = std::isfinite(ci.halfWidth) ? ci.halfWidth : 0.0;
        a.mean.push_back(static_cast<float>(ci.mean));
        a.lo.push_back(lo);
        a.hi.push_back(hi);
        a.ciLo.push_back(static_cast<float>(ci.mean - half));
        a.ciHi.push_back(static_cast<float>(ci.mean + half));
        a.count.push_back(count);
    }
    return a;
}

void Range::include(double v)
{
    if (!std::isfinite(v))
        return;
    if (!valid) {
        lo = hi = v;
        valid = true;
        return;
    }
    lo = std::min(lo, v);
    hi = std::max(hi, v);
}

void Range::include(const Range &r)
{
    if (r.valid) {
        include(r.lo);
        include(r.hi);
    }
}

Range yRange(std::span<const double> x, std::span<const float> y, double x0, double x1, bool positiveOnly)
{
    Range r;
    const size_t n = std::min(x.size(), y.size());
    const size_t begin =
        static_cast<size_t>(std::lower_bound(x.begin(), x.begin() + static_cast<long>(n), x0) - x.begin());
    for (size_t i = begin; i < n && x[i] <= x1; ++i)
        if (usable(y[i], positiveOnly))
            r.include(y[i]);
    return r;
}

Range yRange(const QList<QPointF> &points)
{
    Range r;
    for (const QPointF &p : points)
        r.include(p.y());
    return r;
}

QString tickLabelFormat(double interval, double lo, double hi, const QString &fallback)
{
    const double big = std::max(std::abs(lo), std::abs(hi));
    if (!(interval > 0) || !std::isfinite(interval) || !std::isfinite(big) || interval < 1e-4 || big >= 1e5)
        return fallback;
    const int decimals = std::max(0, static_cast<int>(std::ceil(-std::log10(interval) - 1e-9)));
    return QStringLiteral("%.%1f").arg(decimals);
}

double niceInterval(double span, int target)
{
    if (!(span > 0) || !std::isfinite(span))
        return 1.0;
    const double raw = span / std::max(target, 1);
    const double mag = std::pow(10.0, std::floor(std::log10(raw)));
    const double f = raw / mag;
    return (f < 1.5 ? 1.0 : f < 3.5 ? 2.0 : f < 7.5 ? 5.0 : 10.0) * mag;
}

Range padded(Range r, bool logScale)
{
    if (!r.valid)
        return r;
    if (logScale) {
        r.lo = std::max(r.lo, std::numeric_limits<double>::min());
        const double f = r.hi > r.lo ? std::pow(r.hi / r.lo, 0.05) : 2.0;
        r.lo /= f;
        r.hi *= f;
        return r;
    }
    double pad = (r.hi - r.lo) * 0.05;
    if (pad <= 0)
        pad = std::max(std::abs(r.hi) * 0.05, 1e-6);
    r.lo -= pad;
    r.hi += pad;
    return r;
}

} // namespace nmui::plot
