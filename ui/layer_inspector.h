#pragma once
// The layer inspector: pick a run, a sparse layer and a snapshot step; see the weight
// matrix (W or the forward weight W̃) and its mask as images, the weights whose mask bit
// changed since the previous snapshot highlighted, a per-layer bar chart of the flips each
// visible run made up to that step, and the layer's sparsity and parameter counts.
// Fed from snapshots: live ones from the trainer, or read from run files.
#include <QWidget>

#include <memory>

class QBarSeries;
class QBarCategoryAxis;
class QCheckBox;
class QComboBox;
class QLabel;
class QSlider;
class QTextBrowser;
class QValueAxis;

namespace nm {
struct LayerSnapshot;
struct Snapshot;
}

namespace nmui {

class ChartPanel;
class ImageChart;
class RunStore;
class FlipBarChart;

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
    // Mask bits that changed between the previous snapshot and the selected one.
    long flippedCount() const { return m_flipped; }

Q_SIGNALS:
    void exportRequested(nmui::ChartPanel *panel, const QString &format);

protected:
    void showEvent(QShowEvent *e) override;

private:
    void syncChoices();
    void showSelection();
    void drawWeights(const nm::LayerSnapshot &s);
    void drawMask(const nm::LayerSnapshot &s, const nm::LayerSnapshot *prev, long prevStep);
    void writeStats(const nm::LayerSnapshot *s, const nm::LayerSnapshot *prev);

    RunStore *m_store;
    QComboBox *m_run, *m_layer, *m_which;
    QSlider *m_step;
    QLabel *m_stepLabel;
    QCheckBox *m_highlight;
    ImageChart *m_weights, *m_mask;
    FlipBarChart *m_bars;
    QTextBrowser *m_stats;
    std::vector<long> m_steps;
    long m_flipped = 0;
    bool m_stale = true;
    bool m_syncing = false;
    // The snapshots on screen, kept alive for the readouts.
    std::shared_ptr<const nm::Snapshot> m_snap, m_prev;
    int m_layerIndex = 0;
};

} // namespace nmui
