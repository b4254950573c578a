// Multi-layer perceptron: Linear → ReLU → … → Linear → softmax cross-entropy.
#include "nmcore/error.h"
#include "nmcore/kernels.h"
#include "nmcore/model.h"
#include "nmcore/rng.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace nm {

namespace {

class Mlp final : public Model {
  public:
    Mlp(const MlpShape &shape, uint64_t seed) : m_shape(shape)
    {
        if (shape.inputs <= 0 || shape.outputs <= 0)
            throw ConfigError("MLP needs positive input and output sizes");
        m_widths.push_back(shape.inputs);
        for (int h : shape.hidden) {
            if (h <= 0)
                throw ConfigError("mlp_hidden: every width must be positive");
            m_widths.push_back(h);
        }
        m_widths.push_back(shape.outputs);
        const int nLayers = static_cast<int>(m_widths.size()) - 1;
        std::vector<std::pair<long, long>> offs;
        for (int i = 0; i < nLayers; ++i) {
            const size_t li = static_cast<size_t>(i);
            const std::string n = "fc" + std::to_string(i + 1);
            const long w = addTensor(n + ".weight", {m_widths[li + 1], m_widths[li]}, true);
            const long b = addTensor(n + ".bias", {m_widths[li + 1]}, false);
            offs.emplace_back(w, b);
        }
        allocate();
        Rng rng(seed);
        for (int i = 0; i < nLayers; ++i) {
            // Hidden layers (both sides inside the network) are the default sparse ones.
            const size_t li = static_cast<size_t>(i);
            const bool hidden = i > 0 && i < nLayers - 1;
            LinearLayer &l = addLinear("fc" + std::to_string(i + 1), m_widths[li], m_widths[li + 1], offs[li].first,
                                       offs[li].second, hidden);
            l.dataInput = i == 0;
            const float stdev = std::sqrt(2.0f / static_cast<float>(l.in));
            for (long k = 0; k < static_cast<long>(l.in) * l.out; ++k)
                l.weight[k] = stdev * rng.normal();
        }
    }

    float forward(const Batch &b) override
    {
        ensure(b.rows);
        const int N = b.rows;
        const int L = static_cast<int>(m_linears.size());
        const float *x = b.inputs.data();
        for (int i = 0; i < L; ++i) {
            const size_t li = static_cast<size_t>(i);
            const LinearLayer &l = m_linears[li];
            linearForward(l, m_pre[li].data(), x, N);
            if (i + 1 < L) {
                kernels::reluForward(m_post[li].data(), m_pre[li].data(), static_cast<long>(N) * l.out);
                x = m_post[li].data();
            }
        }
        const int V = m_shape.outputs;
        const float loss = kernels::crossEntropyForward(m_probs.data(), m_pre[static_cast<size_t>(L - 1)].data(),
                                                        b.targets.data(), N, V);
        m_correct = kernels::countCorrect(m_probs.data(), b.targets.data(), N, V);
        return loss;
    }

    void backward(const Batch &b) override
    {
        const int N = b.rows;
        const int L = static_cast<int>(m_linears.size());
        std::fill_n(m_dpre[static_cast<size_t>(L - 1)].begin(), static_cast<long>(N) * m_shape.outputs, 0.0f);
        kernels::crossEntropyBackward(m_dpre[static_cast<size_t>(L - 1)].data(), m_probs.data(), b.targets.data(), N,
                                      m_shape.outputs, 1.0f / static_cast<float>(N));
        for (int i = L - 1; i >= 0; --i) {
            const size_t li = static_cast<size_t>(i);
            const LinearLayer &l = m_linears[li];
            const float *inp = i == 0 ? b.inputs.data() : m_post[li - 1].data();
            float *dinp = nullptr;
            if (i > 0) {
                dinp = m_dpost[li - 1].data();
                std::fill_n(dinp, static_cast<long>(N) * l.in, 0.0f);
            }
            linearBackward(l, dinp, m_dpre[li].data(), inp, N);
            if (i > 0) {
                float *dpre = m_dpre[li - 1].data();
                std::fill_n(dpre, static_cast<long>(N) * l.in, 0.0f);
                kernels::reluBackward(dpre, m_post[li - 1].data(), dinp, static_cast<long>(N) * l.in);
            }
        }
    }

    long lastCorrect() const override { return m_correct; }

    std::string describe() const override
    {
        std::ostringstream s;
        s << "MLP ";
        for (size_t i = 0; i < m_widths.size(); ++i)
            s << (i ? "-" : "") << m_widths[i];
        s << " (" << parameterCount() << " parameters)";
        return s.str();
    }

  private:
    void ensure(int N)
    {
        if (N <= m_capacity)
            return;
        const size_t L = m_linears.size();
        m_pre.resize(L);
        m_post.resize(L);
        m_dpre.resize(L);
        m_dpost.resize(L);
        for (size_t i = 0; i < L; ++i) {
            const size_t n = static_cast<size_t>(N) * static_cast<size_t>(m_linears[i].out);
            m_pre[i].resize(n);
            m_post[i].resize(n);
            m_dpre[i].resize(n);
            m_dpost[i].resize(n);
        }
        m_probs.resize(static_cast<size_t>(N) * static_cast<size_t>(m_shape.outputs));
        m_capacity = N;
    }

    MlpShape m_shape;
    std::vector<int> m_widths;
    int m_capacity = 0;
    // Per layer i: pre (N, out_i) = linear output, post = ReLU(pre); d* are their gradients.
    std::vector<std::vector<float>> m_pre, m_post, m_dpre, m_dpost;
    std::vector<float> m_probs; // (N, classes)
    long m_correct = 0;
};

} // namespace

std::unique_ptr<Model> makeMlp(const MlpShape &shape, uint64_t seed)
{
    return std::make_unique<Mlp>(shape, seed);
}

} // namespace nm
