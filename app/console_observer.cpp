#include "console_observer.h"

#include "nmcore/nm_gemm.h"

#include <nlohmann/json.hpp>

#include <chrono>
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

double wallSeconds()
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
} // namespace

ConsoleObserver::ConsoleObserver(Trainer &trainer, bool json, bool quiet, const std::atomic<bool> &interrupted,
                                 std::shared_ptr<ConsoleGroup> group)
    : m_trainer(trainer), m_json(json), m_quiet(quiet), m_tty(isatty(STDERR_FILENO) != 0), m_interrupted(interrupted),
      m_group(std::move(group))
{
}

void ConsoleObserver::onStart(const RunInfo &info)
{
    m_total = info.config.steps;
    m_name = info.name;
    m_logEvery = std::max<long>(1, m_total / 20);
    std::unique_lock<std::mutex> lock;
    if (m_group) {
        lock = std::unique_lock(m_group->mutex);
        if (m_group->startSeconds == 0)
            m_group->startSeconds = wallSeconds();
    }
    if (m_group && !m_quiet) {
        // Which layers' N:M products run sparse, without the measured speedups (one line a run).
        std::string gemm;
        for (const auto &l : info.layers) {
            const std::string d = nm::spgemm::describe(l.gemm, l.n, l.m);
            if (!d.empty())
                gemm += (gemm.empty() ? "; GEMMs " : ", ") + l.name + " " + d.substr(0, d.find(" ("));
        }
        std::fprintf(stderr, "run %s: recipe %s %s, seed %llu, %d thread%s%s\n", info.name.c_str(),
                     info.config.recipe.c_str(), info.config.nm.c_str(),
                     static_cast<unsigned long long>(info.config.seed), info.threads, info.threads == 1 ? "" : "s",
                     gemm.c_str());
    } else if (!m_quiet) {
        std::fprintf(stderr, "run %s: %s on %s\n", info.name.c_str(), info.modelDescription.c_str(),
                     info.dataDescription.c_str());
        std::fprintf(
            stderr, "%s %s, lr %g, batch %d, %ld steps, seed %llu\n", choiceName(info.config.optimizer).c_str(),
            info.config.nesterov && info.config.optimizer == nm::OptimizerKind::Sgd ? "(Nesterov)" : "", info.config.lr,
            info.config.batch, info.config.steps, static_cast<unsigned long long>(info.config.seed));
        for (const auto &l : info.layers) {
            const std::string gemm = nm::spgemm::describe(l.gemm, l.n, l.m);
            if (!gemm.empty())
                std::fprintf(stderr, "  %s %d:%d GEMMs: %s\n", l.name.c_str(), l.n, l.m, gemm.c_str());
        }
    }
    if (m_json) {
        nlohmann::json j = {{"event", "start"},
                            {"run", info.name},
                            {"model", info.modelDescription},
                            {"data", info.dataDescription},
                            {"parameters", info.parameterCount},
                            {"threads", info.threads},
                            {"blas_kernel", info.blasCore}};
        nlohmann::json gemm = nlohmann::json::object(); // layer -> the sparse GEMM paths of its final N:M
        for (const auto &l : info.layers)
            if (!l.gemm.empty())
                gemm[l.name] = nm::spgemm::describe(l.gemm, l.n, l.m);
        j["gemm"] = gemm;
        std::printf("%s\n", j.dump().c_str());
        std::fflush(stdout);
    }
}

void ConsoleObserver::onStep(const StepMetrics &m)
{
    if (m_interrupted.load())
        m_trainer.requestStop();
    if (std::isfinite(m.loss))
        m_smoothLoss =
            m_smoothLoss < 0 ? static_cast<double>(m.loss) : 0.9 * m_smoothLoss + 0.1 * static_cast<double>(m.loss);
    if (m_group) {
        std::lock_guard lock(m_group->mutex);
        m_group->doneSteps += m.step - m_lastStep;
        m_lastStep = m.step;
        if (!m_quiet)
            groupProgress(m);
        return;
    }
    if (m_quiet)
        return;
    if (m_tty) {
        drawBar(m, m.step == m_total);
    } else if (m.step % m_logEvery == 0 || m.step == 1) {
        const double rate = m.elapsedSeconds > 0 ? static_cast<double>(m.step) / m.elapsedSeconds : 0.0;
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
    const double frac = m_total > 0 ? static_cast<double>(m.step) / static_cast<double>(m_total) : 0.0;
    const int filled = static_cast<int>(frac * kWidth);
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(kWidth, '.');
    const double rate = m.elapsedSeconds > 0 ? static_cast<double>(m.step) / m.elapsedSeconds : 0.0;
    const double eta = rate > 0 ? static_cast<double>(m_total - m.step) / rate : -1.0;
    std::fprintf(stderr, "\r[%s] %3d%% step %ld/%ld loss %s %.1f steps/s ETA %s  ", bar.c_str(),
                 static_cast<int>(frac * 100), m.step, m_total, fmt(m_smoothLoss).c_str(), rate, duration(eta).c_str());
    std::fflush(stderr);
    m_barVisible = true;
}

void ConsoleObserver::clearBar()
{
    bool &visible = m_group ? m_group->barVisible : m_barVisible;
    if (visible) {
        std::fprintf(stderr, "\r\033[K");
        visible = false;
    }
}

void ConsoleObserver::groupProgress(const StepMetrics &)
{
    ConsoleGroup &g = *m_group;
    const double now = wallSeconds(), elapsed = now - g.startSeconds;
    const double frac = g.totalSteps > 0 ? static_cast<double>(g.doneSteps) / static_cast<double>(g.totalSteps) : 0.0;
    const int percent = static_cast<int>(frac * 100);
    const double eta = frac > 0 ? elapsed * (1 - frac) / frac : -1.0;
    char line[160];
    std::snprintf(line, sizeof line, "%3d%% %ld/%ld steps over %d runs, %d ended, %.0f steps/s, ETA %s", percent,
                  g.doneSteps, g.totalSteps, g.runs, g.ended,
                  elapsed > 0 ? static_cast<double>(g.doneSteps) / elapsed : 0.0, duration(eta).c_str());
    if (m_tty) {
        if (now - g.lastDraw < 0.1 && g.doneSteps < g.totalSteps)
            return;
        g.lastDraw = now;
        std::fprintf(stderr, "\r%s  ", line);
        std::fflush(stderr);
        g.barVisible = true;
    } else if (percent / 5 != g.lastPercent / 5) {
        g.lastPercent = percent;
        std::fprintf(stderr, "progress %s\n", line);
    }
}

void ConsoleObserver::onEval(const EvalMetrics &e)
{
    const char *split = e.split == Split::Validation ? "val" : "test";
    std::unique_lock<std::mutex> lock;
    if (m_group)
        lock = std::unique_lock(m_group->mutex);
    if (!m_quiet && !m_group) {
        clearBar();
        std::string line = std::string("eval step ") + std::to_string(e.step) + ": " + split + "_loss " + fmt(e.loss) +
                           " " + split + "_acc " + fmt(100.0 * static_cast<double>(e.accuracy), 2) + "%";
        if (!std::isnan(e.bitsPerChar))
            line += " bits/char " + fmt(e.bitsPerChar, 3);
        std::fprintf(stderr, "%s\n", line.c_str());
    }
    if (m_json) {
        nlohmann::json j = {{"event", "eval"},
                            {"run", m_name},
                            {"step", e.step},
                            {"split", split},
                            {"loss", number(e.loss)},
                            {"acc", number(e.accuracy)},
                            {"bits_per_char", number(e.bitsPerChar)}};
        std::printf("%s\n", j.dump().c_str());
        std::fflush(stdout);
    }
}

void ConsoleObserver::onEnd(const RunSummary &s)
{
    std::unique_lock<std::mutex> lock;
    if (m_group) {
        lock = std::unique_lock(m_group->mutex);
        ++m_group->ended;
    }
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
