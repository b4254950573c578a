#pragma once
// The Summary page's numbers, free of widgets: one value per run (the final, best or at-step-k
// value of a metric), and groups of runs that differ only in seed, each with its mean and 95 %
// confidence interval over the seeds (nm::meanCi), placed on an x axis (a swept option, the
// density N/M, or the training FLOPs spent by then).
#include "training/run_data.h"

#include "nmcore/stats.h"

#include <QList>
#include <QString>

#include <string>

namespace nmui {

class RunStore;
struct Run;

enum class SummaryStat { Final, Best, AtStep };

struct SummaryMetric {
    QString label; // "val accuracy"
    TableKind table = TableKind::Validation;
    std::string column; // "accuracy"
    bool higherIsBetter = true;
};
// The metrics the page offers (validation/test accuracy and loss, training loss).
const QList<SummaryMetric> &summaryMetrics();

// What the x axis shows: "flops" (training FLOPs at the value's step), "density" (N/M of the
// configured N:M, 1 dense) or "sweep:KEY" (the run's swept value of KEY, as a number, or N/M
// for N:M values).
struct SummaryOptions {
    int metric = 0; // into summaryMetrics()
    SummaryStat stat = SummaryStat::Final;
    long step = 0; // for AtStep: the last value at or before it
    QString x = QStringLiteral("density");
};

// The value of one run and the step it comes from (NaN / -1 when it has none).
struct RunValue {
    double value = NAN;
    double step = -1;
    double flops = NAN; // training FLOPs at that step (NaN without a count)
};
RunValue runValue(const Run &run, const SummaryMetric &metric, SummaryStat stat, long step);

struct SummaryGroup {
    QList<int> runs;           // run ids with a value
    QString recipe;            // the recipe title ("SR-STE")
    QString name;              // the group's name: the first run's without the seed suffix
    QString nm;                // "2:4"
    QString sweep;             // "lambda=2e-4 nm=1:8" (empty without a sweep)
    QString line;              // the line it belongs to: recipe, N:M and swept values other than x
    double x = NAN;            // the x value (mean over the runs for FLOPs)
    nm::MeanCi y;              // over the runs' values
    double lo = NAN, hi = NAN; // min and max
};
// Groups of the given runs (RunStore::seedGroups) with a value and an x, sorted by recipe and x.
QList<SummaryGroup> summarize(const RunStore &store, const QList<int> &ids, const SummaryOptions &o);

// The x choices the runs offer: "density", "flops", then "sweep:KEY" for every swept key.
QStringList summaryXChoices(const RunStore &store, const QList<int> &ids);
QString summaryXLabel(const QString &x);
// x of one run, NaN when it has none (a sweep key it was not swept over).
double summaryX(const Run &run, const QString &x, const RunValue &v);
// A name without its trailing seed ("ste_s1" → "ste", "STE s2" → "STE").
QString withoutSeed(const QString &name);

} // namespace nmui
