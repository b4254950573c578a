#pragma once
// SummaryChart: a final, best or at-step-k metric against a swept value, the density N/M or the
// training FLOPs spent, one line per recipe (and per other swept values), each point the mean
// over a seed group with its 95 % confidence interval as an error bar (Student t over the
// seeds). Its table (CSV export) lists every group: mean ± CI, n, std, min, max.
#include "plot/chart_panel.h"
#include "plot/series_math.h"
#include "plot/summary_math.h"

#include <QColor>
#include <QPointF>

#include <map>
#include <vector>

class QAbstractAxis;
class QCheckBox;
class QComboBox;
class QLineSeries;
class QSpinBox;
class QValueAxis;

namespace nmui {

class SummaryChart : public ChartPanel {
    Q_OBJECT
  public:
    explicit SummaryChart(RunStore *store, QWidget *parent = nullptr);

    void refresh() override;
    DataTable table(bool visibleOnly) const override;

    SummaryOptions options() const { return m_options; }
    void setOptions(const SummaryOptions &o);
    void setLogX(bool on);
    const QList<SummaryGroup> &groups() const { return m_groups; }
    // The mean line of a group's line key (tests), null if none.
    QLineSeries *lineFor(const QString &key) const;
    // The error bars drawn (one per group with n ≥ 2).
    int errorBarCount() const { return m_bars; }

    QComboBox *metricBox() const { return m_metricBox; }
    QComboBox *statBox() const { return m_statBox; }
    QComboBox *xBox() const { return m_xBox; }
    QSpinBox *stepSpin() const { return m_stepSpin; }

  Q_SIGNALS:
    void groupsChanged();

  private:
    struct ErrorBar {
        double x, lo, hi;
        QColor color;
    };
    // What refresh() draws: the mean points of each line, their colours and error bars.
    struct Plotted {
        std::map<QString, QList<QPointF>> points;
        std::map<QString, QColor> colors;
        std::vector<ErrorBar> bars;
        plot::Range xr, yr;
    };
    void showLines(const Plotted &p);
    void showBars(const std::vector<ErrorBar> &bars);
    void fitAxes(const plot::Range &xr, const plot::Range &yr);
    void buildControls();
    void syncXChoices();
    void installXAxis();
    QLineSeries *addSeries();
    QString readout(QPointF value) const;

    SummaryOptions m_options;
    bool m_logX = false;
    QList<SummaryGroup> m_groups;
    std::map<QString, QLineSeries *> m_lines; // kept across refreshes (legend markers stay laid out)
    std::vector<QLineSeries *> m_barPool;     // error bars, reused; the unused ones hold no points
    int m_bars = 0;
    QAbstractAxis *m_xAxis = nullptr;
    QValueAxis *m_yAxis = nullptr;
    QComboBox *m_metricBox = nullptr, *m_statBox = nullptr, *m_xBox = nullptr;
    QSpinBox *m_stepSpin = nullptr;
    QCheckBox *m_logBox = nullptr;
};

} // namespace nmui
