#pragma once
// The numeric part of the plotting layer, free of widgets so it can be tested directly:
// smoothing, min/max-per-pixel decimation, seed aggregation, nearest-point lookup, ranges.
//
// Order of operations (ux.md §0.4–0.5): smooth the full-resolution data, then decimate
// the visible range to the plot's pixel columns, then replace() the chart series once.
#include <QList>
#include <QPointF>
#include <QtGlobal>

#include <span>
#include <vector>

namespace nmui::plot {

// TensorBoard's debiased exponential moving average: s_t = w·s_{t−1} + (1−w)·y_t divided
// by 1 − w^k (k finite points so far), so the curve does not lean towards its first value.
// The weight is clamped to [0, 0.999]; non-finite points pass through and are not counted.
// Incremental: call again with more data and only the new points are processed.
class EmaSmoother {
  public:
    // Smooths y and returns the smoothed series, as long as y. Data only ever grows by
    // appending; pass another `generation` when it was replaced, and a shorter y or another
    // weight also starts over.
    const std::vector<float> &apply(std::span<const float> y, double weight, quint64 generation = 0);
    void reset();

  private:
    std::vector<float> m_out;
    double m_weight = -1;
    double m_last = 0;
    double m_weightPow = 1; // weight^k for the debiasing
    quint64 m_generation = 0;
};

double clampSmoothing(double weight);

// Appends to `out` the points (x[i], y[i]) with x in [x0, x1], reduced to at most four per
// pixel column: the first, lowest, highest and last point of the column, in x order.
// Columns lie on a grid of width 2^k anchored at x = 0, so points appended later never move
// the ones already drawn (no "jumping" live curves), and the first and last visible points
// are always kept, plus one point outside each edge so lines reach the plot border.
// Non-finite values are skipped; with positiveOnly (log axes) so are values <= 0.
void decimateMinMax(std::span<const double> x, std::span<const float> y, double x0, double x1, int columns,
                    bool positiveOnly, QList<QPointF> &out);

// Index of the point whose x is nearest to v (x sorted ascending); -1 when x is empty.
long nearestIndex(std::span<const double> x, double v);

// Mean and bands of several runs (seeds) keyed by step: at every step that at least one run
// has, over the runs that have it, the mean, the lowest and highest value, and the 95 %
// confidence interval of the mean (Student t over the seeds, nm::meanCi; it collapses to the
// mean where only one run has the step). x is the mean of the runs' x values at that step
// (step, or time when plotting against time).
struct SeedAggregate {
    std::vector<double> step, x;
    std::vector<float> mean, lo, hi, ciLo, ciHi;
    std::vector<int> count;
};
struct CurveRef {
    std::span<const double> step; // sorted ascending
    std::span<const double> x;    // same length as step
    std::span<const float> y;
};
SeedAggregate aggregateSeeds(const std::vector<CurveRef> &curves);

// Data range of y over the points with x in [x0, x1] (finite values; > 0 when positiveOnly).
struct Range {
    double lo = 0, hi = 0;
    bool valid = false;
    void include(double v);
    void include(const Range &r);
};
Range yRange(std::span<const double> x, std::span<const float> y, double x0, double x1, bool positiveOnly);
Range yRange(const QList<QPointF> &points);

// A tick interval of 1, 2 or 5 × 10^k giving about `target` ticks across `span`.
double niceInterval(double span, int target);

// A printf format for the labels of ticks `interval` apart over [lo, hi]: as many decimals as
// the interval needs ("%.2f" for 0.02), so every label has the same and a tick that Qt Charts
// reaches by adding the interval up across zero reads 0.00, not 6.94e-18. Very large or very
// small values keep `fallback` (scientific).
QString tickLabelFormat(double interval, double lo, double hi, const QString &fallback);

// Pads a range for display: 5 % on each side (multiplicative on log axes); a flat range
// gets a small window around its value.
Range padded(Range r, bool logScale);

} // namespace nmui::plot
