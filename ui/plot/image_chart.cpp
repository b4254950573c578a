#include "plot/image_chart.h"

#include "plot/series_math.h"

#include <QChart>
#include <QColorAxis>
#include <QGraphicsPixmapItem>
#include <QGraphicsRectItem>
#include <QLegendMarker>
#include <QLineSeries>
#include <QLinearGradient>
#include <QScatterSeries>
#include <QValueAxis>

#include <algorithm>
#include <cmath>

namespace nmui {

namespace {

// Shrinks `src` to `size`: a block holding a priority colour takes it, else the block's mean.
QImage shrink(const QImage &src, QSize size, const QList<QRgb> &priority)
{
    QImage out(size, QImage::Format_RGB32);
    const int W = src.width(), H = src.height();
    for (int y = 0; y < size.height(); ++y) {
        const int y0 = y * H / size.height(), y1 = std::max(y0 + 1, (y + 1) * H / size.height());
        auto *line = reinterpret_cast<QRgb *>(out.scanLine(y));
        for (int x = 0; x < size.width(); ++x) {
            const int x0 = x * W / size.width(), x1 = std::max(x0 + 1, (x + 1) * W / size.width());
            long r = 0, g = 0, b = 0, n = 0;
            int best = static_cast<int>(priority.size());
            for (int yy = y0; yy < y1; ++yy) {
                const auto *s = reinterpret_cast<const QRgb *>(src.constScanLine(yy));
                for (int xx = x0; xx < x1; ++xx) {
                    const QRgb c = s[xx] | 0xff000000u;
                    for (int p = 0; p < best; ++p)
                        if ((priority[p] | 0xff000000u) == c)
                            best = p;
                    r += qRed(c);
                    g += qGreen(c);
                    b += qBlue(c);
                    ++n;
                }
            }
            line[x] = best < priority.size()
                          ? priority[best]
                          : qRgb(static_cast<int>(r / n), static_cast<int>(g / n), static_cast<int>(b / n));
        }
    }
    return out;
}

} // namespace

ImageChart::ImageChart(RunStore *store, const QString &title, QWidget *parent) : ChartPanel(store, title, parent)
{
    setAutoRefresh(false);
    QChart *c = chart();
    m_anchor = new QLineSeries;
    m_anchor->setPen(Qt::NoPen);
    c->addSeries(m_anchor);
    m_xAxis = new QValueAxis;
    m_yAxis = new QValueAxis;
    for (QValueAxis *a : {m_xAxis, m_yAxis}) {
        a->setLabelFormat(QStringLiteral("%.0f"));
        a->setGridLineVisible(false);
        a->setMinorGridLineVisible(false);
    }
    m_yAxis->setReverse(true); // matrix rows top to bottom
    m_colorAxis = new QColorAxis;
    m_colorAxis->setSize(14);
    m_colorAxis->setTickCount(5);
    c->addAxis(m_xAxis, Qt::AlignBottom);
    c->addAxis(m_yAxis, Qt::AlignLeft);
    c->addAxis(m_colorAxis, Qt::AlignRight);
    m_anchor->attachAxis(m_xAxis);
    m_anchor->attachAxis(m_yAxis);
    m_anchor->attachAxis(m_colorAxis);
    for (QLegendMarker *m : c->legend()->markers(m_anchor))
        m->setVisible(false);
    m_clip = new QGraphicsRectItem(c);
    m_clip->setPen(Qt::NoPen);
    m_clip->setFlag(QGraphicsItem::ItemClipsChildrenToShape);
    m_clip->setZValue(-1);
    m_pixmap = new QGraphicsPixmapItem(m_clip);
    m_pixmap->setTransformationMode(Qt::FastTransformation);
    connect(c, &QChart::plotAreaChanged, this, [this] {
        // A short chart gets fewer row labels, so they do not elide.
        m_yAxis->setTickInterval(plot::niceInterval(m_yAxis->max() - m_yAxis->min(), yTicks()));
        placeImage();
    });
    for (QValueAxis *a : {m_xAxis, m_yAxis})
        connect(a, &QValueAxis::rangeChanged, this, [this, a](qreal lo, qreal hi) {
            a->setTickInterval(plot::niceInterval(hi - lo, a == m_yAxis ? yTicks() : 5)); // zoomed: ticks follow
            if (!m_settingImage)
                placeImage();
        });
    view()->setReadout([this](QPointF v) {
        const int col = static_cast<int>(std::floor(v.x())), row = static_cast<int>(std::floor(v.y()));
        if (!m_readoutFn || col < 0 || row < 0 || col >= m_image.width() || row >= m_image.height())
            return QString();
        return m_readoutFn(col, row);
    });
}

void ImageChart::setImage(const QImage &image, const QString &xTitle, const QString &yTitle)
{
    const bool sizeChanged = image.size() != m_image.size();
    m_image = image;
    m_xAxis->setTitleText(xTitle);
    m_yAxis->setTitleText(yTitle);
    for (QValueAxis *a : {m_xAxis, m_yAxis}) // no image, no scale
        a->setVisible(!image.isNull());
    m_anchor->replace({QPointF(0, 0), QPointF(image.width(), image.height())});
    if (sizeChanged || !view()->userZoomed()) {
        // Tick intervals before the ranges, so no range ever meets a tiny interval.
        m_xAxis->setTickInterval(plot::niceInterval(image.width(), 5));
        m_yAxis->setTickInterval(plot::niceInterval(image.height(), yTicks()));
        m_xAxis->setTickType(QValueAxis::TicksDynamic);
        m_yAxis->setTickType(QValueAxis::TicksDynamic);
        m_settingImage = true;
        view()->setRanges(0, image.width(), 0, image.height());
        m_settingImage = false;
    }
    placeImage();
}

int ImageChart::yTicks() const
{
    return std::clamp(static_cast<int>(chart()->plotArea().height() / 30.0), 2, 5);
}

void ImageChart::setColorBar(const QGradientStops &stops, double lo, double hi, const QString &title, int ticks)
{
    m_colorAxis->setTickCount(std::max(2, ticks));
    QLinearGradient g(0, 0, 0, 1);
    g.setStops(stops);
    m_colorAxis->setGradient(g);
    m_colorAxis->setRange(lo, hi);
    m_colorAxis->setTitleText(title);
    if (!m_colorBarShown) {
        chart()->addAxis(m_colorAxis, Qt::AlignRight);
        m_anchor->attachAxis(m_colorAxis);
        m_colorBarShown = true;
    }
}

void ImageChart::hideColorBar()
{
    if (m_colorBarShown) {
        m_anchor->detachAxis(m_colorAxis);
        chart()->removeAxis(m_colorAxis); // the chart gives up ownership; this panel keeps the axis
        m_colorAxis->setParent(this);
        m_colorBarShown = false;
    }
}

void ImageChart::setLegendEntries(const QList<std::pair<QColor, QString>> &entries)
{
    for (QAbstractSeries *s : m_legendSeries) {
        chart()->removeSeries(s);
        delete s;
    }
    m_legendSeries.clear();
    for (const auto &[color, text] : entries) {
        auto *s = new QScatterSeries; // no points: only its legend marker shows
        s->setName(text);
        s->setColor(color);
        s->setBorderColor(QColor(90, 90, 90));
        s->setMarkerShape(QScatterSeries::MarkerShapeRectangle);
        chart()->addSeries(s);
        s->attachAxis(m_xAxis);
        s->attachAxis(m_yAxis);
        m_legendSeries << s;
    }
    chart()->legend()->setVisible(!entries.isEmpty());
}

void ImageChart::placeImage()
{
    const QRectF area = chart()->plotArea();
    m_clip->setRect(area);
    if (m_image.isNull() || area.width() < 2 || area.height() < 2) {
        m_pixmap->setPixmap({});
        return;
    }
    // The whole pixels that intersect the visible range, mapped to where they fall on screen.
    const double x0 = std::max(0.0, std::floor(m_xAxis->min()));
    const double x1 = std::min<double>(m_image.width(), std::ceil(m_xAxis->max()));
    const double y0 = std::max(0.0, std::floor(m_yAxis->min()));
    const double y1 = std::min<double>(m_image.height(), std::ceil(m_yAxis->max()));
    if (!(x1 > x0) || !(y1 > y0)) {
        m_pixmap->setPixmap({});
        return;
    }
    const QRect part(static_cast<int>(x0), static_cast<int>(y0), static_cast<int>(x1 - x0), static_cast<int>(y1 - y0));
    const QImage crop = part == m_image.rect() ? m_image : m_image.copy(part);
    const QPointF tl = chart()->mapToPosition(QPointF(x0, y0), m_anchor);
    const QPointF br = chart()->mapToPosition(QPointF(x1, y1), m_anchor);
    const QRectF target = QRectF(tl, br).normalized();
    const QSize size(std::max(1, static_cast<int>(std::lround(target.width()))),
                     std::max(1, static_cast<int>(std::lround(target.height()))));
    const bool shrinking = size.width() < crop.width() || size.height() < crop.height();
    const QImage shown = shrinking ? shrink(crop.convertToFormat(QImage::Format_RGB32), size, m_priority)
                                   : crop.scaled(size, Qt::IgnoreAspectRatio, Qt::FastTransformation);
    m_pixmap->setPixmap(QPixmap::fromImage(shown));
    m_pixmap->setPos(target.topLeft());
}

void ImageChart::refresh()
{
    placeImage();
}

DataTable ImageChart::table(bool visibleOnly) const
{
    return m_tableFn ? m_tableFn(visibleOnly) : DataTable{};
}

} // namespace nmui
