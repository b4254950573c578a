#pragma once
// CurveLayer: draws a chart's decimated curves itself, inside the plot area, above Qt Charts'
// series. Qt Charts stays in charge of the axes, the legend, the zoom and the export; what
// it does slowly is a QLineSeries' geometry (a stroked hover shape rebuilt on every
// replace()), so the lines and bands a MetricChart shows are painted here from points in
// data coordinates, mapped through the current axes at paint time (a zoom or pan repaints
// without a refresh). Each shape takes its look from a "style" series: an empty
// QLineSeries or QAreaSeries in the chart whose pen, brush, marker size and visibility are
// the shape's, so the legend shows the same key and figure exports (FigureStyle, which
// scales series pens) draw the same widths.
#include <QGraphicsObject>
#include <QList>
#include <QPointF>
#include <QPointer>

#include <vector>

class QAbstractSeries;
class QChart;

namespace nmui {

class CurveLayer : public QGraphicsObject {
    Q_OBJECT
  public:
    struct Shape {
        enum class Kind { Line, Band, Dots }; // Dots: a marker per point (a QScatterSeries' brush)
        Kind kind = Kind::Line;
        QPointer<QAbstractSeries> style; // a QXYSeries for lines and dots, a QAreaSeries for bands
        QList<QPointF> points;           // the line, or a band's upper edge (x ascending)
        QList<QPointF> lower;            // a band's lower edge (x ascending)
        bool markers = false;            // lines: a dot at every point (sparse series)
    };

    // A child of `chart`, drawn above its series and below the crosshair.
    explicit CurveLayer(QChart *chart);

    // The shapes to draw, in paint order (first is lowest); repaints.
    void setShapes(std::vector<Shape> shapes);
    const std::vector<Shape> &shapes() const { return m_shapes; }
    // How many times setShapes() ran (tests, benchmarks).
    int updates() const { return m_updates; }

    // Whether sparse lines on raster devices are stroked by our own rasteriser (the default) or
    // by QPainter, for every layer: the QPainter stroke is the peer of the benchmark and the
    // reference of a test.
    static void setOwnStrokes(bool own);

    QRectF boundingRect() const override;
    void paint(QPainter *painter, const QStyleOptionGraphicsItem *option, QWidget *widget) override;

  private:
    // Repaints after an axis range changed (zoom, pan) without waiting for the owner's refresh.
    void followAxes();
    void axisChanged() { update(); }

    QChart *m_chart;
    std::vector<Shape> m_shapes;
    QRectF m_area;
    int m_updates = 0;
};

} // namespace nmui
