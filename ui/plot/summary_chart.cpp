#include "plot/summary_chart.h"

#include "plot/series_math.h"
#include "training/run_store.h"

#include <QChart>
#include <QCheckBox>
#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLegendMarker>
#include <QLineSeries>
#include <QLogValueAxis>
#include <QSpinBox>
#include <QValueAxis>

#include <cmath>
#include <limits>

namespace nmui {

SummaryChart::SummaryChart(RunStore *store, QWidget *parent) : ChartPanel(store, tr("Summary"), parent)
{
    m_yAxis = new QValueAxis;
    m_yAxis->setLabelFormat(QStringLiteral("%.3g"));
    chart()->addAxis(m_yAxis, Qt::AlignLeft);
    installXAxis();
    buildControls();
    view()->setReadout([this](QPointF v) { return readout(v); });
}

void SummaryChart::buildControls()
{
    QHBoxLayout *h = headerLayout();
    m_metricBox = new QComboBox(this);
    for (const SummaryMetric &m : summaryMetrics())
        m_metricBox->addItem(m.label);
    m_statBox = new QComboBox(this);
    m_statBox->addItems({tr("final"), tr("best"), tr("at step")});
    m_statBox->setToolTip(tr("Each run's last value, its best (highest accuracy, lowest loss), or its last value at "
                             "or before the step"));
    m_stepSpin = new QSpinBox(this);
    m_stepSpin->setRange(0, 100000000);
    m_stepSpin->setEnabled(false);
    m_xBox = new QComboBox(this);
    m_xBox->setToolTip(tr("x: the density N/M, the training FLOPs spent by the value's step, or a swept option"));
    m_logBox = new QCheckBox(tr("log x"), this);
    h->insertWidget(1, m_metricBox);
    h->insertWidget(2, m_statBox);
    h->insertWidget(3, m_stepSpin);
    h->insertWidget(4, new QLabel(tr("against"), this));
    h->insertWidget(5, m_xBox);
    h->insertWidget(6, m_logBox);
    auto apply = [this] {
        SummaryOptions o = m_options;
        o.metric = m_metricBox->currentIndex();
        o.stat = static_cast<SummaryStat>(m_statBox->currentIndex());
        o.step = m_stepSpin->value();
        if (m_xBox->currentIndex() >= 0)
            o.x = m_xBox->currentData().toString();
        setOptions(o);
    };
    connect(m_metricBox, &QComboBox::currentIndexChanged, this, apply);
    connect(m_statBox, &QComboBox::currentIndexChanged, this, apply);
    connect(m_stepSpin, &QSpinBox::valueChanged, this, apply);
    connect(m_xBox, &QComboBox::currentIndexChanged, this, apply);
    connect(m_logBox, &QCheckBox::toggled, this, &SummaryChart::setLogX);
}

void SummaryChart::setOptions(const SummaryOptions &o)
{
    m_options = o;
    const QSignalBlocker a(m_metricBox), b(m_statBox), c(m_stepSpin), d(m_xBox);
    m_metricBox->setCurrentIndex(o.metric);
    m_statBox->setCurrentIndex(static_cast<int>(o.stat));
    m_stepSpin->setValue(static_cast<int>(o.step));
    m_stepSpin->setEnabled(o.stat == SummaryStat::AtStep);
    const int xi = m_xBox->findData(o.x);
    if (xi >= 0)
        m_xBox->setCurrentIndex(xi);
    requestRefresh();
}

void SummaryChart::setLogX(bool on)
{
    if (on == m_logX)
        return;
    m_logX = on;
    const QSignalBlocker block(m_logBox);
    m_logBox->setChecked(on);
    installXAxis();
    requestRefresh();
}

void SummaryChart::installXAxis()
{
    for (QAbstractSeries *s : chart()->series()) {
        chart()->removeSeries(s);
        delete s;
    }
    m_lines.clear();
    m_barPool.clear();
    if (m_xAxis) {
        chart()->removeAxis(m_xAxis);
        delete m_xAxis;
    }
    if (m_logX) {
        auto *l = new QLogValueAxis;
        l->setBase(10);
        l->setMinorTickCount(8);
        l->setLabelFormat(QStringLiteral("%g"));
        m_xAxis = l;
    } else {
        auto *v = new QValueAxis;
        v->setLabelFormat(QStringLiteral("%.3g"));
        m_xAxis = v;
    }
    chart()->addAxis(m_xAxis, Qt::AlignBottom);
}

void SummaryChart::syncXChoices()
{
    const QStringList choices = summaryXChoices(*store(), store()->visibleRunIds());
    QStringList current;
    for (int i = 0; i < m_xBox->count(); ++i)
        current << m_xBox->itemData(i).toString();
    if (choices == current)
        return;
    const QSignalBlocker block(m_xBox);
    m_xBox->clear();
    for (const QString &c : choices)
        m_xBox->addItem(summaryXLabel(c), c);
    // A sweep's first key is the natural default the first time one appears.
    if (!current.contains(m_options.x) ||
        (m_options.x == QStringLiteral("density") && choices.size() > 2 && current.size() <= 2))
        m_options.x = choices.size() > 2 ? choices[2] : m_options.x;
    m_xBox->setCurrentIndex(std::max(0, static_cast<int>(choices.indexOf(m_options.x))));
    m_options.x = m_xBox->currentData().toString();
}

QLineSeries *SummaryChart::lineFor(const QString &key) const
{
    auto it = m_lines.find(key);
    return it == m_lines.end() ? nullptr : it->second;
}

QLineSeries *SummaryChart::addSeries()
{
    auto *s = new QLineSeries;
    chart()->addSeries(s);
    s->attachAxis(m_xAxis);
    s->attachAxis(m_yAxis);
    return s;
}

void SummaryChart::refresh()
{
    syncXChoices();
    m_groups = summarize(*store(), store()->visibleRunIds(), m_options);
    const SummaryMetric &metric =
        summaryMetrics()[std::clamp(m_options.metric, 0, static_cast<int>(summaryMetrics().size()) - 1)];
    m_xAxis->setTitleText(summaryXLabel(m_options.x));
    m_yAxis->setTitleText(metric.label);
    const QString heading = tr("Summary · mean ± 95 % CI over seeds");
    if (chart()->title() != heading)
        chart()->setTitle(heading);
    Plotted p;
    for (const SummaryGroup &g : m_groups) {
        if (m_logX && !(g.x > 0))
            continue;
        if (!p.colors.count(g.line))
            p.colors[g.line] = store()->run(g.runs.first())->meta.color;
        p.points[g.line].append(QPointF(g.x, g.y.mean));
        p.xr.include(g.x);
        p.yr.include(g.y.mean);
        if (g.y.n >= 2 && std::isfinite(g.y.halfWidth)) {
            p.bars.push_back({g.x, g.y.lo(), g.y.hi(), p.colors[g.line]});
            p.yr.include(g.y.lo());
            p.yr.include(g.y.hi());
        }
    }
    showLines(p);
    showBars(p.bars);
    if (!view()->userZoomed())
        fitAxes(p.xr, p.yr);
    Q_EMIT groupsChanged();
}

// One line per recipe (markers at the group means); lines of recipes no longer shown go.
void SummaryChart::showLines(const Plotted &p)
{
    for (auto it = m_lines.begin(); it != m_lines.end();) {
        if (p.points.count(it->first)) {
            ++it;
            continue;
        }
        chart()->removeSeries(it->second);
        delete it->second;
        it = m_lines.erase(it);
    }
    for (const auto &[key, pts] : p.points) {
        QLineSeries *&line = m_lines[key];
        if (!line) {
            line = addSeries();
            line->setName(key);
            line->setPointsVisible(true);
            line->setMarkerSize(7);
        }
        const QColor colour = p.colors.at(key);
        if (line->pen().color() != colour)
            line->setPen(QPen(colour, 2));
        line->replace(pts);
    }
}

// The error bars, drawn by a pool of two-point series without legend markers.
void SummaryChart::showBars(const std::vector<ErrorBar> &bars)
{
    while (m_barPool.size() < bars.size()) {
        QLineSeries *bar = addSeries();
        for (QLegendMarker *m : chart()->legend()->markers(bar))
            m->setVisible(false);
        m_barPool.push_back(bar);
    }
    for (size_t i = 0; i < m_barPool.size(); ++i) {
        QLineSeries *bar = m_barPool[i];
        if (i >= bars.size()) {
            bar->clear();
            continue;
        }
        const ErrorBar &b = bars[i];
        if (bar->pen().color() != b.color)
            bar->setPen(QPen(b.color, 1.5));
        bar->replace({QPointF(b.x, b.lo), QPointF(b.x, b.hi)});
    }
    m_bars = static_cast<int>(bars.size());
}

// Axes around the data, with ticks at 1, 2 or 5 × 10^k labelled with as many decimals as the
// interval needs.
void SummaryChart::fitAxes(const plot::Range &xr, const plot::Range &yr)
{
    plot::Range x = plot::padded(xr, m_logX), y = plot::padded(yr, false);
    if (!x.valid)
        x = m_logX ? plot::Range{0.1, 10, true} : plot::Range{0, 1, true};
    if (!y.valid)
        y = {0, 1, true};
    auto ticks = [](QValueAxis *a, double span) {
        const double step = plot::niceInterval(span, 6); // set with the range
        a->setTickAnchor(0);
        a->setTickType(QValueAxis::TicksDynamic);
        const int decimals = step > 0 && step < 1 ? static_cast<int>(std::ceil(-std::log10(step) - 1e-9)) : 0;
        a->setLabelFormat(step >= 1e5 || (step > 0 && step < 1e-4) ? QStringLiteral("%.3g")
                                                                   : QStringLiteral("%.%1f").arg(decimals));
        return step;
    };
    double xTick = 0;
    if (auto *v = qobject_cast<QValueAxis *>(m_xAxis))
        xTick = ticks(v, x.hi - x.lo);
    const double yTick = ticks(m_yAxis, y.hi - y.lo);
    view()->setRanges(x.lo, x.hi, y.lo, y.hi, xTick, yTick);
}

QString SummaryChart::readout(QPointF value) const
{
    const QPointF target = chart()->mapToPosition(value);
    double best = 24;
    QString html;
    for (const SummaryGroup &g : m_groups) {
        const QPointF p = chart()->mapToPosition(QPointF(g.x, g.y.mean));
        const double d = std::hypot(p.x() - target.x(), p.y() - target.y());
        if (d >= best)
            continue;
        best = d;
        html = QStringLiteral("<b>%1</b><br>x %2<br>mean %3 ± %4 (95 % CI), n = %5<br>min %6, max %7")
                   .arg(g.name.toHtmlEscaped())
                   .arg(g.x, 0, 'g', 4)
                   .arg(g.y.mean, 0, 'g', 4)
                   .arg(std::isfinite(g.y.halfWidth) ? QString::number(g.y.halfWidth, 'g', 3) : QStringLiteral("–"))
                   .arg(g.y.n)
                   .arg(g.lo, 0, 'g', 4)
                   .arg(g.hi, 0, 'g', 4);
    }
    return html;
}

DataTable SummaryChart::table(bool) const
{
    DataTable out;
    const SummaryMetric &metric =
        summaryMetrics()[std::clamp(m_options.metric, 0, static_cast<int>(summaryMetrics().size()) - 1)];
    out.header << QStringLiteral("group") << QStringLiteral("recipe") << QStringLiteral("nm") << QStringLiteral("sweep")
               << QStringLiteral("x: ") + summaryXLabel(m_options.x) << QStringLiteral("n")
               << metric.label + QStringLiteral(" mean") << QStringLiteral("ci95_half_width")
               << QStringLiteral("ci95_low") << QStringLiteral("ci95_high") << QStringLiteral("std")
               << QStringLiteral("min") << QStringLiteral("max");
    auto num = [](double v) { return std::isfinite(v) ? QString::number(v, 'g', 6) : QString(); };
    for (const SummaryGroup &g : m_groups)
        out.rows.append({g.name, g.recipe, g.nm, g.sweep, num(g.x), QString::number(g.y.n), num(g.y.mean),
                         num(g.y.halfWidth), num(g.y.lo()), num(g.y.hi()), num(g.y.stddev), num(g.lo), num(g.hi)});
    return out;
}

} // namespace nmui
