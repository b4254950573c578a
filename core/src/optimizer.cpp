#include "nmcore/optimizer.h"

#include "nmcore/error.h"

#include "parallel.h"

#include <algorithm>
#include <cmath>

namespace nm {

namespace {

class Sgd final : public Optimizer {
  public:
    Sgd(const OptimizerSettings &s, long n) : m_s(s), m_buf(static_cast<size_t>(n), 0.0f) {}

    void update(std::span<float> params, std::span<const float> grads, const std::vector<ParamTensor> &tensors,
                float lr, long /*step*/) override
    {
        const float mu = static_cast<float>(m_s.momentum);
        for (const auto &t : tensors) {
            const float wd = t.decay ? static_cast<float>(m_s.weightDecay) : 0.0f;
            float *w = params.data() + t.offset;
            const float *g = grads.data() + t.offset;
            float *b = m_buf.data() + t.offset;
            const bool nesterov = m_s.nesterov;
#pragma omp parallel for simd schedule(static) if (t.size > kWeightParallelMin)
            for (long i = 0; i < t.size; ++i) {
                const float gi = g[i] + wd * w[i];
                b[i] = mu * b[i] + gi;
                w[i] -= lr * (nesterov ? gi + mu * b[i] : b[i]);
            }
        }
    }

    std::vector<float> saveState() const override
    {
        return m_buf;
    }
    void loadState(const std::vector<float> &state) override
    {
        if (state.size() != m_buf.size())
            throw ConfigError("optimizer state does not match the model (SGD)");
        m_buf = state;
    }

  private:
    OptimizerSettings m_s;
    std::vector<float> m_buf;
};

class AdamW final : public Optimizer {
  public:
    AdamW(const OptimizerSettings &s, long n)
        : m_s(s), m_m(static_cast<size_t>(n), 0.0f), m_v(static_cast<size_t>(n), 0.0f)
    {
    }

    void update(std::span<float> params, std::span<const float> grads, const std::vector<ParamTensor> &tensors,
                float lr, long step) override
    {
        const float b1 = static_cast<float>(m_s.beta1), b2 = static_cast<float>(m_s.beta2);
        const float c1 = 1.0f / static_cast<float>(1.0 - std::pow(m_s.beta1, static_cast<double>(step)));
        const float c2 = 1.0f / static_cast<float>(1.0 - std::pow(m_s.beta2, static_cast<double>(step)));
        const float eps = static_cast<float>(m_s.eps);
        for (const auto &t : tensors) {
            const float shrink = t.decay ? 1.0f - lr * static_cast<float>(m_s.weightDecay) : 1.0f;
            float *w = params.data() + t.offset;
            const float *g = grads.data() + t.offset;
            float *m = m_m.data() + t.offset;
            float *v = m_v.data() + t.offset;
#pragma omp parallel for simd schedule(static) if (t.size > kWeightParallelMin)
            for (long i = 0; i < t.size; ++i) {
                m[i] = b1 * m[i] + (1.0f - b1) * g[i];
                v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
                const float mhat = m[i] * c1, vhat = v[i] * c2;
                w[i] = w[i] * shrink - lr * mhat / (std::sqrt(vhat) + eps);
            }
        }
    }

    std::vector<float> saveState() const override
    {
        std::vector<float> s(m_m);
        s.insert(s.end(), m_v.begin(), m_v.end());
        return s;
    }
    void loadState(const std::vector<float> &state) override
    {
        if (state.size() != 2 * m_m.size())
            throw ConfigError("optimizer state does not match the model (AdamW)");
        std::copy(state.begin(), state.begin() + static_cast<long>(m_m.size()), m_m.begin());
        std::copy(state.begin() + static_cast<long>(m_m.size()), state.end(), m_v.begin());
    }

  private:
    OptimizerSettings m_s;
    std::vector<float> m_m, m_v;
};

} // namespace

std::unique_ptr<Optimizer> makeSgd(const OptimizerSettings &s, long paramCount)
{
    return std::make_unique<Sgd>(s, paramCount);
}

std::unique_ptr<Optimizer> makeAdamW(const OptimizerSettings &s, long paramCount)
{
    return std::make_unique<AdamW>(s, paramCount);
}

double LrSchedule::at(long step) const
{
    if (warmup > 0 && step < warmup)
        return peak * static_cast<double>(step + 1) / static_cast<double>(warmup);
    const double floor = peak * minRatio;
    const long span = total - 1 - warmup;
    if (span <= 0)
        return peak;
    const double progress = std::clamp(static_cast<double>(step - warmup) / static_cast<double>(span), 0.0, 1.0);
    return floor + 0.5 * (peak - floor) * (1.0 + std::cos(M_PI * progress));
}

double gradNorm(std::span<const float> grads)
{
    // Fixed chunks summed in order: the result does not depend on scheduling.
    constexpr long kChunk = 1 << 15;
    const long n = static_cast<long>(grads.size());
    const long chunks = (n + kChunk - 1) / kChunk;
    std::vector<double> partial(static_cast<size_t>(chunks), 0.0);
#pragma omp parallel for schedule(static) if (chunks > 1)
    for (long c = 0; c < chunks; ++c) {
        double s = 0.0;
        const long end = std::min(n, (c + 1) * kChunk);
        for (long i = c * kChunk; i < end; ++i) {
            const double g = static_cast<double>(grads[static_cast<size_t>(i)]);
            s += g * g;
        }
        partial[static_cast<size_t>(c)] = s;
    }
    double total = 0.0;
    for (double p : partial)
        total += p;
    return std::sqrt(total);
}

double clipGradNorm(std::span<float> grads, double maxNorm)
{
    const double norm = gradNorm(grads);
    if (maxNorm > 0.0 && norm > maxNorm && std::isfinite(norm)) {
        const float scale = static_cast<float>(maxNorm / (norm + 1e-6));
        const long n = static_cast<long>(grads.size());
#pragma omp parallel for simd schedule(static) if (n > kWeightParallelMin)
        for (long i = 0; i < n; ++i)
            grads[static_cast<size_t>(i)] *= scale;
    }
    return norm;
}

} // namespace nm
