#pragma once
// The observer a worker attaches to its trainer. It runs on the training thread, turns the
// trainer's callbacks into rows of a RunBatch and hands the batch to `post` at most every
// 33 ms (and whenever the run starts, pauses or ends), so the UI thread receives a few
// dozen batches a second whatever the step rate.
//
// Logging interval k (a live setting): one training row per k steps, holding the mean loss,
// accuracy, gradient norms and flip rate over those steps, the summed flip count, and the
// last value of everything else (schedules, noise, SAD).
#include "training/run_data.h"

#include <atomic>
#include <chrono>
#include <functional>

namespace nmui {

class BatchObserver : public nm::TrainingObserver {
  public:
    using Post = std::function<void(RunBatch &&)>;
    BatchObserver(int runId, Post post);

    void onStart(const nm::RunInfo &info) override;
    void onStep(const nm::StepMetrics &m) override;
    void onEval(const nm::EvalMetrics &e) override;
    void onSnapshot(const nm::Snapshot &s) override;
    void onEnd(const nm::RunSummary &s) override;

    void setLogEvery(int k) { m_logEvery = k < 1 ? 1 : k; }
    void setForkStep(long step) { m_forkStep = step; }
    // Sends what has accumulated (a partial logging window included).
    void flush(bool paused = false);
    void fail(const std::string &message);

  private:
    using Clock = std::chrono::steady_clock;
    void emitRow();
    void maybeFlush();
    double wallSeconds() const;

    int m_runId;
    Post m_post;
    RunBatch m_batch;
    std::atomic<int> m_logEvery{1};
    long m_forkStep = -1;
    bool m_started = false;
    Clock::time_point m_wallStart = Clock::now();
    Clock::time_point m_lastFlush = Clock::now();

    // The logging window being aggregated.
    int m_count = 0;
    long m_lastStep = 0;
    double m_lastTime = 0, m_lastWall = 0, m_lastFlops = 0;
    std::vector<double> m_sum; // one per aggregated value
    std::vector<float> m_last; // one per carried value
    int m_layers = 0;
};

} // namespace nmui
