#pragma once
// MetricChart: a line chart of one or more metrics for every visible run, side by side.
// Per frame and per curve it smooths the full-resolution data (incrementally), decimates
// the visible x range to min/max per pixel column and hands the result to its CurveLayer,
// which paints it (Qt Charts keeps the axes and legend), so 4 runs × 100k points redraw in
// a few milliseconds (ux.md §0.1, §3.2). Smoothing draws
// the raw curve faded underneath; seed groups draw a mean line over a band (95 % CI or min–max).
#include "plot/chart_panel.h"
#include "plot/chart_settings.h"
#include "plot/series_math.h"
#include "training/run_store.h"

#include <QList>

#include <functional>
#include <map>
#include <vector>

class QAreaSeries;
class QCheckBox;
class QComboBox;
class QGraphicsSimpleTextItem;
class QLineSeries;
class QValueAxis;

namespace nmui {

class CurveLayer;

struct CurveSpec {
    QString label; // appended to the run's name when a chart has several curves
    TableKind table = TableKind::Train;
    std::string column; // "loss", "grad_noise_kept/{layer}"
    Qt::PenStyle style = Qt::SolidLine;
    bool smoothable = true; // the smoothing slider applies
    bool points = false;    // mark every point (sparse series such as validation)
    bool legend = true;     // listed in the legend
    // Derived curves (step axis): fills steps and values from a run; null: read `column`.
    std::function<void(const Run &, int layer, std::vector<double> &steps, std::vector<float> &values)> derive;
};

// A curve read from a table column.
CurveSpec columnCurve(TableKind table, const std::string &column, const QString &label = QString(),
                      Qt::PenStyle style = Qt::SolidLine, bool smoothable = true);

// A vertical marker (phase boundary) drawn across the plot.
struct Marker {
    double x = 0;
    QString label;
    QColor color;
};

class MetricChart : public ChartPanel {
    Q_OBJECT
  public:
    MetricChart(RunStore *store, ChartSettings *settings, const QString &title, const QString &yTitle,
                QList<CurveSpec> specs, QWidget *parent = nullptr);
    ~MetricChart() override;

    void setLogY(bool on);
    bool logY() const { return m_logY; }
    // Shows a log-y checkbox in the header.
    void addLogToggle();
    // Shows a layer picker in the header; "{layer}" in columns is replaced by its index.
    void addLayerPicker();
    void setLayer(int layer);
    int layer() const { return m_layer; }
    // The step axis only (derived curves, schedules), whatever the shared x setting.
    void setStepAxisOnly(bool on) { m_stepOnly = on; }
    // What the x axis shows now (the shared setting, or step for step-only charts).
    XAxisMode mode() const;
    void setMarkers(std::function<QList<Marker>(const QList<int> &runs)> markers) { m_markers = std::move(markers); }
    void setYRangeHint(double lo, double hi) { m_yHint = {lo, hi, true}; }

    DataTable table(bool visibleOnly) const override;
    void refresh() override;

    // TensorBoard's "values at step k": every plotted run's point nearest to x (in this chart's
    // x units), its value and smoothed value there, and its lowest and highest value over the
    // whole run with the step of the lowest.
    struct StepValue {
        QString run;
        QColor color;
        double step = NAN, value = NAN, smoothed = NAN, min = NAN, max = NAN, minStep = NAN;
    };
    QList<StepValue> valuesAt(double x) const;

    // For tests and benchmarks. The series are the legend keys and hold no points; the points
    // are what the curve layer draws (decimated, data coordinates).
    QLineSeries *mainSeries(int runId, int spec = 0) const;
    QLineSeries *rawSeries(int runId, int spec = 0) const;
    QList<QPointF> mainPoints(int runId, int spec = 0) const;
    QList<QPointF> rawPoints(int runId, int spec = 0) const; // empty while no faded raw curve shows
    // A seed group's band: upper and lower edge.
    std::pair<QList<QPointF>, QList<QPointF>> bandPoints(int runId, int spec = 0) const;
    const CurveLayer *curveLayer() const { return m_curves; }
    int traceCount() const { return static_cast<int>(m_traces.size()); }

  private:
    struct Trace;
    struct CurveData {
        std::span<const double> step, x;
        std::span<const float> y;
        std::vector<double> ownStep;
        std::vector<float> ownY;
    };
    struct Entity {
        QString key;
        QList<int> runs;
        QString name;
        QColor color;
    };

    bool curve(const Run &run, const CurveSpec &spec, CurveData &out) const;
    std::string columnName(const CurveSpec &spec) const;
    QList<Entity> entities() const;
    void syncTraces(const QList<Entity> &list);
    Trace *createTrace(const Entity &e, int spec);
    // Decimates (and smooths) a trace's curves for the visible range; pushShapes hands every
    // trace's to the curve layer.
    void updateTrace(Trace &t, double x0, double x1, int columns, plot::Range &yr);
    void pushShapes();
    plot::Range fullXRange() const;
    bool anyLive() const; // a plotted run is still training
    void installYAxis();
    void followTicks(QValueAxis *axis, int pixelsPerTick, bool horizontal);
    void updateAxes(double x0, double x1, const plot::Range &yr);
    void updateMarkers();
    void updateLayerChoices();
    QString readout(QPointF value) const;
    // Legend below the plot while the names fit in one row, else at the right, one per line
    // (Qt elides names that do not fit, which hides which run is which).
    void fitLegend();

  protected:
  private:
    ChartSettings *m_settings;
    QString m_yTitle;
    QList<CurveSpec> m_specs;
    std::vector<std::unique_ptr<Trace>> m_traces;
    CurveLayer *m_curves = nullptr;
    QAbstractAxis *m_xAxis = nullptr;
    QAbstractAxis *m_yAxis = nullptr;
    bool m_logY = false;
    bool m_stepOnly = false;
    int m_layer = 0;
    QComboBox *m_layerBox = nullptr;
    QCheckBox *m_logBox = nullptr;
    std::function<QList<Marker>(const QList<int> &)> m_markers;
    std::vector<std::pair<QLineSeries *, QGraphicsSimpleTextItem *>> m_markerItems;
    QList<Marker> m_markerList;
    plot::Range m_yHint;
    XAxisMode m_lastMode = XAxisMode::Step;
};

} // namespace nmui
