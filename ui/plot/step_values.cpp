#include "plot/step_values.h"

#include <QHeaderView>

#include <cmath>

namespace nmui {

namespace {

QString number(double v)
{
    return std::isfinite(v) ? QString::number(v, 'g', 5) : QStringLiteral("–");
}

} // namespace

StepValuesTable::StepValuesTable(QWidget *parent) : QTableWidget(parent)
{
    setObjectName(QStringLiteral("stepValues"));
    setColumnCount(7);
    setHorizontalHeaderLabels(
        {tr("run"), tr("step"), tr("value"), tr("smoothed"), tr("min"), tr("max"), tr("step of min")});
    setEditTriggers(QAbstractItemView::NoEditTriggers);
    verticalHeader()->hide();
    horizontalHeader()->setStretchLastSection(true);
    setToolTip(tr("Values at the step under the mouse in a chart of this page; click a chart to keep a step, click "
                  "again to follow the mouse"));
}

void StepValuesTable::follow(MetricChart *chart)
{
    connect(chart->view(), &PlotView::hoveredAt, this, [this, chart](QPointF v) {
        if (!m_pinned)
            showValues(chart, v.x());
    });
    connect(chart->view(), &PlotView::clicked, this, [this, chart](QPointF v) {
        m_pinned = !m_pinned;
        showValues(chart, v.x());
    });
}

void StepValuesTable::showValues(MetricChart *chart, double x)
{
    const QList<MetricChart::StepValue> values = chart->valuesAt(x);
    setRowCount(static_cast<int>(values.size()));
    for (qsizetype r = 0; r < values.size(); ++r) {
        const MetricChart::StepValue &v = values[r];
        const QString cells[7] = {v.run,         number(v.step), number(v.value),  number(v.smoothed),
                                  number(v.min), number(v.max),  number(v.minStep)};
        for (int c = 0; c < 7; ++c) {
            auto *item = new QTableWidgetItem(cells[c]);
            if (c == 0)
                item->setForeground(v.color);
            setItem(static_cast<int>(r), c, item);
        }
    }
    const QString heading = chart->title() + (m_pinned ? tr(" (kept; click a chart to follow the mouse)") : QString());
    if (heading != m_heading) {
        m_heading = heading;
        setHorizontalHeaderItem(0, new QTableWidgetItem(tr("run: %1").arg(heading)));
        Q_EMIT headingChanged(heading);
    }
}

} // namespace nmui
