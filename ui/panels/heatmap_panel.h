#pragma once
// The "Mask flips" page: one FlipHeatmap per visible run, stacked with aligned step axes,
// linked zoom and (by default) one shared colour scale; an optional difference map A − B;
// and below them the flip rate of one layer as a line chart for every run (click a heatmap
// row to pick the layer).
#include "plot/chart_settings.h"

#include <QWidget>

#include <map>

class QCheckBox;
class QComboBox;
class QVBoxLayout;

namespace nmui {

class ChartPanel;
enum class ExportFormat;
class FlipHeatmap;
class MetricChart;
class RunStore;

class HeatmapPanel : public QWidget {
    Q_OBJECT
  public:
    HeatmapPanel(RunStore *store, ChartSettings *settings, QWidget *parent = nullptr);

    QList<ChartPanel *> charts() const;
    FlipHeatmap *heatmapFor(int runId) const;
    FlipHeatmap *differenceMap() const { return m_diff; }
    MetricChart *flipRateChart() const { return m_line; }

    void setLogScale(bool on);
    void setSharedScale(bool on);
    // Shows the difference map of runs a and b (ids), or hides it.
    void setDifference(bool on, int a = -1, int b = -1);
    void refresh();

  Q_SIGNALS:
    void exportRequested(nmui::ChartPanel *panel, nmui::ExportFormat format);

  protected:
    void showEvent(QShowEvent *e) override;

  private:
    void syncMaps();
    void syncRunChoices();
    void linkZoom(FlipHeatmap *source, bool reset);
    FlipHeatmap *makeMap();

    RunStore *m_store;
    std::map<int, FlipHeatmap *> m_maps;
    FlipHeatmap *m_diff;
    MetricChart *m_line;
    QVBoxLayout *m_mapsLayout;
    QComboBox *m_scale, *m_runA, *m_runB;
    QCheckBox *m_shared, *m_diffBox;
    bool m_stale = true;
    bool m_linking = false;
};

} // namespace nmui
