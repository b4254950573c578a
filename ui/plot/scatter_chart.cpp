#include "plot/scatter_chart.h"

#include "plot/curve_layer.h"
#include "plot/series_math.h"
#include "training/run_store.h"

#include <QChart>
#include <QLegendMarker>
#include <QLineSeries>
#include <QScatterSeries>
#include <QValueAxis>

#include <cmath>
#include <limits>

namespace nmui {

ScatterChart::ScatterChart(RunStore *store, const QString &title, TableKind table, const std::string &xColumn,
                           const std::string &yColumn, const QString &xTitle, const QString &yTitle, QWidget *parent)
    : ChartPanel(store, title, parent), m_table(table), m_x(xColumn), m_y(yColumn)
{
    m_xAxis = new QValueAxis;
    m_xAxis->setTitleText(xTitle);
    m_xAxis->setLabelFormat(QStringLiteral("%.3g"));
    m_yAxis = new QValueAxis;
    m_yAxis->setTitleText(yTitle);
    m_yAxis->setLabelFormat(QStringLiteral("%.3g"));
    chart()->addAxis(m_xAxis, Qt::AlignBottom);
    chart()->addAxis(m_yAxis, Qt::AlignLeft);
    m_diagonal = new QLineSeries;
    m_diagonal->setName(tr("y = x"));
    m_diagonal->setPen(QPen(QColor(120, 120, 120), 1, Qt::DashLine));
    chart()->addSeries(m_diagonal);
    m_diagonal->attachAxis(m_xAxis);
    m_diagonal->attachAxis(m_yAxis);
    view()->setReadout([this](QPointF v) { return readout(v); });
    m_curves = new CurveLayer(chart());
}

QScatterSeries *ScatterChart::seriesFor(int runId) const
{
    auto it = m_series.find(runId);
    return it == m_series.end() ? nullptr : it->second;
}

QList<QPointF> ScatterChart::pointsFor(int runId) const
{
    auto it = m_points.find(runId);
    return it == m_points.end() ? QList<QPointF>{} : it->second;
}

void ScatterChart::refresh()
{
    const QList<int> visible = store()->visibleRunIds();
    for (auto it = m_series.begin(); it != m_series.end();) {
        if (visible.contains(it->first)) {
            ++it;
            continue;
        }
        chart()->removeSeries(it->second);
        delete it->second;
        m_rowOf.erase(it->first);
        m_points.erase(it->first);
        it = m_series.erase(it);
    }
    plot::Range xr, yr;
    for (int id : visible) {
        const Run *r = store()->run(id);
        const MetricTable &t = r->table(m_table);
        const auto *xs = t.column(m_x), *ys = t.column(m_y);
        QScatterSeries *&s = m_series[id];
        if (!s) {
            s = new QScatterSeries;
            s->setMarkerSize(7);
            s->setPen(Qt::NoPen);
            chart()->addSeries(s);
            s->attachAxis(m_xAxis);
            s->attachAxis(m_yAxis);
        }
        QColor fill = r->meta.color;
        fill.setAlpha(170);
        if (s->brush().color() != fill)
            s->setBrush(fill);
        if (s->name() != r->meta.name)
            s->setName(r->meta.name);
        QList<QPointF> &points = m_points[id];
        points.clear();
        std::vector<size_t> &rows = m_rowOf[id];
        rows.clear();
        if (xs && ys)
            for (size_t i = 0; i < std::min(xs->size(), ys->size()); ++i)
                if (std::isfinite((*xs)[i]) && std::isfinite((*ys)[i])) {
                    points.append(QPointF((*xs)[i], (*ys)[i]));
                    rows.push_back(i);
                    xr.include((*xs)[i]);
                    yr.include((*ys)[i]);
                }
    }
    std::vector<CurveLayer::Shape> shapes;
    QStringList names{m_diagonal->name()};
    for (const auto &[id, s] : m_series) {
        shapes.push_back({CurveLayer::Shape::Kind::Dots, s, m_points[id], {}, true});
        names << s->name();
    }
    m_curves->setShapes(std::move(shapes));
    fitLegend(names); // whole run names, at the right when they do not fit below
    if (view()->userZoomed())
        return;
    // One square range for both axes, so the diagonal is at 45° and deviations read fairly.
    plot::Range both = xr;
    both.include(yr);
    both = plot::padded(both, false);
    if (!both.valid)
        both = {-1, 1, true};
    m_diagonal->replace({QPointF(both.lo, both.lo), QPointF(both.hi, both.hi)});
    const double tick = plot::niceInterval(both.hi - both.lo, 5);
    for (QValueAxis *a : {m_xAxis, m_yAxis}) { // the interval before the range
        a->setLabelFormat(plot::tickLabelFormat(tick, both.lo, both.hi, QStringLiteral("%.3g")));
        a->setTickAnchor(0);
        a->setTickInterval(tick);
        a->setTickType(QValueAxis::TicksDynamic);
    }
    view()->setRanges(both.lo, both.hi, both.lo, both.hi);
}

QString ScatterChart::readout(QPointF value) const
{
    // The nearest point of any run, in screen distance.
    const QPointF target = chart()->mapToPosition(value, m_diagonal);
    double best = std::numeric_limits<double>::max();
    QString html;
    for (const auto &[id, s] : m_series) {
        const Run *r = store()->run(id);
        const MetricTable &t = r->table(m_table);
        const QList<QPointF> &pts = m_points.at(id);
        const auto rowsIt = m_rowOf.find(id);
        for (qsizetype i = 0; i < pts.size(); ++i) {
            const QPointF p = chart()->mapToPosition(pts[i], s);
            const double d = std::hypot(p.x() - target.x(), p.y() - target.y());
            if (d < best && d < 20) {
                best = d;
                const bool known = rowsIt != m_rowOf.end() && static_cast<size_t>(i) < rowsIt->second.size();
                const size_t row = known ? rowsIt->second[static_cast<size_t>(i)] : 0;
                html = QStringLiteral("<span style='color:%1'>&#9632;</span> <b>%2</b> step %3<br>x %4<br>y %5")
                           .arg(r->meta.color.name(), r->meta.name.toHtmlEscaped())
                           .arg(row < t.step.size() ? t.step[row] : 0.0, 0, 'f', 0)
                           .arg(pts[i].x(), 0, 'g', 4)
                           .arg(pts[i].y(), 0, 'g', 4);
            }
        }
    }
    return html;
}

DataTable ScatterChart::table(bool visibleOnly) const
{
    DataTable out;
    out.header << QStringLiteral("run") << QStringLiteral("step") << QString::fromStdString(m_x)
               << QString::fromStdString(m_y);
    const QPointF xr = view()->xRange(), yr = view()->yRange();
    for (const auto &[id, s] : m_series) {
        const Run *r = store()->run(id);
        const MetricTable &t = r->table(m_table);
        const auto *xs = t.column(m_x), *ys = t.column(m_y);
        if (!xs || !ys)
            continue;
        for (size_t i = 0; i < std::min(xs->size(), ys->size()); ++i) {
            const double x = (*xs)[i], y = (*ys)[i];
            if (visibleOnly && (x < xr.x() || x > xr.y() || y < yr.x() || y > yr.y()))
                continue;
            out.rows.append({r->meta.name, QString::number(t.step[i], 'f', 0), QString::number(x, 'g', 8),
                             QString::number(y, 'g', 8)});
        }
    }
    return out;
}

} // namespace nmui
