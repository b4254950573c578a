#pragma once
// ImageChart: an image laid over a data rectangle inside a QChart, with value axes, an
// optional colour bar and a legend, so matrices (weights, masks) get the same zoom,
// crosshair readout and PNG/SVG export as every other chart. The visible part of the image
// is cropped at whole pixels and scaled with nearest neighbour, so cells stay crisp.
#include "plot/chart_panel.h"

#include <QGradient>
#include <QImage>

#include <functional>

class QColorAxis;
class QGraphicsPixmapItem;
class QGraphicsRectItem;
class QLineSeries;
class QValueAxis;

namespace nmui {

class ImageChart : public ChartPanel {
    Q_OBJECT
  public:
    ImageChart(RunStore *store, const QString &title, QWidget *parent = nullptr);

    // The image covers data x in [0, width) and y in [0, height) with pixel row 0 at the top.
    void setImage(const QImage &image, const QString &xTitle, const QString &yTitle);
    void setColorBar(const QGradientStops &stops, double lo, double hi, const QString &title, int ticks = 5);
    void hideColorBar();
    // Legend entries (a coloured square each), e.g. what the mask colours mean.
    void setLegendEntries(const QList<std::pair<QColor, QString>> &entries);
    void setReadoutFunction(std::function<QString(int col, int row)> f) { m_readoutFn = std::move(f); }
    void setTableFunction(std::function<DataTable(bool)> f) { m_tableFn = std::move(f); }
    void setChartTitle(const QString &title) { setTitleText(title); }
    // When the image is shown smaller than its size, a screen pixel whose block of image
    // pixels holds one of these colours takes it (first listed first); otherwise blocks are
    // averaged. Without priority colours shrinking averages too; enlarging never blends.
    void setPriorityColors(const QList<QRgb> &colors) { m_priority = colors; }
    const QImage &image() const { return m_image; }

    void refresh() override;
    DataTable table(bool visibleOnly) const override;

  private:
    void placeImage();
    int yTicks() const; // about how many row labels fit

    QImage m_image;
    QLineSeries *m_anchor;
    QValueAxis *m_xAxis, *m_yAxis;
    QColorAxis *m_colorAxis;
    QGraphicsRectItem *m_clip;
    QGraphicsPixmapItem *m_pixmap;
    QList<QAbstractSeries *> m_legendSeries;
    std::function<QString(int, int)> m_readoutFn;
    std::function<DataTable(bool)> m_tableFn;
    QList<QRgb> m_priority;
    bool m_colorBarShown = true;
    bool m_settingImage = false; // setImage() places the image once, after its range changes
};

} // namespace nmui
