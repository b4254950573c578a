// RunFileReader: opens run files in SWMR read mode (finished ones, ones still being written,
// and ones whose writer was killed, which keep HDF5's "open for writing" mark), reads only
// the headers on open and every series or snapshot on demand.
#include "nmcore/runfile.h"

#include "runfile/checkpoints.h"
#include "runfile/h5.h"
#include "runfile/schema.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <sys/stat.h>

namespace nm {

namespace {

constexpr unsigned kReadAttempts = 10;
constexpr hsize_t kMaxElements = hsize_t(1) << 31; // a larger single read means a corrupt header

RunStatus parseStatus(const std::string &s)
{
    if (s == "Completed")
        return RunStatus::Completed;
    if (s == "Stopped")
        return RunStatus::Stopped;
    if (s == "Diverged")
        return RunStatus::Diverged;
    return RunStatus::Running;
}

// The stored config, parsed leniently: keys this build does not know (a newer writer, or a
// PyTorch run's own settings) are dropped, and so is every known key whose value this build
// refuses (a PyTorch run's "model": "cnn"); what is left keeps its values (the JSON stays
// available).
RunConfig parseStoredConfig(const std::string &json, const std::string &origin)
{
    try {
        return parseConfig(json, origin, {});
    } catch (const Error &) {
    }
    try {
        auto j = nlohmann::json::parse(json);
        if (j.is_object()) {
            nlohmann::json known = nlohmann::json::object();
            for (const auto &o : configOptions()) {
                if (!j.contains(o.key))
                    continue;
                nlohmann::json trial = known;
                trial[o.key] = j[o.key];
                try {
                    parseConfig(trial.dump(), origin, {});
                    known = std::move(trial);
                } catch (const Error &) {
                }
            }
            return parseConfig(known.dump(), origin, {});
        }
    } catch (const std::exception &) {
    }
    return defaultConfig();
}

// The row of `step` in a table's step list; a RunFileError listing the steps there are otherwise.
hsize_t rowOfStep(const std::vector<long> &steps, long step, const std::string &what)
{
    const auto it = std::find(steps.begin(), steps.end(), step);
    if (it != steps.end())
        return static_cast<hsize_t>(it - steps.begin());
    std::string list;
    for (long s : steps)
        list += (list.empty() ? "" : ", ") + std::to_string(s);
    throw RunFileError("no " + what + " at that step (" + what +
                       "s at: " + (list.empty() ? std::string("none") : list) + ")");
}

void checkSize(hsize_t elements, const std::string &what)
{
    if (elements > kMaxElements)
        throw RunFileError(what + " claims " + std::to_string(elements) + " elements; the file is corrupt");
}

} // namespace

struct RunFileReader::Impl {
    std::string path;
    h5::Id file;
    bool swmr = false;
    int version = 0;
    std::string tool, created;
    std::vector<RunHeader> runs;

    void open();
    void readRun(RunHeader &h);
    void readDynamic(RunHeader &h);
    const RunHeader &header(int run) const;
    // Opens `rel` under the run's group and refreshes it; invalid Id when it does not exist.
    h5::Id dataset(const RunHeader &h, const std::string &rel) const;
    hsize_t usableRows(hid_t steps, const std::vector<hid_t> &values) const;
    std::vector<long> readSteps(hid_t ds, hsize_t n) const;
    LayerSnapshot readSnapshot(const RunHeader &h, const std::string &layer, hsize_t index) const;

    // Runs `fn`, turning any failure into a RunFileError that names the file.
    template <typename Fn> auto guarded(const std::string &what, Fn &&fn) const -> decltype(fn())
    {
        try {
            return fn();
        } catch (const std::bad_alloc &) {
            throw RunFileError("run file '" + path + "': " + what + ": out of memory (corrupt sizes?)");
        } catch (const std::length_error &) {
            throw RunFileError("run file '" + path + "': " + what + ": implausible sizes (corrupt file?)");
        } catch (const RunFileError &e) {
            const std::string msg = e.what();
            if (msg.rfind("run file '", 0) == 0 || msg.find("'" + path + "'") != std::string::npos)
                throw;
            throw RunFileError("run file '" + path + "': " + what + ": " + msg);
        }
    }
};

void RunFileReader::Impl::open()
{
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
        throw RunFileError("cannot open run file '" + path + "': " + std::strerror(errno));
    if (S_ISDIR(st.st_mode))
        throw RunFileError("cannot open run file '" + path + "': it is a directory");
    if (st.st_size == 0)
        throw RunFileError("'" + path + "' is empty, not an nmstudio run file");
    const htri_t isHdf5 = H5Fis_hdf5(path.c_str());
    if (isHdf5 == 0)
        throw RunFileError("'" + path + "' is not an HDF5 file, so not an nmstudio run file");
    if (isHdf5 < 0)
        h5::fail("cannot read '" + path + "'");
    // SWMR read mode follows a file that is being written and opens one whose writer died.
    // A SWMR reader re-reads metadata whose checksum fails (it may have caught the writer
    // mid-write), HDF5's default 100 times with growing pauses; damaged files then take minutes
    // to report. A few attempts cover a live writer.
    h5::Id fapl(h5::check(H5Pcreate(H5P_FILE_ACCESS), "file access properties"));
    h5::check(H5Pset_metadata_read_attempts(fapl.get(), kReadAttempts), "file access properties");
    // Lock where the file system can; where it cannot (some network file systems), go on.
    h5::check(H5Pset_file_locking(fapl.get(), 1, 1), "file access properties");
    file = h5::Id(H5Fopen(path.c_str(), H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, fapl.get()));
    swmr = file.valid();
    if (!swmr) {
        const std::string swmrMessage = h5::lastMessage();
        file = h5::Id(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()));
        if (!file.valid()) {
            const std::string msg = h5::lastMessage();
            throw RunFileError("cannot open run file '" + path +
                               "': the file is truncated or corrupt (HDF5: " + (msg.empty() ? swmrMessage : msg) + ")");
        }
    }
    const hid_t f = file.get();
    if (!h5::hasAttr(f, "schema"))
        throw RunFileError("'" + path +
                           "' is an HDF5 file but not an nmstudio run file (it has no 'schema' attribute)");
    const std::string schemaName = h5::readStringAttr(f, "schema");
    if (schemaName != kRunFileSchema)
        throw RunFileError("'" + path + "' is an HDF5 file but not an nmstudio run file (schema '" + schemaName +
                           "', expected '" + kRunFileSchema + "')");
    if (!h5::hasAttr(f, "schema_version"))
        throw RunFileError("run file '" + path + "' has no 'schema_version' attribute; the file is corrupt");
    const int64_t v = h5::readIntAttr(f, "schema_version");
    if (v > kRunFileVersion)
        throw RunFileError("run file '" + path + "' has run-file version " + std::to_string(v) +
                           ", written by a newer nmstudio; this build reads version " +
                           std::to_string(kRunFileVersion) + " (update nmstudio to open it)");
    if (v < 1)
        throw RunFileError("run file '" + path + "' has an unknown run-file version " + std::to_string(v) +
                           " (this build reads version " + std::to_string(kRunFileVersion) + ")");
    version = static_cast<int>(v);
    tool = h5::hasAttr(f, "tool_version") ? h5::readStringAttr(f, "tool_version") : "";
    created = h5::hasAttr(f, "created") ? h5::readStringAttr(f, "created") : "";

    if (!h5::exists(f, schema::kRunsGroup))
        throw RunFileError("run file '" + path + "' has no 'runs' group; the file is corrupt");
    std::vector<std::string> names;
    h5::Id runsGroup(h5::check(H5Gopen2(f, schema::kRunsGroup, H5P_DEFAULT), "open group 'runs'"));
    auto collect = [](hid_t, const char *name, const H5L_info_t *, void *data) -> herr_t {
        static_cast<std::vector<std::string> *>(data)->emplace_back(name);
        return 0;
    };
    h5::check(H5Literate(runsGroup.get(), H5_INDEX_NAME, H5_ITER_INC, nullptr, collect, &names), "list runs");
    if (names.empty())
        throw RunFileError("run file '" + path + "' holds no runs; the file is corrupt");
    for (const auto &n : names) {
        RunHeader h;
        h.group = std::string(schema::kRunsGroup) + "/" + n;
        readRun(h);
        runs.push_back(std::move(h));
    }
}

namespace {
// The `layers` table of a run group: every Linear layer in model order.
std::vector<SparseLayerInfo> readLayerTable(hid_t gid, const std::string &group)
{
    if (!h5::exists(gid, "layers/name"))
        throw RunFileError("run '" + group + "' has no layer table; the file is corrupt");
    const auto names = h5::readStrings(gid, "layers/name");
    auto ints = [&](const char *name) {
        std::vector<int64_t> v(names.size(), 0);
        const std::string p = std::string("layers/") + name;
        if (!h5::exists(gid, p))
            return v;
        h5::Id ds(h5::check(H5Dopen2(gid, p.c_str(), H5P_DEFAULT), "open " + p));
        if (h5::dims(ds.get()) != std::vector<hsize_t>{names.size()})
            throw RunFileError("dataset '" + p + "' does not match layers/name; the file is corrupt");
        if (!v.empty())
            h5::readRows(ds.get(), H5T_NATIVE_INT64, 0, v.size(), v.data(), v.size());
        return v;
    };
    const auto in = ints("in"), out = ints("out"), sparse = ints("sparse"), n = ints("n"), m = ints("m"),
               dense = ints("dense_params"), effective = ints("effective_params");
    // The sparse GEMM paths (files from before them have none: dense GEMMs throughout).
    std::vector<std::string> gemm(names.size());
    if (h5::exists(gid, "layers/gemm")) {
        gemm = h5::readStrings(gid, "layers/gemm");
        if (gemm.size() != names.size())
            throw RunFileError("dataset 'layers/gemm' does not match layers/name; the file is corrupt");
    }
    std::vector<SparseLayerInfo> layers;
    for (size_t i = 0; i < names.size(); ++i) {
        SparseLayerInfo l;
        l.name = names[i];
        l.in = static_cast<int>(in[i]);
        l.out = static_cast<int>(out[i]);
        l.sparse = sparse[i] != 0;
        l.n = static_cast<int>(n[i]);
        l.m = static_cast<int>(m[i]);
        l.denseParams = dense[i];
        l.effectiveParams = effective[i];
        l.gemm = gemm[i];
        layers.push_back(l);
    }
    return layers;
}
} // namespace

void RunFileReader::Impl::readRun(RunHeader &h)
{
    h5::Id g(h5::check(H5Gopen2(file.get(), h.group.c_str(), H5P_DEFAULT), "open group '" + h.group + "'"));
    for (const char *attr : {"name", "config_json"})
        if (!h5::hasAttr(g.get(), attr))
            throw RunFileError("run '" + h.group + "' has no '" + attr + "' attribute; the file is corrupt");
    auto text = [&](const char *attr) {
        return h5::hasAttr(g.get(), attr) ? h5::readStringAttr(g.get(), attr) : std::string();
    };
    auto integer = [&](const char *attr) { return h5::hasAttr(g.get(), attr) ? h5::readIntAttr(g.get(), attr) : 0; };
    h.name = text("name");
    h.configJson = text("config_json");
    h.config = parseStoredConfig(h.configJson, path + ":" + h.group);
    h.modelDescription = text("model");
    h.dataDescription = text("data");
    h.nm = h5::hasAttr(g.get(), "nm") ? text("nm") : h.config.nm;
    h.seed = h5::hasAttr(g.get(), "seed") ? static_cast<uint64_t>(integer("seed")) : h.config.seed;
    h.parameterCount = integer("parameter_count");
    h.effectiveParameterCount = integer("effective_parameter_count");
    h.threads = static_cast<int>(integer("threads"));
    h.blasKernel = text("blas_kernel");
    h.parent = text("parent");
    if (const std::string sweep = text("sweep"); !sweep.empty()) {
        try {
            const auto values = nlohmann::ordered_json::parse(sweep);
            if (!values.is_object())
                throw nlohmann::json::type_error::create(302, "not an object", &values);
            for (const auto &[key, value] : values.items())
                h.config.sweep.emplace_back(key, value.is_string() ? value.get<std::string>() : value.dump());
        } catch (const nlohmann::json::exception &) {
            throw RunFileError("run file '" + path + "': run '" + h.group +
                               "' has a sweep attribute that is not a JSON object; the file is corrupt");
        }
    }
    h.forkStep = h5::hasAttr(g.get(), "fork_step") ? integer("fork_step") : -1;
    try {
        h.recipe = parseRecipe(h5::hasAttr(g.get(), "recipe") ? text("recipe") : h.config.recipe);
    } catch (const ConfigError &) {
        h.recipe = RecipeKind::Dense; // a recipe this build does not know
    }

    const hid_t gid = g.get();
    h.layers = readLayerTable(gid, h.group);
    h.sparseLayers =
        h5::exists(gid, "layer_stats/layer") ? h5::readStrings(gid, "layer_stats/layer") : std::vector<std::string>{};
    readDynamic(h);
}

h5::Id RunFileReader::Impl::dataset(const RunHeader &h, const std::string &rel) const
{
    const std::string p = h.group + "/" + rel;
    if (!h5::exists(file.get(), p))
        return {};
    h5::Id ds(h5::check(H5Dopen2(file.get(), p.c_str(), H5P_DEFAULT), "open dataset '" + p + "'"));
    h5::refresh(ds.get(), swmr);
    return ds;
}

std::vector<long> RunFileReader::Impl::readSteps(hid_t ds, hsize_t n) const
{
    if (n > h5::rows1d(ds))
        throw RunFileError("read past the end of dataset " + h5::objectName(ds));
    std::vector<long> steps = h5::readRowsAs<long>(ds, H5T_NATIVE_LONG, 0, n);
    // Rows whose step never arrived (a writer killed inside a flush) hold the fill value -1.
    while (!steps.empty() && steps.back() < 0)
        steps.pop_back();
    return steps;
}

hsize_t RunFileReader::Impl::usableRows(hid_t steps, const std::vector<hid_t> &values) const
{
    hsize_t n = h5::rows1d(steps);
    for (hid_t v : values) {
        const auto d = h5::dims(v);
        if (d.empty())
            throw RunFileError("a series dataset is scalar; the file is corrupt");
        n = std::min(n, d[0]);
    }
    return n;
}

void RunFileReader::Impl::readDynamic(RunHeader &h)
{
    if (h5::Id st = dataset(h, "status"); st.valid())
        h.status = h5::readStringScalar(st.get());
    else
        throw RunFileError("run '" + h.group + "' has no status; the file is corrupt");
    RunSummary &s = h.summary;
    s.name = h.name;
    s.status = parseStatus(h.status);
    auto scalar = [&](const char *name, auto &out, hid_t memType) {
        if (h5::Id ds = dataset(h, std::string("summary/") + name); ds.valid())
            h5::readNumber(ds.get(), memType, &out);
    };
    const float nan = std::numeric_limits<float>::quiet_NaN();
    s.valLoss = s.valAccuracy = s.testLoss = s.testAccuracy = nan;
    s.seconds = std::nan("");
    long step = 0;
    scalar("step", step, H5T_NATIVE_LONG);
    s.step = step;
    scalar("val_loss", s.valLoss, H5T_NATIVE_FLOAT);
    scalar("val_accuracy", s.valAccuracy, H5T_NATIVE_FLOAT);
    scalar("test_loss", s.testLoss, H5T_NATIVE_FLOAT);
    scalar("test_accuracy", s.testAccuracy, H5T_NATIVE_FLOAT);
    scalar("seconds", s.seconds, H5T_NATIVE_DOUBLE);
    h.lastStep = 0;
    if (h5::Id ds = dataset(h, "train/step"); ds.valid()) {
        const hsize_t n = h5::rows1d(ds.get());
        const hsize_t tail = std::min<hsize_t>(n, 64);
        std::vector<long> last(tail);
        h5::readRows(ds.get(), H5T_NATIVE_LONG, n - tail, tail, last.data(), last.size());
        for (long v : last)
            if (v >= 0)
                h.lastStep = v;
    }
    if (s.status == RunStatus::Running)
        s.step = h.lastStep;
}

LayerSnapshot RunFileReader::Impl::readSnapshot(const RunHeader &h, const std::string &layer, hsize_t index) const
{
    const std::string g = "snapshots/" + schema::layerGroupName(layer) + "/";
    auto open = [&](const char *name, size_t rank) {
        h5::Id ds = dataset(h, g + name);
        if (!ds.valid())
            throw RunFileError("dataset '" + g + name + "' is missing; the file is corrupt");
        const auto d = h5::dims(ds.get());
        if (d.size() != rank)
            throw RunFileError("dataset '" + g + name + "' has rank " + std::to_string(d.size()) +
                               "; the file is corrupt");
        if (d[0] <= index)
            throw RunFileError("the snapshot is incomplete (its writer stopped while writing it)");
        return ds;
    };
    h5::Id weight = open("weight", 3), forward = open("forward", 3), mask = open("mask", 3);
    h5::Id beta = open("beta", 1), alpha = open("alpha", 1), n = open("n", 1), m = open("m", 1);
    // Compare the inner dimensions only: a live writer may already have appended the next
    // snapshot to some of the datasets.
    const auto d = h5::dims(weight.get());
    const auto fd = h5::dims(forward.get());
    const auto md = h5::dims(mask.get());
    if (fd[1] != d[1] || fd[2] != d[2] || md[1] != d[1] || md[2] != (d[2] + 7) / 8 || d[1] == 0 || d[2] == 0)
        throw RunFileError("snapshot datasets of layer '" + layer + "' disagree in shape; the file is corrupt");
    // The product can overflow (and wrap to a small number) in a damaged header.
    checkSize(h5::elementCount(d, 1, "the snapshot of layer '" + layer + "'"), "the snapshot");
    LayerSnapshot s;
    s.name = layer;
    s.rows = static_cast<int>(d[1]);
    s.cols = static_cast<int>(d[2]);
    s.weight = h5::readRowsAs<float>(weight.get(), H5T_NATIVE_FLOAT, index, 1);
    s.forward = h5::readRowsAs<float>(forward.get(), H5T_NATIVE_FLOAT, index, 1);
    const std::vector<uint8_t> packed = h5::readRowsAs<uint8_t>(mask.get(), H5T_NATIVE_UINT8, index, 1);
    s.mask = unpackMask(packed, s.rows, s.cols);
    int32_t nn = 0, mm = 0;
    h5::readRows(beta.get(), H5T_NATIVE_FLOAT, index, 1, &s.beta, 1);
    h5::readRows(alpha.get(), H5T_NATIVE_FLOAT, index, 1, &s.alpha, 1);
    h5::readRows(n.get(), H5T_NATIVE_INT32, index, 1, &nn, 1);
    h5::readRows(m.get(), H5T_NATIVE_INT32, index, 1, &mm, 1);
    s.n = nn;
    s.m = mm;
    // Per-weight flip counts: absent in files written before them (flipCount stays empty).
    if (h5::Id fc = dataset(h, g + "flip_count"); fc.valid()) {
        const auto cd = h5::dims(fc.get());
        if (cd.size() != 3 || cd[1] != d[1] || cd[2] != d[2])
            throw RunFileError("dataset '" + g + "flip_count' does not match the layer's " + std::to_string(s.rows) +
                               "x" + std::to_string(s.cols) + " snapshot; the file is corrupt");
        if (cd[0] <= index)
            throw RunFileError("the snapshot is incomplete (its writer stopped while writing it)");
        s.flipCount = h5::readRowsAs<uint16_t>(fc.get(), H5T_NATIVE_UINT16, index, 1);
    }
    return s;
}

const RunHeader &RunFileReader::Impl::header(int run) const
{
    if (run < 0 || run >= static_cast<int>(runs.size()))
        throw RunFileError("run file '" + path + "': no run " + std::to_string(run) + " (the file has " +
                           std::to_string(runs.size()) + ")");
    return runs[static_cast<size_t>(run)];
}

// ---- RunFileReader -------------------------------------------------------------------------

RunFileReader::RunFileReader(const std::string &path) : m_impl(std::make_unique<Impl>())
{
    auto guard = h5::lock();
    m_impl->path = path;
    try {
        m_impl->guarded("open", [&] { m_impl->open(); });
    } catch (...) {
        m_impl.reset(); // close what was opened while the HDF5 lock is held
        throw;
    }
    // Run order: the writer's index, the number that starts each group name ("runs/012_...").
    auto index = [](const RunHeader &h) { return std::atol(h.group.c_str() + std::strlen(schema::kRunsGroup) + 1); };
    std::stable_sort(m_impl->runs.begin(), m_impl->runs.end(),
                     [&](const RunHeader &a, const RunHeader &b) { return index(a) < index(b); });
}

RunFileReader::~RunFileReader()
{
    auto guard = h5::lock();
    m_impl.reset();
}

const std::string &RunFileReader::path() const
{
    return m_impl->path;
}

int RunFileReader::schemaVersion() const
{
    return m_impl->version;
}

std::string RunFileReader::toolVersion() const
{
    return m_impl->tool;
}

std::string RunFileReader::createdAt() const
{
    return m_impl->created;
}

double RunFileReader::lastFlushTime() const
{
    auto guard = h5::lock();
    return m_impl->guarded("read the flush time", [&] {
        double t = std::nan("");
        if (!h5::exists(m_impl->file.get(), "updated"))
            return t;
        h5::Id ds(h5::check(H5Dopen2(m_impl->file.get(), "updated", H5P_DEFAULT), "open 'updated'"));
        h5::refresh(ds.get(), m_impl->swmr);
        h5::readNumber(ds.get(), H5T_NATIVE_DOUBLE, &t);
        return t;
    });
}

bool RunFileReader::followsWriter() const
{
    return m_impl->swmr;
}

void RunFileReader::refresh()
{
    auto guard = h5::lock();
    m_impl->guarded("refresh", [&] {
        for (auto &h : m_impl->runs)
            m_impl->readDynamic(h);
    });
}

int RunFileReader::runCount() const
{
    return static_cast<int>(m_impl->runs.size());
}

const RunHeader &RunFileReader::run(int i) const
{
    return m_impl->header(i);
}

Series RunFileReader::series(int run, const std::string &name) const
{
    auto guard = h5::lock();
    const RunHeader &h = m_impl->header(run);
    return m_impl->guarded("series '" + name + "' of run '" + h.name + "'", [&] {
        Series s;
        const size_t slash = name.find('/');
        if (slash == std::string::npos || slash == 0 || slash + 1 == name.size() ||
            name.find('/', slash + 1) != std::string::npos)
            return s;
        h5::Id values = m_impl->dataset(h, name);
        h5::Id steps = m_impl->dataset(h, name.substr(0, slash) + "/step");
        if (!values.valid() || !steps.valid())
            return s;
        if (h5::dims(values.get()).size() != 1)
            throw RunFileError("dataset is not 1-D; the file is corrupt");
        const hsize_t n = m_impl->usableRows(steps.get(), {values.get()});
        checkSize(n, "the series");
        s.steps = m_impl->readSteps(steps.get(), n);
        s.values = h5::readRowsAs<float>(values.get(), H5T_NATIVE_FLOAT, 0, s.steps.size());
        return s;
    });
}

LayerSeries RunFileReader::layerSeries(int run, const std::string &name) const
{
    auto guard = h5::lock();
    const RunHeader &h = m_impl->header(run);
    return m_impl->guarded("layer series '" + name + "' of run '" + h.name + "'", [&] {
        LayerSeries s;
        if (name.empty() || name.find('/') != std::string::npos || name == "step" || name == "layer")
            return s;
        h5::Id values = m_impl->dataset(h, "layer_stats/" + name);
        h5::Id steps = m_impl->dataset(h, "layer_stats/step");
        if (!values.valid() || !steps.valid())
            return s;
        const auto d = h5::dims(values.get());
        if (d.size() != 2 || d[1] != h.sparseLayers.size())
            throw RunFileError("dataset is not (steps × " + std::to_string(h.sparseLayers.size()) +
                               " layers); the file is corrupt");
        const hsize_t n = m_impl->usableRows(steps.get(), {values.get()});
        checkSize(h5::elementCount({n, d[1]}, 0, "the layer series"), "the layer series");
        s.steps = m_impl->readSteps(steps.get(), n);
        s.layers = static_cast<int>(d[1]);
        s.values = h5::readRowsAs<float>(values.get(), H5T_NATIVE_FLOAT, 0, s.steps.size());
        return s;
    });
}

std::vector<long> RunFileReader::snapshotSteps(int run) const
{
    auto guard = h5::lock();
    const RunHeader &h = m_impl->header(run);
    return m_impl->guarded("snapshots of run '" + h.name + "'", [&] {
        h5::Id steps = m_impl->dataset(h, "snapshots/step");
        if (!steps.valid())
            return std::vector<long>{};
        const hsize_t n = h5::rows1d(steps.get());
        checkSize(n, "snapshots/step");
        return m_impl->readSteps(steps.get(), n);
    });
}

LayerSnapshot RunFileReader::snapshot(int run, int layer, long step) const
{
    auto guard = h5::lock();
    const RunHeader &h = m_impl->header(run);
    if (layer < 0 || layer >= static_cast<int>(h.sparseLayers.size()))
        throw RunFileError("run file '" + m_impl->path + "': run '" + h.name + "' has no sparse layer " +
                           std::to_string(layer) + " (it has " + std::to_string(h.sparseLayers.size()) + ")");
    const std::string &layerName = h.sparseLayers[static_cast<size_t>(layer)];
    return m_impl->guarded(
        "snapshot of layer '" + layerName + "' at step " + std::to_string(step) + " in run '" + h.name + "'", [&] {
            const hsize_t row = rowOfStep(snapshotSteps(run), step, "snapshot");
            return m_impl->readSnapshot(h, layerName, row);
        });
}

std::vector<long> RunFileReader::checkpointSteps(int run) const
{
    auto guard = h5::lock();
    const RunHeader &h = m_impl->header(run);
    return m_impl->guarded("checkpoints of run '" + h.name + "'", [&] {
        return checkpoints::steps([&](const std::string &rel) { return m_impl->dataset(h, rel); });
    });
}

Checkpoint RunFileReader::checkpoint(int run, long step) const
{
    auto guard = h5::lock();
    const RunHeader &h = m_impl->header(run);
    return m_impl->guarded("checkpoint at step " + std::to_string(step) + " of run '" + h.name + "'", [&] {
        auto open = [&](const std::string &rel) { return m_impl->dataset(h, rel); };
        const hsize_t row = rowOfStep(checkpoints::steps(open), step, "checkpoint");
        const auto snapshot = [&](int layer) { return this->snapshot(run, layer, step); };
        Checkpoint c = checkpoints::read(open, row, h.sparseLayers, snapshot);
        for (SparseLayerCheckpoint &l : c.layers) // the run's GEMM paths, which a resume continues
            for (const SparseLayerInfo &info : h.layers)
                if (info.name == l.name)
                    l.gemm = info.gemm;
        return c;
    });
}

} // namespace nm
