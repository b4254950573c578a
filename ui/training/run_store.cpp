#include "training/run_store.h"

#include "plot/palette.h"

#include <algorithm>
#include <cmath>

#include <time.h>

namespace nmui {

namespace {
constexpr int kFrameMs = 33;     // ≤ 30 chart updates per second
constexpr int kMaxFrameMs = 500; // ≥ 2 while the window is very busy
// The share of the UI thread that frames may use: refreshing and painting every visible chart
// at 30 Hz can cost more than that on a slow machine with many runs (ux.md: the window must stay
// responsive), so the interval stretches until it fits; input and other events keep the rest.
constexpr double kBusyBudget = 0.2;

double threadCpuMs()
{
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}
} // namespace

const MetricTable &Run::table(TableKind kind) const
{
    switch (kind) {
    case TableKind::Train:
        return train;
    case TableKind::Validation:
        return val;
    case TableKind::Test:
        return test;
    case TableKind::Continuity:
        return continuity;
    }
    return train;
}

RunStore::RunStore(QObject *parent) : QObject(parent)
{
    m_frame.setSingleShot(true);
    m_frame.setInterval(kFrameMs);
    connect(&m_frame, &QTimer::timeout, this, &RunStore::flush);
    m_clock.start();
}

int RunStore::addRun(RunMeta meta)
{
    if (meta.id < 0 || m_runs.count(meta.id))
        meta.id = m_nextId;
    m_nextId = std::max(m_nextId, meta.id + 1);
    if (!meta.color.isValid()) {
        QList<QColor> used;
        for (const auto &[id, r] : m_runs)
            used.append(r->meta.color);
        meta.color = nextRunColor(used);
    }
    auto run = std::make_unique<Run>();
    run->meta = meta;
    const int id = meta.id;
    m_runs[id] = std::move(run);
    Q_EMIT runAdded(id);
    markDirty();
    return id;
}

void RunStore::removeRun(int id)
{
    if (m_runs.erase(id)) {
        Q_EMIT runRemoved(id);
        markDirty();
    }
}

void RunStore::clear()
{
    m_runs.clear();
    Q_EMIT runsReset();
    markDirty();
}

void RunStore::resetRun(int id, RunState state)
{
    Run *r = mutableRun(id);
    if (!r)
        return;
    r->train.clear();
    r->val.clear();
    r->test.clear();
    r->continuity.clear();
    r->snapshots.clear();
    ++r->generation;
    r->meta.state = state;
    r->meta.step = 0;
    r->meta.error.clear();
    r->meta.hasSummary = false;
    r->meta.bestValAccuracy = NAN;
    touchMeta(id);
    markDirty();
}

const Run *RunStore::run(int id) const
{
    auto it = m_runs.find(id);
    return it == m_runs.end() ? nullptr : it->second.get();
}

Run *RunStore::mutableRun(int id)
{
    auto it = m_runs.find(id);
    return it == m_runs.end() ? nullptr : it->second.get();
}

QList<int> RunStore::runIds() const
{
    QList<int> ids;
    for (const auto &[id, r] : m_runs)
        ids.append(id);
    return ids;
}

QList<int> RunStore::visibleRunIds() const
{
    QList<int> ids;
    for (const auto &[id, r] : m_runs)
        if (r->meta.visible)
            ids.append(id);
    return ids;
}

void RunStore::apply(const RunBatch &b)
{
    Run *r = mutableRun(b.runId);
    if (!r)
        return;
    RunMeta &m = r->meta;
    if (b.forkStep >= 0 && r->train.empty()) {
        if (const Run *parent = run(m.parentId)) {
            const double k = static_cast<double>(b.forkStep);
            r->train = parent->train.prefix(k);
            r->val = parent->val.prefix(k);
            r->continuity = parent->continuity.prefix(k);
        }
        m.forkStep = b.forkStep;
    }
    if (b.started) {
        m.layers = b.info.layers;
        m.sparseLayers.clear();
        for (const auto &l : b.info.layers)
            if (l.sparse)
                m.sparseLayers.push_back(l.name);
        m.parameterCount = b.info.parameterCount;
        m.effectiveParameterCount = b.info.effectiveParameterCount;
        m.modelDescription = QString::fromStdString(b.info.modelDescription);
        m.dataDescription = QString::fromStdString(b.info.dataDescription);
        m.threads = b.info.threads;
        if (!isFinished(m.state) && m.state != RunState::Paused)
            m.state = RunState::Running;
    }
    r->train.append(b.train);
    r->val.append(b.val);
    r->test.append(b.test);
    r->continuity.append(b.continuity);
    for (const auto &s : b.snapshots)
        r->snapshots[s->step] = s;
    if (!b.train.empty())
        m.step = static_cast<long>(b.train.step.back());
    if (const auto *acc = b.val.column("accuracy"))
        for (float a : *acc)
            if (std::isfinite(a) && !(a <= m.bestValAccuracy))
                m.bestValAccuracy = a;
    if (!b.error.isEmpty()) {
        m.state = RunState::Failed;
        m.error = b.error;
    } else if (b.ended) {
        m.summary = b.summary;
        m.hasSummary = true;
        m.step = b.summary.step;
        switch (b.summary.status) {
        case nm::RunStatus::Completed:
            m.state = RunState::Completed;
            break;
        case nm::RunStatus::Diverged:
            m.state = RunState::Diverged;
            break;
        default:
            m.state = RunState::Stopped;
        }
    } else if (b.paused) {
        m.state = RunState::Paused;
    } else if (m.state == RunState::Paused || m.state == RunState::Starting) {
        if (b.started || !b.train.empty())
            m.state = RunState::Running;
    }
    touchMeta(b.runId);
    markDirty();
}

void RunStore::setState(int id, RunState state)
{
    if (Run *r = mutableRun(id); r && r->meta.state != state) {
        r->meta.state = state;
        touchMeta(id);
    }
}

void RunStore::setVisible(int id, bool visible)
{
    if (Run *r = mutableRun(id); r && r->meta.visible != visible) {
        r->meta.visible = visible;
        touchMeta(id);
        markDirty();
    }
}

void RunStore::setColor(int id, const QColor &color)
{
    if (Run *r = mutableRun(id); r && color.isValid()) {
        r->meta.color = color;
        touchMeta(id);
        markDirty();
    }
}

void RunStore::setMeta(int id, const RunMeta &meta)
{
    Run *r = mutableRun(id);
    if (!r)
        return;
    RunMeta m = meta;
    m.id = id;
    m.color = r->meta.color;
    m.visible = r->meta.visible;
    r->meta = m;
    touchMeta(id);
    markDirty();
}

void RunStore::setSeries(int id, MetricTable train, MetricTable val, MetricTable test, MetricTable continuity)
{
    Run *r = mutableRun(id);
    if (!r)
        return;
    r->train = std::move(train);
    r->val = std::move(val);
    r->test = std::move(test);
    r->continuity = std::move(continuity);
    ++r->generation;
    if (!r->train.empty())
        r->meta.step = static_cast<long>(r->train.step.back());
    if (const auto *acc = r->val.column("accuracy"))
        for (float a : *acc)
            if (std::isfinite(a) && !(a <= r->meta.bestValAccuracy))
                r->meta.bestValAccuracy = a;
    touchMeta(id);
    markDirty();
}

void RunStore::addSnapshot(int id, std::shared_ptr<const nm::Snapshot> snapshot)
{
    if (Run *r = mutableRun(id); r && snapshot) {
        r->snapshots[snapshot->step] = std::move(snapshot);
        markDirty();
    }
}

QList<QList<int>> RunStore::seedGroups(const QList<int> &ids) const
{
    QList<QList<int>> groups;
    QList<QString> keys;
    for (int id : ids) {
        const Run *r = run(id);
        if (!r)
            continue;
        const QString key = r->meta.groupKey();
        const qsizetype k = keys.indexOf(key);
        if (k < 0) {
            keys.append(key);
            groups.append(QList<int>{id});
        } else {
            groups[k].append(id);
        }
    }
    return groups;
}

void RunStore::markDirty()
{
    ++m_revision;
    m_dirty = true;
    if (!m_frame.isActive())
        m_frame.start();
}

void RunStore::touchMeta(int id)
{
    Q_EMIT runMetaChanged(id);
}

void RunStore::flush()
{
    m_frame.stop();
    if (!m_dirty)
        return;
    m_dirty = false;
    // Pace the next frame by how busy the UI thread was since the last one (that frame's paint
    // included): a share above the budget stretches the interval, one below shrinks it back.
    const double wall = static_cast<double>(m_clock.nsecsElapsed()) / 1e6, cpu = threadCpuMs();
    if (m_lastWallMs >= 0 && wall > m_lastWallMs) {
        const double busy = (cpu - m_lastCpuMs) / (wall - m_lastWallMs);
        const double factor = std::clamp(busy / kBusyBudget, 0.5, 2.0);
        m_frame.setInterval(
            std::clamp(static_cast<int>(std::lround(m_frame.interval() * factor)), kFrameMs, kMaxFrameMs));
    }
    m_lastWallMs = wall;
    m_lastCpuMs = cpu;
    Q_EMIT dataChanged();
}

} // namespace nmui
