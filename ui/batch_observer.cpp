#include "batch_observer.h"

#include <cmath>

namespace nmui {

namespace {

constexpr auto kFlushInterval = std::chrono::milliseconds(33);

enum class Agg { Mean, Sum, Last };

struct LayerField {
    const char *name;
    Agg agg;
    float (*get)(const nm::LayerStats &);
};

// The per-layer columns, named like the run file's datasets.
const LayerField kLayerFields[] = {
    {"flip_rate", Agg::Mean, [](const nm::LayerStats &s) { return s.flipRate; }},
    {"flips", Agg::Sum, [](const nm::LayerStats &s) { return static_cast<float>(s.flips); }},
    {"sad", Agg::Last, [](const nm::LayerStats &s) { return s.sad; }},
    {"oscillation", Agg::Last, [](const nm::LayerStats &s) { return s.oscillation; }},
    {"grad_norm", Agg::Mean, [](const nm::LayerStats &s) { return s.gradNorm; }},
    {"grad_norm_kept", Agg::Mean, [](const nm::LayerStats &s) { return s.gradNormKept; }},
    {"grad_norm_pruned", Agg::Mean, [](const nm::LayerStats &s) { return s.gradNormPruned; }},
    {"pruned_share", Agg::Mean, [](const nm::LayerStats &s) { return s.prunedShare; }},
    {"grad_std_kept", Agg::Mean, [](const nm::LayerStats &s) { return s.gradStdKept; }},
    {"grad_std_pruned", Agg::Mean, [](const nm::LayerStats &s) { return s.gradStdPruned; }},
    {"grad_noise", Agg::Last, [](const nm::LayerStats &s) { return s.gradNoise; }},
    {"grad_noise_kept", Agg::Last, [](const nm::LayerStats &s) { return s.gradNoiseKept; }},
    {"grad_noise_pruned", Agg::Last, [](const nm::LayerStats &s) { return s.gradNoisePruned; }},
    {"delta_forward", Agg::Mean, [](const nm::LayerStats &s) { return s.deltaForward; }},
    {"decay_norm", Agg::Mean, [](const nm::LayerStats &s) { return s.decayNorm; }},
    {"alpha", Agg::Last, [](const nm::LayerStats &s) { return s.alpha; }},
    {"n", Agg::Last, [](const nm::LayerStats &s) { return static_cast<float>(s.n); }},
    {"m", Agg::Last, [](const nm::LayerStats &s) { return static_cast<float>(s.m); }},
    {"lambda", Agg::Last, [](const nm::LayerStats &s) { return s.lambda; }},
    {"beta", Agg::Last, [](const nm::LayerStats &s) { return s.beta; }},
    {"sparsity", Agg::Last, [](const nm::LayerStats &s) { return s.sparsity; }},
};

// Scalar columns: mean loss/accuracy/grad norm, summed step time, last lr.
const char *const kMeanScalars[] = {"loss", "accuracy", "grad_norm"};
constexpr size_t kScalarMeans = 3;
constexpr size_t kFieldCount = std::size(kLayerFields);

void pushRow(MetricTable &t, double step, double time, double wall)
{
    t.step.push_back(step);
    t.time.push_back(time);
    t.wall.push_back(wall);
}

} // namespace

BatchObserver::BatchObserver(int runId, Post post) : m_runId(runId), m_post(std::move(post))
{
    m_batch.runId = runId;
}

double BatchObserver::wallSeconds() const
{
    return std::chrono::duration<double>(Clock::now() - m_wallStart).count();
}

void BatchObserver::onStart(const nm::RunInfo &info)
{
    m_started = true;
    m_wallStart = Clock::now();
    m_batch.started = true;
    m_batch.info = info;
    m_batch.forkStep = m_forkStep;
    flush();
}

void BatchObserver::onStep(const nm::StepMetrics &m)
{
    const int layers = static_cast<int>(m.layers.size());
    if (m_count == 0 || layers != m_layers) {
        if (m_count > 0)
            emitRow();
        m_layers = layers;
        m_sum.assign(kScalarMeans + 1 + kFieldCount * static_cast<size_t>(layers), 0.0);
        m_last.assign(kFieldCount * static_cast<size_t>(layers) + 1, NAN);
    }
    const float scalars[kScalarMeans] = {m.loss, m.accuracy, static_cast<float>(m.gradNorm)};
    for (size_t i = 0; i < kScalarMeans; ++i)
        m_sum[i] += scalars[i];
    m_sum[kScalarMeans] += m.stepSeconds;
    m_last[kFieldCount * static_cast<size_t>(layers)] = static_cast<float>(m.lr);
    for (int l = 0; l < layers; ++l)
        for (size_t f = 0; f < kFieldCount; ++f) {
            const float v = kLayerFields[f].get(m.layers[static_cast<size_t>(l)]);
            const size_t k = static_cast<size_t>(l) * kFieldCount + f;
            if (kLayerFields[f].agg == Agg::Last) {
                if (!std::isnan(v) || std::isnan(m_last[k]))
                    m_last[k] = v;
            } else {
                m_sum[kScalarMeans + 1 + k] += v;
            }
        }
    ++m_count;
    m_lastStep = m.step;
    m_lastTime = m.elapsedSeconds;
    m_lastWall = wallSeconds();
    if (m.hasContinuity) {
        MetricTable &c = m_batch.continuity;
        pushRow(c, static_cast<double>(m.step), m.elapsedSeconds, m_lastWall);
        const auto &k = m.continuity;
        c.columns["loss_before"].push_back(k.lossBefore);
        c.columns["dF1"].push_back(k.dF1);
        c.columns["dF2"].push_back(k.dF2);
        c.columns["aod_actual"].push_back(k.aodActual);
        c.columns["aod_predicted"].push_back(k.aodPredicted);
        c.columns["aod_predicted_ste"].push_back(k.aodPredictedSte);
        c.columns["flips"].push_back(static_cast<float>(k.flips));
    }
    if (m_count >= m_logEvery.load())
        emitRow();
    maybeFlush();
}

void BatchObserver::emitRow()
{
    if (m_count == 0)
        return;
    MetricTable &t = m_batch.train;
    pushRow(t, static_cast<double>(m_lastStep), m_lastTime, m_lastWall);
    const double n = m_count;
    for (size_t i = 0; i < kScalarMeans; ++i)
        t.columns[kMeanScalars[i]].push_back(static_cast<float>(m_sum[i] / n));
    t.columns["step_seconds"].push_back(static_cast<float>(m_sum[kScalarMeans] / n));
    t.columns["lr"].push_back(m_last[kFieldCount * static_cast<size_t>(m_layers)]);
    for (int l = 0; l < m_layers; ++l)
        for (size_t f = 0; f < kFieldCount; ++f) {
            const size_t k = static_cast<size_t>(l) * kFieldCount + f;
            float v = m_last[k];
            if (kLayerFields[f].agg == Agg::Mean)
                v = static_cast<float>(m_sum[kScalarMeans + 1 + k] / n);
            else if (kLayerFields[f].agg == Agg::Sum)
                v = static_cast<float>(m_sum[kScalarMeans + 1 + k]);
            t.columns[layerColumn(kLayerFields[f].name, l)].push_back(v);
        }
    m_count = 0;
}

void BatchObserver::onEval(const nm::EvalMetrics &e)
{
    MetricTable &t = e.split == nm::Split::Validation ? m_batch.val : m_batch.test;
    pushRow(t, static_cast<double>(e.step), m_lastTime, wallSeconds());
    t.columns["loss"].push_back(e.loss);
    t.columns["accuracy"].push_back(e.accuracy);
    t.columns["bits_per_char"].push_back(e.bitsPerChar);
    maybeFlush();
}

void BatchObserver::onSnapshot(const nm::Snapshot &s)
{
    m_batch.snapshots.push_back(std::make_shared<const nm::Snapshot>(s));
}

void BatchObserver::onEnd(const nm::RunSummary &s)
{
    emitRow();
    m_batch.ended = true;
    m_batch.summary = s;
    flush();
}

void BatchObserver::maybeFlush()
{
    if (Clock::now() - m_lastFlush >= kFlushInterval)
        flush();
}

void BatchObserver::flush(bool paused)
{
    if (paused)
        emitRow();
    m_batch.paused = paused;
    m_lastFlush = Clock::now();
    RunBatch out = std::move(m_batch);
    m_batch = RunBatch{};
    m_batch.runId = m_runId;
    m_post(std::move(out));
}

void BatchObserver::fail(const std::string &message)
{
    emitRow();
    m_batch.error = QString::fromStdString(message);
    m_batch.ended = true;
    flush();
}

} // namespace nmui
