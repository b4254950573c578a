#pragma once
// Terminal output for nmtrain: a progress bar with step, loss, steps/s and ETA when stderr is
// a terminal, plain log lines otherwise; evaluation lines; optional JSON lines on stdout.
// In an experiment (several runs on several threads) the runs share one ConsoleGroup: one
// progress line for all runs, no per-run evaluation lines on stderr, and one summary line
// per run on stdout as each ends.
#include "nmcore/trainer.h"

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

namespace nm {

struct ConsoleGroup {
    std::mutex mutex;    // serialises output of the runs' threads
    long totalSteps = 0; // over every run
    long doneSteps = 0;
    int runs = 0, ended = 0;
    double startSeconds = 0;
    double lastDraw = -1.0;
    int lastPercent = -1;
    bool barVisible = false;
};

class ConsoleObserver : public TrainingObserver {
  public:
    ConsoleObserver(Trainer &trainer, bool json, bool quiet, const std::atomic<bool> &interrupted,
                    std::shared_ptr<ConsoleGroup> group = nullptr);
    void onStart(const RunInfo &info) override;
    void onStep(const StepMetrics &m) override;
    void onEval(const EvalMetrics &e) override;
    void onEnd(const RunSummary &s) override;

    // The parseable summary line: "final run=NAME step=N val_loss=X val_acc=Y status=S ...".
    static std::string finalLine(const RunSummary &s);
    static std::string finalJson(const RunSummary &s);

  private:
    void drawBar(const StepMetrics &m, bool force);
    void clearBar();
    void groupProgress(const StepMetrics &m); // group mutex held

    Trainer &m_trainer;
    bool m_json, m_quiet, m_tty;
    const std::atomic<bool> &m_interrupted;
    long m_total = 0;
    double m_lastDraw = -1.0;
    long m_logEvery = 1;
    double m_smoothLoss = -1.0;
    bool m_barVisible = false;
    std::string m_name;
    std::shared_ptr<ConsoleGroup> m_group;
    long m_lastStep = 0;
};

} // namespace nm
