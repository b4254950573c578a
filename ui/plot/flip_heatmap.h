#pragma once
// FlipHeatmap: a run's mask flips as a layers × steps image (viridis, one row per sparse
// layer, first layer on top) inside a QChart, so Qt Charts draws the axes and a colour bar
// (QColorAxis) and exports include everything (ux.md §3.5, design a). The visible step range
// is binned to at most one column per pixel on a grid anchored at step 0; a bin's value is
// the mean flip rate of its logged steps and its readout adds the summed flip count.
//
// Difference mode shows run A − run B on a diverging map centred at zero. Several heatmaps
// can share one colour range (HeatmapPanel sets it), so their colours compare directly.
#include "plot/chart_panel.h"

#include <QImage>

#include <vector>

class QCategoryAxis;
class QColorAxis;
class QGraphicsPixmapItem;
class QLineSeries;
class QValueAxis;

namespace nmui {

class FlipHeatmap : public ChartPanel {
    Q_OBJECT
  public:
    explicit FlipHeatmap(RunStore *store, QWidget *parent = nullptr);

    void setRun(int runId);
    void setDifference(int runA, int runB);
    int runId() const { return m_runA; }
    bool isDifference() const { return m_runB >= 0; }
    void setLogScale(bool on);
    bool logScale() const { return m_log; }
    // Colour limits shared with other heatmaps (in rate units; NaN: this map's own range).
    void setColorRange(double lo, double hi);
    // The x range to show when not zoomed (aligns heatmaps side by side); ≤ 0: the data's.
    void setStepExtent(double lastStep) { m_extent = lastStep; }

    // Bins the visible range (first half of a refresh); then dataRange() is valid.
    void computeBins();
    // Smallest positive and largest value of the current bins (difference: largest |value|).
    std::pair<double, double> dataRange() const { return {m_minPositive, m_max}; }
    // Draws the image and colour bar from the bins (second half of a refresh).
    void render();

    void refresh() override;
    DataTable table(bool visibleOnly) const override;

    // For tests: the small (columns × layers) image and a bin's value.
    const QImage &cells() const { return m_cells; }
    double cellValue(int layer, int column) const;
    double binWidth() const { return m_binWidth; }

  Q_SIGNALS:
    void layerClicked(int layer);

  private:
    struct Bins {
        int layers = 0, columns = 0;
        long firstBin = 0;
        std::vector<double> value; // layers × columns, NaN: no data
        std::vector<double> flips; // summed flip counts
        std::vector<int> rows;     // logged rows per bin
    };
    void binRun(int runId, double x0, double x1, Bins &out) const;
    QRgb colorOf(double v) const;
    void placeImage();
    QString readout(QPointF value) const;
    QStringList layerNames() const;

    int m_runA = -1, m_runB = -1;
    bool m_log = false;
    double m_sharedLo = NAN, m_sharedHi = NAN;
    double m_extent = 0;
    double m_binWidth = 1;
    Bins m_bins, m_binsB;
    double m_minPositive = NAN, m_max = NAN;
    double m_lo = 0, m_hi = 1;
    QImage m_cells;
    QLineSeries *m_anchor;
    QValueAxis *m_xAxis;
    QCategoryAxis *m_yAxis;
    QColorAxis *m_colorAxis;
    QGraphicsPixmapItem *m_pixmap;
};

} // namespace nmui
