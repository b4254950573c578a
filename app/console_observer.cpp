#include "console_observer.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <unistd.h>

namespace nm {

namespace {
std::string fmt(double v, int prec = 4)
{
    if (std::isnan(v))
        return "nan";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", prec, v);
    return buf;
}

std::string duration(double s)
{
    if (!std::isfinite(s) || s < 0)
        return "--:--";
    const long t = std::lround(s);
    char buf[32];
    if (t >= 3600)
        std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else
        std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
    return buf;
}

nlohmann::json number(double v)
{
    return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}
} // namespace

ConsoleObserver::ConsoleObserver(Trainer &trainer, bool json, bool quiet, const std::atomic<bool> &interrupted)
    : m_trainer(trainer), m_json(json), m_quiet(quiet), m_tty(isatty(STDERR_FILENO) != 0), m_interrupted(interrupted)
{
}

void ConsoleObserver::onStart(const RunInfo &info)
{
    m_total = info.config.steps;
    m_name = info.name;
    m_logEvery = std::max<long>(1, m_total / 20);
    if (!m_quiet) {
        std::fprintf(stderr, "run %s: %s on %s\n", info.name.c_str(), info.modelDescription.c_str(),
                     info.dataDescription.c_str());
        std::fprintf(stderr, "%s %s, lr %g, batch %d, %ld steps, seed %llu\n", info.config.optimizer.c_str(),
                     info.config.nesterov && info.config.optimizer == "sgd" ? "(Nesterov)" : "", info.config.lr,
                     info.config.batch, info.config.steps, static_cast<unsigned long long>(info.config.seed));
    }
    if (m_json) {
        nlohmann::json j = {{"event", "start"},       {"run", info.name},
                            {"model", info.modelDescription}, {"data", info.dataDescription},
                            {"parameters", info.parameterCount}, {"threads", info.threads},
                            {"blas_kernel", info.blasCore}};
        std::printf("%s\n", j.dump().c_str());
        std::fflush(stdout);
    }
}

void ConsoleObserver::onStep(const StepMetrics &m)
{
    if (m_interrupted.load())
        m_trainer.requestStop();
    if (std::isfinite(m.loss))
        m_smoothLoss = m_smoothLoss < 0 ? m.loss : 0.9 * m_smoothLoss + 0.1 * m.loss;
    if (m_quiet)
        return;
    if (m_tty) {
        drawBar(m, m.step == m_total);
    } else if (m.step % m_logEvery == 0 || m.step == 1) {
        const double rate = m.elapsedSeconds > 0 ? m.step / m.elapsedSeconds : 0.0;
        std::fprintf(stderr, "step %ld/%ld loss %s lr %.3g grad_norm %s %.1f steps/s\n", m.step, m_total,
                     fmt(m.loss).c_str(), m.lr, fmt(m.gradNorm, 3).c_str(), rate);
    }
}

void ConsoleObserver::drawBar(const StepMetrics &m, bool force)
{
    if (!force && m.elapsedSeconds - m_lastDraw < 0.1)
        return;
    m_lastDraw = m.elapsedSeconds;
    constexpr int kWidth = 28;
    const double frac = m_total > 0 ? static_cast<double>(m.step) / m_total : 0.0;
    const int filled = static_cast<int>(frac * kWidth);
    std::string bar(filled, '#');
    bar.resize(kWidth, '.');
    const double rate = m.elapsedSeconds > 0 ? m.step / m.elapsedSeconds : 0.0;
    const double eta = rate > 0 ? (m_total - m.step) / rate : -1.0;
    std::fprintf(stderr, "\r[%s] %3d%% step %ld/%ld loss %s %.1f steps/s ETA %s  ", bar.c_str(),
                 static_cast<int>(frac * 100), m.step, m_total, fmt(m_smoothLoss).c_str(), rate,
                 duration(eta).c_str());
    std::fflush(stderr);
    m_barVisible = true;
}

void ConsoleObserver::clearBar()
{
    if (m_barVisible) {
        std::fprintf(stderr, "\r\033[K");
        m_barVisible = false;
    }
}

void ConsoleObserver::onEval(const EvalMetrics &e)
{
    const char *split = e.split == Split::Validation ? "val" : "test";
    if (!m_quiet) {
        clearBar();
        std::string line = std::string("eval step ") + std::to_string(e.step) + ": " + split + "_loss " +
                           fmt(e.loss) + " " + split + "_acc " + fmt(100.0 * e.accuracy, 2) + "%";
        if (!std::isnan(e.bitsPerChar))
            line += " bits/char " + fmt(e.bitsPerChar, 3);
        std::fprintf(stderr, "%s\n", line.c_str());
    }
    if (m_json) {
        nlohmann::json j = {{"event", "eval"}, {"run", m_name}, {"step", e.step}, {"split", split},
                            {"loss", number(e.loss)}, {"acc", number(e.accuracy)},
                            {"bits_per_char", number(e.bitsPerChar)}};
        std::printf("%s\n", j.dump().c_str());
        std::fflush(stdout);
    }
}

void ConsoleObserver::onEnd(const RunSummary &s)
{
    clearBar();
    if (!m_quiet && s.status == RunStatus::Diverged)
        std::fprintf(stderr, "run %s diverged at step %ld (loss is NaN or Inf); try a lower lr or grad_clip\n",
                     s.name.c_str(), s.step);
    std::printf("%s\n", (m_json ? finalJson(s) : finalLine(s)).c_str());
    std::fflush(stdout);
}

std::string ConsoleObserver::finalLine(const RunSummary &s)
{
    std::string line = "final run=" + s.name + " step=" + std::to_string(s.step) + " val_loss=" + fmt(s.valLoss) +
                       " val_acc=" + fmt(s.valAccuracy) + " status=" + toString(s.status);
    if (!std::isnan(s.testAccuracy))
        line += " test_loss=" + fmt(s.testLoss) + " test_acc=" + fmt(s.testAccuracy);
    line += " seconds=" + fmt(s.seconds, 2);
    return line;
}

std::string ConsoleObserver::finalJson(const RunSummary &s)
{
    nlohmann::json j = {{"event", "final"},
                        {"run", s.name},
                        {"step", s.step},
                        {"val_loss", number(s.valLoss)},
                        {"val_acc", number(s.valAccuracy)},
                        {"test_loss", number(s.testLoss)},
                        {"test_acc", number(s.testAccuracy)},
                        {"status", toString(s.status)},
                        {"seconds", s.seconds}};
    return j.dump();
}

} // namespace nm
