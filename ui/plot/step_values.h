#pragma once
// StepValuesTable: TensorBoard's "values at step k" for the line charts of a page: for the
// step under the mouse in any of them (or the clicked one, until the next click), every run's
// value, smoothed value, lowest and highest value and the step of the lowest.
#include "plot/metric_chart.h"

#include <QTableWidget>

namespace nmui {

class StepValuesTable : public QTableWidget {
    Q_OBJECT
  public:
    explicit StepValuesTable(QWidget *parent = nullptr);

    // Follows the hover and clicks of a chart.
    void follow(MetricChart *chart);
    // Shows a chart's values at x (what hovering there does).
    void showValues(MetricChart *chart, double x);
    bool pinned() const { return m_pinned; }
    QString heading() const { return m_heading; }

  Q_SIGNALS:
    void headingChanged(const QString &text);

  private:
    bool m_pinned = false;
    QString m_heading;
};

} // namespace nmui
