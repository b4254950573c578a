#include "training/batch_observer.h"

#include "nmcore/metrics.h"

#include <cmath>

namespace nmui {

namespace {

constexpr auto kFlushInterval = std::chrono::milliseconds(33);

// The per-layer columns: the core's table, named like the run file's datasets.
const auto &kLayerFields = nm::kLayerMetrics;

// Scalar columns: mean loss/accuracy/grad norm, summed step time, last lr.
const char *const kMeanScalars[] = {"loss", "accuracy", "grad_norm"};
constexpr size_t kScalarMeans = 3;
constexpr size_t kFieldCount = std::size(kLayerFields);

void pushRow(MetricTable &t, double step, double time, double wall, double flops)
{
    t.step.push_back(step);
    t.time.push_back(time);
    t.wall.push_back(wall);
    t.flops.push_back(flops);
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
        m_sum[i] += static_cast<double>(scalars[i]);
    m_sum[kScalarMeans] += m.stepSeconds;
    m_last[kFieldCount * static_cast<size_t>(layers)] = static_cast<float>(m.lr);
    for (int l = 0; l < layers; ++l)
        for (size_t f = 0; f < kFieldCount; ++f) {
            const float v = static_cast<float>(kLayerFields[f].get(m.layers[static_cast<size_t>(l)]));
            const size_t k = static_cast<size_t>(l) * kFieldCount + f;
            if (kLayerFields[f].aggregation == nm::Aggregation::Last) {
                if (!std::isnan(v) || std::isnan(m_last[k]))
                    m_last[k] = v;
            } else {
                m_sum[kScalarMeans + 1 + k] += static_cast<double>(v);
            }
        }
    ++m_count;
    m_lastStep = m.step;
    m_lastTime = m.elapsedSeconds;
    m_lastWall = wallSeconds();
    m_lastFlops = m.totalFlops;
    if (m.hasContinuity) {
        MetricTable &c = m_batch.continuity;
        pushRow(c, static_cast<double>(m.step), m.elapsedSeconds, m_lastWall, m_lastFlops);
        for (const auto &f : nm::kContinuityMetrics)
            c.columns[f.name].push_back(static_cast<float>(f.get(m.continuity)));
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
    pushRow(t, static_cast<double>(m_lastStep), m_lastTime, m_lastWall, m_lastFlops);
    const double n = m_count;
    for (size_t i = 0; i < kScalarMeans; ++i)
        t.columns[kMeanScalars[i]].push_back(static_cast<float>(m_sum[i] / n));
    t.columns["step_seconds"].push_back(static_cast<float>(m_sum[kScalarMeans] / n));
    t.columns["lr"].push_back(m_last[kFieldCount * static_cast<size_t>(m_layers)]);
    for (int l = 0; l < m_layers; ++l)
        for (size_t f = 0; f < kFieldCount; ++f) {
            const size_t k = static_cast<size_t>(l) * kFieldCount + f;
            float v = m_last[k];
            if (kLayerFields[f].aggregation == nm::Aggregation::Mean)
                v = static_cast<float>(m_sum[kScalarMeans + 1 + k] / n);
            else if (kLayerFields[f].aggregation == nm::Aggregation::Sum)
                v = static_cast<float>(m_sum[kScalarMeans + 1 + k]);
            t.columns[layerColumn(kLayerFields[f].name, l)].push_back(v);
        }
    m_count = 0;
}

void BatchObserver::onEval(const nm::EvalMetrics &e)
{
    MetricTable &t = e.split == nm::Split::Validation ? m_batch.val : m_batch.test;
    pushRow(t, static_cast<double>(e.step), m_lastTime, wallSeconds(), m_lastFlops);
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
