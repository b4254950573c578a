#include "plot/summary_math.h"

#include "training/run_store.h"

#include <QRegularExpression>
#include <limits>

#include <algorithm>
#include <cmath>
#include <set>

namespace nmui {

const QList<SummaryMetric> &summaryMetrics()
{
    static const QList<SummaryMetric> m = {
        {QStringLiteral("val accuracy"), TableKind::Validation, "accuracy", true},
        {QStringLiteral("val loss"), TableKind::Validation, "loss", false},
        {QStringLiteral("test accuracy"), TableKind::Test, "accuracy", true},
        {QStringLiteral("test loss"), TableKind::Test, "loss", false},
        {QStringLiteral("train loss"), TableKind::Train, "loss", false},
    };
    return m;
}

RunValue runValue(const Run &run, const SummaryMetric &metric, SummaryStat stat, long step)
{
    RunValue v;
    const MetricTable &t = run.table(metric.table);
    const std::vector<float> *col = t.column(metric.column);
    if (!col)
        return v;
    long pick = -1;
    for (size_t i = 0; i < col->size() && i < t.step.size(); ++i) {
        const float y = (*col)[i];
        if (!std::isfinite(y))
            continue;
        if (stat == SummaryStat::AtStep && t.step[i] > static_cast<double>(step))
            break;
        const bool better =
            pick < 0 || stat != SummaryStat::Best ||
            (metric.higherIsBetter ? y > (*col)[static_cast<size_t>(pick)] : y < (*col)[static_cast<size_t>(pick)]);
        if (better)
            pick = static_cast<long>(i);
    }
    if (pick < 0)
        return v;
    const auto k = static_cast<size_t>(pick);
    v.value = (*col)[k];
    v.step = t.step[k];
    if (k < t.flops.size())
        v.flops = t.flops[k];
    return v;
}

namespace {

double nmDensity(const std::string &nm)
{
    const auto colon = nm.find(':');
    if (colon == std::string::npos)
        return NAN;
    try {
        const double n = std::stod(nm.substr(0, colon)), m = std::stod(nm.substr(colon + 1));
        return m > 0 ? n / m : std::numeric_limits<double>::quiet_NaN();
    } catch (const std::exception &) {
        return NAN;
    }
}

double numberOf(const std::string &text)
{
    if (text.find(':') != std::string::npos)
        return nmDensity(text);
    try {
        size_t used = 0;
        const double v = std::stod(text, &used);
        return used == text.size() ? v : std::numeric_limits<double>::quiet_NaN();
    } catch (const std::exception &) {
        return NAN;
    }
}

QString sweepText(const nm::RunConfig &c, const std::string &except = {})
{
    QStringList parts;
    for (const auto &[k, v] : c.sweep)
        if (k != except && (except.empty() || k != "nm"))
            parts << QString::fromStdString(k + "=" + v);
    return parts.join(' ');
}

// The line a run's group joins: what stays fixed along the x axis.
QString lineOf(const Run &r, const QString &x)
{
    const nm::RunConfig &c = r.meta.config;
    const bool sweepX = x.startsWith(QStringLiteral("sweep:"));
    const std::string key = sweepX ? x.mid(6).toStdString() : std::string();
    QString line = r.meta.recipeTitle;
    if (x != QStringLiteral("density") && key != "nm" && c.recipe != "dense")
        line += QStringLiteral(" ") + QString::fromStdString(c.nm);
    const QString rest = sweepText(c, key.empty() ? std::string("nm") : key); // N:M is in the line already
    if (!rest.isEmpty())
        line += QStringLiteral(" ") + rest;
    return line;
}

} // namespace

QString withoutSeed(const QString &name)
{
    QString base = name;
    base.remove(QRegularExpression(QStringLiteral("[\\s_]*(s|seed\\s*)\\d+$")));
    return base;
}

double summaryX(const Run &run, const QString &x, const RunValue &v)
{
    const nm::RunConfig &c = run.meta.config;
    if (x == QStringLiteral("flops"))
        return v.flops;
    if (x == QStringLiteral("density"))
        return c.recipe == "dense" ? 1.0 : nmDensity(c.nm);
    if (x.startsWith(QStringLiteral("sweep:"))) {
        const std::string key = x.mid(6).toStdString();
        for (const auto &[k, value] : c.sweep)
            if (k == key)
                return numberOf(value);
    }
    return NAN;
}

QString summaryXLabel(const QString &x)
{
    if (x == QStringLiteral("flops"))
        return QObject::tr("training FLOPs");
    if (x == QStringLiteral("density"))
        return QObject::tr("density N/M");
    if (x == QStringLiteral("sweep:nm"))
        return QObject::tr("nm (as N/M)");
    return x.startsWith(QStringLiteral("sweep:")) ? x.mid(6) : x;
}

QStringList summaryXChoices(const RunStore &store, const QList<int> &ids)
{
    QStringList out = {QStringLiteral("density"), QStringLiteral("flops")};
    std::set<std::string> seen;
    for (int id : ids)
        if (const Run *r = store.run(id))
            for (const auto &[k, v] : r->meta.config.sweep)
                if (seen.insert(k).second)
                    out << QStringLiteral("sweep:") + QString::fromStdString(k);
    return out;
}

QList<SummaryGroup> summarize(const RunStore &store, const QList<int> &ids, const SummaryOptions &o)
{
    QList<SummaryGroup> groups;
    const QList<SummaryMetric> &metrics = summaryMetrics();
    const SummaryMetric &metric = metrics[std::clamp(o.metric, 0, static_cast<int>(metrics.size()) - 1)];
    for (const QList<int> &g : store.seedGroups(ids)) {
        SummaryGroup s;
        std::vector<double> ys, xs;
        for (int id : g) {
            const Run *r = store.run(id);
            if (!r)
                continue;
            const RunValue v = runValue(*r, metric, o.stat, o.step);
            const double x = summaryX(*r, o.x, v);
            if (!std::isfinite(v.value) || !std::isfinite(x))
                continue;
            if (s.runs.isEmpty()) {
                s.recipe = r->meta.recipeTitle;
                s.name = withoutSeed(r->meta.name);
                s.nm = r->meta.config.recipe == "dense" ? QStringLiteral("dense")
                                                        : QString::fromStdString(r->meta.config.nm);
                s.sweep = sweepText(r->meta.config);
                s.line = lineOf(*r, o.x);
            }
            s.runs << id;
            ys.push_back(v.value);
            xs.push_back(x);
        }
        if (s.runs.isEmpty())
            continue;
        s.y = nm::meanCi(ys);
        s.x = nm::meanCi(xs).mean;
        s.lo = *std::min_element(ys.begin(), ys.end());
        s.hi = *std::max_element(ys.begin(), ys.end());
        groups << s;
    }
    std::stable_sort(groups.begin(), groups.end(), [](const SummaryGroup &a, const SummaryGroup &b) {
        return a.line != b.line ? a.line < b.line : a.x < b.x;
    });
    return groups;
}

} // namespace nmui
