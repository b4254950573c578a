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
#include "nmcore/sparsity.h"

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
    RecipeKind recipe = RecipeKind::Dense;
    std::vector<SparseLayerInfo> layers; // every Linear layer, sparse or not, in model order
    long effectiveParameterCount = 0;    // nonzero forward weights at the final N:M + everything else
    long optimizerStateSize = 0;         // floats in Optimizer::saveState() (checkpoints)
    std::string parentName;              // a fork or resumed run: the run it continues
    long forkStep = -1;                  // and the step it continues from (-1: a new run)
};

struct StepMetrics {
    long step = 0;       // steps completed, 1 after the first update
    float loss = 0;      // training loss of this step's batch
    float accuracy = 0;  // on this step's batch (per token for language models)
    double lr = 0;       // learning rate used by this update
    double gradNorm = 0; // global gradient norm before clipping
    double stepSeconds = 0;
    double elapsedSeconds = 0;
    double flops = 0;               // theoretical training FLOPs of this step (Model::trainingFlops)
    double totalFlops = 0;          // … of every step so far, this one included
    std::vector<LayerStats> layers; // one per sparse layer (Sparsifier order); empty without sparse layers
    bool hasContinuity = false;
    ContinuityMetrics continuity;
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

// Everything a step needs that is not in the config, captured between steps (after the
// update of step `step`): a trainer resumed from it takes exactly the steps the original would
// have taken on the same machine (bit-identical; another BLAS kernel rounds differently).
struct Checkpoint {
    long step = 0;
    double elapsedSeconds = 0;
    double trainingFlops = 0;                  // StepMetrics::totalFlops at this step
    double lr = 0, lambda = 0;                 // live settings in effect: peak learning rate, SR-STE λ
    std::vector<float> params;                 // Model::params(), flat, model order
    std::vector<float> optimizer;              // Optimizer::saveState()
    std::vector<SparseLayerCheckpoint> layers; // Sparsifier order
};

class TrainingObserver {
  public:
    virtual ~TrainingObserver() = default;
    virtual void onStart(const RunInfo &) {}
    virtual void onStep(const StepMetrics &) {}
    virtual void onEval(const EvalMetrics &) {}
    // At step 0 (after initialisation), every snapshot_every steps and at the last step.
    virtual void onSnapshot(const Snapshot &) {}
    // With every snapshot after step 0 and at the end of a run that did not diverge, when the
    // config's `checkpoints` is on (also without sparse layers); after onSnapshot of that step.
    virtual void onCheckpoint(const Checkpoint &) {}
    virtual void onEnd(const RunSummary &) {}
};

// Builds the model a config asks for, sized for the data (inputs, classes, vocabulary).
std::unique_ptr<Model> makeModel(const RunConfig &config, const Dataset &data);
DataOptions dataOptions(const RunConfig &config);

// Settings that may change while a run trains; they apply from the next step.
struct LiveSettings {
    double lr = 0;     // peak learning rate of the schedule
    double lambda = 0; // SR-STE λ
};

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

    // A new trainer that continues this one from its current step with another config
    // (typically another recipe): same parameters, optimiser state, step and data order.
    // Model, data, batch and seed must match; throws ConfigError naming the first that differs.
    std::unique_ptr<Trainer> fork(const RunConfig &config) const;
    // The same from a saved state (a run file's checkpoint): `parent` is the config the
    // checkpoint was made under, `config` the one to continue with (the same, more steps,
    // another recipe...). The same recipe, N:M and sparse layers continue the saved masks and
    // recipe state exactly; another recipe or N:M starts its masks from the weights at that
    // step. Model, data (data_dir may differ: the same files in another place), batch, seed
    // and optimiser must match; throws ConfigError naming what does not.
    static std::unique_ptr<Trainer> resume(const RunConfig &parent, const RunConfig &config,
                                           std::shared_ptr<const Dataset> data, const Checkpoint &checkpoint);
    Checkpoint checkpoint() const;

    // Thread-safe; applied at the next step boundary.
    void setLiveSettings(const LiveSettings &live);
    LiveSettings liveSettings() const;

    void requestStop();
    void setPaused(bool paused);
    bool isPaused() const { return m_paused.load(); }

    Model &model() { return *m_model; }
    Sparsifier *sparsifier() { return m_sparsifier.get(); }
    Snapshot snapshot() const;
    const RunInfo &info() const { return m_info; }
    long step() const { return m_step; }
    RunStatus status() const { return m_status; }

  private:
    void finish(RunStatus status);
    void notifyEval(const EvalMetrics &e);
    void notifySnapshot();
    void notifyCheckpoint();
    void applyLive();
    void captureBeforeUpdate();
    void captureForwardWeights();
    void measureContinuity(StepMetrics &m, float lossBefore);

    RunConfig m_config;
    std::shared_ptr<const Dataset> m_data;
    std::unique_ptr<Model> m_model;
    std::unique_ptr<Optimizer> m_optimizer;
    std::unique_ptr<Sparsifier> m_sparsifier;
    TrainSampler m_sampler;
    LrSchedule m_schedule;
    RunInfo m_info;
    Batch m_batch, m_evalBatch;
    std::vector<TrainingObserver *> m_observers;

    long m_step = 0;
    RunStatus m_status = RunStatus::Running;
    bool m_started = false;
    double m_elapsed = 0;
    double m_flops = 0; // training FLOPs so far
    EvalMetrics m_lastVal{};
    RunSummary m_summary;
    long m_lastSnapshot = -1, m_lastCheckpoint = -1;
    // Continuity: parameters, raw gradients and W̃ of step t, kept on measured steps.
    std::vector<float> m_contParams, m_contGrads;
    std::vector<std::vector<float>> m_contForward;

    mutable std::mutex m_liveMutex;
    LiveSettings m_live;
    bool m_liveDirty = false;

    std::atomic<bool> m_stop{false};
    std::atomic<bool> m_paused{false};
    std::mutex m_pauseMutex;
    std::condition_variable m_pauseCv;
};

} // namespace nm
