#include "runfile/checkpoints.h"

#include "nmcore/runfile.h"

#include "runfile/schema.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace nm::checkpoints {

namespace {

constexpr const char *kGroup = "checkpoints";
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A growing dataset of rows shaped `inner`, chunked like the snapshots (≤ ~1 MiB).
h5::Id growing(hid_t g, const char *name, hid_t fileType, std::vector<hsize_t> inner, int deflate)
{
    h5::ChunkedSpec s;
    s.fileType = fileType;
    s.inner = inner;
    s.deflate = inner.empty() ? 0 : deflate;
    if (inner.empty()) {
        s.chunkRows = 64;
    } else {
        s.chunkRows = 1;
        hsize_t rest = 1;
        for (size_t i = 1; i < inner.size(); ++i)
            rest *= inner[i];
        s.chunkInner = inner;
        s.chunkInner[0] = std::clamp<hsize_t>((1u << 18) / std::max<hsize_t>(rest, 1), 1, inner[0]);
    }
    if (fileType == H5T_IEEE_F64LE) {
        s.fill = &kNaN;
        s.fillType = H5T_NATIVE_DOUBLE;
    }
    return h5::createGrowing(g, name, s);
}

h5::Id stepColumn(hid_t g)
{
    static const int64_t minusOne = -1;
    h5::ChunkedSpec s;
    s.fileType = H5T_STD_I64LE;
    s.chunkRows = 64;
    s.fill = &minusOne;
    s.fillType = H5T_NATIVE_INT64;
    return h5::createGrowing(g, "step", s);
}

template <typename T> void append1(const h5::Id &ds, hid_t memType, T value)
{
    h5::append(ds.get(), memType, 1, &value);
}

template <typename T> T read1(const h5::Id &ds, hid_t memType, hsize_t index)
{
    T v{};
    h5::readRows(ds.get(), memType, index, 1, &v, 1);
    return v;
}

} // namespace

void Writer::layout(hid_t run, const RunInfo &info, int deflate)
{
    m_run = info.name;
    m_params = info.parameterCount;
    m_optimizer = info.optimizerStateSize;
    m_window = static_cast<size_t>(std::max(1, info.config.noiseWindow));
    h5::Id g = h5::createGroup(run, kGroup);
    h5::writeAttr(g.get(), "optimizer", choiceName(info.config.optimizer));
    h5::writeAttr(g.get(), "optimizer_layout",
                  std::string(info.config.optimizer == OptimizerKind::AdamW
                                  ? "m (first moment), then v (second moment), each "
                                    "in parameter order"
                                  : "momentum buffer, in parameter order"));
    m_step = stepColumn(g.get());
    m_elapsed = growing(g.get(), "elapsed_seconds", H5T_IEEE_F64LE, {}, 0);
    m_flops = growing(g.get(), "training_flops", H5T_IEEE_F64LE, {}, 0);
    m_lr = growing(g.get(), "lr", H5T_IEEE_F64LE, {}, 0);
    m_lambda = growing(g.get(), "lambda", H5T_IEEE_F64LE, {}, 0);
    m_paramsDs = growing(g.get(), "params", H5T_IEEE_F32LE, {static_cast<hsize_t>(std::max(1L, m_params))}, deflate);
    m_optimizerDs =
        growing(g.get(), "optimizer", H5T_IEEE_F32LE, {static_cast<hsize_t>(std::max(1L, m_optimizer))}, deflate);
    for (const auto &l : info.layers) {
        if (!l.sparse)
            continue;
        Layer s;
        s.name = l.name;
        s.rows = l.out;
        s.cols = l.in;
        h5::Id lg = h5::createGroup(g.get(), schema::layerGroupName(l.name));
        h5::writeAttr(lg.get(), "name", l.name);
        const std::vector<hsize_t> packed = {static_cast<hsize_t>(l.out), static_cast<hsize_t>((l.in + 7) / 8)};
        s.prevMask = growing(lg.get(), "prev_mask", H5T_STD_U8LE, packed, deflate);
        s.sadMask = growing(lg.get(), "sad_mask", H5T_STD_U8LE, packed, deflate);
        s.lastN = growing(lg.get(), "last_n", H5T_STD_I32LE, {}, 0);
        s.lastM = growing(lg.get(), "last_m", H5T_STD_I32LE, {}, 0);
        s.lastAlpha = growing(lg.get(), "last_alpha", H5T_IEEE_F32LE, {}, 0);
        s.lastBeta = growing(lg.get(), "last_beta", H5T_IEEE_F32LE, {}, 0);
        s.sparsity = growing(lg.get(), "sparsity", H5T_IEEE_F32LE, {}, 0);
        s.flipsSinceSad = growing(lg.get(), "flips_since_sad", H5T_STD_I64LE, {}, 0);
        s.maskStep = growing(lg.get(), "mask_step", H5T_STD_I64LE, {}, 0);
        s.rng = growing(lg.get(), "rng", H5T_STD_U64LE, {6}, 0);
        s.history = growing(lg.get(), "noise_history", H5T_IEEE_F64LE, {3, m_window}, 0);
        s.historyLength = growing(lg.get(), "noise_history_length", H5T_STD_I32LE, {}, 0);
        m_layers.push_back(std::move(s));
    }
}

uint64_t Writer::bytes() const
{
    uint64_t b = 4 * static_cast<uint64_t>(m_params + m_optimizer) + 256;
    for (const auto &l : m_layers)
        b += 2 * static_cast<uint64_t>(l.rows) * static_cast<uint64_t>((l.cols + 7) / 8) + 24 * m_window + 128;
    return b;
}

void Writer::write(const Checkpoint &c, const std::function<void()> &flush)
{
    if (static_cast<long>(c.params.size()) != m_params || static_cast<long>(c.optimizer.size()) != m_optimizer ||
        c.layers.size() != m_layers.size())
        throw RunFileError("run file: checkpoint of run '" + m_run + "' has " + std::to_string(c.params.size()) +
                           " parameters, " + std::to_string(c.optimizer.size()) + " optimiser values and " +
                           std::to_string(c.layers.size()) + " sparse layers; the file was laid out for " +
                           std::to_string(m_params) + ", " + std::to_string(m_optimizer) + " and " +
                           std::to_string(m_layers.size()));
    for (size_t i = 0; i < m_layers.size(); ++i) {
        const SparseLayerCheckpoint &l = c.layers[i];
        const Layer &s = m_layers[i];
        if (l.name != s.name || l.rows != s.rows || l.cols != s.cols)
            throw RunFileError("run file: checkpoint layer '" + l.name + "' of run '" + m_run +
                               "' does not match the layer '" + s.name + "' laid out in the file");
    }
    if (m_params > 0)
        h5::append(m_paramsDs.get(), H5T_NATIVE_FLOAT, 1, c.params.data());
    if (m_optimizer > 0)
        h5::append(m_optimizerDs.get(), H5T_NATIVE_FLOAT, 1, c.optimizer.data());
    append1(m_elapsed, H5T_NATIVE_DOUBLE, c.elapsedSeconds);
    append1(m_flops, H5T_NATIVE_DOUBLE, c.trainingFlops);
    append1(m_lr, H5T_NATIVE_DOUBLE, c.lr);
    append1(m_lambda, H5T_NATIVE_DOUBLE, c.lambda);
    for (size_t i = 0; i < m_layers.size(); ++i) {
        const SparseLayerCheckpoint &l = c.layers[i];
        const Layer &s = m_layers[i];
        h5::append(s.prevMask.get(), H5T_NATIVE_UINT8, 1, packMask(l.prevMask, l.rows, l.cols).data());
        h5::append(s.sadMask.get(), H5T_NATIVE_UINT8, 1, packMask(l.sadMask, l.rows, l.cols).data());
        append1(s.lastN, H5T_NATIVE_INT32, static_cast<int32_t>(l.lastN));
        append1(s.lastM, H5T_NATIVE_INT32, static_cast<int32_t>(l.lastM));
        append1(s.lastAlpha, H5T_NATIVE_FLOAT, l.lastAlpha);
        append1(s.lastBeta, H5T_NATIVE_FLOAT, l.lastBeta);
        append1(s.sparsity, H5T_NATIVE_FLOAT, l.sparsity);
        append1(s.flipsSinceSad, H5T_NATIVE_INT64, static_cast<int64_t>(l.flipsSinceSad));
        append1(s.maskStep, H5T_NATIVE_INT64, static_cast<int64_t>(l.maskStep));
        h5::append(s.rng.get(), H5T_NATIVE_UINT64, 1, l.rng.data());
        // Each window ends at the newest value; a window not yet full is NaN-padded in front.
        std::vector<double> hist(3 * m_window, kNaN);
        const std::vector<double> *h[] = {&l.normHistory, &l.keptHistory, &l.prunedHistory};
        size_t length = 0;
        for (size_t k = 0; k < 3; ++k) {
            const size_t n = std::min(h[k]->size(), m_window);
            length = std::max(length, n);
            std::copy(h[k]->end() - static_cast<long>(n), h[k]->end(),
                      hist.begin() + static_cast<long>((k + 1) * m_window - n));
        }
        h5::append(s.history.get(), H5T_NATIVE_DOUBLE, 1, hist.data());
        append1(s.historyLength, H5T_NATIVE_INT32, static_cast<int32_t>(length));
    }
    flush();
    append1(m_step, H5T_NATIVE_INT64, static_cast<int64_t>(c.step));
    flush();
}

std::vector<long> steps(const OpenDataset &open)
{
    h5::Id ds = open(std::string(kGroup) + "/step");
    if (!ds.valid())
        return {};
    std::vector<long> s = h5::readRowsAs<long>(ds.get(), H5T_NATIVE_LONG, 0, h5::rows1d(ds.get()));
    // Rows whose step never arrived (a writer killed inside a flush) hold the fill value -1.
    while (!s.empty() && s.back() < 0)
        s.pop_back();
    return s;
}

Checkpoint read(const OpenDataset &open, hsize_t index, const std::vector<std::string> &sparseLayers,
                const std::function<LayerSnapshot(int layer)> &snapshot)
{
    auto need = [&](const std::string &rel, size_t rank) {
        const std::string p = std::string(kGroup) + "/" + rel;
        h5::Id ds = open(p);
        if (!ds.valid())
            throw RunFileError("dataset '" + p + "' is missing; the file is corrupt");
        const auto d = h5::dims(ds.get());
        if (d.size() != rank)
            throw RunFileError("dataset '" + p + "' has rank " + std::to_string(d.size()) + "; the file is corrupt");
        if (d[0] <= index)
            throw RunFileError("the checkpoint is incomplete (its writer stopped while writing it)");
        return ds;
    };
    Checkpoint c;
    c.step = read1<int64_t>(need("step", 1), H5T_NATIVE_INT64, index);
    c.elapsedSeconds = read1<double>(need("elapsed_seconds", 1), H5T_NATIVE_DOUBLE, index);
    // Files from before training FLOPs were counted: unknown, so the resumed run's count is too.
    c.trainingFlops = open(std::string(kGroup) + "/training_flops").valid()
                          ? read1<double>(need("training_flops", 1), H5T_NATIVE_DOUBLE, index)
                          : std::numeric_limits<double>::quiet_NaN();
    c.lr = read1<double>(need("lr", 1), H5T_NATIVE_DOUBLE, index);
    c.lambda = read1<double>(need("lambda", 1), H5T_NATIVE_DOUBLE, index);
    c.params = h5::readRowsAs<float>(need("params", 2).get(), H5T_NATIVE_FLOAT, index, 1);
    c.optimizer = h5::readRowsAs<float>(need("optimizer", 2).get(), H5T_NATIVE_FLOAT, index, 1);
    for (size_t i = 0; i < sparseLayers.size(); ++i) {
        const std::string g = schema::layerGroupName(sparseLayers[i]) + "/";
        LayerSnapshot snap = snapshot(static_cast<int>(i));
        SparseLayerCheckpoint l;
        l.name = snap.name;
        l.rows = snap.rows;
        l.cols = snap.cols;
        l.forward = std::move(snap.forward);
        l.mask = std::move(snap.mask);
        l.flipCount = std::move(snap.flipCount); // empty in older files: the counts restart at 0
        l.beta = snap.beta;
        l.alpha = snap.alpha;
        l.n = snap.n;
        l.m = snap.m;
        const size_t packed = static_cast<size_t>(l.rows) * static_cast<size_t>((l.cols + 7) / 8);
        auto mask = [&](const char *name) {
            const auto bits = h5::readRowsAs<uint8_t>(need(g + name, 3).get(), H5T_NATIVE_UINT8, index, 1);
            if (bits.size() != packed)
                throw RunFileError("checkpoint dataset '" + g + name + "' does not match the layer's " +
                                   std::to_string(l.rows) + "x" + std::to_string(l.cols) + " snapshot");
            return unpackMask(bits, l.rows, l.cols);
        };
        l.prevMask = mask("prev_mask");
        l.sadMask = mask("sad_mask");
        l.lastN = read1<int32_t>(need(g + "last_n", 1), H5T_NATIVE_INT32, index);
        l.lastM = read1<int32_t>(need(g + "last_m", 1), H5T_NATIVE_INT32, index);
        l.lastAlpha = read1<float>(need(g + "last_alpha", 1), H5T_NATIVE_FLOAT, index);
        l.lastBeta = read1<float>(need(g + "last_beta", 1), H5T_NATIVE_FLOAT, index);
        l.sparsity = read1<float>(need(g + "sparsity", 1), H5T_NATIVE_FLOAT, index);
        l.flipsSinceSad = read1<int64_t>(need(g + "flips_since_sad", 1), H5T_NATIVE_INT64, index);
        l.maskStep = read1<int64_t>(need(g + "mask_step", 1), H5T_NATIVE_INT64, index);
        h5::readRows(need(g + "rng", 2).get(), H5T_NATIVE_UINT64, index, 1, l.rng.data(), l.rng.size());
        h5::Id hist = need(g + "noise_history", 3);
        const auto d = h5::dims(hist.get());
        const size_t window = static_cast<size_t>(d[2]);
        if (d[1] != 3 || window == 0 || window > (1u << 24))
            throw RunFileError("checkpoint dataset '" + g +
                               "noise_history' has an unexpected shape; the file is "
                               "corrupt");
        const auto h = h5::readRowsAs<double>(hist.get(), H5T_NATIVE_DOUBLE, index, 1);
        const int32_t length = read1<int32_t>(need(g + "noise_history_length", 1), H5T_NATIVE_INT32, index);
        if (length < 0 || static_cast<size_t>(length) > window)
            throw RunFileError("checkpoint dataset '" + g +
                               "noise_history_length' is out of range; the file is "
                               "corrupt");
        std::vector<double> *out[] = {&l.normHistory, &l.keptHistory, &l.prunedHistory};
        for (size_t k = 0; k < 3; ++k) {
            const auto end = h.begin() + static_cast<long>((k + 1) * window);
            out[k]->assign(end - length, end);
        }
        c.layers.push_back(std::move(l));
    }
    return c;
}

} // namespace nm::checkpoints
