#pragma once
// The training loop (llm.c style: next batch, forward, zero grad, backward, clip, update)
// and the observer interface through which the command-line runner, run files and the GUI
// follow a run. Observers are called on the training thread with plain value structs.
//
// A NaN or Inf loss ends the run with status Diverged; that is a result, not an error.
// requestStop() and setPaused() may be called from any thread; they take effect between steps.
#include "nmcore/config.h"
#include "nmcore/data.h"
#include "nmcore/model.h"
#include "nmcore/optimizer.h"

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace nm {

enum class RunStatus { Running, Completed, Stopped, Diverged };
const char *toString(RunStatus s);

struct RunInfo {
    std::string name;
    RunConfig config;
    std::string modelDescription;
    std::string dataDescription;
    TaskKind task = TaskKind::Classification;
    long parameterCount = 0;
    int threads = 0;
    std::string blasCore;
};

struct StepMetrics {
    long step = 0;         // steps completed, 1 after the first update
    float loss = 0;        // training loss of this step's batch
    float accuracy = 0;    // on this step's batch (per token for language models)
    double lr = 0;         // learning rate used by this update
    double gradNorm = 0;   // global gradient norm before clipping
    double stepSeconds = 0;
    double elapsedSeconds = 0;
};

struct EvalMetrics {
    long step = 0;
    Split split = Split::Validation;
    float loss = 0;
    float accuracy = 0;
    float bitsPerChar = 0; // language models: loss / ln 2; NaN for classification
};

struct RunSummary {
    std::string name;
    long step = 0;
    RunStatus status = RunStatus::Running;
    float valLoss = 0, valAccuracy = 0;
    float testLoss = 0, testAccuracy = 0; // NaN when the data has no test split
    double seconds = 0;
};

class TrainingObserver {
public:
    virtual ~TrainingObserver() = default;
    virtual void onStart(const RunInfo &) {}
    virtual void onStep(const StepMetrics &) {}
    virtual void onEval(const EvalMetrics &) {}
    virtual void onEnd(const RunSummary &) {}
};

// Builds the model a config asks for, sized for the data (inputs, classes, vocabulary).
std::unique_ptr<Model> makeModel(const RunConfig &config, const Dataset &data);
DataOptions dataOptions(const RunConfig &config);

class Trainer {
public:
    Trainer(const RunConfig &config, std::shared_ptr<const Dataset> data);
    ~Trainer();

    void addObserver(TrainingObserver *observer);

    // Runs to the configured number of steps, a stop request or divergence.
    RunSummary run();
    // One step (for single-stepping); returns false once the run has finished.
    bool stepOnce();
    EvalMetrics evaluate(Split split);

    void requestStop();
    void setPaused(bool paused);
    bool isPaused() const { return m_paused.load(); }

    Model &model() { return *m_model; }
    const RunInfo &info() const { return m_info; }
    long step() const { return m_step; }
    RunStatus status() const { return m_status; }

private:
    void finish(RunStatus status);
    void notifyEval(const EvalMetrics &e);

    RunConfig m_config;
    std::shared_ptr<const Dataset> m_data;
    std::unique_ptr<Model> m_model;
    std::unique_ptr<Optimizer> m_optimizer;
    TrainSampler m_sampler;
    LrSchedule m_schedule;
    RunInfo m_info;
    Batch m_batch, m_evalBatch;
    std::vector<TrainingObserver *> m_observers;

    long m_step = 0;
    RunStatus m_status = RunStatus::Running;
    bool m_started = false;
    double m_elapsed = 0;
    EvalMetrics m_lastVal{};
    RunSummary m_summary;

    std::atomic<bool> m_stop{false};
    std::atomic<bool> m_paused{false};
    std::mutex m_pauseMutex;
    std::condition_variable m_pauseCv;
};

} // namespace nm
