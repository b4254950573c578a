#pragma once
// Every run's full-resolution series, on the UI thread. Filled from the TrainingController's
// batches (live runs) or from run files; read by the charts through the plotting layer.
// Change notifications are coalesced: dataChanged() fires at most once per frame (~30 Hz)
// however many batches arrive, so charts redraw at most ~30 times a second.
#include "training/run_data.h"

#include <QElapsedTimer>
#include <QObject>
#include <QTimer>

#include <map>
#include <memory>

namespace nmui {

struct Run {
    RunMeta meta;
    MetricTable train, val, test, continuity;
    std::map<long, std::shared_ptr<const nm::Snapshot>> snapshots; // by step
    quint64 generation = 0; // changes when the series were replaced rather than appended to

    const MetricTable &table(TableKind kind) const;
    int sparseLayerCount() const { return static_cast<int>(meta.sparseLayers.size()); }
};

class RunStore : public QObject {
    Q_OBJECT
  public:
    explicit RunStore(QObject *parent = nullptr);

    // Adds a run (id and colour assigned here unless set) and returns its id.
    int addRun(RunMeta meta);
    void removeRun(int id);
    void clear();
    // Clears a run's series and returns it to `state` (Reset keeps the experiment's runs).
    void resetRun(int id, RunState state);

    const Run *run(int id) const;
    Run *mutableRun(int id);
    QList<int> runIds() const;
    QList<int> visibleRunIds() const;
    int count() const { return static_cast<int>(m_runs.size()); }

    // Appends a training thread's batch (copies a fork's prefix from its parent first).
    void apply(const RunBatch &batch);
    void setState(int id, RunState state);
    void setVisible(int id, bool visible);
    void setColor(int id, const QColor &color);
    void setMeta(int id, const RunMeta &meta); // keeps id, colour and visibility

    // Replaces a run's series (runs read from files); emits dataChanged on the next frame.
    void setSeries(int id, MetricTable train, MetricTable val, MetricTable test, MetricTable continuity);
    void addSnapshot(int id, std::shared_ptr<const nm::Snapshot> snapshot);

    // Visible runs grouped by RunMeta::groupKey, in id order; singletons for unique configs.
    QList<QList<int>> seedGroups(const QList<int> &ids) const;

    quint64 revision() const { return m_revision; }
    // Sends a pending dataChanged() now instead of at the next frame (tests, exports).
    void flush();

  Q_SIGNALS:
    void runAdded(int id);
    void runRemoved(int id);
    void runMetaChanged(int id); // state, colour, visibility, name, step
    void runsReset();            // many runs removed or replaced at once
    void dataChanged();          // new points in some run; coalesced to one per frame

  private:
    void markDirty();
    void touchMeta(int id);

    std::map<int, std::unique_ptr<Run>> m_runs;
    int m_nextId = 1;
    quint64 m_revision = 0;
    QTimer m_frame;
    bool m_dirty = false;
    // Frame pacing: the UI thread's CPU and wall clock at the last frame.
    double m_lastCpuMs = -1, m_lastWallMs = -1;
    QElapsedTimer m_clock;

  public:
    // The interval between chart frames now (ms): kFrameMs while the UI thread has time to
    // spare, longer while frames (their refreshes and paints) use more than its budget.
    int frameInterval() const { return m_frame.interval(); }
};

} // namespace nmui
