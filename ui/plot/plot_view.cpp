#include "plot/plot_view.h"

#include <QAbstractAxis>
#include <QChart>
#include <QGraphicsLineItem>
#include <QGraphicsRectItem>
#include <QGraphicsScene>
#include <QGraphicsTextItem>
#include <QLogValueAxis>
#include <QMouseEvent>
#include <QValueAxis>

#include <algorithm>
#include <cmath>

namespace nmui {

namespace {

QAbstractAxis *firstAxis(const QChart *chart, Qt::Orientation o)
{
    const auto axes = chart->axes(o);
    return axes.isEmpty() ? nullptr : axes.first();
}

QPointF axisRange(const QAbstractAxis *a)
{
    if (auto *v = qobject_cast<const QValueAxis *>(a))
        return {v->min(), v->max()};
    if (auto *l = qobject_cast<const QLogValueAxis *>(a))
        return {l->min(), l->max()};
    return {0, 0};
}

void setAxisRange(QAbstractAxis *a, double lo, double hi, double tick)
{
    if (!a)
        return;
    if (auto *v = qobject_cast<QValueAxis *>(a); v && tick > 0 && std::isfinite(tick)) {
        setTicksAndRange(v, lo, hi, tick);
        return;
    }
    if (!std::isfinite(lo) || !std::isfinite(hi) || !(hi > lo))
        return;
    const QPointF now = axisRange(a);
    if (now.x() == lo && now.y() == hi)
        return;
    a->setRange(lo, hi);
}

} // namespace

void setTicksAndRange(QValueAxis *axis, double lo, double hi, double tick)
{
    const bool rangeOk = std::isfinite(lo) && std::isfinite(hi) && hi > lo;
    const bool tickOk = tick > 0 && std::isfinite(tick);
    const bool sameRange = axis->min() == lo && axis->max() == hi;
    auto setRange = [&] {
        if (rangeOk && !sameRange)
            axis->setRange(lo, hi);
    };
    auto setTick = [&] {
        if (tickOk && axis->tickInterval() != tick)
            axis->setTickInterval(tick);
    };
    // Each intermediate state has no more ticks than the old or the new one.
    if (tickOk && tick < axis->tickInterval()) {
        setRange();
        setTick();
    } else {
        setTick();
        setRange();
    }
}

PlotView::PlotView(QChart *chart, QWidget *parent) : QChartView(chart, parent)
{
    setRubberBand(QChartView::RectangleRubberBand);
    setRenderHint(QPainter::Antialiasing);
    // Qt Charts moves and rebuilds hundreds of small items (ticks, grid lines, labels) on every
    // range change; keeping a BSP index of them costs more than it saves in a chart this small.
    scene()->setItemIndexMethod(QGraphicsScene::NoIndex);
    setMouseTracking(true);
    setFocusPolicy(Qt::ClickFocus);
    m_line = new QGraphicsLineItem(chart);
    m_line->setPen(QPen(QColor(0, 0, 0, 110), 1, Qt::DashLine));
    m_line->setZValue(20);
    m_line->hide();
    m_box = new QGraphicsRectItem(chart);
    m_box->setBrush(QColor(255, 255, 255, 235));
    m_box->setPen(QPen(QColor(0, 0, 0, 60)));
    m_box->setZValue(21);
    m_box->hide();
    m_text = new QGraphicsTextItem(m_box);
    QFont f = font();
    f.setPointSizeF(f.pointSizeF() * 0.9);
    m_text->setFont(f);
}

void PlotView::setCrosshairEnabled(bool on)
{
    m_crosshairEnabled = on;
    if (!on)
        hideCrosshair();
}

void PlotView::hideCrosshair()
{
    m_line->hide();
    m_box->hide();
}

QString PlotView::crosshairText() const
{
    return m_box->isVisible() ? m_text->toHtml() : QString();
}

int PlotView::plotColumns() const
{
    return std::max(16, static_cast<int>(chart()->plotArea().width()));
}

QPointF PlotView::xRange() const
{
    return axisRange(firstAxis(chart(), Qt::Horizontal));
}

QPointF PlotView::yRange() const
{
    return axisRange(firstAxis(chart(), Qt::Vertical));
}

void PlotView::setRanges(double x0, double x1, double y0, double y1, double xTick, double yTick)
{
    setAxisRange(firstAxis(chart(), Qt::Horizontal), x0, x1, xTick);
    setAxisRange(firstAxis(chart(), Qt::Vertical), y0, y1, yTick);
}

void PlotView::setXRange(double x0, double x1, double xTick)
{
    setAxisRange(firstAxis(chart(), Qt::Horizontal), x0, x1, xTick);
}

void PlotView::resetZoom()
{
    // The zoom-in interval over the home range could mean thousands of ticks: coarsen it first;
    // the owner's refresh (zoomWasReset) or its rangeChanged handler sets the right one.
    if (m_userZoomed)
        for (QAbstractAxis *a : chart()->axes())
            if (auto *v = qobject_cast<QValueAxis *>(a); v && v->tickType() == QValueAxis::TicksDynamic)
                v->setTickInterval(std::max(v->tickInterval(), 1e6 * (v->max() - v->min())));
    m_userZoomed = false;
    chart()->zoomReset();
    Q_EMIT zoomWasReset();
}

void PlotView::zoomToX(double x0, double x1)
{
    setXRange(x0, x1, 0);
    m_userZoomed = true;
}

void PlotView::markZoomed()
{
    m_userZoomed = true;
    Q_EMIT zoomChanged();
}

QPointF PlotView::toValue(const QPoint &viewPos) const
{
    const QPointF inChart = chart()->mapFromScene(mapToScene(viewPos));
    return chart()->mapToValue(inChart);
}

void PlotView::mousePressEvent(QMouseEvent *e)
{
    if (e->button() == Qt::MiddleButton) {
        m_panning = true;
        m_lastPan = e->pos();
        setCursor(Qt::ClosedHandCursor);
        e->accept();
        return;
    }
    if (e->button() == Qt::RightButton) {
        e->accept(); // reset on release (QChartView would zoom out one step)
        return;
    }
    hideCrosshair();
    m_pressPos = e->pos();
    QChartView::mousePressEvent(e);
}

void PlotView::mouseMoveEvent(QMouseEvent *e)
{
    if (m_panning) {
        const QPoint d = e->pos() - m_lastPan;
        m_lastPan = e->pos();
        chart()->scroll(-d.x(), d.y());
        markZoomed();
        e->accept();
        return;
    }
    QChartView::mouseMoveEvent(e);
    if (!(e->buttons() & Qt::LeftButton))
        updateCrosshair(e->pos());
}

void PlotView::mouseReleaseEvent(QMouseEvent *e)
{
    if (e->button() == Qt::MiddleButton && m_panning) {
        m_panning = false;
        unsetCursor();
        e->accept();
        return;
    }
    if (e->button() == Qt::RightButton) {
        resetZoom();
        e->accept();
        return;
    }
    const QPointF x0 = xRange(), y0 = yRange();
    QChartView::mouseReleaseEvent(e);
    if (xRange() != x0 || yRange() != y0)
        markZoomed();
    else if (e->button() == Qt::LeftButton && (e->pos() - m_pressPos).manhattanLength() < 4)
        Q_EMIT clicked(toValue(e->pos()));
}

void PlotView::mouseDoubleClickEvent(QMouseEvent *e)
{
    if (e->button() == Qt::LeftButton) {
        resetZoom();
        e->accept();
        return;
    }
    QChartView::mouseDoubleClickEvent(e);
}

void PlotView::wheelEvent(QWheelEvent *e)
{
    // Only with Ctrl: charts sit in scroll areas, and a bare wheel scrolls the page.
    if (!(e->modifiers() & Qt::ControlModifier) || e->angleDelta().y() == 0) {
        QChartView::wheelEvent(e);
        return;
    }
    const double factor = e->angleDelta().y() > 0 ? 0.8 : 1.25;
    const QRectF area = chart()->plotArea();
    const QPointF c = chart()->mapFromScene(mapToScene(e->position().toPoint()));
    QRectF r(c.x() - (c.x() - area.left()) * factor, c.y() - (c.y() - area.top()) * factor, area.width() * factor,
             area.height() * factor);
    chart()->zoomIn(r);
    markZoomed();
    e->accept();
}

void PlotView::keyPressEvent(QKeyEvent *e)
{
    switch (e->key()) {
    case Qt::Key_Plus:
    case Qt::Key_Equal:
        chart()->zoomIn();
        markZoomed();
        break;
    case Qt::Key_Minus:
        chart()->zoomOut();
        markZoomed();
        break;
    case Qt::Key_Left:
        chart()->scroll(-20, 0);
        markZoomed();
        break;
    case Qt::Key_Right:
        chart()->scroll(20, 0);
        markZoomed();
        break;
    case Qt::Key_Up:
        chart()->scroll(0, 20);
        markZoomed();
        break;
    case Qt::Key_Down:
        chart()->scroll(0, -20);
        markZoomed();
        break;
    case Qt::Key_Home:
    case Qt::Key_0:
        resetZoom();
        break;
    default:
        QChartView::keyPressEvent(e);
        return;
    }
    e->accept();
}

void PlotView::leaveEvent(QEvent *e)
{
    hideCrosshair();
    QChartView::leaveEvent(e);
}

void PlotView::resizeEvent(QResizeEvent *e)
{
    hideCrosshair();
    QChartView::resizeEvent(e);
}

void PlotView::updateCrosshair(const QPoint &viewPos)
{
    const QRectF area = chart()->plotArea();
    const QPointF inChart = chart()->mapFromScene(mapToScene(viewPos));
    if (!m_crosshairEnabled || !area.contains(inChart) || chart()->series().isEmpty()) {
        hideCrosshair();
        return;
    }
    const QPointF value = toValue(viewPos);
    Q_EMIT hoveredAt(value);
    const QString html = m_readout ? m_readout(value) : QString();
    if (html.isEmpty()) {
        hideCrosshair();
        return;
    }
    m_line->setLine(inChart.x(), area.top(), inChart.x(), area.bottom());
    m_line->show();
    m_text->setHtml(html);
    const QRectF tb = m_text->boundingRect();
    // Beside the cursor, flipped to the other side near the right or bottom edge.
    double x = inChart.x() + 14;
    if (x + tb.width() > area.right())
        x = inChart.x() - 14 - tb.width();
    double y = inChart.y() + 10;
    if (y + tb.height() > area.bottom())
        y = std::max(area.top(), area.bottom() - tb.height());
    m_box->setRect(0, 0, tb.width(), tb.height());
    m_box->setPos(std::max(area.left(), x), y);
    m_box->show();
}

} // namespace nmui
