#pragma once
// The plots, one tab per question: loss and accuracy; mask flips (heatmaps, difference,
// per-layer flip rate); gradients (noise and norms, kept vs pruned); schedules (α, N:M
// density, learning rate, λ, β, sparsity, with phase boundaries); S-STE continuity; and
// the layer inspector; and the Summary (a metric against a swept value, N/M or training FLOPs,
// mean ± 95 % CI per seed group, with the table of groups). Every chart reads the RunStore through the plotting layer.
#include "plot/chart_settings.h"

#include <QTabWidget>

namespace nmui {

class ChartPanel;
enum class ExportFormat;
class HeatmapPanel;
class LayerInspector;
class MetricChart;
class RunStore;
class ScatterChart;
class StepValuesTable;
class SummaryChart;

class ChartPages : public QTabWidget {
    Q_OBJECT
  public:
    ChartPages(RunStore *store, ChartSettings *settings, QWidget *parent = nullptr);

    // Every chart, page by page (export all).
    QList<ChartPanel *> charts() const;
    // The charts of one page.
    QList<ChartPanel *> chartsOnPage(int page) const;

    MetricChart *trainLoss() const { return m_trainLoss; }
    MetricChart *valLoss() const { return m_valLoss; }
    MetricChart *trainAccuracy() const { return m_trainAcc; }
    MetricChart *valAccuracy() const { return m_valAcc; }
    MetricChart *gradientNoise() const { return m_noise; }
    MetricChart *alphaChart() const { return m_alpha; }
    ScatterChart *continuity() const { return m_continuity; }
    ScatterChart *descent() const { return m_descent; }
    HeatmapPanel *heatmaps() const { return m_heatmaps; }
    LayerInspector *inspector() const { return m_inspector; }
    SummaryChart *summary() const { return m_summary; }
    StepValuesTable *stepValues() const { return m_stepValues; }
    // Refreshes every chart, visible or not (before exporting from a hidden page).
    void refreshAll();

  Q_SIGNALS:
    void exportRequested(nmui::ChartPanel *panel, nmui::ExportFormat format);

  private:
    QWidget *lossPage();
    QWidget *gradientPage();
    QWidget *schedulePage();
    QWidget *continuityPage();
    QWidget *summaryPage();
    void track(ChartPanel *panel, int page);
    void linkZoom(MetricChart *source, bool reset);

    RunStore *m_store;
    ChartSettings *m_settings;
    MetricChart *m_trainLoss = nullptr, *m_valLoss = nullptr, *m_trainAcc = nullptr, *m_valAcc = nullptr;
    MetricChart *m_noise = nullptr, *m_alpha = nullptr;
    ScatterChart *m_continuity = nullptr, *m_descent = nullptr;
    HeatmapPanel *m_heatmaps = nullptr;
    LayerInspector *m_inspector = nullptr;
    SummaryChart *m_summary = nullptr;
    StepValuesTable *m_stepValues = nullptr;
    QList<std::pair<ChartPanel *, int>> m_panels; // chart and its page
    bool m_linking = false;
};

} // namespace nmui
