#include "curve_layer.h"

#include <QAbstractAxis>
#include <QAreaSeries>
#include <QChart>
#include <QLogValueAxis>
#include <QPaintEngine>
#include <QPainter>
#include <QPolygonF>
#include <QRegion>
#include <QValueAxis>
#include <QXYSeries>

#include <algorithm>
#include <cmath>

namespace nmui {

namespace {

// Qt Charts paints series at z 4 and the legend at 5 (ChartPresenter::ZValues); marker labels
// and the crosshair sit higher.
constexpr qreal kCurveZ = 4.5;

// Data to pixel along one axis: p = offset + scale · f(v), f the identity or log.
struct AxisMap {
    bool valid = false;
    bool log = false;
    double offset = 0, scale = 0;
    double operator()(double v) const { return offset + scale * (log ? std::log(v) : v); }
};

AxisMap axisMap(const QAbstractAxis *axis, double from, double to)
{
    AxisMap m;
    double lo = 0, hi = 0;
    bool reverse = false;
    if (auto *v = qobject_cast<const QValueAxis *>(axis)) {
        lo = v->min();
        hi = v->max();
        reverse = v->isReverse();
    } else if (auto *l = qobject_cast<const QLogValueAxis *>(axis)) {
        if (!(l->min() > 0 && l->max() > 0))
            return m;
        m.log = true;
        lo = std::log(l->min());
        hi = std::log(l->max());
        reverse = l->isReverse();
    } else {
        return m;
    }
    if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi))
        return m;
    if (reverse)
        std::swap(from, to);
    m.scale = (to - from) / (hi - lo);
    m.offset = from - lo * m.scale;
    m.valid = true;
    return m;
}

QAbstractAxis *attached(QAbstractSeries *s, Qt::Orientation o)
{
    for (QAbstractAxis *a : s->attachedAxes())
        if (a->orientation() == o)
            return a;
    return nullptr;
}

// Maps points to pixels; a point a log axis cannot show (<= 0, or not finite) ends the run of
// points before it, so `out` gets one polygon per unbroken run.
void mapPoints(const QList<QPointF> &in, const AxisMap &mx, const AxisMap &my, std::vector<QPolygonF> &out)
{
    out.clear();
    QPolygonF run;
    run.reserve(in.size());
    for (const QPointF &p : in) {
        const bool ok = std::isfinite(p.x()) && std::isfinite(p.y()) && (!mx.log || p.x() > 0) && (!my.log || p.y() > 0);
        if (!ok) {
            if (!run.isEmpty())
                out.push_back(std::move(run));
            run = QPolygonF();
            continue;
        }
        run.append(QPointF(mx(p.x()), my(p.y())));
    }
    if (!run.isEmpty())
        out.push_back(std::move(run));
}

// A line with about one point per pixel column or more (min/max decimation draws a zigzag
// between each column's lowest and highest value) is painted column by column instead of
// stroked: QPainter strokes a zigzag of a few thousand overlapping segments in tens to hundreds
// of milliseconds, and fills the same pixels as one rectangle per column in under one. Per
// device pixel column it takes the lowest and highest point the polyline's segments reach in
// it, widens that by half the pen's width up and down (and by the columns the pen's half width
// covers to each side), and fills that span antialiased (fractional ends). Sparser lines are
// stroked, and so is everything on a vector device.
bool denseRun(const QPolygonF &run)
{
    const double span = run.last().x() - run.first().x();
    return run.size() > 8 && static_cast<double>(run.size()) > 0.5 * span;
}

// Column spans of a run in device pixels: one rectangle per column it covers.
QVector<QRectF> columnSpans(const QPolygonF &run, double penWidth)
{
    const double x0 = std::floor(run.first().x());
    auto column = [&](double x) { return static_cast<long>(std::floor(x - x0)); };
    const long n = std::max(1L, column(run.last().x()) + 1);
    std::vector<double> lo(static_cast<size_t>(n), INFINITY), hi(static_cast<size_t>(n), -INFINITY);
    auto put = [&](long k, double y) {
        if (k < 0 || k >= n)
            return;
        lo[static_cast<size_t>(k)] = std::min(lo[static_cast<size_t>(k)], y);
        hi[static_cast<size_t>(k)] = std::max(hi[static_cast<size_t>(k)], y);
    };
    put(column(run.first().x()), run.first().y());
    for (qsizetype i = 1; i < run.size(); ++i) {
        QPointF a = run[i - 1], b = run[i];
        if (b.x() < a.x())
            std::swap(a, b);
        const long ka = column(a.x()), kb = column(b.x());
        put(ka, a.y());
        put(kb, b.y());
        // A segment across columns passes every boundary between them.
        for (long k = ka + 1; k <= kb; ++k) {
            const double xb = x0 + static_cast<double>(k);
            const double y = a.y() + (b.y() - a.y()) * (xb - a.x()) / (b.x() - a.x());
            put(k - 1, y);
            put(k, y);
        }
    }
    // The pen reaches floor(w/2 - 1/2) whole columns to each side of a point (none for w <= 2).
    const long r = std::max(0L, static_cast<long>(std::floor(0.5 * penWidth - 0.5 + 1e-9)));
    const double pad = 0.5 * penWidth;
    QVector<QRectF> rects;
    rects.reserve(n + 2 * r);
    for (long k = -r; k < n + r; ++k) {
        double top = INFINITY, bottom = -INFINITY;
        for (long j = std::max(0L, k - r); j <= std::min(n - 1, k + r); ++j) {
            top = std::min(top, lo[static_cast<size_t>(j)]);
            bottom = std::max(bottom, hi[static_cast<size_t>(j)]);
        }
        if (std::isfinite(top))
            rects.append(QRectF(x0 + static_cast<double>(k), top - pad, 1.0, bottom - top + 2 * pad));
    }
    return rects;
}

// The "on" stretches of a dashed pen along x, in device pixels (a dense curve's dashes cannot
// follow its zigzag, so they follow the x axis).
QRegion dashColumns(const QPen &pen, const QRect &area, double penWidth)
{
    const QList<qreal> pattern = pen.dashPattern();
    double period = 0;
    for (qreal v : pattern)
        period += v * penWidth;
    if (pattern.size() < 2 || !(period > 0))
        return QRegion(area);
    QRegion region;
    double x = area.left();
    for (qsizetype i = 0; x < area.right(); i = (i + 1) % pattern.size()) {
        const double len = pattern[i] * penWidth;
        if (i % 2 == 0)
            region += QRect(static_cast<int>(std::floor(x)), area.top(),
                            std::max(1, static_cast<int>(std::lround(len))), area.height());
        x += len;
    }
    return region;
}

void drawLine(QPainter *painter, const QPen &pen, const std::vector<QPolygonF> &runs)
{
    // Columns are device pixels (exports render at a scale); only scale and translation map
    // to device space that simply, so anything else is stroked. The combined transform, not
    // deviceTransform(): a widget's painter also has a redirection offset, which stays applied
    // after resetTransform().
    // Vector exports (PDF, SVG) have no pixels and keep the polyline itself.
    const QTransform device = painter->combinedTransform();
    const bool simple = device.type() <= QTransform::TxScale && painter->paintEngine() &&
                        painter->paintEngine()->type() == QPaintEngine::Raster;
    const double scale = std::abs(device.m22());
    const double width = (pen.isCosmetic() ? 1.0 : scale) * (pen.widthF() > 0 ? pen.widthF() : 1.0);
    for (const QPolygonF &r : runs) {
        const QPolygonF d = device.map(r);
        if (!simple || !denseRun(d)) {
            painter->setPen(pen);
            painter->setBrush(Qt::NoBrush);
            painter->drawPolyline(r);
            continue;
        }
        painter->save();
        painter->resetTransform(); // the clip stays where it was set
        if (pen.style() != Qt::SolidLine)
            painter->setClipRegion(dashColumns(pen, painter->clipBoundingRect().toAlignedRect(), width),
                                   Qt::IntersectClip);
        painter->setPen(Qt::NoPen);
        painter->setBrush(pen.brush());
        painter->drawRects(columnSpans(d, width));
        painter->restore();
    }
}

} // namespace

CurveLayer::CurveLayer(QChart *chart) : QGraphicsObject(chart), m_chart(chart), m_area(chart->plotArea())
{
    setZValue(kCurveZ);
    setFlag(QGraphicsItem::ItemHasNoContents, false);
    setAcceptedMouseButtons(Qt::NoButton);
    setAcceptHoverEvents(false);
    connect(chart, &QChart::plotAreaChanged, this, [this](const QRectF &area) {
        prepareGeometryChange();
        m_area = area;
        update();
    });
}

void CurveLayer::setShapes(std::vector<Shape> shapes)
{
    m_shapes = std::move(shapes);
    ++m_updates;
    followAxes();
    update();
}

void CurveLayer::followAxes()
{
    for (QAbstractAxis *a : m_chart->axes()) {
        if (auto *v = qobject_cast<QValueAxis *>(a))
            connect(v, &QValueAxis::rangeChanged, this, &CurveLayer::axisChanged, Qt::UniqueConnection);
        else if (auto *l = qobject_cast<QLogValueAxis *>(a))
            connect(l, &QLogValueAxis::rangeChanged, this, &CurveLayer::axisChanged, Qt::UniqueConnection);
    }
}

QRectF CurveLayer::boundingRect() const
{
    return m_area;
}

void CurveLayer::paint(QPainter *painter, const QStyleOptionGraphicsItem *, QWidget *)
{
    const QRectF area = m_chart->plotArea();
    if (area.isEmpty())
        return;
    painter->save();
    painter->setClipRect(area);
    std::vector<QPolygonF> upper, lower;
    for (const Shape &s : m_shapes) {
        if (!s.style || !s.style->isVisible() || s.points.isEmpty())
            continue;
        const AxisMap mx = axisMap(attached(s.style, Qt::Horizontal), area.left(), area.right());
        const AxisMap my = axisMap(attached(s.style, Qt::Vertical), area.bottom(), area.top());
        if (!mx.valid || !my.valid)
            continue;
        mapPoints(s.points, mx, my, upper);
        if (s.kind == Shape::Kind::Band) {
            auto *band = qobject_cast<QAreaSeries *>(s.style.data());
            if (!band)
                continue;
            mapPoints(s.lower, mx, my, lower);
            if (upper.empty() || lower.empty())
                continue;
            // One polygon: the upper edge left to right, the lower edge back.
            QPolygonF poly;
            for (const QPolygonF &r : upper)
                poly += r;
            for (auto r = lower.rbegin(); r != lower.rend(); ++r)
                for (auto p = r->crbegin(); p != r->crend(); ++p)
                    poly.append(*p);
            painter->setPen(band->pen());
            painter->setBrush(band->brush());
            painter->drawPolygon(poly);
            continue;
        }
        auto *xy = qobject_cast<QXYSeries *>(s.style.data());
        if (!xy)
            continue;
        const QPen pen = xy->pen();
        if (pen.style() != Qt::NoPen)
            drawLine(painter, pen, upper);
        if (s.markers) {
            const double radius = xy->markerSize() / 2.0;
            painter->setPen(Qt::NoPen);
            painter->setBrush(pen.color());
            for (const QPolygonF &r : upper)
                for (const QPointF &p : r)
                    painter->drawEllipse(p, radius, radius);
        }
    }
    painter->restore();
}

} // namespace nmui
