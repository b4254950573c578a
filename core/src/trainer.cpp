#include "nmcore/trainer.h"

#include "nmcore/error.h"
#include "nmcore/platform.h"

#include <chrono>
#include <cmath>
#include <limits>

namespace nm {

namespace {
constexpr int kClassificationEvalBatch = 1000;
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

double now()
{
    using namespace std::chrono;
    return duration<double>(steady_clock::now().time_since_epoch()).count();
}
} // namespace

const char *toString(RunStatus s)
{
    switch (s) {
    case RunStatus::Running:
        return "Running";
    case RunStatus::Completed:
        return "Completed";
    case RunStatus::Stopped:
        return "Stopped";
    case RunStatus::Diverged:
        return "Diverged";
    }
    return "Unknown";
}

DataOptions dataOptions(const RunConfig &c)
{
    DataOptions o;
    o.source = c.data;
    o.task = c.model == ModelKind::Gpt ? TaskKind::Language : TaskKind::Classification;
    o.idxDir = c.dataDir;
    o.textFile = c.textFile;
    o.valCount = c.valCount;
    return o;
}

std::unique_ptr<Model> makeModel(const RunConfig &c, const Dataset &data)
{
    if (c.model == ModelKind::Mlp) {
        if (data.kind != TaskKind::Classification)
            throw ConfigError("model mlp needs a classification dataset, got " + data.name);
        return makeMlp(MlpShape{data.inputDim, c.mlpHidden, data.numClasses}, c.seed);
    }
    if (c.model == ModelKind::Vit) {
        if (data.kind != TaskKind::Classification)
            throw ConfigError("model vit needs an image dataset, got " + data.name);
        VitShape s;
        s.side = static_cast<int>(std::lround(std::sqrt(static_cast<double>(data.inputDim))));
        if (s.side * s.side != data.inputDim)
            throw ConfigError("model vit needs square images; " + data.name + " has " + std::to_string(data.inputDim) +
                              " inputs per example");
        s.classes = data.numClasses;
        s.patch = c.vitPatch;
        s.layers = c.vitLayers;
        s.heads = c.vitHeads;
        s.width = c.vitWidth;
        s.classToken = c.vitPool == VitPool::Cls;
        return makeVit(s, c.seed);
    }
    if (data.kind != TaskKind::Language)
        throw ConfigError("model gpt needs a text dataset, got " + data.name);
    GptShape s;
    s.vocab = data.outputs();
    s.context = c.context;
    s.layers = c.gptLayers;
    s.heads = c.gptHeads;
    s.width = c.gptWidth;
    return makeGpt(s, c.seed);
}

namespace {
std::unique_ptr<Optimizer> makeOptimizer(const RunConfig &c, long n)
{
    OptimizerSettings s;
    s.momentum = c.momentum;
    s.nesterov = c.nesterov;
    s.beta1 = c.beta1;
    s.beta2 = c.beta2;
    s.eps = c.eps;
    s.weightDecay = c.weightDecay;
    return c.optimizer == OptimizerKind::AdamW ? makeAdamW(s, n) : makeSgd(s, n);
}
} // namespace

Trainer::Trainer(const RunConfig &config, std::shared_ptr<const Dataset> data)
    : m_config(config), m_data(std::move(data)), m_model(makeModel(m_config, *m_data)),
      m_optimizer(makeOptimizer(m_config, m_model->parameterCount())),
      m_sampler(m_data, m_config.seed, m_config.batch, m_data->kind == TaskKind::Language ? m_config.context : 1)
{
    validateConfig(m_config);
    if (m_data->kind == TaskKind::Language && m_data->valCount() <= m_config.context + 1)
        throw ConfigError("context: " + std::to_string(m_config.context) + " is longer than the validation text (" +
                          std::to_string(m_data->valCount()) +
                          " characters); use a shorter context or a larger corpus");
    m_schedule.peak = m_config.lr;
    m_schedule.minRatio = m_config.minLrRatio;
    m_schedule.warmup = m_config.warmup;
    m_schedule.total = m_config.steps;
    m_info.name = m_config.name;
    m_info.config = m_config;
    m_info.modelDescription = m_model->describe();
    m_info.dataDescription = m_data->name + " (" + m_data->source + ")";
    m_info.task = m_data->kind;
    m_info.parameterCount = m_model->parameterCount();
    m_info.threads = m_config.threads > 0 ? m_config.threads : hardwareThreads();
    m_info.blasCore = blasCoreName();
    m_sparsifier = std::make_unique<Sparsifier>(*m_model, m_config);
    m_info.recipe = m_sparsifier->kind();
    m_info.layers = m_sparsifier->layerInfo();
    m_info.effectiveParameterCount = m_info.parameterCount;
    for (const auto &l : m_info.layers)
        m_info.effectiveParameterCount -= l.denseParams - l.effectiveParams;
    m_info.optimizerStateSize = static_cast<long>(m_optimizer->saveState().size());
    m_live.lr = m_config.lr;
    m_live.lambda = m_config.lambda;
    m_summary.name = m_config.name;
}

std::unique_ptr<Trainer> Trainer::fork(const RunConfig &config) const
{
    return resume(m_config, config, m_data, checkpoint());
}

Checkpoint Trainer::checkpoint() const
{
    Checkpoint c;
    c.step = m_step;
    c.elapsedSeconds = m_elapsed;
    c.trainingFlops = m_flops;
    c.lr = m_config.lr;
    c.lambda = m_config.lambda;
    const auto p = m_model->params();
    c.params.assign(p.begin(), p.end());
    c.optimizer = m_optimizer->saveState();
    c.layers = m_sparsifier->checkpoint();
    return c;
}

std::unique_ptr<Trainer> Trainer::resume(const RunConfig &a, const RunConfig &config,
                                         std::shared_ptr<const Dataset> data, const Checkpoint &checkpoint)
{
    const std::pair<const char *, bool> same[] = {
        {"model", a.model == config.model},
        {"mlp_hidden", a.mlpHidden == config.mlpHidden},
        {"gpt_layers", a.gptLayers == config.gptLayers},
        {"gpt_heads", a.gptHeads == config.gptHeads},
        {"gpt_width", a.gptWidth == config.gptWidth},
        {"context", a.context == config.context},
        {"vit_layers", a.vitLayers == config.vitLayers},
        {"vit_heads", a.vitHeads == config.vitHeads},
        {"vit_width", a.vitWidth == config.vitWidth},
        {"vit_patch", a.vitPatch == config.vitPatch},
        {"vit_pool", a.vitPool == config.vitPool},
        {"data", a.data == config.data}, // data_dir may differ: the same files elsewhere (another machine)
        {"text_file", a.textFile == config.textFile},
        {"val_count", a.valCount == config.valCount},
        {"optimizer", a.optimizer == config.optimizer},
        {"batch", a.batch == config.batch},
        {"seed", a.seed == config.seed},
    };
    for (const auto &[key, ok] : same)
        if (!ok)
            throw ConfigError(std::string("fork: ") + key + " must be the same as in the run being forked");
    const long step = checkpoint.step;
    if (config.steps <= step)
        throw ConfigError("fork: steps (" + std::to_string(config.steps) + ") must exceed the fork step " +
                          std::to_string(step));
    auto t = std::make_unique<Trainer>(config, std::move(data));
    auto dst = t->m_model->params();
    if (checkpoint.params.size() != dst.size())
        throw ConfigError("checkpoint: it holds " + std::to_string(checkpoint.params.size()) +
                          " parameters, the model has " + std::to_string(dst.size()));
    std::copy(checkpoint.params.begin(), checkpoint.params.end(), dst.begin());
    t->m_optimizer->loadState(checkpoint.optimizer);
    t->m_step = step;
    t->m_elapsed = checkpoint.elapsedSeconds;
    t->m_flops = checkpoint.trainingFlops;
    t->m_sparsifier.reset(); // restores the layers' own weights first
    t->m_sparsifier = std::make_unique<Sparsifier>(*t->m_model, config, step);
    const bool sameMasks = a.recipe == config.recipe && a.nm == config.nm && a.sparseLayers == config.sparseLayers &&
                           a.keepIndivisibleDense == config.keepIndivisibleDense && a.mvue == config.mvue &&
                           a.fp8 == config.fp8;
    if (sameMasks && step > 0)
        t->m_sparsifier->restore(checkpoint.layers);
    t->m_info.layers = t->m_sparsifier->layerInfo(); // the GEMM paths it continues with
    t->m_info.parentName = a.name;
    t->m_info.forkStep = step;
    t->m_lastCheckpoint = step; // the parent has it; the child records its first snapshot at this step
    return t;
}

void Trainer::setLiveSettings(const LiveSettings &live)
{
    std::lock_guard lock(m_liveMutex);
    m_live = live;
    m_liveDirty = true;
}

LiveSettings Trainer::liveSettings() const
{
    std::lock_guard lock(m_liveMutex);
    return m_live;
}

void Trainer::applyLive()
{
    std::lock_guard lock(m_liveMutex);
    if (!m_liveDirty)
        return;
    m_liveDirty = false;
    m_schedule.peak = m_live.lr;
    m_config.lr = m_live.lr;
    m_config.lambda = m_live.lambda;
    m_sparsifier->setLive(SparsityLive{m_live.lambda});
}

Snapshot Trainer::snapshot() const
{
    return m_sparsifier->snapshot(m_step);
}

void Trainer::notifyCheckpoint()
{
    if (!m_config.checkpoints || m_step == 0 || m_lastCheckpoint == m_step)
        return;
    m_lastCheckpoint = m_step;
    const Checkpoint c = checkpoint();
    for (auto *o : m_observers)
        o->onCheckpoint(c);
}

void Trainer::notifySnapshot()
{
    if (m_sparsifier->sparseLayerCount() == 0 || m_lastSnapshot == m_step)
        return;
    m_lastSnapshot = m_step;
    const Snapshot snap = snapshot();
    for (auto *o : m_observers)
        o->onSnapshot(snap);
}

Trainer::~Trainer() = default;

void Trainer::addObserver(TrainingObserver *observer)
{
    m_observers.push_back(observer);
}

void Trainer::requestStop()
{
    m_stop = true;
    m_pauseCv.notify_all();
}

void Trainer::setPaused(bool paused)
{
    {
        std::lock_guard lock(m_pauseMutex);
        m_paused = paused;
    }
    m_pauseCv.notify_all();
}

bool Trainer::stepOnce()
{
    if (m_status != RunStatus::Running)
        return false;
    setThreadCount(m_config.threads);
    applyLive();
    if (!m_started) {
        m_started = true;
        for (auto *o : m_observers)
            o->onStart(m_info);
        notifySnapshot();
    }
    const double t0 = now();
    const long t = m_step;
    m_sampler.fill(m_batch, t);
    m_model->zeroGrad();
    m_sparsifier->beforeForward(t);
    const float loss = m_model->forward(m_batch);
    if (!std::isfinite(loss)) {
        StepMetrics m;
        m.step = m_step + 1;
        m.loss = loss;
        for (auto *o : m_observers)
            o->onStep(m);
        finish(RunStatus::Diverged);
        return false;
    }
    const long rows = static_cast<long>(m_batch.rows) * m_batch.seqLen;
    const float accuracy = static_cast<float>(m_model->lastCorrect()) / static_cast<float>(rows);
    m_model->backward(m_batch);
    const bool continuity = m_config.diagnostics && m_config.continuityEvery > 0 &&
                            m_sparsifier->sparseLayerCount() > 0 && (t + 1) % m_config.continuityEvery == 0;
    if (continuity)
        captureBeforeUpdate();
    m_sparsifier->afterBackward(t);
    const double norm = clipGradNorm(m_model->grads(), m_config.gradClip);
    m_sparsifier->afterClip(t);
    const double lr = m_schedule.at(t);
    m_optimizer->update(m_model->params(), m_model->grads(), m_model->tensors(), static_cast<float>(lr), t + 1);
    if (continuity)
        captureForwardWeights();
    m_sparsifier->afterUpdate(t, lr);
    ++m_step;

    const double flops = m_model->trainingFlops(m_batch, m_sparsifier->linearDensities());
    m_flops += flops;
    StepMetrics m{.step = m_step,
                  .loss = loss,
                  .accuracy = accuracy,
                  .lr = lr,
                  .gradNorm = norm,
                  .flops = flops,
                  .totalFlops = m_flops,
                  .layers = m_sparsifier->stats(),
                  .hasContinuity = false,
                  .continuity = {}};
    if (continuity)
        measureContinuity(m, loss);
    const double dt = now() - t0;
    m_elapsed += dt;
    m.stepSeconds = dt;
    m.elapsedSeconds = m_elapsed;
    for (auto *o : m_observers)
        o->onStep(m);
    if (!std::isfinite(norm)) {
        finish(RunStatus::Diverged);
        return false;
    }
    if (m_config.snapshotEvery > 0 && m_step % m_config.snapshotEvery == 0) {
        notifySnapshot();
        notifyCheckpoint();
    }
    if (m_step >= m_config.steps) {
        finish(RunStatus::Completed);
        return false;
    }
    if (m_config.evalEvery > 0 && m_step % m_config.evalEvery == 0)
        notifyEval(evaluate(Split::Validation));
    return true;
}

RunSummary Trainer::run()
{
    while (m_status == RunStatus::Running) {
        if (m_paused) {
            std::unique_lock lock(m_pauseMutex);
            m_pauseCv.wait(lock, [&] { return !m_paused || m_stop; });
        }
        if (m_stop) {
            finish(RunStatus::Stopped);
            break;
        }
        stepOnce();
    }
    return m_summary;
}

EvalMetrics Trainer::evaluate(Split split)
{
    setThreadCount(m_config.threads);
    const Dataset &d = *m_data;
    const bool lang = d.kind == TaskKind::Language;
    const int batch = lang ? m_config.batch : kClassificationEvalBatch;
    const int seqLen = lang ? m_config.context : 1;
    const int n = evalBatchCount(d, split, batch, seqLen, m_config.evalBatches);
    double lossSum = 0.0;
    long correct = 0, count = 0;
    for (int i = 0; i < n; ++i) {
        fillEvalBatch(d, split, m_evalBatch, i, batch, seqLen, m_config.evalBatches);
        const long rows = static_cast<long>(m_evalBatch.rows) * m_evalBatch.seqLen;
        lossSum += static_cast<double>(m_model->forward(m_evalBatch)) * static_cast<double>(rows);
        correct += m_model->lastCorrect();
        count += rows;
    }
    EvalMetrics e;
    e.step = m_step;
    e.split = split;
    e.loss = count ? static_cast<float>(lossSum / static_cast<double>(count)) : kNaN;
    e.accuracy = count ? static_cast<float>(correct) / static_cast<float>(count) : kNaN;
    e.bitsPerChar = lang ? e.loss / static_cast<float>(M_LN2) : kNaN;
    return e;
}

// Continuity, before the step changes anything: the parameters and the raw gradients (∂L/∂W̃
// for sparse weights, before any recipe transform).
void Trainer::captureBeforeUpdate()
{
    auto p = m_model->params();
    auto g = m_model->grads();
    m_contParams.assign(p.begin(), p.end());
    m_contGrads.assign(g.begin(), g.end());
}

// Continuity: W̃_t of every sparse layer, after the update and before the re-masking.
void Trainer::captureForwardWeights()
{
    m_contForward.clear();
    for (const auto &l : m_model->linears())
        if (l.forwardWeight != l.weight)
            m_contForward.emplace_back(l.forwardWeight, l.forwardWeight + static_cast<long>(l.in) * l.out);
}

// S-STE's continuity measures on this step's batch (algorithms.md §3.4); called after the
// update, with W̃_{t+1} prepared and the step's parameters, raw gradients and W̃_t saved.
void Trainer::measureContinuity(StepMetrics &m, float lossBefore)
{
    ContinuityMetrics c;
    c.lossBefore = lossBefore;
    const float f1 = m_model->forward(m_batch);
    m_sparsifier->useFrozenForward();
    const float f2 = m_model->forward(m_batch);
    m_sparsifier->restoreForward();
    c.dF1 = f1 - lossBefore;
    c.dF2 = f2 - lossBefore;
    c.aodActual = lossBefore - f1;
    // Predicted descent: first-order Taylor in the forward weights, over every parameter.
    auto params = m_model->params();
    double dot = 0;
    for (long i = 0; i < static_cast<long>(params.size()); ++i) {
        const size_t j = static_cast<size_t>(i);
        dot += static_cast<double>(m_contGrads[j]) * static_cast<double>(params[j] - m_contParams[j]);
    }
    c.aodPredictedSte = static_cast<float>(-dot); // ⟨G, ΔW⟩: as if W̃ moved with W
    size_t k = 0;
    for (const auto &l : m_model->linears()) {
        if (l.forwardWeight == l.weight || k >= m_contForward.size())
            continue;
        const long off = l.weight - params.data(), n = static_cast<long>(l.in) * l.out;
        const std::vector<float> &before = m_contForward[k++];
        for (long i = 0; i < n; ++i) {
            const size_t j = static_cast<size_t>(off + i);
            const double g = m_contGrads[j];
            dot -= g * static_cast<double>(params[j] - m_contParams[j]); // replace ΔW by ΔW̃
            dot += g * static_cast<double>(l.forwardWeight[i] - before[static_cast<size_t>(i)]);
        }
    }
    c.aodPredicted = static_cast<float>(-dot);
    c.flips = m_sparsifier->lastFlips();
    m.hasContinuity = true;
    m.continuity = c;
}

void Trainer::notifyEval(const EvalMetrics &e)
{
    if (e.split == Split::Validation)
        m_lastVal = e;
    for (auto *o : m_observers)
        o->onEval(e);
}

void Trainer::finish(RunStatus status)
{
    m_status = status;
    m_summary.step = m_step;
    m_summary.status = status;
    m_summary.seconds = m_elapsed;
    m_summary.valLoss = m_summary.valAccuracy = m_summary.testLoss = m_summary.testAccuracy = kNaN;
    if (status != RunStatus::Diverged && m_step > 0) {
        if (m_lastVal.step != m_step)
            notifyEval(evaluate(Split::Validation));
        m_summary.valLoss = m_lastVal.loss;
        m_summary.valAccuracy = m_lastVal.accuracy;
        if (m_data->kind == TaskKind::Classification && !m_data->testY.empty()) {
            const EvalMetrics t = evaluate(Split::Test);
            notifyEval(t);
            m_summary.testLoss = t.loss;
            m_summary.testAccuracy = t.accuracy;
        }
    }
    notifySnapshot();
    if (status != RunStatus::Diverged)
        notifyCheckpoint();
    for (auto *o : m_observers)
        o->onEnd(m_summary);
}

} // namespace nm
