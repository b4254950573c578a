#pragma once
// Terminal output for nmtrain: a progress bar with step, loss, steps/s and ETA when stderr is
// a terminal, plain log lines otherwise; evaluation lines; optional JSON lines on stdout.
#include "nmcore/trainer.h"

#include <atomic>
#include <string>

namespace nm {

class ConsoleObserver : public TrainingObserver {
public:
    ConsoleObserver(Trainer &trainer, bool json, bool quiet, const std::atomic<bool> &interrupted);
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

    Trainer &m_trainer;
    bool m_json, m_quiet, m_tty;
    const std::atomic<bool> &m_interrupted;
    long m_total = 0;
    double m_lastDraw = -1.0;
    long m_logEvery = 1;
    double m_smoothLoss = -1.0;
    bool m_barVisible = false;
    std::string m_name;
};

} // namespace nm
