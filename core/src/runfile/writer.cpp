// RunFileWriter: lays out the whole file before training (SWMR mode allows no new objects
// and no attribute changes), then appends buffered rows from each run's training thread at
// least every flushSeconds, and snapshots as they come.
#include "nmcore/experiment.h"
#include "nmcore/platform.h"
#include "nmcore/runfile.h"

#include "runfile/checkpoints.h"
#include "runfile/columns.h"
#include "runfile/files.h"
#include "runfile/h5.h"
#include "runfile/schema.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <functional>
#include <limits>
#include <mutex>

namespace nm {

using schema::Kind;
using series::Column;
using series::makeColumn;
using series::makeStepColumn;
using series::makeTable;
using series::Table;

namespace {

constexpr float kNaNf = std::numeric_limits<float>::quiet_NaN();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double monotonicSeconds()
{
    using namespace std::chrono;
    return duration<double>(steady_clock::now().time_since_epoch()).count();
}

double unixSeconds()
{
    using namespace std::chrono;
    return duration<double>(system_clock::now().time_since_epoch()).count();
}

std::string isoNowUtc()
{
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

const char *taskName(TaskKind t)
{
    return t == TaskKind::Language ? "language" : "classification";
}

struct SnapshotLayer {
    std::string name;
    int rows = 0, cols = 0;
    h5::Id weight, forward, mask, flipCount, beta, alpha, n, m;
};

} // namespace

// Records one run: the observer attached to its trainer.
class RunSink : public TrainingObserver {
  public:
    RunSink(hid_t file, int index, const RunInfo &info, const RunFileOptions &options, RecordingHealth *health);

    void onStart(const RunInfo &info) override;
    void onStep(const StepMetrics &m) override;
    void onEval(const EvalMetrics &e) override;
    void onSnapshot(const Snapshot &s) override;
    void onCheckpoint(const Checkpoint &c) override;
    void onEnd(const RunSummary &s) override;
    void writePending();
    void writeSnapshot(const Snapshot &snap);

    // Writes the rows buffered since the last flush (takes the buffer lock, then HDF5's).
    void writeBuffered();
    // Records a run that never ended as Stopped at its last step.
    void closeUnfinished();
    // The same at its last flushed step, without touching the buffers (under h5::lock(), when
    // recording fails; the buffers may be held by this run's training thread).
    void markStoppedLocked();
    std::function<void()> flushFile; // H5Fflush + heartbeat, set by the writer

  private:
    void layout(hid_t run);
    void writeLayerTable(hid_t run);
    void layoutSnapshots(hid_t run);
    void writeStatus(const char *status);
    void writeSummary(const RunSummary &s);
    void flushNow();
    uint64_t pendingBytes() const;
    // Runs a write; a failure, or too little room for `bytes`, stops the recording instead of
    // the run. False when nothing may be written.
    template <typename Write> bool guarded(uint64_t bytes, Write &&write);

    int m_index;
    RecordingHealth *m_health;
    RunInfo m_info;
    RunFileOptions m_options;
    std::vector<std::string> m_sparse;
    std::mutex m_bufferMutex; // the buffers: training thread vs. flush() from elsewhere
    Table m_train, m_val, m_test, m_continuity, m_layers;
    Column m_snapStep;
    std::vector<SnapshotLayer> m_snapLayers;
    checkpoints::Writer m_checkpoints;
    h5::Id m_status;
    std::vector<std::pair<std::string, h5::Id>> m_summary;
    double m_lastFlush = 0;
    long m_lastStep = 0;
    long m_flushedStep = 0; // the last step written (under h5::lock())
    bool m_started = false, m_ended = false;
};

RunSink::RunSink(hid_t file, int index, const RunInfo &info, const RunFileOptions &options, RecordingHealth *health)
    : m_index(index), m_health(health), m_info(info), m_options(options)
{
    for (const auto &l : info.layers)
        if (l.sparse)
            m_sparse.push_back(l.name);
    h5::Id run = h5::createGroup(file, schema::runGroupName(index, info.name));
    const RunConfig &c = info.config;
    h5::writeAttr(run.get(), "name", info.name);
    h5::writeAttr(run.get(), "index", index);
    h5::writeAttr(run.get(), "recipe", toString(info.recipe));
    h5::writeAttr(run.get(), "recipe_title", recipeTitle(info.recipe));
    h5::writeAttr(run.get(), "nm", c.nm);
    h5::writeAttr(run.get(), "seed", static_cast<uint64_t>(c.seed));
    h5::writeAttr(run.get(), "config_json", configToJson(c));
    h5::writeAttr(run.get(), "model", info.modelDescription);
    h5::writeAttr(run.get(), "data", info.dataDescription);
    h5::writeAttr(run.get(), "task", std::string(taskName(info.task)));
    h5::writeAttr(run.get(), "parameter_count", static_cast<int64_t>(info.parameterCount));
    h5::writeAttr(run.get(), "effective_parameter_count", static_cast<int64_t>(info.effectiveParameterCount));
    h5::writeAttr(run.get(), "threads", static_cast<int32_t>(info.threads));
    h5::writeAttr(run.get(), "blas_kernel", info.blasCore);
    if (!c.sweep.empty()) { // the swept values, in sweep order
        nlohmann::ordered_json sweep = nlohmann::ordered_json::object();
        for (const auto &[key, value] : c.sweep)
            sweep[key] = value;
        h5::writeAttr(run.get(), "sweep", sweep.dump());
    }
    if (info.forkStep >= 0) {
        h5::writeAttr(run.get(), "parent", info.parentName);
        h5::writeAttr(run.get(), "fork_step", static_cast<int64_t>(info.forkStep));
    }
    layout(run.get());
}

// The `layers` group: every Linear layer, sparse or not, in model order.
void RunSink::writeLayerTable(hid_t run)
{
    h5::Id g = h5::createGroup(run, "layers");
    std::vector<std::string> names, gemm;
    std::vector<int32_t> in, out, sparse, n, m;
    std::vector<int64_t> dense, effective;
    for (const auto &l : m_info.layers) {
        names.push_back(l.name);
        in.push_back(l.in);
        out.push_back(l.out);
        sparse.push_back(l.sparse ? 1 : 0);
        n.push_back(l.n);
        m.push_back(l.m);
        dense.push_back(l.denseParams);
        effective.push_back(l.effectiveParams);
        gemm.push_back(l.gemm);
    }
    const size_t L = names.size();
    h5::writeStrings(g.get(), "name", names);
    h5::writeArray(g.get(), "in", H5T_STD_I32LE, H5T_NATIVE_INT32, L, in.data());
    h5::writeArray(g.get(), "out", H5T_STD_I32LE, H5T_NATIVE_INT32, L, out.data());
    h5::writeArray(g.get(), "sparse", H5T_STD_I32LE, H5T_NATIVE_INT32, L, sparse.data());
    h5::writeArray(g.get(), "n", H5T_STD_I32LE, H5T_NATIVE_INT32, L, n.data());
    h5::writeArray(g.get(), "m", H5T_STD_I32LE, H5T_NATIVE_INT32, L, m.data());
    h5::writeArray(g.get(), "dense_params", H5T_STD_I64LE, H5T_NATIVE_INT64, L, dense.data());
    h5::writeArray(g.get(), "effective_params", H5T_STD_I64LE, H5T_NATIVE_INT64, L, effective.data());
    h5::writeStrings(g.get(), "gemm", gemm);
}

// The `snapshots` group: a step column and, per sparse layer, growing datasets of W, W̃, the
// packed mask, the flip counts and the per-snapshot scalars.
void RunSink::layoutSnapshots(hid_t run)
{
    h5::Id g = h5::createGroup(run, "snapshots");
    m_snapStep = makeStepColumn(g.get(), 0, 16); // uncompressed, as every series (layout())
    for (const auto &l : m_info.layers) {
        if (!l.sparse)
            continue;
        SnapshotLayer s;
        s.name = l.name;
        s.rows = l.out;
        s.cols = l.in;
        h5::Id lg = h5::createGroup(g.get(), schema::layerGroupName(l.name));
        h5::writeAttr(lg.get(), "name", l.name);
        h5::ChunkedSpec w;
        w.fileType = H5T_IEEE_F32LE;
        const hsize_t rows = static_cast<hsize_t>(l.out), cols = static_cast<hsize_t>(l.in);
        w.inner = {rows, cols};
        w.chunkRows = 1;
        w.deflate = m_options.deflate;
        // Chunks of at most ~1 MiB: whole rows of one snapshot.
        const hsize_t chunkR = std::clamp<hsize_t>((1u << 18) / std::max<hsize_t>(cols, 1), 1, rows);
        w.chunkInner = {chunkR, cols};
        s.weight = h5::createGrowing(lg.get(), "weight", w);
        s.forward = h5::createGrowing(lg.get(), "forward", w);
        h5::ChunkedSpec mk = w;
        mk.fileType = H5T_STD_U8LE;
        mk.inner = {rows, (cols + 7) / 8};
        mk.chunkInner = {};
        s.mask = h5::createGrowing(lg.get(), "mask", mk);
        h5::ChunkedSpec fc = w;
        fc.fileType = H5T_STD_U16LE;
        s.flipCount = h5::createGrowing(lg.get(), "flip_count", fc);
        h5::ChunkedSpec one;
        one.chunkRows = 64;
        one.fileType = H5T_IEEE_F32LE;
        s.beta = h5::createGrowing(lg.get(), "beta", one);
        s.alpha = h5::createGrowing(lg.get(), "alpha", one);
        one.fileType = H5T_STD_I32LE;
        s.n = h5::createGrowing(lg.get(), "n", one);
        s.m = h5::createGrowing(lg.get(), "m", one);
        m_snapLayers.push_back(std::move(s));
    }
}

void RunSink::layout(hid_t run)
{
    // Series stay uncompressed: each flush rewrites the last, partly filled chunk, which fixed-
    // size chunks do in place; compressed ones would move and leave the old space unused (the
    // file grew 4x that way). Snapshot chunks are written once, so they are compressed.
    const int z = 0;
    writeLayerTable(run);
    m_train = makeTable(run, "train", schema::kTrainFields, 0, z, 512);
    m_val = makeTable(run, "val", schema::kEvalFields, 0, z, 16);
    m_test = makeTable(run, "test", schema::kEvalFields, 0, z, 16);
    m_continuity = makeTable(run, "continuity", schema::kContinuityFields, 0, z, 64);
    {
        h5::Id g = h5::createGroup(run, "layer_stats");
        h5::writeStrings(g.get(), "layer", m_sparse);
        m_layers.step = makeStepColumn(g.get(), z, 512);
        if (!m_sparse.empty())
            for (const auto &f : schema::kLayerFields) // (steps × sparse layers), also for one layer
                m_layers.values.push_back(makeColumn(g.get(), f.name, f.kind, m_sparse.size(), z, 512));
    }
    layoutSnapshots(run);
    if (m_info.config.checkpoints)
        m_checkpoints.layout(run, m_info, m_options.deflate);
    h5::Id status = h5::fixedString(schema::kStatusBytes);
    const char pending[schema::kStatusBytes] = "Pending";
    m_status = h5::createScalar(run, "status", status.get(), status.get(), pending);
    h5::Id sg = h5::createGroup(run, "summary");
    const int64_t zero = 0;
    m_summary.emplace_back("step", h5::createScalar(sg.get(), "step", H5T_STD_I64LE, H5T_NATIVE_INT64, &zero));
    for (const char *name : {"val_loss", "val_accuracy", "test_loss", "test_accuracy"})
        m_summary.emplace_back(name, h5::createScalar(sg.get(), name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, &kNaNf));
    m_summary.emplace_back("seconds", h5::createScalar(sg.get(), "seconds", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &kNaN));
}

void RunSink::onStart(const RunInfo &info)
{
    // The layout was made from this run's RunInfo; a different model cannot be recorded.
    std::vector<std::string> sparse;
    for (const auto &l : info.layers)
        if (l.sparse)
            sparse.push_back(l.name);
    if (sparse != m_sparse || info.layers.size() != m_info.layers.size())
        throw RunFileError("run file: run '" + info.name + "' has other layers than the run '" + m_info.name +
                           "' this file was laid out for; create the writer from the trainer's RunInfo");
    auto guard = h5::lock();
    m_started = true;
    m_lastFlush = monotonicSeconds();
    guarded(0, [&] {
        writeStatus("Running");
        flushFile();
    });
}

template <typename Write> bool RunSink::guarded(uint64_t bytes, Write &&write)
{
    auto guard = h5::lock();
    if (m_health->failed())
        return false;
    if (std::string why; !m_health->roomFor(bytes, &why)) {
        m_health->fail(why);
        return false;
    }
    try {
        write();
        return true;
    } catch (const std::exception &e) {
        m_health->fail(e.what());
        return false;
    }
}

uint64_t RunSink::pendingBytes() const
{
    uint64_t bytes = 0;
    for (const Table *t : {&m_train, &m_layers, &m_continuity, &m_val, &m_test}) {
        bytes += t->step.pending.size();
        for (const Column &c : t->values)
            bytes += c.pending.size();
    }
    return bytes;
}

void RunSink::onStep(const StepMetrics &m)
{
    if (m_health->failed())
        return; // nothing buffers once the file takes no more writes
    {
        std::lock_guard buffers(m_bufferMutex);
        m_lastStep = m.step;
        m_train.step.push(static_cast<double>(m.step));
        for (size_t i = 0; i < std::size(schema::kTrainFields); ++i)
            m_train.values[i].push(schema::kTrainFields[i].get(m));
        m_train.dirty = true;
        if (!m.layers.empty() && m.layers.size() == m_sparse.size()) {
            m_layers.step.push(static_cast<double>(m.step));
            for (size_t i = 0; i < std::size(schema::kLayerFields); ++i)
                for (const auto &row : m.layers)
                    m_layers.values[i].push(schema::kLayerFields[i].get(row));
            m_layers.dirty = true;
        }
        if (m.hasContinuity) {
            m_continuity.step.push(static_cast<double>(m.step));
            for (size_t i = 0; i < std::size(schema::kContinuityFields); ++i)
                m_continuity.values[i].push(schema::kContinuityFields[i].get(m.continuity));
            m_continuity.dirty = true;
        }
    }
    if (monotonicSeconds() - m_lastFlush >= m_options.flushSeconds)
        flushNow();
}

void RunSink::onEval(const EvalMetrics &e)
{
    if (m_health->failed())
        return;
    std::lock_guard buffers(m_bufferMutex);
    Table &t = e.split == Split::Test ? m_test : m_val;
    t.step.push(static_cast<double>(e.step));
    for (size_t i = 0; i < std::size(schema::kEvalFields); ++i)
        t.values[i].push(schema::kEvalFields[i].get(e));
    t.dirty = true;
}

void RunSink::onSnapshot(const Snapshot &snap)
{
    if (snap.layers.size() != m_snapLayers.size())
        throw RunFileError("run file: snapshot of run '" + m_info.name + "' has " + std::to_string(snap.layers.size()) +
                           " layers, the file has " + std::to_string(m_snapLayers.size()));
    uint64_t bytes = 0;
    for (size_t i = 0; i < snap.layers.size(); ++i) {
        const LayerSnapshot &l = snap.layers[i];
        const SnapshotLayer &s = m_snapLayers[i];
        const size_t size = static_cast<size_t>(s.rows) * static_cast<size_t>(s.cols);
        if (l.name != s.name || l.rows != s.rows || l.cols != s.cols || l.weight.size() != size ||
            l.forward.size() != size || l.mask.size() != size || (!l.flipCount.empty() && l.flipCount.size() != size))
            throw RunFileError("run file: snapshot layer '" + l.name + "' of run '" + m_info.name +
                               "' does not match the layer '" + s.name + "' (" + std::to_string(s.rows) + "x" +
                               std::to_string(s.cols) + ") laid out in the file");
        bytes += size * (2 * sizeof(float) + sizeof(uint16_t)) + size / 8 + 64;
    }
    // The series first, so they reach at least the snapshot's step wherever recording stops.
    std::lock_guard buffers(m_bufferMutex);
    guarded(bytes + pendingBytes(), [&] {
        writePending();
        writeSnapshot(snap);
    });
}

void RunSink::onCheckpoint(const Checkpoint &c)
{
    std::lock_guard buffers(m_bufferMutex);
    guarded(m_checkpoints.bytes() + pendingBytes(), [&] {
        writePending();
        m_checkpoints.write(c, flushFile);
    });
}

void RunSink::writeSnapshot(const Snapshot &snap)
{
    for (size_t i = 0; i < snap.layers.size(); ++i) {
        const LayerSnapshot &l = snap.layers[i];
        SnapshotLayer &s = m_snapLayers[i];
        h5::append(s.weight.get(), H5T_NATIVE_FLOAT, 1, l.weight.data());
        h5::append(s.forward.get(), H5T_NATIVE_FLOAT, 1, l.forward.data());
        const std::vector<uint8_t> packed = packMask(l.mask, l.rows, l.cols);
        h5::append(s.mask.get(), H5T_NATIVE_UINT8, 1, packed.data());
        // A snapshot made without counts (not by a Sparsifier) records zeros.
        if (l.flipCount.empty())
            h5::append(s.flipCount.get(), H5T_NATIVE_UINT16, 1,
                       std::vector<uint16_t>(static_cast<size_t>(l.rows) * static_cast<size_t>(l.cols), 0).data());
        else
            h5::append(s.flipCount.get(), H5T_NATIVE_UINT16, 1, l.flipCount.data());
        h5::append(s.beta.get(), H5T_NATIVE_FLOAT, 1, &l.beta);
        h5::append(s.alpha.get(), H5T_NATIVE_FLOAT, 1, &l.alpha);
        const int32_t n = l.n, m = l.m;
        h5::append(s.n.get(), H5T_NATIVE_INT32, 1, &n);
        h5::append(s.m.get(), H5T_NATIVE_INT32, 1, &m);
    }
    flushFile();
    const int64_t step = snap.step;
    h5::append(m_snapStep.ds.get(), H5T_NATIVE_INT64, 1, &step);
    flushFile();
}

void RunSink::onEnd(const RunSummary &s)
{
    std::lock_guard buffers(m_bufferMutex);
    guarded(pendingBytes(), [&] {
        writePending();
        writeSummary(s);
        writeStatus(toString(s.status));
        m_ended = true;
        flushFile();
    });
    m_lastFlush = monotonicSeconds();
}

void RunSink::flushNow()
{
    std::lock_guard buffers(m_bufferMutex);
    guarded(pendingBytes(), [&] {
        writePending();
        flushFile();
    });
    m_lastFlush = monotonicSeconds();
}

void RunSink::writePending()
{
    Table *tables[] = {&m_train, &m_layers, &m_continuity, &m_val, &m_test};
    bool any = false;
    for (Table *t : tables) {
        any = any || t->dirty;
        t->writeValues();
    }
    if (!any)
        return;
    flushFile();
    for (Table *t : tables)
        t->writeSteps();
    m_flushedStep = m_lastStep;
}

void RunSink::writeStatus(const char *status)
{
    char buf[schema::kStatusBytes] = {};
    std::snprintf(buf, sizeof buf, "%s", status);
    h5::Id type = h5::fixedString(schema::kStatusBytes);
    h5::writeScalar(m_status.get(), type.get(), buf);
}

void RunSink::writeSummary(const RunSummary &s)
{
    for (auto &[name, ds] : m_summary) {
        if (name == "step") {
            const int64_t step = s.step;
            h5::writeScalar(ds.get(), H5T_NATIVE_INT64, &step);
        } else if (name == "seconds") {
            h5::writeScalar(ds.get(), H5T_NATIVE_DOUBLE, &s.seconds);
        } else {
            const float v = name == "val_loss"       ? s.valLoss
                            : name == "val_accuracy" ? s.valAccuracy
                            : name == "test_loss"    ? s.testLoss
                                                     : s.testAccuracy;
            h5::writeScalar(ds.get(), H5T_NATIVE_FLOAT, &v);
        }
    }
}

void RunSink::writeBuffered()
{
    std::lock_guard buffers(m_bufferMutex);
    guarded(pendingBytes(), [&] { writePending(); });
}

void RunSink::closeUnfinished()
{
    std::lock_guard buffers(m_bufferMutex);
    guarded(pendingBytes(), [&] {
        writePending();
        markStoppedLocked();
    });
}

void RunSink::markStoppedLocked()
{
    if (m_ended)
        return;
    RunSummary s;
    s.name = m_info.name;
    s.step = m_flushedStep;
    s.status = RunStatus::Stopped;
    s.valLoss = s.valAccuracy = s.testLoss = s.testAccuracy = kNaNf;
    s.seconds = kNaN;
    m_ended = true;
    writeSummary(s);
    writeStatus("Stopped");
}

// ---- RunFileWriter -------------------------------------------------------------------------

struct RunFileWriter::Impl {
    std::string path, partial;
    RunFileOptions options;
    h5::Id file, updated;
    std::vector<std::unique_ptr<RunSink>> runs;
    RecordingHealth health;
    bool closed = false;

    void create(const std::vector<RunInfo> &infos);
    void flushFile()
    {
        const double now = unixSeconds();
        h5::writeScalar(updated.get(), H5T_NATIVE_DOUBLE, &now);
        h5::check(H5Fflush(file.get(), H5F_SCOPE_GLOBAL), "flush run file '" + path + "'");
    }
};

void RunFileWriter::Impl::create(const std::vector<RunInfo> &infos)
{
    if (infos.empty())
        throw RunFileError("run file '" + path + "': an experiment needs at least one run");
    if (options.flushSeconds < 0 || options.deflate < 0 || options.deflate > 9)
        throw RunFileError("run file options: flushSeconds must be >= 0 and deflate in 0..9");
    const bool exists = files::pathExists(path);
    if (exists && options.existing == ExistingRunFile::Refuse)
        throw RunFileExists(files::existsMessage(path));
    const bool append = exists && options.existing == ExistingRunFile::Append;
    const int firstIndex = append ? files::nextRunIndex(path, unixSeconds()) : 0;
    partial = path + ".partial";
    if (append) {
        // Extend a copy, so the original stays whole whatever fails before the rename.
        std::error_code ec;
        std::filesystem::copy_file(path, partial, std::filesystem::copy_options::overwrite_existing, ec);
        if (ec)
            throw RunFileError("cannot append to run file '" + path + "': copying it to '" + partial + "' failed (" +
                               ec.message() + ")");
    }
    auto guard = h5::lock();
    h5::Id fapl(h5::check(H5Pcreate(H5P_FILE_ACCESS), "file access properties"));
    h5::check(H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_LATEST, H5F_LIBVER_LATEST), "file access properties");
    h5::check(H5Pset_file_locking(fapl.get(), 1, 1), "file access properties"); // go on where locks are unsupported
    file = h5::Id(append ? H5Fopen(partial.c_str(), H5F_ACC_RDWR, fapl.get())
                         : H5Fcreate(partial.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()));
    if (!file.valid()) {
        if (append)
            std::remove(partial.c_str());
        h5::fail(append ? "cannot append to run file '" + path +
                              "': it does not open for writing (if a writer was killed, h5clear -s clears its "
                              "open-for-writing mark)"
                        : "cannot create run file '" + partial + "' (is the directory writable?)");
    }
    try {
        const int total = firstIndex + static_cast<int>(infos.size());
        if (append) {
            h5::check(H5Adelete(file.get(), "run_count"), "update the run count of '" + path + "'");
            updated = h5::Id(h5::check(H5Dopen2(file.get(), "updated", H5P_DEFAULT), "open 'updated'"));
        } else {
            h5::writeAttr(file.get(), "schema", std::string(kRunFileSchema));
            h5::writeAttr(file.get(), "schema_version", static_cast<int32_t>(kRunFileVersion));
            h5::writeAttr(file.get(), "tool_version", std::string(version()));
            h5::writeAttr(file.get(), "created", isoNowUtc());
            const double never = kNaN;
            updated = h5::createScalar(file.get(), "updated", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &never);
            h5::createGroup(file.get(), schema::kRunsGroup);
        }
        h5::writeAttr(file.get(), "run_count", static_cast<int32_t>(total));
        health.path = path;
        health.onFailure = options.onFailure;
        health.markStopped = [this] {
            for (auto &r : runs)
                r->markStoppedLocked();
            flushFile();
        };
        for (size_t i = 0; i < infos.size(); ++i) {
            runs.push_back(
                std::make_unique<RunSink>(file.get(), firstIndex + static_cast<int>(i), infos[i], options, &health));
            runs.back()->flushFile = [this] { flushFile(); };
        }
        h5::check(H5Fstart_swmr_write(file.get()), "switch run file '" + partial + "' to SWMR mode");
        flushFile();
        if (options.existing == ExistingRunFile::Refuse || !exists) {
            files::renameNoReplace(partial, path);
        } else if (std::rename(partial.c_str(), path.c_str()) != 0) {
            throw RunFileError("cannot write run file '" + path + "': renaming '" + partial +
                               "' over it failed (is the directory writable?)");
        }
        health.identify();
    } catch (...) {
        runs.clear();
        updated.reset();
        file.reset();
        std::remove(partial.c_str());
        throw;
    }
}

RunFileWriter::RunFileWriter(const std::string &path, const std::vector<RunInfo> &runs, const RunFileOptions &options)
    : m_impl(std::make_unique<Impl>())
{
    m_impl->path = path;
    m_impl->options = options;
    m_impl->create(runs);
}

RunFileWriter::RunFileWriter(const std::string &path, const std::vector<RunConfig> &runs, const RunFileOptions &options)
    : m_impl(std::make_unique<Impl>())
{
    m_impl->path = path;
    m_impl->options = options;
    const auto data = loadRunData(runs);
    std::vector<RunInfo> infos;
    for (size_t i = 0; i < runs.size(); ++i)
        infos.push_back(Trainer(runs[i], data[i]).info());
    m_impl->create(infos);
}

RunFileWriter::~RunFileWriter()
{
    try {
        close();
    } catch (...) {
        // Nothing to report to: what was flushed stays readable.
    }
}

TrainingObserver *RunFileWriter::observer(int run)
{
    if (run < 0 || run >= runCount())
        throw RunFileError("run file: no run " + std::to_string(run) + " (the file has " + std::to_string(runCount()) +
                           ")");
    return m_impl->runs[static_cast<size_t>(run)].get();
}

int RunFileWriter::runCount() const
{
    return static_cast<int>(m_impl->runs.size());
}

const std::string &RunFileWriter::path() const
{
    return m_impl->path;
}

std::string RunFileWriter::failure() const
{
    return m_impl->health.failure();
}

void RunFileWriter::flush()
{
    if (m_impl->closed)
        return;
    for (auto &r : m_impl->runs)
        r->writeBuffered();
    auto guard = h5::lock();
    if (m_impl->health.failed())
        return;
    try {
        m_impl->flushFile();
    } catch (const std::exception &e) {
        m_impl->health.fail(e.what());
    }
}

void RunFileWriter::close()
{
    if (m_impl->closed)
        return;
    m_impl->closed = true;
    for (auto &r : m_impl->runs)
        r->closeUnfinished(); // a failure stops the recording (failure() says why), never throws
    auto guard = h5::lock();
    if (!m_impl->health.failed()) {
        try {
            m_impl->flushFile();
        } catch (const std::exception &e) {
            m_impl->health.fail(e.what());
        }
    }
    m_impl->runs.clear();
    m_impl->updated.reset();
    const herr_t rc = H5Fclose(m_impl->file.release());
    if (rc < 0 && !m_impl->health.failed())
        h5::fail("closing run file '" + m_impl->path + "'");
}

} // namespace nm
