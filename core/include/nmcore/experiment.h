#pragma once
// Experiments: several runs (recipe × seed) trained side by side, each by its own Trainer on
// its own thread, sharing one loaded dataset per distinct data source.
//
// Runs with the same seed see the same data order and start from the same initial weights
// (both are functions of the seed only), so differences between recipes are the recipes'.
//
// Thread budget (cores = `threads` option, 0: every core): at most `concurrentRuns()` runs
// compute at any moment and each uses `threadsPerRun()` OpenMP/BLAS threads, with
// concurrentRuns × threadsPerRun <= cores. When there are at least as many runs as cores,
// every run gets one thread (OpenBLAS then runs single-threaded in the caller, which is safe
// from several threads; its thread count is process-global). All runs advance together:
// a run takes a compute slot for one step at a time, in first-come order, so a 9-run
// experiment on 2 cores shows all 9 curves growing.
//
// Mean and spread over seeds (bandOverSeeds, summarizeByRecipe) serve the GUI's bands and
// nmtrain's end-of-experiment table.
#include "nmcore/compute_slots.h"
#include "nmcore/config.h"
#include "nmcore/data.h"
#include "nmcore/runfile.h"
#include "nmcore/trainer.h"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace nm {

// A swept option of an experiment: "KEY=V1,V2,..." (the values are split at '|' instead when
// the text has one, for values that hold commas: mlp_hidden=128,128|256,256). KEY is any
// option but name, recipe and seed (those are --recipes and --seeds). Throws ConfigError
// naming the problem; the values themselves are checked when a run's config is parsed.
struct SweepAxis {
    std::string key;
    std::vector<std::string> values;
};
SweepAxis parseSweep(const std::string &text);
// The option keys a sweep takes (every option but recipe, seed and name), in --help order.
std::vector<std::string> sweepKeys();
// Every combination of the axes' values, the first axis outermost (one axis per key: a key
// given twice is a ConfigError).
std::vector<std::vector<std::pair<std::string, std::string>>> sweepGrid(const std::vector<SweepAxis> &axes);

// One run per (recipe, seed), recipes outer: names "<recipe>_s<seed>" ("<recipe>_KEY=V_s<seed>"
// with the base config's sweep values), prefixed by the base config's name unless that is the
// default "run". Throws ConfigError for an unknown recipe, an empty list or a repeated entry.
std::vector<RunConfig> expandRuns(const RunConfig &base, const std::vector<std::string> &recipes,
                                  const std::vector<uint64_t> &seeds);

// The runs of an experiment with a sweep, as nmtrain --sweep starts them: for every point of
// sweepGrid(axes) (first axis outermost) and every group in order, the config parsed from
// `text` with the group's flags and the point's values over them (so per-model defaults
// follow a swept model), its `sweep` the point, expanded over the group's recipes and `seeds`
// by expandRuns (names "<recipe>_KEY=V_s<seed>"). nmtrain has one group (its flags and
// --recipes), the GUI one per recipe of its form. No axes: one point without values. A
// ConfigError of a point's config names the point: "--sweep (at lr=abc): lr: ...".
struct SweepGroup {
    std::map<std::string, std::string> flags;
    std::vector<std::string> recipes;
};
std::vector<RunConfig> expandSweep(const std::string &text, const std::string &origin,
                                   const std::vector<SweepGroup> &groups, const std::vector<SweepAxis> &axes,
                                   const std::vector<uint64_t> &seeds);

// Loads each distinct dataset once; result[i] is run i's data.
std::vector<std::shared_ptr<const Dataset>> loadRunData(const std::vector<RunConfig> &runs);

struct ThreadBudget {
    int concurrentRuns = 1; // runs computing at the same moment
    int threadsPerRun = 1;
};
// cores <= 0: every core.
ThreadBudget threadBudget(int runs, int cores);

class Experiment {
  public:
    // Loads the data and builds every trainer (ConfigError/DataError before anything runs).
    // `threads` is the total budget (0: every core); each run's config.threads is set to its share.
    explicit Experiment(std::vector<RunConfig> runs, int threads = 0);
    // One run that continues a saved one (nmtrain --resume): the trainer `parent` would be at
    // step `atStep`, from the checkpoint `from` (null: the run's start) by replaying the steps
    // in between with `parent`, then continued with `run` (Trainer::resume).
    Experiment(RunConfig parent, RunConfig run, const Checkpoint *from, long atStep, int threads = 0);
    ~Experiment(); // stops and joins any running threads
    Experiment(const Experiment &) = delete;
    Experiment &operator=(const Experiment &) = delete;

    int runCount() const { return static_cast<int>(m_runs.size()); }
    const RunConfig &config(int run) const;
    Trainer &trainer(int run);
    std::vector<RunInfo> infos() const;
    const ThreadBudget &budget() const { return m_budget; }

    // Observers must be added before start().
    void addObserver(int run, TrainingObserver *observer);
    // Records every run into `writer` (made from infos()).
    void record(RunFileWriter &writer);

    void start();
    // Waits up to `seconds` (< 0: forever); true once every run has ended.
    bool wait(double seconds);
    // Waits for every run; rethrows the first error a run raised (the others are stopped).
    std::vector<RunSummary> join();
    std::vector<RunSummary> run(); // start() + join()

    // Thread-safe; every run ends after its current step with status Stopped.
    void requestStop();
    void setPaused(bool paused);

  private:
    void runThread(size_t i);

    struct Run {
        RunConfig config;
        std::unique_ptr<Trainer> trainer;
        RunSummary summary;
        std::exception_ptr error;
    };
    std::vector<Run> m_runs;
    ThreadBudget m_budget;
    std::vector<std::thread> m_threads;
    std::vector<std::unique_ptr<TrainingObserver>> m_slotObservers;
    std::atomic<bool> m_stop{false};
    std::unique_ptr<ComputeSlots> m_slots; // made by start()
    std::mutex m_stateMutex;               // m_paused, m_running
    std::condition_variable m_pauseCv, m_doneCv;
    bool m_paused = false;
    int m_running = 0; // threads that have not finished
};

// ---- Mean and spread over seeds ------------------------------------------------------------

// Per step over the series that have that step (steps in ascending order).
struct SeriesBand {
    std::vector<long> steps;
    std::vector<float> mean, stddev, min, max; // stddev: sample (n − 1), 0 for one series
    std::vector<int> count;                    // series that have the step
};
SeriesBand bandOverSeeds(const std::vector<Series> &series);

struct MetricSpread {
    int count = 0; // finite values
    double mean = 0, stddev = 0, min = 0, max = 0;
};
MetricSpread spread(const std::vector<double> &values); // NaN/Inf ignored

struct RecipeSummary {
    std::string recipe; // --recipe spelling
    std::string nm;
    std::vector<std::pair<std::string, std::string>> sweep; // the group's swept values
    int runs = 0;
    std::vector<std::string> statuses; // one per run, in run order
    MetricSpread valLoss, valAccuracy, testLoss, testAccuracy, seconds;
};
// Groups runs by (recipe, N:M, swept values) in first-appearance order.
std::vector<RecipeSummary> summarizeByRecipe(const std::vector<RunConfig> &configs,
                                             const std::vector<RunSummary> &summaries);
// A plain-text table of the summaries (one line per group, mean ± std).
std::string formatSummaryTable(const std::vector<RecipeSummary> &groups);

} // namespace nm
