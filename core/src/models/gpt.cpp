// Char-level GPT (GPT-2 architecture, pre-LayerNorm, causal attention):
//   x = wte[tok] + wpe[t]
//   per block: x += proj(attn(ln1(x)));  x += fc2(gelu(fc1(ln2(x))))   (transformer.h)
//   logits = head(lnf(x)), untied head with bias; mean cross-entropy over all B·T tokens.
#include "models/transformer.h"
#include "nmcore/error.h"
#include "nmcore/kernels.h"
#include "nmcore/model.h"
#include "nmcore/rng.h"

#include <algorithm>
#include <sstream>

namespace nm {

namespace {

class Gpt final : public detail::Transformer {
  public:
    Gpt(const GptShape &s, uint64_t seed) : Transformer({s.layers, s.heads, s.width, true}), m_s(s)
    {
        if (s.vocab <= 0 || s.context <= 0)
            throw ConfigError("GPT sizes must be positive");
        const int C = s.width, V = s.vocab;
        m_wte = addTensor("wte", {V, C}, true);
        m_wpe = addTensor("wpe", {s.context, C}, true);
        declareBlocks();
        declareFinalNorm();
        const long headW = addTensor("head.weight", {V, C}, true);
        const long headB = addTensor("head.bias", {V}, false);
        allocate();

        Rng rng(seed);
        auto normal = [&](long off, long n, float stdev) {
            for (long i = 0; i < n; ++i)
                param(off)[i] = stdev * rng.normal();
        };
        normal(m_wte, static_cast<long>(V) * C, 0.02f);
        normal(m_wpe, static_cast<long>(s.context) * C, 0.02f);
        initBlocks(rng, 0);
        initFinalNorm();
        normal(headW, static_cast<long>(V) * C, 0.02f);
        addLinear("head", C, V, headW, headB, false);
    }

    float forward(const Batch &b) override
    {
        if (b.seqLen > m_s.context)
            throw ConfigError("batch sequence length exceeds the model's context");
        ensure(b.rows, b.seqLen);
        const int B = b.rows, T = b.seqLen, C = m_s.width, V = m_s.vocab;
        const int N = B * T;
        kernels::embeddingForward(streamIn(), b.tokens.data(), param(m_wte), param(m_wpe), B, T, C);
        forwardStack(B, T);
        linearForward(m_linears.back(), m_logits.data(), normOut(), N);
        const float loss = kernels::crossEntropyForward(m_probs.data(), m_logits.data(), b.targets.data(), N, V);
        m_correct = kernels::countCorrect(m_probs.data(), b.targets.data(), N, V);
        return loss;
    }

    void backward(const Batch &b) override
    {
        const int B = b.rows, T = b.seqLen, C = m_s.width, V = m_s.vocab;
        const int N = B * T;
        std::fill_n(m_dlogits.begin(), static_cast<long>(N) * V, 0.0f);
        kernels::crossEntropyBackward(m_dlogits.data(), m_probs.data(), b.targets.data(), N, V,
                                      1.0f / static_cast<float>(N));
        std::fill_n(dNormOut(), static_cast<long>(N) * C, 0.0f);
        linearBackward(m_linears.back(), dNormOut(), m_dlogits.data(), normOut(), N);
        backwardStack(B, T);
        kernels::embeddingBackward(grad(m_wte), grad(m_wpe), dStreamIn(), b.tokens.data(), B, T, C);
    }

    long lastCorrect() const override { return m_correct; }

    double attentionFlops(const Batch &b) const override { return stackAttentionFlops(b.rows, b.seqLen); }

    std::string describe() const override
    {
        std::ostringstream s;
        s << "GPT " << m_s.layers << " layers, " << m_s.heads << " heads, width " << m_s.width << ", context "
          << m_s.context << ", vocabulary " << m_s.vocab << " (" << parameterCount() << " parameters)";
        return s.str();
    }

  private:
    void ensure(int B, int T)
    {
        ensureStack(B, T);
        const long n = static_cast<long>(B) * T * m_s.vocab;
        if (static_cast<long>(m_logits.size()) >= n)
            return;
        m_logits.resize(static_cast<size_t>(n));
        m_probs.resize(static_cast<size_t>(n));
        m_dlogits.resize(static_cast<size_t>(n));
    }

    GptShape m_s;
    long m_wte = 0, m_wpe = 0;
    std::vector<float> m_logits, m_probs, m_dlogits; // (B, T, V)
    long m_correct = 0;
};

} // namespace

std::unique_ptr<Model> makeGpt(const GptShape &shape, uint64_t seed)
{
    return std::make_unique<Gpt>(shape, seed);
}

} // namespace nm
