#include "training/training_controller.h"

#include "training/run_worker.h"

#include "nmcore/error.h"
#include "nmcore/experiment.h"
#include "nmcore/platform.h"
#include "nmcore/sparsity.h"

#include <QMetaObject>
#include <QPointer>

#include <algorithm>

namespace nmui {

namespace {
constexpr qint64 kRateWindowMs = 500;
}

TrainingController::TrainingController(RunStore *store, QObject *parent)
    : QObject(parent), m_store(store), m_data(std::make_shared<DatasetCache>())
{
    m_clock.start();
}

TrainingController::~TrainingController()
{
    stopAndJoinAll();
}

void TrainingController::stopAndJoinAll()
{
    // Ask every thread to stop first so they wind down together, then join them all.
    for (auto &[id, w] : m_workers)
        w->requestStop();
    for (auto &w : m_retiring)
        w->requestStop();
    for (auto &[id, w] : m_workers)
        w->join();
    for (auto &w : m_retiring)
        w->join();
}

void TrainingController::shutdown()
{
    stopAndJoinAll();
    m_retiring.clear();
    m_workers.clear(); // with them the last references to the run file: it closes
    m_recorder = {};
    if (isActive())
        setState(State::Finished);
}

void TrainingController::setExperiment(const std::vector<nm::RunConfig> &runs)
{
    if (isActive())
        throw nm::ConfigError("the experiment cannot change while it trains; stop or reset it first");
    for (const auto &c : runs)
        nm::validateConfig(c);
    retireWorkers();
    for (int id : m_runIds)
        m_store->removeRun(id);
    for (const auto &[id, rate] : m_rates)
        if (!m_runIds.contains(id))
            m_store->removeRun(id); // forks made in the previous experiment
    m_runIds.clear();
    m_rates.clear();
    m_configs = runs;
    for (const auto &c : runs) {
        RunMeta meta;
        meta.name = QString::fromStdString(c.name);
        meta.config = c;
        meta.recipeTitle = QString::fromStdString(nm::recipeTitle(nm::parseRecipe(c.recipe)));
        meta.state = RunState::Ready;
        m_runIds.append(m_store->addRun(meta));
    }
    m_elapsedBefore = 0;
    setState(State::Idle);
}

int TrainingController::threadsPerRun(int runs) const
{
    return nm::threadBudget(runs, m_threadBudget).threadsPerRun;
}

void TrainingController::setThreadBudget(int threads)
{
    m_threadBudget = threads;
}

RunWorker *TrainingController::workerFor(int runId) const
{
    auto it = m_workers.find(runId);
    return it == m_workers.end() ? nullptr : it->second.get();
}

BatchObserver::Post TrainingController::makePost()
{
    const quint64 epoch = m_epoch;
    return [this, epoch](RunBatch &&b) {
        QMetaObject::invokeMethod(
            this, [this, epoch, b = std::move(b)]() { onBatch(b, epoch); }, Qt::QueuedConnection);
    };
}

RunWorker *TrainingController::addWorker(int runId, RunWorker::Source source)
{
    if (!m_slots)
        m_slots = std::make_shared<ComputeSlots>(nm::threadBudget(1, m_threadBudget).concurrentRuns);
    auto worker = std::make_unique<RunWorker>(runId, std::move(source), m_data, m_slots, makePost());
    RunWorker *w = worker.get();
    m_workers[runId] = std::move(worker);
    w->setLogEvery(m_live.logEvery);
    m_rates[runId] = Rate{};
    return w;
}

void TrainingController::start()
{
    if (m_state == State::Running)
        return;
    if (m_state == State::Paused) {
        resume();
        return;
    }
    launch(false);
}

void TrainingController::launch(bool paused)
{
    if (m_state == State::Finished)
        reset();
    if (m_runIds.isEmpty())
        return;
    // The same budget as nm::Experiment: min(runs, cores) compute slots, cores shared among them.
    const nm::ThreadBudget budget = nm::threadBudget(static_cast<int>(m_runIds.size()), m_threadBudget);
    m_slots = std::make_shared<ComputeSlots>(budget.concurrentRuns);
    std::vector<nm::RunConfig> configs = m_configs;
    for (auto &c : configs)
        if (c.threads == 0)
            c.threads = budget.threadsPerRun;
    startRecorder(configs);
    for (qsizetype i = 0; i < m_runIds.size(); ++i) {
        RunWorker::Source source;
        source.config = configs[static_cast<size_t>(i)];
        source.recorder = m_recorder;
        source.recordIndex = m_recorder.valid() ? static_cast<int>(i) : -1;
        RunWorker *w = addWorker(m_runIds[i], std::move(source));
        m_store->setState(m_runIds[i], RunState::Starting);
        w->start(paused);
        if (paused)
            w->requestStep();
    }
    m_elapsedBefore = 0;
    m_runningClock.start();
    setState(paused ? State::Paused : State::Running);
}

void TrainingController::startRecorder(const std::vector<nm::RunConfig> &configs)
{
    m_recorder = {};
    m_recordedPath.clear();
    if (m_recordPath.isEmpty())
        return;
    const std::string path = m_recordPath.toStdString();
    QPointer<TrainingController> self(this);
    // Off the UI thread: the writer loads the data once to learn each model's layout.
    m_recorder = std::async(std::launch::async, [self, path, configs]() -> std::shared_ptr<nm::RunFileWriter> {
                     try {
                         nm::RunFileOptions options; // an existing file is refused, never replaced
                         options.onFailure = [self](const std::string &message) {
                             const QString why = QString::fromStdString(message);
                             QMetaObject::invokeMethod(
                                 self,
                                 [self, why] {
                                     if (self)
                                         Q_EMIT self->recordingStopped(why);
                                 },
                                 Qt::QueuedConnection);
                         };
                         return std::make_shared<nm::RunFileWriter>(path, configs, options);
                     } catch (const std::exception &e) {
                         const QString why = QString::fromStdString(e.what());
                         QMetaObject::invokeMethod(
                             self,
                             [self, why] {
                                 if (self)
                                     Q_EMIT self->recordingFailed(why);
                             },
                             Qt::QueuedConnection);
                         return nullptr;
                     }
                 }).share();
    m_recordedPath = m_recordPath;
}

void TrainingController::setRecordPath(const QString &path)
{
    m_recordPath = path;
}

void TrainingController::pause()
{
    if (m_state != State::Running)
        return;
    for (auto &[id, w] : m_workers)
        w->setPaused(true);
    m_elapsedBefore += static_cast<double>(m_runningClock.elapsed()) / 1000.0;
    for (auto &[id, w] : m_workers)
        if (const Run *r = m_store->run(id); r && !isFinished(r->meta.state))
            m_store->setState(id, RunState::Paused);
    setState(State::Paused);
}

void TrainingController::resume()
{
    if (m_state != State::Paused)
        return;
    for (auto &[id, w] : m_workers) {
        w->setPaused(false);
        if (const Run *r = m_store->run(id); r && !isFinished(r->meta.state))
            m_store->setState(id, RunState::Running);
    }
    m_runningClock.start();
    setState(State::Running);
}

void TrainingController::togglePause()
{
    if (m_state == State::Running)
        pause();
    else if (m_state == State::Paused)
        resume();
    else
        start();
}

void TrainingController::stepOnce()
{
    switch (m_state) {
    case State::Running:
        pause();
        return;
    case State::Idle:
    case State::Finished:
        launch(true);
        return;
    case State::Paused:
        for (auto &[id, w] : m_workers)
            w->requestStep();
        return;
    }
}

void TrainingController::stop()
{
    if (!isActive())
        return;
    for (auto &[id, w] : m_workers)
        w->requestStop();
}

void TrainingController::retireWorkers()
{
    for (auto &[id, w] : m_workers) {
        w->requestStop();
        m_retiring.push_back(std::move(w));
    }
    m_workers.clear();
    ++m_epoch; // batches still in flight from retired workers are dropped
    reapFinished();
}

void TrainingController::reapFinished()
{
    // A retired parent may still hand a forked trainer to a retired child, so retired
    // workers are deleted together, once every one of them has finished.
    for (const auto &w : m_retiring)
        if (!w->finished())
            return;
    m_retiring.clear(); // joins (the threads have returned or are about to)
}

void TrainingController::reset()
{
    retireWorkers();
    m_recorder = {};
    for (const auto &[id, rate] : m_rates)
        if (!m_runIds.contains(id))
            m_store->removeRun(id);
    m_rates.clear();
    for (int id : m_runIds)
        m_store->resetRun(id, RunState::Ready);
    m_elapsedBefore = 0;
    setState(State::Idle);
    Q_EMIT progressChanged();
}

void TrainingController::setLiveSettings(const Live &live)
{
    // The learning rate and λ reach the trainers only when they change, so runs keep their
    // own configured values until the user sets one for all of them.
    const bool rates = live.lr != m_live.lr || live.lambda != m_live.lambda;
    m_live = live;
    m_live.logEvery = std::max(1, live.logEvery);
    for (auto &[id, w] : m_workers) {
        w->setLogEvery(m_live.logEvery);
        if (rates)
            w->setLive(nm::LiveSettings{m_live.lr, m_live.lambda});
    }
}

void TrainingController::setState(State s)
{
    if (m_state == s)
        return;
    m_state = s;
    Q_EMIT stateChanged(s);
}

void TrainingController::updateRates(int runId, long step)
{
    Rate &r = m_rates[runId];
    const qint64 now = m_clock.elapsed();
    if (r.t0 == 0 || step < r.s0) {
        r.t0 = now;
        r.s0 = step;
        return;
    }
    if (now - r.t0 >= kRateWindowMs) {
        r.perSecond = static_cast<double>(step - r.s0) * 1000.0 / static_cast<double>(now - r.t0);
        r.t0 = now;
        r.s0 = step;
    }
}

void TrainingController::onBatch(const RunBatch &b, quint64 epoch)
{
    if (epoch != m_epoch) {
        if (b.ended)
            reapFinished();
        return;
    }
    m_store->apply(b);
    if (const Run *r = m_store->run(b.runId))
        updateRates(b.runId, r->meta.step);
    if (!b.error.isEmpty())
        Q_EMIT runFailed(b.runId, b.error);
    if (b.ended) {
        m_rates[b.runId].perSecond = 0;
        bool allDone = true;
        for (const auto &[id, w] : m_workers)
            if (const Run *r = m_store->run(id); r && !isFinished(r->meta.state))
                allDone = false;
        if (allDone && isActive()) {
            m_recorder = {}; // the workers let go of it as they end: the file closes
            if (m_state == State::Running)
                m_elapsedBefore += static_cast<double>(m_runningClock.elapsed()) / 1000.0;
            setState(State::Finished);
        }
    }
    Q_EMIT progressChanged();
}

TrainingController::Progress TrainingController::progress() const
{
    Progress p;
    for (const auto &[id, w] : m_workers) {
        const Run *r = m_store->run(id);
        if (!r)
            continue;
        p.step = std::max(p.step, r->meta.step);
        p.total = std::max(p.total, r->meta.config.steps);
        if (!isFinished(r->meta.state)) {
            ++p.active;
            if (m_state == State::Running) {
                auto it = m_rates.find(id);
                p.stepsPerSecond += it == m_rates.end() ? 0.0 : it->second.perSecond;
            }
        }
    }
    if (m_workers.empty())
        for (int id : m_runIds)
            if (const Run *r = m_store->run(id))
                p.total = std::max(p.total, r->meta.config.steps);
    p.elapsed = m_elapsedBefore;
    if (m_state == State::Running)
        p.elapsed += static_cast<double>(m_runningClock.elapsed()) / 1000.0;
    return p;
}

namespace {
// The latest checkpoint of a file run at or before step k (0: none).
long checkpointBefore(const RunMeta &m, long k)
{
    long c = 0;
    if (!m.source.isEmpty())
        for (long s : m.checkpointSteps)
            if (s <= k)
                c = std::max(c, s);
    return c;
}
} // namespace

QString TrainingController::trainedElsewhere(const RunMeta &m)
{
    return tr("%1 was trained in PyTorch (written by %2): nmstudio cannot continue it; resume it in PyTorch from "
              "your own checkpoint.")
        .arg(m.name, m.trainedWith);
}

QString TrainingController::forkNote(int runId, long k) const
{
    const Run *r = m_store->run(runId);
    if (!r)
        return {};
    const RunMeta &m = r->meta;
    if (!m.trainedWith.isEmpty())
        return trainedElsewhere(m);
    if (m.source.isEmpty())
        return isFinished(m.state) || m.state == RunState::Ready
                   ? tr("The run is not training: its first %1 steps are replayed from its config (bit-identical "
                        "for the same thread count), then it continues with the new recipe.")
                         .arg(k)
                   : tr("At its current step the run forks directly; at an earlier step its first k steps are "
                        "replayed.");
    const long c = checkpointBefore(m, k);
    if (c == k)
        return tr("Continues exactly from the checkpoint saved at step %1 (parameters, optimiser and masks).").arg(k);
    QString text = c > 0 ? tr("No checkpoint at step %1: steps %2 to %1 are replayed from the checkpoint at step %3.")
                               .arg(k)
                               .arg(c + 1)
                               .arg(c)
                         : tr("The file has no checkpoint before step %1: its first %1 steps are replayed.").arg(k);
    // The replay uses the run's own thread count (the fork's config is the run's); the kernel is
    // this machine's.
    const QString here = QString::fromStdString(nm::blasCoreName());
    if (!m.blasKernel.isEmpty() && m.blasKernel != here)
        text += QLatin1Char(' ') + tr("Warning: the file was written with OpenBLAS kernel %1 and this machine uses "
                                      "%2, so the replayed steps round differently and the fork starts near, not "
                                      "at, the file's step %3.")
                                       .arg(m.blasKernel, here)
                                       .arg(k);
    return text;
}

// A fork in three steps: the child's configuration (completeRunConfig), where its first k steps
// come from (chooseForkSource: the parent's finished trainer, a hand-off from its live worker, or
// a replay from its config and the file's last checkpoint before k), and the new run.
int TrainingController::fork(int runId, long atStep, nm::RunConfig child, QString *error)
{
    auto fail = [&](const QString &why) {
        if (error)
            *error = why;
        return -1;
    };
    const Run *parent = m_store->run(runId);
    if (!parent)
        return fail(QStringLiteral("fork: no such run"));
    if (!parent->meta.trainedWith.isEmpty())
        return fail(trainedElsewhere(parent->meta));
    ForkPlan plan;
    plan.parentWorker = workerFor(runId);
    plan.live = plan.parentWorker && !plan.parentWorker->finished();
    plan.current = plan.parentWorker ? plan.parentWorker->currentStep() : parent->meta.step;
    plan.k = atStep < 0 ? plan.current : atStep;
    plan.handoff = plan.live && (atStep < 0 || atStep == plan.current);
    const long k = plan.k;
    if (k < 0 || k > parent->meta.step + (plan.live ? 1 : 0) || (!plan.live && k > plan.current))
        return fail(QStringLiteral("fork: step %1 is beyond the run's last step %2").arg(k).arg(parent->meta.step));
    if (const QString why = completeForkConfig(*parent, k, child); !why.isEmpty())
        return fail(why);
    plan.source.config = child;
    if (const QString why = chooseForkSource(runId, plan); !why.isEmpty())
        return fail(why);
    return launchFork(runId, child, plan);
}

QString TrainingController::completeForkConfig(const Run &parent, long k, nm::RunConfig &child) const
{
    const nm::RunConfig &pc = parent.meta.config;
    if (child.threads == 0)
        child.threads = parent.meta.threads > 0
                            ? parent.meta.threads
                            : (pc.threads > 0 ? pc.threads : threadsPerRun(static_cast<int>(m_workers.size()) + 1));
    if (child.name.empty() || child.name == "run")
        child.name = nm::recipeTitle(nm::parseRecipe(child.recipe)) + " from " + parent.meta.name.toStdString() + "@" +
                     std::to_string(k);
    try {
        nm::validateConfig(child);
        if (child.steps <= k)
            throw nm::ConfigError("steps: " + std::to_string(child.steps) + " must exceed the fork step " +
                                  std::to_string(k));
    } catch (const nm::Error &e) {
        return QString::fromStdString(e.what());
    }
    return {};
}

QString TrainingController::chooseForkSource(int runId, ForkPlan &plan)
{
    const Run &parent = *m_store->run(runId);
    RunWorker::Source &source = plan.source;
    const long k = plan.k;
    RunWorker *pw = plan.parentWorker;
    // A finished worker at its last step hands over its trainer directly.
    if (pw && !plan.live && k == plan.current) {
        pw->join();
        if (nm::Trainer *t = pw->finishedTrainer()) {
            try {
                source.trainer = t->fork(source.config);
            } catch (const nm::Error &e) {
                return QString::fromStdString(e.what());
            }
            source.handoff = true;
            source.forkStep = k;
            return {};
        }
    }
    if (plan.handoff) { // the live worker provides its state at its next step (requestFork)
        source.handoff = true;
        return {};
    }
    if (k == 0)
        return QStringLiteral("fork: pick a step after 0 (at step 0, start a new run instead)");
    source.replay = true;
    source.replayConfig = parent.meta.config;
    source.replayConfig.threads = source.config.threads;
    source.replaySteps = k;
    source.forkStep = k;
    if (const long c = checkpointBefore(parent.meta, k); c > 0) {
        try {
            const nm::RunFileReader file(parent.meta.source.toStdString());
            auto saved = std::make_shared<nm::Checkpoint>(file.checkpoint(parent.meta.sourceIndex, c));
            source.replayConfig.lr = saved->lr; // the live settings it was saved with
            source.replayConfig.lambda = saved->lambda;
            source.replayFrom = std::move(saved);
        } catch (const std::exception &e) {
            return QString::fromStdString(e.what());
        }
    }
    if (const QString note = forkNote(runId, k); note.contains(tr("Warning: ")))
        Q_EMIT notice(note);
    return {};
}

int TrainingController::launchFork(int runId, const nm::RunConfig &child, ForkPlan &plan)
{
    RunMeta meta;
    meta.name = QString::fromStdString(child.name);
    meta.config = child;
    meta.recipeTitle = QString::fromStdString(nm::recipeTitle(nm::parseRecipe(child.recipe)));
    meta.parentId = runId;
    meta.forkStep = plan.k;
    meta.state = RunState::Starting;
    const int id = m_store->addRun(meta);

    RunWorker *w = addWorker(id, std::move(plan.source));
    if (plan.handoff && !plan.parentWorker->requestFork(child, w))
        w->provide(nullptr, 0, "fork: the parent run finished before the fork was made; fork it again");
    const bool paused = m_state == State::Paused;
    w->start(paused);
    if (!isActive()) {
        m_elapsedBefore = 0;
        m_runningClock.start();
        setState(State::Running);
    }
    return id;
}

} // namespace nmui
