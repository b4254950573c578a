#pragma once
// PlotView: the chart widget every plot uses. Adds to QChartView what the anchors' users rely
// on (ux.md §3.4): rubber-band zoom (left drag), reset (double-click, right-click, Home),
// Ctrl+wheel zoom at the cursor, middle-drag and arrow-key pan, and a crosshair whose
// readout the owning chart fills (every run's value at the hovered x).
//
// The view remembers whether the user zoomed: the owner autoscales only while not zoomed,
// so live updates never reset a zoom (tensorboard#125). Ranges the owner sets go through
// setRanges(), which does not count as a user zoom.
#include <QChartView>

#include <functional>

class QGraphicsLineItem;
class QValueAxis;
class QGraphicsRectItem;
class QGraphicsTextItem;

namespace nmui {

// Sets a value axis's range and (dynamic) tick interval in the order that never has more ticks
// on the way than the old or the new state: a smaller interval after the range, a larger one
// before. Qt Charts makes graphics items for every tick of the current range at once, so the
// new interval over the old range could mean millions of items and a window frozen for minutes.
// A non-finite or empty range, or an interval <= 0, leaves that part as it is.
void setTicksAndRange(QValueAxis *axis, double lo, double hi, double tick);

class PlotView : public QChartView {
    Q_OBJECT
  public:
    explicit PlotView(QChart *chart, QWidget *parent = nullptr);

    // HTML for the readout at a data position (empty: no readout there).
    using Readout = std::function<QString(QPointF value)>;
    void setReadout(Readout readout) { m_readout = std::move(readout); }
    void setCrosshairEnabled(bool on);

    bool userZoomed() const { return m_userZoomed; }
    // Sets both axes' ranges without marking a user zoom; a tick interval > 0 goes to a value
    // axis with its range (setTicksAndRange).
    void setRanges(double x0, double x1, double y0, double y1, double xTick = 0, double yTick = 0);
    void setXRange(double x0, double x1, double xTick = 0);
    void resetZoom();
    // Applies a zoom made elsewhere (linked axes): sets the x range and counts as zoomed.
    void zoomToX(double x0, double x1);
    // Hides the crosshair (exports) and shows it again at the last position.
    void hideCrosshair();
    // The readout on screen (HTML), empty when hidden.
    QString crosshairText() const;
    // Plot-area width in pixels: the number of decimation columns.
    int plotColumns() const;
    // The current axis ranges (first horizontal / first vertical axis).
    QPointF xRange() const;
    QPointF yRange() const;

  Q_SIGNALS:
    void zoomChanged();  // the user zoomed or panned: recompute the visible data
    void zoomWasReset(); // back to the automatic ranges
    void hoveredAt(QPointF value);
    void clicked(QPointF value); // a left click without a drag, in data coordinates

  protected:
    void mousePressEvent(QMouseEvent *e) override;
    void mouseMoveEvent(QMouseEvent *e) override;
    void mouseReleaseEvent(QMouseEvent *e) override;
    void mouseDoubleClickEvent(QMouseEvent *e) override;
    void wheelEvent(QWheelEvent *e) override;
    void keyPressEvent(QKeyEvent *e) override;
    void leaveEvent(QEvent *e) override;
    void resizeEvent(QResizeEvent *e) override;

  private:
    void markZoomed();
    void updateCrosshair(const QPoint &viewPos);
    QPointF toValue(const QPoint &viewPos) const;

    Readout m_readout;
    bool m_userZoomed = false;
    bool m_crosshairEnabled = true;
    bool m_panning = false;
    QPoint m_lastPan;
    QPoint m_pressPos;
    QGraphicsLineItem *m_line = nullptr;
    QGraphicsRectItem *m_box = nullptr;
    QGraphicsTextItem *m_text = nullptr;
};

} // namespace nmui
