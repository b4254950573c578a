// The Sparsifier: runs a recipe over every linear layer of a model, step by step (mask and
// W̃ before the forward, gradient transform and decay term after the backward, diagnostics,
// snapshots and checkpoints), and picks each layer's GEMM path.
#include "nmcore/sparsity.h"

#include "nmcore/error.h"
#include "nmcore/nm_ops.h"
#include "nmcore/platform.h"
#include "parallel.h"
#include "recipes/recipe.h"

#include <algorithm>
#include <cmath>

namespace nm {

namespace {
constexpr long kParallelMin = kWeightParallelMin;

// Coefficient of variation (std / mean) of a full window; NaN until the window is full.
float windowCv(const std::deque<double> &h, size_t window)
{
    if (h.size() < window)
        return NAN;
    double s = 0, s2 = 0;
    for (double x : h) {
        s += x;
        s2 += x * x;
    }
    const double n = static_cast<double>(h.size()), mean = s / n;
    const double var = std::max(0.0, s2 / n - mean * mean);
    return mean > 0 ? static_cast<float>(std::sqrt(var) / mean) : NAN;
}

void pushWindow(std::deque<double> &h, double x, size_t window)
{
    h.push_back(x);
    while (h.size() > window)
        h.pop_front();
}
} // namespace

namespace {
// Which of the model's linear layers `sparse_layers` selects (default, all, none, or names).
std::vector<bool> selectLayers(const std::vector<LinearLayer> &linears, const std::string &sel)
{
    std::vector<bool> selected(linears.size(), false);
    if (sel == "all") {
        selected.assign(linears.size(), true);
    } else if (sel == "default") {
        for (size_t i = 0; i < linears.size(); ++i)
            selected[i] = linears[i].sparseByDefault;
    } else if (sel != "none") {
        for (const std::string &name : splitList(sel)) {
            auto it =
                std::find_if(linears.begin(), linears.end(), [&](const LinearLayer &l) { return l.name == name; });
            if (it == linears.end()) {
                std::string all;
                for (const auto &l : linears)
                    all += (all.empty() ? "" : ", ") + l.name;
                throw ConfigError("sparse_layers: no layer named '" + name + "'; this model has: " + all);
            }
            selected[static_cast<size_t>(it - linears.begin())] = true;
        }
    }
    return selected;
}

// Why a selected layer cannot take the recipe's patterns (empty: it can).
std::string indivisibility(const LinearLayer &l, const std::vector<std::pair<int, int>> &patterns, int outMultiple)
{
    for (const auto &[pn, pm] : patterns)
        if (l.in % pm != 0)
            return "input size " + std::to_string(l.in) + " is not a multiple of M for " + std::to_string(pn) + ":" +
                   std::to_string(pm);
    if (l.out % outMultiple != 0)
        return "output size " + std::to_string(l.out) + " is not a multiple of " + std::to_string(outMultiple) +
               " (transposable masks)";
    return {};
}
} // namespace

Sparsifier::Sparsifier(Model &model, const RunConfig &config, long startStep)
    : m_model(model), m_config(config), m_kind(parseRecipe(config.recipe)), m_recipe(makeRecipe(config))
{
    m_live.lambda = config.lambda;
    int n = 0, m = 0;
    parseNm(config.nm, n, m);
    auto &linears = model.linears();
    const std::vector<bool> selected = selectLayers(linears, config.sparseLayers);
    const auto patterns = m_recipe->patterns(n, m);
    for (size_t i = 0; i < linears.size(); ++i) {
        LinearLayer &l = linears[i];
        SparseLayerInfo info;
        info.name = l.name;
        info.in = l.in;
        info.out = l.out;
        info.n = n;
        info.m = m;
        info.denseParams = static_cast<long>(l.in) * l.out + l.out;
        info.effectiveParams = info.denseParams;
        if (selected[i]) {
            const std::string what = indivisibility(l, patterns, m_recipe->outMultiple());
            if (!what.empty() && !config.keepIndivisibleDense)
                throw ConfigError("layer " + l.name + ": " + what + " (recipe " + config.recipe + ", nm " + config.nm +
                                  "); keep it dense with --keep-indivisible-dense or choose layers with "
                                  "--sparse-layers");
            info.sparse = what.empty();
        }
        if (info.sparse && m_kind != RecipeKind::Dense)
            info.effectiveParams = static_cast<long>(l.out) * (l.in / m) * n + l.out;
        m_info.push_back(info);
        if (info.sparse)
            m_layers.push_back(makeLayerState(l, n, m, patterns));
    }
    m_stats.assign(m_layers.size(), LayerStats{});
    m_frozen.resize(m_layers.size());
    prepare(startStep, true);
}

std::unique_ptr<SparseLayerState> Sparsifier::makeLayerState(LinearLayer &l, int n, int m,
                                                             const std::vector<std::pair<int, int>> &patterns)
{
    const RunConfig &config = m_config;
    auto s = std::make_unique<SparseLayerState>();
    s->layer = &l;
    s->index = static_cast<int>(m_layers.size());
    s->size = static_cast<long>(l.in) * l.out;
    s->targetN = n;
    s->targetM = m;
    s->mask.assign(static_cast<size_t>(s->size), 0);
    s->prevMask = s->sadMask = s->mask;
    s->flipCount.assign(static_cast<size_t>(s->size), 0);
    s->wf.assign(static_cast<size_t>(s->size), 0.0f);
    s->wfNext = s->wf;
    s->variant.mvue = config.mvue;
    s->variant.fp8 = config.fp8;
    s->variant.rng = Rng(config.seed * 0x9E3779B97F4A7C15ULL +
                         0x632BE59BD9B4E019ULL * static_cast<unsigned long long>(s->index + 1));
    if (config.mvue || config.fp8)
        l.variant = &s->variant;
    m_recipe->init(*s);
    s->gemmRows = config.batch *
                  (l.tokensPerSample > 0 ? l.tokensPerSample : (config.model == ModelKind::Gpt ? config.context : 1));
    if (m_kind != RecipeKind::Dense && config.sparseGemm != SparseGemmMode::Off && !config.fp8) {
        // The paths of every pattern the recipe uses, timed on W's own top-N:M (the run
        // info and the run file report them; a resumed run takes its parent's instead).
        std::vector<float> wt(static_cast<size_t>(s->size));
        std::vector<uint8_t> mk(static_cast<size_t>(s->size));
        for (const auto &pattern : patterns) {
            const int pn = pattern.first, pm = pattern.second;
            if (std::any_of(s->gemmChoices.begin(), s->gemmChoices.end(),
                            [&](const spgemm::Choice &c) { return c.n == pn && c.m == pm; }))
                continue;
            nmops::nmMaskApply(mk.data(), wt.data(), l.weight, l.out, l.in, pn, pm);
            s->gemmChoices.push_back(tuneGemm(*s, pn, pm, wt.data()));
        }
        m_info.back().gemm = spgemm::toRecord(s->gemmChoices);
    }
    return s;
}

Sparsifier::~Sparsifier()
{
    // The model may outlive us: point its layers back at their own weights.
    for (auto &s : m_layers) {
        s->layer->forwardWeight = s->layer->weight;
        s->layer->variant = nullptr;
        s->layer->sparse = nullptr;
    }
}

spgemm::Choice Sparsifier::tuneGemm(const SparseLayerState &s, int n, int m, const float *wTilde)
{
    const LinearLayer &l = *s.layer;
    spgemm::Choice c;
    c.n = n;
    c.m = m;
    c.hasBackward = !l.dataInput;
    const spgemm::Isa isa = spgemm::bestIsa();
    if (m_config.sparseGemm == SparseGemmMode::On) {
        const double density = static_cast<double>(n) / m;
        c.forward = spgemm::defaultPlan(l.out, l.in, s.gemmRows, density, isa);
        c.backward = spgemm::defaultPlan(l.in, l.out, s.gemmRows, density, isa);
        c.useForward = true;
        c.useBackward = c.hasBackward;
        return c;
    }
    const int threads = m_config.threads > 0 ? m_config.threads : hardwareThreads();
    spgemm::SparseWeight w;
    const spgemm::Timing t = spgemm::tune(w, wTilde, l.out, l.in, s.gemmRows, c.hasBackward, isa, threads);
    c.forward = w.forward;
    c.backward = w.backward;
    c.useForward = w.useForward;
    c.useBackward = w.useBackward;
    if (t.sparseForward > 0)
        c.speedupForward = static_cast<float>(t.denseForward / t.sparseForward);
    if (t.sparseBackward > 0)
        c.speedupBackward = static_cast<float>(t.denseBackward / t.sparseBackward);
    return c;
}

const spgemm::Choice &Sparsifier::gemmChoice(SparseLayerState &s, int n, int m)
{
    for (const spgemm::Choice &c : s.gemmChoices)
        if (c.n == n && c.m == m)
            return c;
    // A pattern the recipe did not announce: timed on the step's own W̃.
    s.gemmChoices.push_back(tuneGemm(s, n, m, s.wf.data()));
    return s.gemmChoices.back();
}

void Sparsifier::restoreGemm(SparseLayerState &s, const std::string &record)
{
    std::vector<spgemm::Choice> saved;
    try {
        saved = spgemm::fromRecord(record);
    } catch (const std::runtime_error &) {
        return; // unreadable: this run's own timing stands
    }
    for (const spgemm::Choice &c : saved) {
        // Plans for an instruction set this CPU lacks, or another layer shape: timed anew.
        if (!spgemm::supported(c.forward.isa) || !spgemm::supported(c.backward.isa) ||
            c.hasBackward != !s.layer->dataInput)
            continue;
        auto it = std::find_if(s.gemmChoices.begin(), s.gemmChoices.end(),
                               [&](const spgemm::Choice &x) { return x.n == c.n && x.m == c.m; });
        if (it != s.gemmChoices.end())
            *it = c;
        else
            s.gemmChoices.push_back(c);
    }
    for (SparseLayerInfo &info : m_info)
        if (info.name == s.layer->name)
            info.gemm = spgemm::toRecord(s.gemmChoices);
}

void Sparsifier::updateGemm(SparseLayerState &s)
{
    LinearLayer &l = *s.layer;
    l.sparse = nullptr;
    if (m_config.sparseGemm == SparseGemmMode::Off || m_config.fp8 || s.m <= 0 || s.alpha != 0.0f)
        return;
    const spgemm::Choice &c = gemmChoice(s, s.n, s.m);
    if (!c.useForward && !(c.useBackward && c.hasBackward))
        return;
    s.gemm.use(c);
    s.gemm.build(s.wf.data(), l.out, l.in, !l.dataInput);
    l.sparse = &s.gemm;
}

void Sparsifier::prepare(long t, bool first)
{
    const size_t window = static_cast<size_t>(m_config.noiseWindow);
    (void)window;
    for (size_t i = 0; i < m_layers.size(); ++i) {
        SparseLayerState &s = *m_layers[i];
        LayerStats &st = m_stats[i];
        // Recipes that recompute the whole mask every step write into the older buffer.
        if (m_recipe->persistentMask())
            std::copy(s.mask.begin(), s.mask.end(), s.prevMask.begin());
        else
            std::swap(s.mask, s.prevMask);
        m_recipe->forward(s, t, s.wfNext.data());
        const float *a = s.wf.data(), *b = s.wfNext.data();
        const uint8_t *m0 = s.prevMask.data(), *m1 = s.mask.data();
        // The per-weight counts take the step's changes in the pass that counts them (not the
        // first mask's: it is compared with nothing).
        uint16_t *fc = s.flipCount.data();
        const uint16_t counting = first ? 0 : 1;
        double d2 = 0;
        long zeros = 0, flips = 0;
        if (m_config.diagnostics || first) {
#pragma omp parallel for simd schedule(static) reduction(+ : d2, zeros, flips) if (s.size > kParallelMin)
            for (long k = 0; k < s.size; ++k) {
                const float d = b[k] - a[k];
                d2 += static_cast<double>(d * d);
                zeros += b[k] == 0.0f;
                const uint16_t changed = m0[k] != m1[k];
                flips += changed;
                fc[k] = static_cast<uint16_t>(fc[k] + (changed & counting & (fc[k] != UINT16_MAX)));
            }
        } else {
#pragma omp parallel for simd schedule(static) reduction(+ : flips) if (s.size > kParallelMin)
            for (long k = 0; k < s.size; ++k) {
                const uint16_t changed = m0[k] != m1[k];
                flips += changed;
                fc[k] = static_cast<uint16_t>(fc[k] + (changed & counting & (fc[k] != UINT16_MAX)));
            }
        }
        std::swap(s.wf, s.wfNext);
        s.layer->forwardWeight = s.wf.data();
        updateGemm(s);
        if (m_config.diagnostics || first)
            s.sparsity = static_cast<float>(static_cast<double>(zeros) / static_cast<double>(s.size));
        if (first)
            st.sparsity = s.sparsity;
        st.sad = st.oscillation = NAN;
        if (first) {
            st.flips = 0;
            st.flipRate = 0;
            st.deltaForward = 0;
            std::copy(s.mask.begin(), s.mask.end(), s.sadMask.begin());
            s.flipsSinceSad = 0;
            continue;
        }
        st.flips = flips;
        st.flipRate = static_cast<float>(static_cast<double>(st.flips) / static_cast<double>(s.size));
        st.deltaForward = m_config.diagnostics ? static_cast<float>(std::sqrt(d2)) : NAN;
        s.flipsSinceSad += st.flips;
        if (t % m_config.sadEvery == 0) {
            const long net = nmops::countFlips(s.sadMask.data(), s.mask.data(), s.size);
            st.sad = static_cast<float>(static_cast<double>(net) / static_cast<double>(s.size));
            st.oscillation = net > 0
                                 ? static_cast<float>(static_cast<double>(s.flipsSinceSad) / static_cast<double>(net))
                                 : (s.flipsSinceSad > 0 ? INFINITY : NAN);
            std::copy(s.mask.begin(), s.mask.end(), s.sadMask.begin());
            s.flipsSinceSad = 0;
        }
    }
}

std::vector<double> Sparsifier::linearDensities() const
{
    const std::vector<LinearLayer> &linears = m_model.linears();
    std::vector<double> d(linears.size(), 1.0);
    for (size_t i = 0; i < m_layers.size(); ++i) {
        const LayerStats &st = m_stats[i];
        const auto k = static_cast<size_t>(m_layers[i]->layer - linears.data());
        if (k < d.size() && st.m > 0 && st.alpha == 0.0f)
            d[k] = static_cast<double>(st.n) / st.m;
    }
    return d;
}

void Sparsifier::beforeForward(long)
{
    for (auto &s : m_layers)
        s->layer->forwardWeight = s->wf.data();
}

void Sparsifier::afterBackward(long t)
{
    const size_t window = static_cast<size_t>(m_config.noiseWindow);
    for (size_t i = 0; i < m_layers.size(); ++i) {
        SparseLayerState &s = *m_layers[i];
        m_recipe->gradient(s, t);
        if (!m_config.diagnostics) {
            LayerStats &st = m_stats[i];
            st.gradNorm = st.gradNormKept = st.gradNormPruned = st.prunedShare = NAN;
            st.gradStdKept = st.gradStdPruned = st.gradNoise = st.gradNoiseKept = st.gradNoisePruned = NAN;
            continue;
        }
        const float *g = s.layer->dweight;
        const uint8_t *mk = s.mask.data();
        // Float partial sums per block of 1024 (vectorised), accumulated in double.
        double sk = 0, sk2 = 0, sp = 0, sp2 = 0;
        long nk = 0;
        constexpr long kBlock = 1024;
        const long blocks = (s.size + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) reduction(+ : sk, sk2, sp, sp2, nk) if (s.size > kParallelMin)
        for (long b = 0; b < blocks; ++b) {
            const long k0 = b * kBlock, k1 = std::min(s.size, k0 + kBlock);
            float fk = 0, fk2 = 0, fp = 0, fp2 = 0;
            int cnt = 0;
#pragma omp simd reduction(+ : fk, fk2, fp, fp2, cnt)
            for (long k = k0; k < k1; ++k) {
                const float x = g[k];
                const bool kept = mk[k] != 0;
                const float xk = kept ? x : 0.0f, xp = kept ? 0.0f : x;
                fk += xk;
                fk2 += xk * xk;
                fp += xp;
                fp2 += xp * xp;
                cnt += kept;
            }
            sk += static_cast<double>(fk);
            sk2 += static_cast<double>(fk2);
            sp += static_cast<double>(fp);
            sp2 += static_cast<double>(fp2);
            nk += cnt;
        }
        const long np = s.size - nk;
        auto stdev = [](double sum, double sum2, long n) {
            if (n == 0)
                return 0.0f;
            const double mean = sum / static_cast<double>(n);
            return static_cast<float>(std::sqrt(std::max(0.0, sum2 / static_cast<double>(n) - mean * mean)));
        };
        LayerStats &st = m_stats[i];
        st.gradNormKept = static_cast<float>(std::sqrt(sk2));
        st.gradNormPruned = static_cast<float>(std::sqrt(sp2));
        st.gradNorm = static_cast<float>(std::sqrt(sk2 + sp2));
        st.prunedShare = st.gradNorm > 0 ? st.gradNormPruned / st.gradNorm : 0.0f;
        st.gradStdKept = stdev(sk, sk2, nk);
        st.gradStdPruned = stdev(sp, sp2, np);
        pushWindow(s.normHist, st.gradNorm, window);
        pushWindow(s.keptHist, st.gradNormKept, window);
        pushWindow(s.prunedHist, st.gradNormPruned, window);
        st.gradNoise = windowCv(s.normHist, window);
        st.gradNoiseKept = windowCv(s.keptHist, window);
        st.gradNoisePruned = windowCv(s.prunedHist, window);
    }
}

void Sparsifier::afterClip(long t)
{
    const bool coupled = m_config.srsteDecay == SrsteDecay::Coupled;
    for (size_t i = 0; i < m_layers.size(); ++i) {
        SparseLayerState &s = *m_layers[i];
        LayerStats &st = m_stats[i];
        const double lambda = m_recipe->lambda(t, m_live.lambda);
        st.lambda = static_cast<float>(lambda);
        st.decayNorm = 0;
        if (lambda <= 0)
            continue;
        const float lam = static_cast<float>(lambda);
        const float *w = s.layer->weight;
        float *g = s.layer->dweight;
        const uint8_t *mk = s.mask.data();
        // Pruned weights only (the term is 0 where the mask keeps the weight); float partial
        // sums per block of 1024 so the inner loop vectorises, accumulated in double.
        double n2 = 0;
        constexpr long kBlock = 1024;
        const long blocks = (s.size + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) reduction(+ : n2) if (s.size > kParallelMin)
        for (long b = 0; b < blocks; ++b) {
            const long k0 = b * kBlock, k1 = std::min(s.size, k0 + kBlock);
            float f2 = 0;
            if (coupled) {
#pragma omp simd reduction(+ : f2)
                for (long k = k0; k < k1; ++k) {
                    const float term = mk[k] ? 0.0f : lam * w[k];
                    f2 += term * term;
                    g[k] += term;
                }
            } else {
#pragma omp simd reduction(+ : f2)
                for (long k = k0; k < k1; ++k) {
                    const float term = mk[k] ? 0.0f : lam * w[k];
                    f2 += term * term;
                }
            }
            n2 += static_cast<double>(f2);
        }
        st.decayNorm = static_cast<float>(std::sqrt(n2));
    }
}

void Sparsifier::afterUpdate(long t, double lr)
{
    const bool decoupled = m_config.srsteDecay == SrsteDecay::Decoupled;
    for (size_t i = 0; i < m_layers.size(); ++i) {
        SparseLayerState &s = *m_layers[i];
        LayerStats &st = m_stats[i];
        if (decoupled && st.lambda > 0) {
            const float shrink = static_cast<float>(lr) * st.lambda;
            float *w = s.layer->weight;
            const uint8_t *mk = s.mask.data();
#pragma omp parallel for simd schedule(static) if (s.size > kParallelMin)
            for (long k = 0; k < s.size; ++k)
                w[k] = mk[k] ? w[k] : w[k] - shrink * w[k];
        }
        m_recipe->afterUpdate(s, t);
        // The forward of the step just taken (prepare() below makes the next one): its N:M, α,
        // β and sparsity, beside its gradient statistics and λ; flips, ‖ΔW̃‖ and SAD are what
        // this step changed.
        st.n = s.n;
        st.m = s.m;
        st.alpha = s.alpha;
        st.beta = s.beta;
        st.sparsity = s.sparsity;
    }
    prepare(t + 1, false);
}

std::vector<float> &Sparsifier::frozenBuffer(size_t i)
{
    m_frozen[i].resize(static_cast<size_t>(m_layers[i]->size));
    return m_frozen[i];
}

void Sparsifier::useFrozenForward()
{
    for (size_t i = 0; i < m_layers.size(); ++i) {
        SparseLayerState &s = *m_layers[i];
        // The frozen function of the step before: its N:M, α and β.
        const int n = s.n, m = s.m;
        const float alpha = s.alpha;
        s.n = m_stats[i].n;
        s.m = m_stats[i].m;
        s.alpha = m_stats[i].alpha;
        std::vector<float> &buf = frozenBuffer(i);
        m_recipe->frozenForward(s, 0, buf.data());
        s.n = n;
        s.m = m;
        s.alpha = alpha;
        s.layer->forwardWeight = buf.data();
    }
}

void Sparsifier::restoreForward()
{
    for (auto &s : m_layers)
        s->layer->forwardWeight = s->wf.data();
}

long Sparsifier::lastFlips() const
{
    long f = 0;
    for (const auto &st : m_stats)
        f += st.flips;
    return f;
}

Snapshot Sparsifier::snapshot(long step) const
{
    Snapshot snap;
    snap.step = step;
    for (const auto &s : m_layers) {
        LayerSnapshot l;
        l.name = s->layer->name;
        l.rows = s->layer->out;
        l.cols = s->layer->in;
        l.weight.assign(s->layer->weight, s->layer->weight + s->size);
        l.forward = s->wf;
        l.mask = s->mask;
        l.flipCount = s->flipCount;
        l.beta = s->beta;
        l.alpha = s->alpha;
        l.n = s->n;
        l.m = s->m;
        snap.layers.push_back(std::move(l));
    }
    return snap;
}

std::vector<SparseLayerCheckpoint> Sparsifier::checkpoint() const
{
    std::vector<SparseLayerCheckpoint> out;
    out.reserve(m_layers.size());
    for (size_t i = 0; i < m_layers.size(); ++i) {
        const SparseLayerState &s = *m_layers[i];
        const LayerStats &st = m_stats[i];
        SparseLayerCheckpoint c;
        c.name = s.layer->name;
        c.rows = s.layer->out;
        c.cols = s.layer->in;
        c.forward = s.wf;
        c.mask = s.mask;
        c.prevMask = s.prevMask;
        c.sadMask = s.sadMask;
        c.flipCount = s.flipCount;
        c.beta = s.beta;
        c.alpha = s.alpha;
        c.n = s.n;
        c.m = s.m;
        c.lastN = st.n;
        c.lastM = st.m;
        c.lastAlpha = st.alpha;
        c.lastBeta = st.beta;
        c.sparsity = s.sparsity;
        c.flipsSinceSad = s.flipsSinceSad;
        c.maskStep = s.maskStep;
        c.rng = s.variant.rng.state();
        c.normHistory.assign(s.normHist.begin(), s.normHist.end());
        c.keptHistory.assign(s.keptHist.begin(), s.keptHist.end());
        c.prunedHistory.assign(s.prunedHist.begin(), s.prunedHist.end());
        c.gemm = spgemm::toRecord(s.gemmChoices);
        out.push_back(std::move(c));
    }
    return out;
}

void Sparsifier::restore(const std::vector<SparseLayerCheckpoint> &layers)
{
    if (layers.size() != m_layers.size())
        throw ConfigError("checkpoint: it has " + std::to_string(layers.size()) + " sparse layers, this run has " +
                          std::to_string(m_layers.size()));
    for (size_t i = 0; i < m_layers.size(); ++i) {
        const SparseLayerState &s = *m_layers[i];
        const SparseLayerCheckpoint &c = layers[i];
        const size_t size = static_cast<size_t>(s.size);
        if (c.name != s.layer->name || c.rows != s.layer->out || c.cols != s.layer->in || c.forward.size() != size ||
            c.mask.size() != size || c.prevMask.size() != size || c.sadMask.size() != size ||
            (!c.flipCount.empty() && c.flipCount.size() != size))
            throw ConfigError("checkpoint: sparse layer " + std::to_string(i) + " is '" + c.name + "' (" +
                              std::to_string(c.rows) + "x" + std::to_string(c.cols) + "), this run's is '" +
                              s.layer->name + "' (" + std::to_string(s.layer->out) + "x" + std::to_string(s.layer->in) +
                              ")");
    }
    for (size_t i = 0; i < m_layers.size(); ++i) {
        SparseLayerState &s = *m_layers[i];
        LayerStats &st = m_stats[i];
        const SparseLayerCheckpoint &c = layers[i];
        s.wf = c.forward;
        s.mask = c.mask;
        s.prevMask = c.prevMask;
        s.sadMask = c.sadMask;
        // Checkpoints from before the per-weight counts: they start at 0 here.
        if (c.flipCount.empty())
            s.flipCount.assign(static_cast<size_t>(s.size), 0);
        else
            s.flipCount = c.flipCount;
        s.beta = c.beta;
        s.alpha = c.alpha;
        s.n = c.n;
        s.m = c.m;
        st.n = c.lastN;
        st.m = c.lastM;
        st.alpha = c.lastAlpha;
        st.beta = c.lastBeta;
        s.sparsity = c.sparsity;
        s.flipsSinceSad = c.flipsSinceSad;
        s.maskStep = c.maskStep;
        s.variant.rng.setState(c.rng);
        s.normHist.assign(c.normHistory.begin(), c.normHistory.end());
        s.keptHist.assign(c.keptHistory.begin(), c.keptHistory.end());
        s.prunedHist.assign(c.prunedHistory.begin(), c.prunedHistory.end());
        s.layer->forwardWeight = s.wf.data();
        if (!c.gemm.empty() && !s.gemmChoices.empty())
            restoreGemm(s, c.gemm);
        updateGemm(s);
    }
}

} // namespace nm
