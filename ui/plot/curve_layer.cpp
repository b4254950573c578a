#include "plot/curve_layer.h"

#include <QAbstractAxis>
#include <QAreaSeries>
#include <QChart>
#include <QImage>
#include <QLogValueAxis>
#include <QPaintEngine>
#include <QPainter>
#include <QPolygonF>
#include <QValueAxis>
#include <QXYSeries>

#include <algorithm>
#include <cmath>

namespace nmui {

namespace {

// Qt Charts paints series at z 4 and the legend at 5 (ChartPresenter::ZValues); marker labels
// and the crosshair sit higher.
constexpr qreal kCurveZ = 4.5;

bool ownStrokes = true; // CurveLayer::setOwnStrokes

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
        const bool ok =
            std::isfinite(p.x()) && std::isfinite(p.y()) && (!mx.log || p.x() > 0) && (!my.log || p.y() > 0);
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
// stroked by ColumnLayer::addStroke; on a vector device QPainter strokes everything.
bool denseRun(const QPolygonF &run)
{
    const double span = run.last().x() - run.first().x();
    return run.size() > 8 && static_cast<double>(run.size()) > 0.5 * span;
}

// Per device pixel column between two x positions: the lowest and highest y that the segments
// of the polylines added reach in it.
class Columns {
  public:
    Columns(double xFirst, double xLast)
        : m_x0(std::floor(xFirst)), m_n(std::max(1L, column(xLast) + 1)), m_lo(static_cast<size_t>(m_n), INFINITY),
          m_hi(static_cast<size_t>(m_n), -INFINITY)
    {
    }
    void add(const QPolygonF &run)
    {
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
                const double xb = m_x0 + static_cast<double>(k);
                const double y = a.y() + (b.y() - a.y()) * (xb - a.x()) / (b.x() - a.x());
                put(k - 1, y);
                put(k, y);
            }
        }
    }
    // One rectangle per column reached, widened by a pen: half its width up and down, and the
    // floor(w/2 - 1/2) whole columns it reaches to each side of a point (none for w <= 2).
    QVector<QRectF> spans(double penWidth) const
    {
        const long r = std::max(0L, static_cast<long>(std::floor(0.5 * penWidth - 0.5 + 1e-9)));
        const double pad = 0.5 * std::max(0.0, penWidth);
        QVector<QRectF> rects;
        rects.reserve(m_n + 2 * r);
        for (long k = -r; k < m_n + r; ++k) {
            double top = INFINITY, bottom = -INFINITY;
            for (long j = std::max(0L, k - r); j <= std::min(m_n - 1, k + r); ++j) {
                top = std::min(top, m_lo[static_cast<size_t>(j)]);
                bottom = std::max(bottom, m_hi[static_cast<size_t>(j)]);
            }
            if (std::isfinite(top))
                rects.append(QRectF(m_x0 + static_cast<double>(k), top - pad, 1.0, bottom - top + 2 * pad));
        }
        return rects;
    }

  private:
    long column(double x) const { return static_cast<long>(std::floor(x - m_x0)); }
    void put(long k, double y)
    {
        if (k < 0 || k >= m_n)
            return;
        m_lo[static_cast<size_t>(k)] = std::min(m_lo[static_cast<size_t>(k)], y);
        m_hi[static_cast<size_t>(k)] = std::max(m_hi[static_cast<size_t>(k)], y);
    }

    double m_x0;
    long m_n;
    std::vector<double> m_lo, m_hi;
};

// Whether column spans can stand in for strokes and fills: raster devices, mapped by scale
// and translation only. The combined transform, not deviceTransform(): a widget's painter also
// has a redirection offset, which stays applied after resetTransform().
bool columnsApply(const QPainter *painter)
{
    return painter->combinedTransform().type() <= QTransform::TxScale && painter->paintEngine() &&
           painter->paintEngine()->type() == QPaintEngine::Raster;
}

// A pen's dash pattern in device pixels: whether a position along x (a dense curve's dashes
// cannot follow its zigzag) or along a stroke's length lies in an "on" stretch.
class Dashes {
  public:
    Dashes(const QPen &pen, double penWidth)
    {
        if (pen.style() == Qt::SolidLine)
            return;
        const QList<qreal> pattern = pen.dashPattern();
        for (qreal v : pattern) {
            m_period += v * penWidth;
            m_ends.push_back(m_period);
        }
        if (m_ends.size() < 2 || !(m_period > 0))
            m_ends.clear();
        // Square and round caps reach half the pen's width past each dash's ends.
        m_cap = pen.capStyle() == Qt::FlatCap ? 0.0 : 0.5 * penWidth;
    }
    bool active() const { return !m_ends.empty(); }
    bool on(double at) const
    {
        if (m_ends.empty())
            return true;
        const double r = at - m_period * std::floor(at / m_period);
        const auto k = static_cast<size_t>(std::upper_bound(m_ends.begin(), m_ends.end(), r) - m_ends.begin());
        if (k % 2 == 0 || k >= m_ends.size())
            return true;
        const double start = m_ends[k - 1], end = m_ends[k]; // a gap: on within a cap of its ends
        return r - start < m_cap || end - r < m_cap;
    }

  private:
    double m_period = 0, m_cap = 0;
    std::vector<double> m_ends; // where each stretch of the pattern ends, from the period's start
};

// The shapes of a raster paint, blended into one translucent layer the size of the plot area
// (device pixels), which is drawn in one go: dense lines and bands column by column (QPainter
// fills a translucent rectangle a pixel wide and a hundred tall through its thread pool, one
// hand-off per rectangle, which costs more than the blending itself), sparse lines by a stroke
// of our own, markers as sprites. What QPainter still paints (a band with a pattern brush) is
// painted between flushes, so the stacking order stays that of the shapes.
class ColumnLayer {
  public:
    explicit ColumnLayer(QPainter *painter, const QRectF &area) : m_painter(painter)
    {
        if (!columnsApply(painter))
            return;
        m_device = painter->combinedTransform();
        m_rect = m_device.mapRect(area).toAlignedRect().intersected(
            painter->clipBoundingRect().isEmpty() ? m_device.mapRect(area).toAlignedRect()
                                                  : m_device.mapRect(painter->clipBoundingRect()).toAlignedRect());
        if (m_rect.isEmpty())
            return;
        m_image = QImage(m_rect.size(), QImage::Format_ARGB32_Premultiplied);
        m_image.fill(Qt::transparent);
    }
    bool active() const { return !m_image.isNull(); }
    const QTransform &device() const { return m_device; }

    // The column spans of a line, widened by its pen, in the pen's colour.
    void addLine(const QPolygonF &deviceRun, const QPen &pen, double penWidth)
    {
        Columns c(deviceRun.first().x(), deviceRun.last().x());
        c.add(deviceRun);
        const Dashes dashes(pen, penWidth);
        blend(c.spans(penWidth), pen.color(), [&](double x) { return dashes.on(x); });
    }
    // A sparse polyline, stroked by our own code with round joins and caps (QPainter's stroker
    // takes milliseconds for a few hundred segments): every pixel near a segment is covered by
    // how far the pen's half width reaches past its distance to the segment (one pixel of
    // antialiasing), the most of any segment of the line, so a translucent line does not darken
    // where its segments meet. Dashes run along the line's length, as QPainter's do.
    void addStroke(const QPolygonF &deviceRun, const QPen &pen, double penWidth)
    {
        const int w = m_image.width(), h = m_image.height();
        m_cover.resize(static_cast<size_t>(w) * static_cast<size_t>(h), 0);
        m_runs.clear();
        // Pens thinner than a pixel are drawn a pixel wide and fainter.
        const double width = std::max(1.0, penWidth);
        const double faint = std::min(1.0, std::max(0.0, penWidth));
        const double reach = 0.5 * width + 0.5; // no coverage from this distance on
        const Dashes dashes(pen, width);
        double along = 0; // arc length at the segment's start, for dashes
        const qsizetype segments = std::max<qsizetype>(1, deviceRun.size() - 1);
        for (qsizetype i = 0; i < segments; ++i) {
            const QPointF a = deviceRun[i] - m_rect.topLeft();
            const QPointF b = deviceRun[std::min(i + 1, deviceRun.size() - 1)] - m_rect.topLeft();
            const double dx = b.x() - a.x(), dy = b.y() - a.y();
            const double len2 = dx * dx + dy * dy, len = std::sqrt(len2);
            // Row by row, the pixels within reach of the segment's points in the rows around.
            const int y0 = std::max(0, static_cast<int>(std::floor(std::min(a.y(), b.y()) - reach)));
            const int y1 = std::min(h - 1, static_cast<int>(std::floor(std::max(a.y(), b.y()) + reach)));
            const double invDy = dy != 0 ? 1.0 / dy : 0.0;
            for (int y = y0; y <= y1; ++y) {
                const double py = y + 0.5;
                double t0 = 0, t1 = 1;
                if (dy != 0) {
                    t0 = (py - reach - a.y()) * invDy;
                    t1 = (py + reach - a.y()) * invDy;
                    if (t0 > t1)
                        std::swap(t0, t1);
                    t0 = std::max(t0, 0.0);
                    t1 = std::min(t1, 1.0);
                    if (t0 > t1)
                        continue;
                }
                const double xa = a.x() + t0 * dx, xb = a.x() + t1 * dx;
                const int x0 = std::max(0, static_cast<int>(std::floor(std::min(xa, xb) - reach)));
                const int x1 = std::min(w - 1, static_cast<int>(std::floor(std::max(xa, xb) + reach)));
                if (x0 > x1)
                    continue;
                uchar *row = m_cover.data() + static_cast<size_t>(y) * static_cast<size_t>(w);
                if (dashes.active())
                    coverDashed(row, x0, x1, a, dx, dy, len2, py, reach,
                                [&](double t) { return dashes.on(along + t * len); });
                else
                    cover(row, x0, x1, a, dx, dy, len2, py, reach);
                m_runs.push_back({y, x0, x1});
            }
            along += len;
        }
        const QRgb rgb = pen.color().rgba();
        const int alpha = static_cast<int>(std::lround(qAlpha(rgb) * faint));
        const auto stride = static_cast<size_t>(m_image.bytesPerLine() / 4);
        auto *bits = reinterpret_cast<QRgb *>(m_image.bits());
        for (const RowRun &r : m_runs) {
            uchar *row = m_cover.data() + static_cast<size_t>(r.y) * static_cast<size_t>(w);
            QRgb *line = bits + static_cast<size_t>(r.y) * stride;
            for (int x = r.x0; x <= r.x1; ++x) {
                const int a = (alpha * row[x] + 127) / 255;
                row[x] = 0; // blended once, where runs of several segments overlap
                if (a <= 0)
                    continue;
                line[x] = qPremultiply(qRgba(qRed(rgb), qGreen(rgb), qBlue(rgb), a)) + byteMul(line[x], 255 - a);
                m_dirty = true;
            }
        }
    }
    // Coverage of the pixels x0…x1 of a row (centre height py) by a pen of reach r (half its
    // width plus the antialiasing pixel) around the segment a + t·(dx, dy), 0 ≤ t ≤ 1: kept
    // where it is higher than what earlier segments of the line left. No branches, so the
    // compiler vectorises it (this file is built without errno for sqrt).
    static void cover(uchar *row, int x0, int x1, QPointF a, double dx, double dy, double len2, double py, double r)
    {
        const float ax = static_cast<float>(a.x()), qy = static_cast<float>(py - a.y());
        const float fdx = static_cast<float>(dx), fdy = static_cast<float>(dy), fr = static_cast<float>(r);
        const float inv = len2 > 0 ? static_cast<float>(1.0 / len2) : 0.0f;
        for (int x = x0; x <= x1; ++x) {
            const float qx = static_cast<float>(x) + 0.5f - ax;
            const float t = std::min(1.0f, std::max(0.0f, (qx * fdx + qy * fdy) * inv));
            const float ex = qx - t * fdx, ey = qy - t * fdy;
            const float c = std::min(1.0f, std::max(0.0f, fr - std::sqrt(ex * ex + ey * ey)));
            // c >= 0: adding 0.5 and truncating rounds it (and keeps the loop vectorised, unlike lround).
            const auto v = static_cast<uchar>(c * 255.0f + 0.5f); // NOLINT(bugprone-incorrect-roundings)
            row[x] = std::max(row[x], v);
        }
    }
    // The same for a dashed pen: only where `on(t)` says the dash pattern is on.
    template <typename On>
    static void coverDashed(uchar *row, int x0, int x1, QPointF a, double dx, double dy, double len2, double py,
                            double r, On on)
    {
        for (int x = x0; x <= x1; ++x) {
            const double qx = x + 0.5 - a.x(), qy = py - a.y();
            const double t = len2 > 0 ? std::clamp((qx * dx + qy * dy) / len2, 0.0, 1.0) : 0.0;
            const double c = std::clamp(r - std::hypot(qx - t * dx, qy - t * dy), 0.0, 1.0);
            if (c > 0 && on(t))
                row[x] = std::max(row[x], static_cast<uchar>(std::lround(255 * c)));
        }
    }
    // The column spans between a band's edges.
    void addBand(const std::vector<QPolygonF> &deviceRuns, const QColor &color)
    {
        double x0 = INFINITY, x1 = -INFINITY;
        for (const QPolygonF &r : deviceRuns) {
            x0 = std::min(x0, r.first().x());
            x1 = std::max(x1, r.last().x());
        }
        Columns c(x0, x1);
        for (const QPolygonF &r : deviceRuns)
            c.add(r);
        blend(c.spans(0), color, [](double) { return true; });
    }
    // A round marker of `diameter` device pixels at every point, blended from one antialiased
    // sprite (a QPainter ellipse per point costs a path fill each).
    void addDots(const std::vector<QPolygonF> &deviceRuns, const QColor &color, double diameter)
    {
        const int size = static_cast<int>(std::ceil(diameter)) + 2;
        QImage sprite(size, size, QImage::Format_ARGB32_Premultiplied);
        sprite.fill(Qt::transparent);
        {
            QPainter p(&sprite);
            p.setRenderHint(QPainter::Antialiasing);
            p.setPen(Qt::NoPen);
            p.setBrush(color);
            p.drawEllipse(QPointF(size / 2.0, size / 2.0), diameter / 2.0, diameter / 2.0);
        }
        const auto stride = static_cast<size_t>(m_image.bytesPerLine() / 4);
        auto *bits = reinterpret_cast<QRgb *>(m_image.bits());
        for (const QPolygonF &r : deviceRuns)
            for (const QPointF &pt : r) {
                const int x0 = static_cast<int>(std::lround(pt.x() - size / 2.0)) - m_rect.left();
                const int y0 = static_cast<int>(std::lround(pt.y() - size / 2.0)) - m_rect.top();
                for (int y = std::max(0, -y0); y < size && y0 + y < m_image.height(); ++y) {
                    const auto *src = reinterpret_cast<const QRgb *>(sprite.constScanLine(y));
                    for (int x = std::max(0, -x0); x < size && x0 + x < m_image.width(); ++x) {
                        const QRgb sp = src[x];
                        if (qAlpha(sp) == 0)
                            continue;
                        QRgb &d = bits[static_cast<size_t>(y0 + y) * stride + static_cast<size_t>(x0 + x)];
                        d = sp + byteMul(d, 255 - qAlpha(sp));
                    }
                }
                m_dirty = true;
            }
    }
    // Draws what was blended since the last flush (before QPainter paints on top of it).
    void flush()
    {
        if (!m_dirty)
            return;
        m_painter->save();
        m_painter->resetTransform(); // the clip stays where it was set
        m_painter->drawImage(m_rect.topLeft(), m_image);
        m_painter->restore();
        m_image.fill(Qt::transparent);
        m_dirty = false;
    }

  private:
    template <typename On> void blend(const QVector<QRectF> &spans, const QColor &color, On on)
    {
        const QRgb rgb = color.rgba();
        const int alpha = qAlpha(rgb);
        const int w = m_image.width(), h = m_image.height();
        const auto stride = static_cast<size_t>(m_image.bytesPerLine() / 4);
        auto *bits = reinterpret_cast<QRgb *>(m_image.bits());
        for (const QRectF &r : spans) {
            const int x = static_cast<int>(std::floor(r.left())) - m_rect.left();
            if (x < 0 || x >= w || !on(r.left()))
                continue;
            const double top = std::max(0.0, r.top() - m_rect.top());
            const double bottom = std::min(static_cast<double>(h), r.bottom() - m_rect.top());
            for (int y = static_cast<int>(std::floor(top)); y < bottom; ++y) {
                // Coverage of the pixel row by the span: fractional at the ends (antialiasing).
                const double cover = std::min(bottom, y + 1.0) - std::max(top, static_cast<double>(y));
                const int a = static_cast<int>(std::lround(alpha * std::clamp(cover, 0.0, 1.0)));
                if (a <= 0)
                    continue;
                QRgb &d = bits[static_cast<size_t>(y) * stride + static_cast<size_t>(x)];
                // Source over, premultiplied: d = s·a + d·(1 − a).
                const QRgb src = qPremultiply(qRgba(qRed(rgb), qGreen(rgb), qBlue(rgb), a));
                d = src + byteMul(d, 255 - a);
            }
            m_dirty = true;
        }
    }
    static QRgb byteMul(QRgb x, int a)
    {
        // Each channel times a/255, rounded (the usual two-channels-at-once trick).
        quint32 t = (x & 0xff00ff) * static_cast<quint32>(a);
        t = (t + ((t >> 8) & 0xff00ff) + 0x800080) >> 8;
        t &= 0xff00ff;
        quint32 u = ((x >> 8) & 0xff00ff) * static_cast<quint32>(a);
        u = (u + ((u >> 8) & 0xff00ff) + 0x800080);
        u &= 0xff00ff00;
        return t | u;
    }

    QPainter *m_painter;
    QTransform m_device;
    QRect m_rect;
    QImage m_image;
    std::vector<uchar> m_cover; // a stroke's coverage per pixel, zero between strokes
    struct RowRun {
        int y, x0, x1;
    };
    std::vector<RowRun> m_runs; // the pixels a stroke's segments reached, row by row
    bool m_dirty = false;
};

// A band's polygon: the upper edge left to right, the lower edge back.
QPolygonF bandPolygon(const std::vector<QPolygonF> &upper, const std::vector<QPolygonF> &lower)
{
    QPolygonF poly;
    for (const QPolygonF &r : upper)
        poly += r;
    for (auto r = lower.rbegin(); r != lower.rend(); ++r)
        for (auto p = r->crbegin(); p != r->crend(); ++p)
            poly.append(*p);
    return poly;
}

std::vector<QPolygonF> mapped(const QTransform &t, const std::vector<QPolygonF> &runs)
{
    std::vector<QPolygonF> out;
    out.reserve(runs.size());
    for (const QPolygonF &r : runs)
        out.push_back(t.map(r));
    return out;
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

void CurveLayer::setOwnStrokes(bool own)
{
    ownStrokes = own;
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
    painter->setClipRect(area, Qt::IntersectClip);
    ColumnLayer layer(painter, area);
    const double scale = std::abs(layer.device().m22());
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
            std::vector<QPolygonF> edges = upper;
            edges.insert(edges.end(), lower.begin(), lower.end());
            const QBrush brush = band->brush();
            // Any band, dense or not: between the edges' straight segments a column's span is
            // exact, and a translucent polygon with jagged edges fills slowly at any density.
            if (layer.active() && brush.style() == Qt::SolidPattern) {
                layer.addBand(mapped(layer.device(), edges), brush.color());
                continue;
            }
            layer.flush();
            painter->setPen(band->pen());
            painter->setBrush(brush);
            painter->drawPolygon(bandPolygon(upper, lower));
            continue;
        }
        auto *xy = qobject_cast<QXYSeries *>(s.style.data());
        if (!xy)
            continue;
        const QPen pen = xy->pen();
        if (pen.style() != Qt::NoPen && s.kind == Shape::Kind::Line) {
            const double width = (pen.isCosmetic() ? 1.0 : scale) * (pen.widthF() > 0 ? pen.widthF() : 1.0);
            for (const QPolygonF &r : upper) {
                if (layer.active() && pen.brush().style() == Qt::SolidPattern) {
                    const QPolygonF d = layer.device().map(r);
                    if (denseRun(d)) {
                        layer.addLine(d, pen, width);
                        continue;
                    }
                    if (ownStrokes) {
                        layer.addStroke(d, pen, width);
                        continue;
                    }
                }
                layer.flush();
                painter->setPen(pen);
                painter->setBrush(Qt::NoBrush);
                painter->drawPolyline(r);
            }
        }
        if (s.markers || s.kind == Shape::Kind::Dots) {
            // Lines mark their points in the pen's colour, dots take the series' brush.
            const QColor colour = s.kind == Shape::Kind::Dots ? xy->brush().color() : pen.color();
            if (layer.active()) {
                layer.addDots(mapped(layer.device(), upper), colour, xy->markerSize() * scale);
                continue;
            }
            const double radius = xy->markerSize() / 2.0;
            painter->setPen(Qt::NoPen);
            painter->setBrush(colour);
            for (const QPolygonF &r : upper)
                for (const QPointF &p : r)
                    painter->drawEllipse(p, radius, radius);
        }
    }
    layer.flush();
    painter->restore();
}

} // namespace nmui
