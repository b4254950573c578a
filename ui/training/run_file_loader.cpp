#include "training/run_file_loader.h"

#include "training/run_store.h"

#include "nmcore/runfile.h"

#include <QFileInfo>

#include <atomic>
#include <thread>

#include <cmath>

namespace nmui {

struct RunFileLoader::Source {
    std::unique_ptr<nm::RunFileReader> reader;
    QList<int> ids;          // store id of each run of the file
    std::vector<long> steps; // last step loaded per run
    std::vector<std::string> status;
    // The background reading of the snapshots: its thread, a stop request, and how many
    // snapshots it has left.
    std::thread snapshots;
    std::atomic<bool> cancel{false};
    // Counted down on the UI thread as each snapshot reaches the store.
    std::shared_ptr<std::atomic<int>> pending = std::make_shared<std::atomic<int>>(0);
    ~Source()
    {
        cancel = true;
        if (snapshots.joinable())
            snapshots.join(); // at most one snapshot read away
    }
};

namespace {

// The reader parses the status; "Pending" (not started yet), which it counts as running, is
// the one state the table shows apart.
RunState stateOf(const nm::RunHeader &h)
{
    if (h.status == "Pending")
        return RunState::Ready;
    switch (h.summary.status) {
    case nm::RunStatus::Completed:
        return RunState::Completed;
    case nm::RunStatus::Stopped:
        return RunState::Stopped;
    case nm::RunStatus::Diverged:
        return RunState::Diverged;
    case nm::RunStatus::Running:
        break;
    }
    return RunState::Running;
}

// The file's scalar series of one group ("train/", "val/", …) as a table.
MetricTable scalarTable(const nm::RunFileReader &r, int run, const std::string &group)
{
    MetricTable t;
    for (const auto &name : nm::scalarSeriesNames()) {
        if (name.rfind(group, 0) != 0)
            continue;
        const nm::Series s = r.series(run, name);
        if (s.steps.empty())
            continue;
        if (t.step.empty())
            t.step.assign(s.steps.begin(), s.steps.end());
        if (s.steps.size() != t.step.size())
            continue; // a series cut short by a live writer: take it on the next look
        t.columns[name.substr(group.size())] = s.values;
    }
    // Training time from the logged elapsed seconds; evaluations take the time of their step.
    if (const auto *e = t.column("elapsed_seconds"))
        t.time.assign(e->begin(), e->end());
    t.time.resize(t.step.size(), NAN);
    if (const auto *f = t.column("flops"))
        t.flops.assign(f->begin(), f->end());
    return t;
}

void addLayerColumns(const nm::RunFileReader &r, int run, MetricTable &train)
{
    for (const auto &field : nm::layerSeriesNames()) {
        const nm::LayerSeries s = r.layerSeries(run, field);
        if (s.layers == 0 || s.steps.size() != train.step.size())
            continue;
        for (int l = 0; l < s.layers; ++l) {
            std::vector<float> &col = train.columns[layerColumn(field, l)];
            col.resize(s.steps.size());
            for (size_t i = 0; i < s.steps.size(); ++i)
                col[i] = s.values[i * static_cast<size_t>(s.layers) + static_cast<size_t>(l)];
        }
    }
}

// Evaluations get the training time and FLOPs of the nearest logged step at or before them.
void timeFromTrain(const MetricTable &train, MetricTable &t)
{
    const bool flops = train.flops.size() == train.step.size() && !train.flops.empty();
    t.flops.assign(flops ? t.step.size() : 0, NAN);
    for (size_t i = 0; i < t.step.size(); ++i) {
        const auto it = std::upper_bound(train.step.begin(), train.step.end(), t.step[i]);
        if (it == train.step.begin())
            continue;
        const auto k = static_cast<size_t>(it - train.step.begin()) - 1;
        t.time[i] = train.time[k];
        if (flops)
            t.flops[i] = train.flops[k];
    }
}

} // namespace

RunFileLoader::RunFileLoader(RunStore *store, QObject *parent) : QObject(parent), m_store(store)
{
    m_poll.setInterval(1000);
    connect(&m_poll, &QTimer::timeout, this, &RunFileLoader::poll);
}

RunFileLoader::~RunFileLoader() = default;

QStringList RunFileLoader::files() const
{
    QStringList out;
    for (const auto &[path, s] : m_sources)
        out << path;
    return out;
}

QList<int> RunFileLoader::open(const QString &path, QString *error)
{
    const QString abs = QFileInfo(path).absoluteFilePath();
    if (m_sources.count(abs))
        close(abs); // reopen: read it afresh
    auto s = std::make_unique<Source>();
    try {
        s->reader = std::make_unique<nm::RunFileReader>(abs.toStdString());
    } catch (const std::exception &e) {
        if (error)
            *error = QString::fromStdString(e.what());
        return {};
    }
    QStringList names;
    for (int id : m_store->runIds())
        names << m_store->run(id)->meta.name;
    const QString stem = QFileInfo(abs).completeBaseName();
    for (int i = 0; i < s->reader->runCount(); ++i) {
        const nm::RunHeader &h = s->reader->run(i);
        RunMeta meta;
        meta.name = QString::fromStdString(h.name);
        if (names.contains(meta.name)) // two files with the same run names: say which is which
            meta.name += QStringLiteral(" (%1)").arg(stem);
        meta.source = abs;
        meta.sourceIndex = i;
        meta.state = RunState::Loaded;
        s->ids.append(m_store->addRun(meta));
        s->steps.push_back(-1);
        s->status.push_back(std::string());
    }
    Source &src = *s;
    m_sources[abs] = std::move(s);
    for (int i = 0; i < src.reader->runCount(); ++i)
        load(src, i, src.ids[i], false);
    readSnapshotsInBackground(src, abs);
    if (!m_poll.isActive())
        for (const auto &st : src.status)
            if (st == "Running" || st == "Pending")
                m_poll.start();
    return src.ids;
}

void RunFileLoader::load(Source &s, int i, int id, bool snapshots)
{
    const nm::RunFileReader &r = *s.reader;
    const nm::RunHeader &h = r.run(i);
    Run *run = m_store->mutableRun(id);
    if (!run)
        return;
    RunMeta meta = run->meta;
    meta.config = h.config;
    meta.recipeTitle = QString::fromStdString(nm::recipeTitle(h.recipe));
    meta.layers = h.layers;
    meta.sparseLayers = h.sparseLayers;
    meta.parameterCount = h.parameterCount;
    meta.effectiveParameterCount = h.effectiveParameterCount;
    meta.modelDescription = QString::fromStdString(h.modelDescription);
    meta.dataDescription = QString::fromStdString(h.dataDescription);
    meta.threads = h.threads;
    meta.blasKernel = QString::fromStdString(h.blasKernel);
    if (r.toolVersion().rfind("nmstudio-python", 0) == 0) // the PyTorch recorder: not resumable here
        meta.trainedWith = QString::fromStdString(r.toolVersion());
    meta.checkpointSteps = r.checkpointSteps(i);
    if (!h.parent.empty() && meta.parentId < 0) // a resumed or forked run: its parent in the same file
        for (int j = 0; j < r.runCount(); ++j)
            if (j != i && r.run(j).name == h.parent) {
                meta.parentId = s.ids[static_cast<qsizetype>(j)];
                meta.forkStep = h.forkStep;
            }
    const RunState st = stateOf(h);
    meta.state = isFinished(st) ? st : RunState::Running;
    meta.hasSummary = isFinished(st);
    meta.summary = h.summary;
    m_store->setMeta(id, meta);

    MetricTable train = scalarTable(r, i, "train/");
    addLayerColumns(r, i, train);
    MetricTable val = scalarTable(r, i, "val/"), test = scalarTable(r, i, "test/");
    MetricTable continuity = scalarTable(r, i, "continuity/");
    timeFromTrain(train, val);
    timeFromTrain(train, test);
    timeFromTrain(train, continuity);
    m_store->setSeries(id, std::move(train), std::move(val), std::move(test), std::move(continuity));
    m_store->setState(id, meta.state);
    s.steps[static_cast<size_t>(i)] = h.lastStep;
    s.status[static_cast<size_t>(i)] = h.status;
    if (!snapshots)
        return;
    const Run *now = m_store->run(id);
    for (long step : r.snapshotSteps(i)) {
        if (now->snapshots.count(step))
            continue;
        auto snap = std::make_shared<nm::Snapshot>();
        snap->step = step;
        for (int l = 0; l < static_cast<int>(h.sparseLayers.size()); ++l)
            snap->layers.push_back(r.snapshot(i, l, step));
        m_store->addSnapshot(id, std::move(snap));
    }
}

void RunFileLoader::readSnapshotsInBackground(Source &s, const QString &path)
{
    struct Wanted {
        int index, id;
        std::vector<long> steps;
        int layers;
    };
    std::vector<Wanted> wanted;
    int total = 0;
    for (int i = 0; i < s.reader->runCount(); ++i) {
        Wanted w{i, s.ids[i], s.reader->snapshotSteps(i), static_cast<int>(s.reader->run(i).sparseLayers.size())};
        total += static_cast<int>(w.steps.size());
        wanted.push_back(std::move(w));
    }
    if (total == 0)
        return;
    *s.pending = total;
    Source *src = &s;
    auto pending = s.pending;
    // A reader of its own (HDF5 calls are serialised by the core's lock; the UI thread's reader
    // keeps following a live file meanwhile). Each snapshot goes to the store on the UI thread.
    s.snapshots = std::thread([this, src, pending, path, wanted = std::move(wanted)] {
        try {
            nm::RunFileReader reader(path.toStdString());
            for (const Wanted &w : wanted)
                for (long step : w.steps) {
                    if (src->cancel)
                        return;
                    auto snap = std::make_shared<nm::Snapshot>();
                    snap->step = step;
                    for (int l = 0; l < w.layers; ++l)
                        snap->layers.push_back(reader.snapshot(w.index, l, step));
                    const int id = w.id;
                    QMetaObject::invokeMethod(
                        this,
                        [this, id, pending, snap = std::shared_ptr<const nm::Snapshot>(std::move(snap))] {
                            const Run *run = m_store->run(id); // closed meanwhile: gone
                            if (run && !run->snapshots.count(snap->step))
                                m_store->addSnapshot(id, snap);
                            --*pending;
                            Q_EMIT snapshotsProgress();
                        },
                        Qt::QueuedConnection);
                }
        } catch (const std::exception &e) {
            const QString message = QString::fromStdString(e.what());
            QMetaObject::invokeMethod(
                this,
                [this, path, pending, message] {
                    *pending = 0;
                    Q_EMIT snapshotsFailed(path, message);
                },
                Qt::QueuedConnection);
        }
    });
}

int RunFileLoader::snapshotsPending() const
{
    int n = 0;
    for (const auto &[path, s] : m_sources)
        n += *s->pending;
    return n;
}

void RunFileLoader::close(const QString &path)
{
    auto it = m_sources.find(QFileInfo(path).absoluteFilePath());
    if (it == m_sources.end())
        return;
    for (int id : it->second->ids)
        m_store->removeRun(id);
    m_sources.erase(it);
}

void RunFileLoader::poll()
{
    bool live = false;
    for (auto &[path, s] : m_sources) {
        bool followed = false;
        for (const auto &st : s->status)
            followed = followed || st == "Running" || st == "Pending";
        if (!followed)
            continue;
        try {
            s->reader->refresh();
        } catch (const std::exception &) {
            continue; // the writer is between flushes; look again next time
        }
        bool changed = false;
        for (int i = 0; i < s->reader->runCount(); ++i) {
            const nm::RunHeader &h = s->reader->run(i);
            if (h.lastStep == s->steps[static_cast<size_t>(i)] && h.status == s->status[static_cast<size_t>(i)])
                continue;
            load(*s, i, s->ids[i], true);
            changed = true;
        }
        for (const auto &st : s->status)
            live = live || st == "Running" || st == "Pending";
        if (changed)
            Q_EMIT fileUpdated(path);
    }
    if (!live)
        m_poll.stop();
}

} // namespace nmui
