#pragma once
// The layer inspector: pick a run, a sparse layer and a snapshot step; see the weight
// matrix (W or the forward weight W̃) and its mask as images, the weights whose mask bit
// changed since the previous snapshot highlighted, a per-layer bar chart of the flips each
// visible run made up to that step, and the layer's sparsity and parameter counts.
// Per-weight flip counts (how often each mask bit changed since step 0) as an image for the
// selected run and, beside it, the first other visible run, and as a histogram of the
// weights per count bin for each of those and the other visible runs.
// Fed from snapshots: live ones from the trainer, or read from run files.
#include <QWidget>

#include <QList>
#include <QStringList>

#include <cstdint>
#include <memory>
#include <vector>

class QBarSeries;
class QBarCategoryAxis;
class QCheckBox;
class QComboBox;
class QHBoxLayout;
class QLabel;
class QSlider;
class QTextBrowser;
class QValueAxis;

namespace nm {
struct LayerSnapshot;
struct Snapshot;
} // namespace nm

namespace nmui {

class ChartPanel;
enum class ExportFormat;
class ImageChart;
class RunStore;
class FlipBarChart;
class FlipCountHistogram;

// Weights per flip-count bin: 0, 1, 2, 3–4, 5–8, 9–16, … (bin k ≥ 1 holds the counts c with
// 2^(k−2) < c ≤ 2^(k−1)), up to the largest count's bin.
int flipCountBin(int count);
QString flipCountBinLabel(int bin);
std::vector<long> flipCountHistogram(const std::vector<uint16_t> &counts);
// How many weights have each count (index: the count).
std::vector<long> countByValue(const std::vector<uint16_t> &counts);
// flipCountHistogram from counts by value.
std::vector<long> flipCountHistogram(const std::vector<long> &byValue);

// What the histogram shows: one row of bin totals per run (selected run first).
struct FlipHistogramData {
    QStringList bins;
    QList<int> runIds;
    QList<QList<double>> weights; // weights[run][bin]
};

class LayerInspector : public QWidget {
    Q_OBJECT
  public:
    explicit LayerInspector(RunStore *store, QWidget *parent = nullptr);

    QList<ChartPanel *> charts() const;
    // Brings the page up to date with the store, shown or not (exports).
    void refresh();
    void select(int runId, int layer, long step);
    int runId() const;
    int layer() const;
    long step() const;
    ImageChart *weightChart() const { return m_weights; }
    ImageChart *maskChart() const { return m_mask; }
    // Flip counts of the selected run (0) and of the run beside it (1; hidden when none).
    ImageChart *flipCountChart(int i) const { return m_flipCounts[i == 0 ? 0 : 1]; }
    int compareRunId() const { return m_compareId; } // -1: none
    FlipHistogramData flipHistogram() const;
    // Mask bits that changed between the previous snapshot and the selected one.
    long flippedCount() const { return m_flipped; }

  Q_SIGNALS:
    void exportRequested(nmui::ChartPanel *panel, nmui::ExportFormat format);

  protected:
    void showEvent(QShowEvent *e) override;

  private:
    QHBoxLayout *buildControls();
    void syncChoices();
    // Draws the selection now (the user's choices, refresh(), select()).
    void showSelection();
    // Draws it in stages, one per pass of the event loop, starting at the next pass (the page
    // being shown, a new snapshot while shown): all at once holds the UI thread for tens of
    // milliseconds (three layer-sized images, two of flip counts, a histogram) on top of the
    // page's paint; in between, input and painting go on. A newer call drops pending stages.
    void showSelectionInStages();
    static constexpr int kStages = 3;
    void drawStage(int stage);
    void queueStage(int generation, int stage);
    // Everything the views depend on (selection, the snapshots shown, how far each shown run's
    // flip counts reach): live data that changes none of it skips the redraw.
    std::vector<quint64> viewKey() const;
    void drawWeights(const nm::LayerSnapshot &s);
    void drawMask(const nm::LayerSnapshot &s, const nm::LayerSnapshot *prev, long prevStep);
    void writeStats(const nm::LayerSnapshot *s, const nm::LayerSnapshot *prev);
    void drawFlipCounts(long step);

    RunStore *m_store;
    QComboBox *m_run, *m_layer, *m_which;
    QSlider *m_step;
    QLabel *m_stepLabel;
    QCheckBox *m_highlight;
    ImageChart *m_weights, *m_mask;
    FlipBarChart *m_bars;
    ImageChart *m_flipCounts[2];
    FlipCountHistogram *m_histogram;
    int m_compareId = -1;
    QTextBrowser *m_stats;
    std::vector<long> m_steps;
    long m_flipped = 0;
    bool m_stale = true;
    std::vector<quint64> m_shownKey;
    bool m_syncing = false;
    int m_generation = 0; // of the selection drawn; stages of an older one are dropped
    // The snapshots on screen, kept alive for the readouts.
    std::shared_ptr<const nm::Snapshot> m_snap, m_prev;
    int m_layerIndex = 0;
};

} // namespace nmui
