#pragma once
// TrainingController: owns the running experiment. Each run trains on its own worker thread
// (one nm::Trainer per thread, threads budgeted so the runs never oversubscribe the cores);
// observer calls are batched on that thread and handed to the UI thread as queued calls
// carrying value types (RunBatch), at most ~30 per second per run. Widgets never touch a
// trainer: they call start / pause / step / stop / reset / fork and the live settings here.
//
// Live settings (learning rate, SR-STE λ, logging interval) apply at the next step of every
// run; structural settings (model, data, recipe, N:M) only change through setExperiment()
// while idle, or through fork().
#include "training/run_store.h"
#include "training/run_worker.h"

#include "nmcore/config.h"

#include <QElapsedTimer>
#include <QObject>
#include <QString>

#include <map>
#include <memory>
#include <vector>

namespace nmui {

class TrainingController : public QObject {
    Q_OBJECT
  public:
    enum class State { Idle, Running, Paused, Finished };
    Q_ENUM(State)

    struct Live {
        double lr = 0.05;
        double lambda = 2e-4;
        int logEvery = 1; // record one row per k steps (means over the k steps; flips summed)
    };

    struct Progress {
        long step = 0;             // furthest step of the experiment's runs
        long total = 0;            // their largest configured step count
        double stepsPerSecond = 0; // all runs together
        double elapsed = 0;        // seconds spent running (pauses excluded)
        int active = 0;            // runs still training
    };

    explicit TrainingController(RunStore *store, QObject *parent = nullptr);
    ~TrainingController() override;

    // The experiment: one run per config, added to the store as Ready runs. Only while idle
    // (or finished: the previous runs are replaced). Throws nm::ConfigError for an invalid
    // config, naming the field.
    void setExperiment(const std::vector<nm::RunConfig> &runs);
    QList<int> experimentRuns() const { return m_runIds; }
    State state() const { return m_state; }
    bool isActive() const { return m_state == State::Running || m_state == State::Paused; }

    void start();
    void pause();
    void resume();
    // Stops every run and waits for the training threads; the run file closes, its unfinished
    // runs recorded as Stopped. For closing the window: blocks for about one step.
    void shutdown();
    void togglePause();
    void stepOnce(); // one step of every unfinished run; from idle it starts paused first
    void stop();
    void reset(); // stops the runs and clears their data; they return to Ready

    // Forks run `runId` at step `atStep` (-1 or its current step: continue from where it is;
    // an earlier step, a finished run or a run read from a file: replay its first `atStep`
    // steps, bit-identical for the same thread count) into a new run with config `child`.
    // Returns the new run's id, or -1 with *error saying why.
    int fork(int runId, long atStep, nm::RunConfig child, QString *error = nullptr);
    // What a fork of `runId` at step `atStep` starts from, in a sentence for the fork dialog:
    // directly, a checkpoint of its file, or a replay (and whether the replay rounds differently
    // from the file: another BLAS kernel or thread count).
    QString forkNote(int runId, long atStep) const;
    // Why a run trained outside nmstudio (the PyTorch recorder) cannot be forked or resumed here.
    static QString trainedElsewhere(const RunMeta &m);

    // Record the runs of the next start into this HDF5 run file (empty: do not record).
    // Forks made later live in the session only: a run file's layout is fixed when it is made.
    void setRecordPath(const QString &path);
    QString recordPath() const { return m_recordPath; }
    // The file the current experiment is being (or was) recorded into; empty if none.
    QString recordedPath() const { return m_recordedPath; }

    void setLiveSettings(const Live &live);
    Live liveSettings() const { return m_live; }
    void setThreadBudget(int threads);

    Progress progress() const;

  Q_SIGNALS:
    void stateChanged(nmui::TrainingController::State state);
    void progressChanged();
    void runFailed(int id, const QString &message);
    void recordingFailed(const QString &message);
    // Recording stopped while the runs go on (disk full, file removed, ...); the message says why.
    void recordingStopped(const QString &message);
    // Something the user should know about a fork just made (a replay on another BLAS kernel).
    void notice(const QString &message);

  private:
    void onBatch(const RunBatch &batch, quint64 epoch);
    void launch(bool paused);
    void startRecorder(const std::vector<nm::RunConfig> &configs);
    RunWorker *addWorker(int runId, RunWorker::Source source);
    // fork()'s steps: the child's step k and where its state comes from.
    struct ForkPlan {
        RunWorker *parentWorker = nullptr;
        bool live = false;    // the parent is training
        bool handoff = false; // the live parent provides its state at its next step
        long current = 0, k = 0;
        RunWorker::Source source;
    };
    QString completeForkConfig(const Run &parent, long k, nm::RunConfig &child) const;
    QString chooseForkSource(int runId, ForkPlan &plan);
    int launchFork(int runId, const nm::RunConfig &child, ForkPlan &plan);
    BatchObserver::Post makePost();
    void setState(State s);
    void stopAndJoinAll();
    void retireWorkers();
    void reapFinished();
    int threadsPerRun(int runs) const;
    RunWorker *workerFor(int runId) const;
    void updateRates(int runId, long step);

    RunStore *m_store;
    std::shared_ptr<DatasetCache> m_data;
    std::shared_ptr<ComputeSlots> m_slots;
    Recorder m_recorder;
    QString m_recordPath, m_recordedPath;
    std::vector<nm::RunConfig> m_configs;
    QList<int> m_runIds;
    std::map<int, std::unique_ptr<RunWorker>> m_workers; // live workers by run id
    std::vector<std::unique_ptr<RunWorker>> m_retiring;  // stopped by reset, joined when done
    quint64 m_epoch = 1;
    State m_state = State::Idle;
    Live m_live;
    int m_threadBudget = 0;

    struct Rate {
        qint64 t0 = 0;
        long s0 = 0;
        double perSecond = 0;
    };
    std::map<int, Rate> m_rates;
    QElapsedTimer m_clock;        // monotonic time base for rates
    QElapsedTimer m_runningClock; // running since the last resume
    double m_elapsedBefore = 0;   // running time before it
};

} // namespace nmui
