#pragma once
// One run on one thread (internal to TrainingController). The thread builds (or receives)
// the run's trainer and steps it; between steps it honours pause, single-step, stop and
// fork requests, which the UI thread posts under the worker's mutex. Nothing here touches
// Qt objects: batches leave through the observer's post function.
#include "training/batch_observer.h"

#include "nmcore/compute_slots.h"
#include "nmcore/data.h"
#include "nmcore/runfile.h"
#include "nmcore/trainer.h"

#include <condition_variable>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace nmui {

// Datasets loaded once and shared read-only by every run that uses the same source.
class DatasetCache {
  public:
    std::shared_ptr<const nm::Dataset> get(const nm::DataOptions &options);

  private:
    std::mutex m_mutex;
    std::map<std::string, std::shared_ptr<const nm::Dataset>> m_sets;
};

using ComputeSlots = nm::ComputeSlots; // shared by an experiment's workers

// A run file being written for the experiment; made off the UI thread (it loads the data to
// learn the layout), so workers wait for it before their first step.
using Recorder = std::shared_future<std::shared_ptr<nm::RunFileWriter>>;

class RunWorker {
  public:
    // How the thread gets its trainer.
    struct Source {
        nm::RunConfig config; // the run's own config
        // Replay: train `replayConfig` for `replaySteps` steps without observers, then fork
        // into `config` (a fork from an earlier step, a finished run or a file).
        bool replay = false;
        nm::RunConfig replayConfig;
        long replaySteps = 0;
        std::shared_ptr<const nm::Checkpoint> replayFrom; // start the replay here (null: at step 0)
        // Handoff: wait for a trainer forked by another worker (or given here).
        bool handoff = false;
        std::unique_ptr<nm::Trainer> trainer;
        long forkStep = -1; // for replay and handoff: the step the fork continues from
        // Recording: the run file and this run's index in it (invalid future: not recorded).
        Recorder recorder;
        int recordIndex = -1;
    };

    RunWorker(int runId, Source source, std::shared_ptr<DatasetCache> data, std::shared_ptr<ComputeSlots> computeSlots,
              BatchObserver::Post post);
    ~RunWorker(); // stops and joins

    void start(bool paused);
    void setPaused(bool paused);
    void requestStep();
    void requestStop();
    void setLive(const nm::LiveSettings &live);
    void setLogEvery(int k) { m_observer.setLogEvery(k); }
    // Asks this worker to fork its trainer at its current step into `child` and hand it to
    // `target` (whose source is a handoff). False when the thread has already finished: the
    // caller may then fork the finished trainer itself (see finishedTrainer()).
    bool requestFork(const nm::RunConfig &child, RunWorker *target);
    // Gives a handoff worker its trainer, or the reason there is none.
    void provide(std::unique_ptr<nm::Trainer> trainer, long step, const std::string &error);

    bool finished() const;
    void join();
    int runId() const { return m_runId; }
    long currentStep() const { return m_step.load(); }
    // The trainer after the thread has finished (joined); null otherwise.
    nm::Trainer *finishedTrainer();

  private:
    struct ForkRequest {
        nm::RunConfig child;
        RunWorker *target;
    };
    void threadMain();
    std::unique_ptr<nm::Trainer> acquire();
    void loop();
    void serveForks(std::vector<ForkRequest> &requests);
    void attachRecorder(nm::Trainer &trainer);
    bool waitForWork(std::vector<ForkRequest> &forks); // false: stop requested

    int m_runId;
    Source m_source;
    std::shared_ptr<DatasetCache> m_data;
    std::shared_ptr<ComputeSlots> m_slots;
    BatchObserver m_observer;
    std::unique_ptr<nm::Trainer> m_trainer;
    std::thread m_thread;
    std::atomic<long> m_step{0};

    mutable std::mutex m_mutex;
    std::condition_variable m_cv;
    bool m_paused = false, m_stop = false, m_done = false, m_provided = false;
    int m_stepsRequested = 0;
    std::vector<ForkRequest> m_forks;
    bool m_liveSet = false;
    nm::LiveSettings m_live;
    std::string m_provideError;
};

} // namespace nmui
