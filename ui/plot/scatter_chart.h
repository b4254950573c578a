#pragma once
// ScatterChart: one point per logged row, x and y from two columns of the same table, one
// colour per visible run, with the y = x diagonal for reference. Used for the S-STE
// continuity measures: ΔF₁ against ΔF₂ (does the loss change continuously when masks move?)
// and predicted against actual descent (is the first-order model of the step honest?).
#include "plot/chart_panel.h"
#include "training/run_data.h"

#include <map>
#include <string>
#include <vector>

class QLineSeries;
class QScatterSeries;
class QValueAxis;

namespace nmui {

class CurveLayer;

class ScatterChart : public ChartPanel {
    Q_OBJECT
  public:
    ScatterChart(RunStore *store, const QString &title, TableKind table, const std::string &xColumn,
                 const std::string &yColumn, const QString &xTitle, const QString &yTitle, QWidget *parent = nullptr);

    void refresh() override;
    DataTable table(bool visibleOnly) const override;
    // The legend key and look of a run's points (it holds none: the curve layer draws them).
    QScatterSeries *seriesFor(int runId) const;
    QList<QPointF> pointsFor(int runId) const;

  private:
    QString readout(QPointF value) const;

    TableKind m_table;
    std::string m_x, m_y;
    QValueAxis *m_xAxis, *m_yAxis;
    QLineSeries *m_diagonal;
    std::map<int, QScatterSeries *> m_series;
    std::map<int, QList<QPointF>> m_points;
    CurveLayer *m_curves;
    std::map<int, std::vector<size_t>> m_rowOf; // table row of each plotted point
};

} // namespace nmui
