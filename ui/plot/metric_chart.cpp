#include "plot/metric_chart.h"

#include "plot/curve_layer.h"

#include <QAreaSeries>
#include <QChart>
#include <QCheckBox>
#include <QComboBox>
#include <QFontMetricsF>
#include <QGraphicsSimpleTextItem>
#include <QHBoxLayout>
#include <QLegend>
#include <QLegendMarker>
#include <QLineSeries>
#include <QLogValueAxis>
#include <QRegularExpression>
#include <QValueAxis>

#include <algorithm>
#include <cmath>
#include <map>

namespace nmui {

struct MetricChart::Trace {
    QString key;
    int spec = 0;
    QList<int> runs;
    QString name;
    QColor color;
    // Empty series: the legend key and the look (pen, brush) of what the CurveLayer draws.
    QLineSeries *raw = nullptr, *main = nullptr, *upper = nullptr, *lower = nullptr;
    QAreaSeries *band = nullptr;
    std::vector<plot::EmaSmoother> smoothers;     // one per run
    plot::SeedAggregate aggregate;                // groups: this frame's mean and band
    QList<QPointF> rawPts, mainPts, upPts, loPts; // decimated, drawn by the CurveLayer
    bool showRaw = false;                         // the faded raw curve under a smoothed line
};

namespace {

QString formatValue(double v)
{
    if (!std::isfinite(v))
        return QStringLiteral("–");
    return QString::number(v, 'g', 4);
}

void hideFromLegend(QChart *chart, QAbstractSeries *s)
{
    for (QLegendMarker *m : chart->legend()->markers(s))
        m->setVisible(false);
}

// A seed group's legend name: short, so that legends of many groups keep the names whole; the
// chart's title says what the lines and bands are.
QString groupName(const QString &runName, int n)
{
    QString base = runName;
    base.remove(QRegularExpression(QStringLiteral("[\\s_]*(s|seed\\s*)\\d+$")));
    return QObject::tr("%1 (%2 seeds)").arg(base).arg(n);
}

} // namespace

CurveSpec columnCurve(TableKind table, const std::string &column, const QString &label, Qt::PenStyle style,
                      bool smoothable)
{
    CurveSpec s;
    s.label = label;
    s.table = table;
    s.column = column;
    s.style = style;
    s.smoothable = smoothable;
    return s;
}

MetricChart::MetricChart(RunStore *store, ChartSettings *settings, const QString &title, const QString &yTitle,
                         QList<CurveSpec> specs, QWidget *parent)
    : ChartPanel(store, title, parent), m_settings(settings), m_yTitle(yTitle), m_specs(std::move(specs))
{
    auto *x = new QValueAxis;
    x->setTitleText(tr("step"));
    x->setLabelFormat(QStringLiteral("%.0f"));
    followTicks(x, 90, true);
    chart()->addAxis(x, Qt::AlignBottom);
    m_xAxis = x;
    installYAxis();
    chart()->legend()->setMarkerShape(QLegend::MarkerShapeFromSeries); // dashed curves show dashed
    m_curves = new CurveLayer(chart());
    view()->setReadout([this](QPointF v) { return readout(v); });
    connect(settings, &ChartSettings::changed, this, &ChartPanel::requestRefresh);
}

void MetricChart::followTicks(QValueAxis *axis, int pixelsPerTick, bool horizontal)
{
    // Zooms and pans change ranges outside refresh(); keep about one tick per `pixelsPerTick`.
    connect(axis, &QValueAxis::rangeChanged, this, [this, axis, pixelsPerTick, horizontal](qreal lo, qreal hi) {
        const double pixels = horizontal ? chart()->plotArea().width() : chart()->plotArea().height();
        const double tick = plot::niceInterval(hi - lo, std::max(2, static_cast<int>(pixels) / pixelsPerTick));
        axis->setTickInterval(tick);
        if (!horizontal) // the value axis: decimals follow the interval (the step axis keeps %.0f)
            axis->setLabelFormat(plot::tickLabelFormat(tick, lo, hi, QStringLiteral("%.3g")));
    });
}

MetricChart::~MetricChart()
{
    // Area series do not own their boundary lines.
    for (auto &t : m_traces) {
        delete t->upper;
        delete t->lower;
    }
}

void MetricChart::installYAxis()
{
    QAbstractAxis *old = m_yAxis;
    QAbstractAxis *y = nullptr;
    if (m_logY) {
        auto *l = new QLogValueAxis;
        l->setBase(10);
        l->setMinorTickCount(8); // the default shows too few labels over a few decades
        l->setLabelFormat(QStringLiteral("%g"));
        y = l;
    } else {
        auto *v = new QValueAxis;
        v->setLabelFormat(QStringLiteral("%.3g"));
        v->setTickInterval(0.2);
        v->setTickType(QValueAxis::TicksDynamic);
        followTicks(v, 45, false);
        y = v;
    }
    y->setTitleText(m_yTitle);
    chart()->addAxis(y, Qt::AlignLeft);
    for (QAbstractSeries *s : chart()->series()) {
        if (old)
            s->detachAxis(old);
        s->attachAxis(y);
    }
    if (old) {
        chart()->removeAxis(old);
        delete old;
    }
    m_yAxis = y;
}

void MetricChart::setLogY(bool on)
{
    if (on == m_logY)
        return;
    m_logY = on;
    installYAxis();
    if (m_logBox)
        m_logBox->setChecked(on);
    view()->resetZoom();
}

void MetricChart::addLogToggle()
{
    m_logBox = new QCheckBox(tr("log y"), this);
    m_logBox->setChecked(m_logY);
    connect(m_logBox, &QCheckBox::toggled, this, &MetricChart::setLogY);
    headerLayout()->insertWidget(headerLayout()->count() - 2, m_logBox);
}

void MetricChart::addLayerPicker()
{
    m_layerBox = new QComboBox(this);
    m_layerBox->setToolTip(tr("Sparse layer"));
    m_layerBox->setSizeAdjustPolicy(QComboBox::AdjustToContents);
    connect(m_layerBox, &QComboBox::currentIndexChanged, this, [this](int i) {
        if (i >= 0)
            setLayer(i);
    });
    headerLayout()->insertWidget(1, m_layerBox);
}

void MetricChart::setLayer(int layer)
{
    if (layer == m_layer)
        return;
    m_layer = layer;
    if (m_layerBox && m_layerBox->currentIndex() != layer && layer < m_layerBox->count())
        m_layerBox->setCurrentIndex(layer);
    for (auto &t : m_traces)
        for (auto &s : t->smoothers)
            s.reset();
    requestRefresh();
}

void MetricChart::updateLayerChoices()
{
    if (!m_layerBox)
        return;
    QStringList names;
    for (int id : store()->runIds()) {
        const Run *r = store()->run(id);
        if (r && static_cast<qsizetype>(r->meta.sparseLayers.size()) > names.size()) {
            names.clear();
            for (const auto &n : r->meta.sparseLayers)
                names << QString::fromStdString(n);
        }
    }
    QStringList current;
    for (int i = 0; i < m_layerBox->count(); ++i)
        current << m_layerBox->itemText(i);
    if (names != current && !names.isEmpty()) {
        const QSignalBlocker block(m_layerBox);
        m_layerBox->clear();
        m_layerBox->addItems(names);
        m_layerBox->setCurrentIndex(std::min(m_layer, static_cast<int>(names.size()) - 1));
    }
}

XAxisMode MetricChart::mode() const
{
    return m_stepOnly ? XAxisMode::Step : m_settings->xMode();
}

std::string MetricChart::columnName(const CurveSpec &spec) const
{
    std::string c = spec.column;
    const auto pos = c.find("{layer}");
    if (pos != std::string::npos)
        c.replace(pos, 7, std::to_string(m_layer));
    return c;
}

bool MetricChart::curve(const Run &run, const CurveSpec &spec, CurveData &out) const
{
    if (spec.derive) {
        spec.derive(run, m_layer, out.ownStep, out.ownY);
        out.step = out.x = out.ownStep;
        out.y = out.ownY;
        return !out.ownStep.empty();
    }
    const MetricTable &t = run.table(spec.table);
    const std::vector<float> *col = t.column(columnName(spec));
    if (!col || col->empty())
        return false;
    out.step = t.step;
    out.y = *col;
    switch (mode()) {
    case XAxisMode::Step:
        out.x = t.step;
        break;
    case XAxisMode::Time:
        out.x = t.time;
        break;
    case XAxisMode::Wall:
        out.x = t.wall.size() == t.step.size() ? t.wall : t.time;
        break;
    case XAxisMode::Flops:
        out.x = t.flops; // runs without a FLOP count (older files) draw nothing here
        break;
    }
    return out.x.size() == out.y.size();
}

QList<MetricChart::Entity> MetricChart::entities() const
{
    QList<Entity> list;
    const QList<int> visible = store()->visibleRunIds();
    const QList<QList<int>> groups = m_settings->groupSeeds() ? store()->seedGroups(visible) : [&] {
        QList<QList<int>> g;
        for (int id : visible)
            g.append(QList<int>{id});
        return g;
    }();
    for (const QList<int> &g : groups) {
        const Run *first = store()->run(g.first());
        Entity e;
        e.runs = g;
        e.color = first->meta.color;
        if (g.size() == 1) {
            e.key = QStringLiteral("r%1").arg(g.first());
            e.name = first->meta.name;
        } else {
            QStringList ids;
            for (int id : g)
                ids << QString::number(id);
            e.key = QStringLiteral("g") + ids.join(',');
            e.name = groupName(first->meta.name, static_cast<int>(g.size()));
        }
        list.append(e);
    }
    return list;
}

MetricChart::Trace *MetricChart::createTrace(const Entity &e, int spec)
{
    auto t = std::make_unique<Trace>();
    t->key = e.key + QStringLiteral("#%1").arg(spec);
    t->spec = spec;
    t->runs = e.runs;
    t->smoothers.resize(static_cast<size_t>(e.runs.size()));
    QChart *c = chart();
    auto attach = [&](QAbstractSeries *s) {
        c->addSeries(s);
        s->attachAxis(m_xAxis);
        s->attachAxis(m_yAxis);
    };
    if (e.runs.size() > 1) {
        t->upper = new QLineSeries;
        t->lower = new QLineSeries;
        t->band = new QAreaSeries(t->upper, t->lower);
        attach(t->band);
        hideFromLegend(c, t->band);
    }
    t->raw = new QLineSeries;
    attach(t->raw);
    hideFromLegend(c, t->raw);
    t->main = new QLineSeries;
    if (m_specs[spec].points) {
        t->main->setPointsVisible(true);
        t->main->setMarkerSize(5);
    }
    attach(t->main);
    if (!m_specs[spec].legend)
        hideFromLegend(c, t->main);
    Trace *raw = t.get();
    m_traces.push_back(std::move(t));
    return raw;
}

void MetricChart::syncTraces(const QList<Entity> &list)
{
    std::map<QString, const Entity *> want;
    for (const Entity &e : list)
        for (int s = 0; s < m_specs.size(); ++s)
            want[e.key + QStringLiteral("#%1").arg(s)] = &e;
    for (auto it = m_traces.begin(); it != m_traces.end();) {
        if (want.count((*it)->key)) {
            ++it;
            continue;
        }
        Trace &t = **it;
        for (QAbstractSeries *s : {static_cast<QAbstractSeries *>(t.band), static_cast<QAbstractSeries *>(t.raw),
                                   static_cast<QAbstractSeries *>(t.main)})
            if (s) {
                chart()->removeSeries(s);
                delete s;
            }
        delete t.upper;
        delete t.lower;
        it = m_traces.erase(it);
    }
    for (const Entity &e : list)
        for (int s = 0; s < m_specs.size(); ++s) {
            const QString key = e.key + QStringLiteral("#%1").arg(s);
            auto found = std::find_if(m_traces.begin(), m_traces.end(), [&](const auto &t) { return t->key == key; });
            Trace *t = found == m_traces.end() ? createTrace(e, s) : found->get();
            const QString name = m_specs.size() > 1 && !m_specs[s].label.isEmpty()
                                     ? e.name + QStringLiteral(" · ") + m_specs[s].label
                                     : e.name;
            // Second and later curves of a run (pruned, predicted) in a lighter shade of its colour.
            const QColor color = s > 0 && m_specs[s].style != Qt::SolidLine ? e.color.lighter(135) : e.color;
            if (t->color != color || t->name != name) {
                t->color = color;
                t->name = name;
                QColor faded = color;
                faded.setAlpha(70);
                QPen rawPen(faded, 1.0);
                rawPen.setStyle(m_specs[s].style);
                t->raw->setPen(rawPen);
                QPen mainPen(color, 2.0);
                mainPen.setStyle(m_specs[s].style);
                t->main->setPen(mainPen);
                t->main->setName(name);
                if (t->band) {
                    QColor fill = color;
                    fill.setAlpha(45);
                    t->band->setBrush(fill);
                    t->band->setPen(Qt::NoPen);
                }
            }
        }
}

bool MetricChart::anyLive() const
{
    for (const auto &t : m_traces)
        for (int id : t->runs)
            if (const Run *run = store()->run(id);
                run && (run->meta.state == RunState::Running || run->meta.state == RunState::Starting ||
                        run->meta.state == RunState::Paused))
                return true;
    return false;
}

plot::Range MetricChart::fullXRange() const
{
    plot::Range r;
    for (const auto &t : m_traces)
        for (int id : t->runs)
            if (const Run *run = store()->run(id)) {
                CurveData d;
                if (curve(*run, m_specs[t->spec], d)) {
                    r.include(d.x.front());
                    r.include(d.x.back());
                }
            }
    return r;
}

void MetricChart::updateTrace(Trace &t, double x0, double x1, int columns, plot::Range &yr)
{
    const CurveSpec &spec = m_specs[t.spec];
    const double w = spec.smoothable ? m_settings->smoothing() : 0.0;
    t.rawPts.clear();
    t.mainPts.clear();
    t.upPts.clear();
    t.loPts.clear();
    if (t.runs.size() == 1) {
        const Run *run = store()->run(t.runs.first());
        CurveData d;
        if (run && curve(*run, spec, d)) {
            plot::decimateMinMax(d.x, d.y, x0, x1, columns, m_logY, t.rawPts);
            if (w > 0) {
                const auto &s = t.smoothers[0].apply(d.y, w, run->generation);
                plot::decimateMinMax(d.x, s, x0, x1, columns, m_logY, t.mainPts);
            }
        }
    } else {
        std::vector<CurveData> curves(static_cast<size_t>(t.runs.size()));
        std::vector<plot::CurveRef> refs;
        for (qsizetype i = 0; i < t.runs.size(); ++i) {
            const Run *run = store()->run(t.runs[i]);
            CurveData &d = curves[static_cast<size_t>(i)];
            if (!run || !curve(*run, spec, d))
                continue;
            std::span<const float> y = d.y;
            if (w > 0)
                y = t.smoothers[static_cast<size_t>(i)].apply(d.y, w, run->generation);
            refs.push_back({d.step, d.x, y});
        }
        t.aggregate = plot::aggregateSeeds(refs);
        plot::decimateMinMax(t.aggregate.x, t.aggregate.mean, x0, x1, columns, m_logY, t.mainPts);
        const bool ci = m_settings->seedBand() == SeedBand::Ci95;
        plot::decimateMinMax(t.aggregate.x, ci ? t.aggregate.ciHi : t.aggregate.hi, x0, x1, columns, m_logY, t.upPts);
        plot::decimateMinMax(t.aggregate.x, ci ? t.aggregate.ciLo : t.aggregate.lo, x0, x1, columns, m_logY, t.loPts);
        yr.include(plot::yRange(t.upPts));
        yr.include(plot::yRange(t.loPts));
    }
    t.showRaw = t.runs.size() == 1 && !t.mainPts.isEmpty();
    if (t.runs.size() == 1 && t.mainPts.isEmpty())
        std::swap(t.rawPts, t.mainPts); // no smoothing: the raw curve is the main line
    yr.include(plot::yRange(t.mainPts));
    if (t.showRaw)
        yr.include(plot::yRange(t.rawPts));
}

void MetricChart::updateAxes(double x0, double x1, const plot::Range &yr)
{
    auto *x = static_cast<QValueAxis *>(m_xAxis);
    const XAxisMode m = mode();
    if (m != m_lastMode) {
        m_lastMode = m;
        x->setTitleText(m == XAxisMode::Step    ? tr("step")
                        : m == XAxisMode::Time  ? tr("training time (s)")
                        : m == XAxisMode::Flops ? tr("training FLOPs")
                                                : tr("wall time (s)"));
        x->setLabelFormat(m == XAxisMode::Step ? QStringLiteral("%.0f") : QStringLiteral("%.3g"));
    }
    plot::Range y = yr;
    if (m_yHint.valid && !m_logY) {
        y.include(m_yHint.lo);
        y.include(m_yHint.hi);
    }
    y = plot::padded(y, m_logY);
    if (!y.valid)
        y = m_logY ? plot::Range{0.1, 10, true} : plot::Range{0, 1, true};
    if (!(x1 > x0))
        x1 = x0 + 1;
    x->setTickType(QValueAxis::TicksDynamic);
    x->setTickAnchor(0);
    const double xTick = plot::niceInterval(x1 - x0, std::max(2, view()->plotColumns() / 90));
    double yTick = 0;
    if (auto *v = qobject_cast<QValueAxis *>(m_yAxis)) {
        v->setTickAnchor(0);
        yTick = plot::niceInterval(y.hi - y.lo, std::max(2, static_cast<int>(chart()->plotArea().height()) / 45));
        const QString format = plot::tickLabelFormat(yTick, y.lo, y.hi, QStringLiteral("%.3g"));
        if (v->labelFormat() != format)
            v->setLabelFormat(format);
    }
    view()->setRanges(x0, x1, y.lo, y.hi, xTick, yTick);
}

void MetricChart::pushShapes()
{
    // Every band and faded raw curve below every run's main line, so no run's raw noise hides
    // another run's line.
    std::vector<CurveLayer::Shape> shapes;
    shapes.reserve(3 * m_traces.size());
    using Kind = CurveLayer::Shape::Kind;
    for (const auto &t : m_traces)
        if (t->band && !t->upPts.isEmpty())
            shapes.push_back({Kind::Band, t->band, t->upPts, t->loPts, false});
    for (const auto &t : m_traces)
        if (t->showRaw)
            shapes.push_back({Kind::Line, t->raw, t->rawPts, {}, false});
    for (const auto &t : m_traces)
        shapes.push_back({Kind::Line, t->main, t->mainPts, {}, m_specs[t->spec].points});
    m_curves->setShapes(std::move(shapes));
}

void MetricChart::refresh()
{
    updateLayerChoices();
    syncTraces(entities());
    const plot::Range full = fullXRange();
    double x0 = full.lo, x1 = full.hi;
    PlotView *v = view();
    const bool zoomed = v->userZoomed();
    if (zoomed) {
        const QPointF r = v->xRange();
        x0 = r.x();
        x1 = r.y();
        if (m_settings->followLatest() && full.valid) { // slide the zoomed window to the newest point
            x0 = full.hi - (r.y() - r.x());
            x1 = full.hi;
        }
    } else if (full.valid && full.hi > full.lo && anyLive()) {
        // While runs train, the step axis ends at the next tick past the newest point, so it
        // changes (and Qt Charts lays out its ticks and labels again) once per tick, not once
        // per frame. Finished runs fit the axis exactly (exports for papers).
        const double tick = plot::niceInterval(full.hi - full.lo, std::max(2, v->plotColumns() / 90));
        x1 = full.lo + std::ceil((full.hi - full.lo) / tick) * tick;
    }
    const int columns = v->plotColumns();
    plot::Range yr;
    for (auto &t : m_traces)
        updateTrace(*t, x0, x1, columns, yr);
    if (!zoomed || m_settings->followLatest())
        updateAxes(x0, x1, yr);
    pushShapes();
    updateMarkers();
    fitLegend();
    const bool groups = std::any_of(m_traces.begin(), m_traces.end(), [](const auto &t) { return t->runs.size() > 1; });
    const QString band = m_settings->seedBand() == SeedBand::Ci95 ? tr(" · mean ± 95 % CI over seeds")
                                                                  : tr(" · mean, min–max over seeds");
    const QString heading = groups ? title() + band : title();
    if (chart()->title() != heading)
        chart()->setTitle(heading);
}

void MetricChart::fitLegend()
{
    QStringList names;
    for (const auto &t : m_traces)
        if (m_specs[t->spec].legend)
            names << t->name;
    ChartPanel::fitLegend(names);
}

void MetricChart::updateMarkers()
{
    m_markerList = m_markers ? m_markers(store()->visibleRunIds()) : QList<Marker>{};
    while (m_markerItems.size() > static_cast<size_t>(m_markerList.size())) {
        auto [s, label] = m_markerItems.back();
        chart()->removeSeries(s);
        delete s;
        delete label;
        m_markerItems.pop_back();
    }
    while (m_markerItems.size() < static_cast<size_t>(m_markerList.size())) {
        auto *s = new QLineSeries;
        chart()->addSeries(s);
        s->attachAxis(m_xAxis);
        s->attachAxis(m_yAxis);
        hideFromLegend(chart(), s);
        auto *label = new QGraphicsSimpleTextItem(chart());
        QFont f = label->font();
        f.setPointSizeF(f.pointSizeF() * 0.85);
        label->setFont(f);
        label->setZValue(10);
        m_markerItems.emplace_back(s, label);
    }
    const QPointF yr = view()->yRange();
    const QRectF area = chart()->plotArea();
    for (qsizetype i = 0; i < m_markerList.size(); ++i) {
        const Marker &m = m_markerList[i];
        auto [s, label] = m_markerItems[static_cast<size_t>(i)];
        QColor c = m.color.isValid() ? m.color : QColor(90, 90, 90);
        s->setPen(QPen(c, 1.0, Qt::DashLine));
        s->replace({QPointF(m.x, yr.x()), QPointF(m.x, yr.y())});
        label->setText(m.label);
        label->setBrush(c);
        const QPointF p = chart()->mapToPosition(QPointF(m.x, yr.y()), s);
        label->setPos(p.x() + 3, area.top() + 2 + static_cast<double>(i % 2) * label->boundingRect().height());
        label->setVisible(area.contains(QPointF(p.x(), area.center().y())));
    }
}

QList<MetricChart::StepValue> MetricChart::valuesAt(double x) const
{
    QList<StepValue> out;
    const double w = m_settings->smoothing();
    for (const auto &t : m_traces) {
        const CurveSpec &spec = m_specs[t->spec];
        for (qsizetype k = 0; k < t->runs.size(); ++k) {
            const Run *run = store()->run(t->runs[k]);
            CurveData d;
            if (!run || !curve(*run, spec, d))
                continue;
            const long i = plot::nearestIndex(d.x, x);
            if (i < 0)
                continue;
            StepValue v;
            v.run = run->meta.name +
                    (m_specs.size() > 1 && !spec.label.isEmpty() ? QStringLiteral(" · ") + spec.label : QString());
            v.color = run->meta.color;
            v.step = d.step[static_cast<size_t>(i)];
            v.value = d.y[static_cast<size_t>(i)];
            if (spec.smoothable && w > 0) {
                plot::EmaSmoother smoother; // the chart's own are per trace; this one is per lookup
                v.smoothed = smoother.apply(d.y, w)[static_cast<size_t>(i)];
            }
            for (size_t j = 0; j < d.y.size(); ++j) {
                const double y = d.y[j];
                if (!std::isfinite(y))
                    continue;
                if (!(y >= v.min)) {
                    v.min = y;
                    v.minStep = d.step[j];
                }
                if (!(y <= v.max))
                    v.max = y;
            }
            out.append(v);
        }
    }
    return out;
}

QString MetricChart::readout(QPointF value) const
{
    struct Row {
        QColor color;
        QString name, raw, smooth;
        double distance;
    };
    QList<Row> rows;
    double nearestX = NAN;
    const bool smoothing = m_settings->smoothing() > 0;
    for (const auto &t : m_traces) {
        const CurveSpec &spec = m_specs[t->spec];
        if (t->runs.size() == 1) {
            const Run *run = store()->run(t->runs.first());
            CurveData d;
            if (!run || !curve(*run, spec, d))
                continue;
            const long i = plot::nearestIndex(d.x, value.x());
            // The smoother is this chart's cache; with the weight and data unchanged it only
            // processes points that arrived since the last frame.
            const std::vector<float> &s =
                t->smoothers[0].apply(d.y, spec.smoothable ? m_settings->smoothing() : 0.0, run->generation);
            const double yv = spec.smoothable && smoothing ? s[static_cast<size_t>(i)] : d.y[static_cast<size_t>(i)];
            if (std::isnan(nearestX))
                nearestX = d.step[static_cast<size_t>(i)];
            rows.append({t->color, t->name, formatValue(d.y[static_cast<size_t>(i)]),
                         spec.smoothable && smoothing ? formatValue(s[static_cast<size_t>(i)]) : QString(),
                         std::abs(yv - value.y())});
        } else if (!t->aggregate.x.empty()) {
            const long i = plot::nearestIndex(t->aggregate.x, value.x());
            const auto k = static_cast<size_t>(i);
            if (std::isnan(nearestX))
                nearestX = t->aggregate.step[k];
            const bool ci = m_settings->seedBand() == SeedBand::Ci95;
            const float lo = ci ? t->aggregate.ciLo[k] : t->aggregate.lo[k];
            const float hi = ci ? t->aggregate.ciHi[k] : t->aggregate.hi[k];
            rows.append({t->color, t->name, formatValue(lo) + QStringLiteral("–") + formatValue(hi),
                         formatValue(t->aggregate.mean[k]),
                         std::abs(static_cast<double>(t->aggregate.mean[k]) - value.y())});
        }
    }
    if (rows.isEmpty())
        return {};
    std::sort(rows.begin(), rows.end(), [](const Row &a, const Row &b) { return a.distance < b.distance; });
    QString html = QStringLiteral("<b>step %1</b><table cellspacing=0 cellpadding=1>").arg(nearestX, 0, 'f', 0);
    for (qsizetype i = 0; i < rows.size(); ++i) {
        const Row &r = rows[i];
        const QString b0 = i == 0 ? QStringLiteral("<b>") : QString(), b1 = i == 0 ? QStringLiteral("</b>") : QString();
        html += QStringLiteral("<tr><td><span style='color:%1'>&#9632;</span></td><td>%2%3%4</td>"
                               "<td align=right>&nbsp;%2%5%4</td><td align=right>&nbsp;%6</td></tr>")
                    .arg(r.color.name(), b0, r.name.toHtmlEscaped(), b1, r.smooth.isEmpty() ? r.raw : r.smooth,
                         r.smooth.isEmpty() ? QString() : QStringLiteral("<font color=#777>raw ") + r.raw + "</font>");
    }
    return html + QStringLiteral("</table>");
}

DataTable MetricChart::table(bool visibleOnly) const
{
    DataTable out;
    const QPointF xr = view()->xRange();
    std::map<double, QList<QString>> rows; // by step
    QList<QString> header;
    auto put = [&](double step, qsizetype col, const QString &v) {
        auto &row = rows[step];
        while (row.size() <= col)
            row.append(QString());
        row[col] = v;
    };
    const bool smoothing = m_settings->smoothing() > 0;
    for (const auto &t : m_traces) {
        const CurveSpec &spec = m_specs[t->spec];
        if (t->runs.size() == 1) {
            const Run *run = store()->run(t->runs.first());
            CurveData d;
            if (!run || !curve(*run, spec, d))
                continue;
            const qsizetype c = header.size();
            header << t->name + QStringLiteral(" raw");
            const bool sm = spec.smoothable && smoothing;
            std::vector<float> s;
            if (sm) {
                plot::EmaSmoother fresh;
                s = fresh.apply(d.y, m_settings->smoothing());
                header << t->name + QStringLiteral(" smoothed");
            }
            for (size_t i = 0; i < d.y.size(); ++i) {
                if (visibleOnly && (d.x[i] < xr.x() || d.x[i] > xr.y()))
                    continue;
                put(d.step[i], c, QString::number(d.y[i], 'g', 8));
                if (sm)
                    put(d.step[i], c + 1, QString::number(s[i], 'g', 8));
            }
        } else {
            const auto &a = t->aggregate;
            const qsizetype c = header.size();
            header << t->name + QStringLiteral(" mean") << t->name + QStringLiteral(" min")
                   << t->name + QStringLiteral(" max");
            for (size_t i = 0; i < a.x.size(); ++i) {
                if (visibleOnly && (a.x[i] < xr.x() || a.x[i] > xr.y()))
                    continue;
                put(a.step[i], c, QString::number(a.mean[i], 'g', 8));
                put(a.step[i], c + 1, QString::number(a.lo[i], 'g', 8));
                put(a.step[i], c + 2, QString::number(a.hi[i], 'g', 8));
            }
        }
    }
    out.header << QStringLiteral("step") << header;
    for (auto &[step, cells] : rows) {
        while (cells.size() < header.size())
            cells.append(QString());
        out.rows.append(QList<QString>{QString::number(step, 'f', 0)} + cells);
    }
    return out;
}

QLineSeries *MetricChart::mainSeries(int runId, int spec) const
{
    for (const auto &t : m_traces)
        if (t->spec == spec && t->runs.contains(runId))
            return t->main;
    return nullptr;
}

QLineSeries *MetricChart::rawSeries(int runId, int spec) const
{
    for (const auto &t : m_traces)
        if (t->spec == spec && t->runs.contains(runId))
            return t->raw;
    return nullptr;
}

QList<QPointF> MetricChart::mainPoints(int runId, int spec) const
{
    for (const auto &t : m_traces)
        if (t->spec == spec && t->runs.contains(runId))
            return t->mainPts;
    return {};
}

std::pair<QList<QPointF>, QList<QPointF>> MetricChart::bandPoints(int runId, int spec) const
{
    for (const auto &t : m_traces)
        if (t->spec == spec && t->runs.contains(runId))
            return {t->upPts, t->loPts};
    return {};
}

QList<QPointF> MetricChart::rawPoints(int runId, int spec) const
{
    for (const auto &t : m_traces)
        if (t->spec == spec && t->runs.contains(runId))
            return t->showRaw ? t->rawPts : QList<QPointF>{};
    return {};
}

} // namespace nmui
