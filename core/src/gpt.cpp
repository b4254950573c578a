// Char-level GPT (GPT-2 architecture, pre-LayerNorm):
//   x = wte[tok] + wpe[t]
//   per block: x += proj(attn(ln1(x)));  x += fc2(gelu(fc1(ln2(x))))
//   logits = head(lnf(x)), untied head with bias; mean cross-entropy over all B·T tokens.
#include "nmcore/error.h"
#include "nmcore/kernels.h"
#include "nmcore/model.h"
#include "nmcore/rng.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace nm {

namespace {

struct BlockParams {
    long ln1w, ln1b, qkvw, qkvb, projw, projb, ln2w, ln2b, fc1w, fc1b, fc2w, fc2b;
};

// Activations of one block for a (B, T) batch; shapes in the comments.
struct BlockActs {
    std::vector<float> resIn;        // (B, T, C) residual stream entering the block
    std::vector<float> ln1, ln1Mean, ln1Rstd; // (B, T, C), (B, T), (B, T)
    std::vector<float> qkv;          // (B, T, 3C)
    std::vector<float> att;          // (B, NH, T, T)
    std::vector<float> atty;         // (B, T, C)
    std::vector<float> resMid;       // (B, T, C) after the attention residual
    std::vector<float> ln2, ln2Mean, ln2Rstd;
    std::vector<float> fch, fchGelu; // (B, T, 4C)
};

class Gpt final : public Model {
public:
    Gpt(const GptShape &s, uint64_t seed) : m_s(s)
    {
        if (s.vocab <= 0 || s.context <= 0 || s.layers <= 0 || s.heads <= 0 || s.width <= 0)
            throw ConfigError("GPT sizes must be positive");
        if (s.width % s.heads != 0)
            throw ConfigError("gpt_width (" + std::to_string(s.width) + ") must be a multiple of gpt_heads (" +
                              std::to_string(s.heads) + ")");
        const int C = s.width, V = s.vocab;
        m_wte = addTensor("wte", {V, C}, true);
        m_wpe = addTensor("wpe", {s.context, C}, true);
        for (int l = 0; l < s.layers; ++l) {
            const std::string p = "h" + std::to_string(l) + ".";
            BlockParams b{};
            b.ln1w = addTensor(p + "ln1.weight", {C}, false);
            b.ln1b = addTensor(p + "ln1.bias", {C}, false);
            b.qkvw = addTensor(p + "attn.qkv.weight", {3 * C, C}, true);
            b.qkvb = addTensor(p + "attn.qkv.bias", {3 * C}, false);
            b.projw = addTensor(p + "attn.proj.weight", {C, C}, true);
            b.projb = addTensor(p + "attn.proj.bias", {C}, false);
            b.ln2w = addTensor(p + "ln2.weight", {C}, false);
            b.ln2b = addTensor(p + "ln2.bias", {C}, false);
            b.fc1w = addTensor(p + "mlp.fc1.weight", {4 * C, C}, true);
            b.fc1b = addTensor(p + "mlp.fc1.bias", {4 * C}, false);
            b.fc2w = addTensor(p + "mlp.fc2.weight", {C, 4 * C}, true);
            b.fc2b = addTensor(p + "mlp.fc2.bias", {C}, false);
            m_blocks.push_back(b);
        }
        m_lnfw = addTensor("lnf.weight", {C}, false);
        m_lnfb = addTensor("lnf.bias", {C}, false);
        const long headW = addTensor("head.weight", {V, C}, true);
        const long headB = addTensor("head.bias", {V}, false);
        allocate();

        Rng rng(seed);
        auto normal = [&](long off, long n, float stdev) {
            for (long i = 0; i < n; ++i)
                param(off)[i] = stdev * rng.normal();
        };
        const float resScale = 0.02f / std::sqrt(2.0f * static_cast<float>(s.layers));
        normal(m_wte, static_cast<long>(V) * C, 0.02f);
        normal(m_wpe, static_cast<long>(s.context) * C, 0.02f);
        for (int l = 0; l < s.layers; ++l) {
            const BlockParams &b = m_blocks[l];
            const std::string p = "h" + std::to_string(l) + ".";
            std::fill_n(param(b.ln1w), C, 1.0f);
            std::fill_n(param(b.ln2w), C, 1.0f);
            normal(b.qkvw, 3L * C * C, 0.02f);
            normal(b.projw, 1L * C * C, resScale);
            normal(b.fc1w, 4L * C * C, 0.02f);
            normal(b.fc2w, 4L * C * C, resScale);
            addLinear(p + "attn.qkv", C, 3 * C, b.qkvw, b.qkvb, false);
            addLinear(p + "attn.proj", C, C, b.projw, b.projb, false);
            addLinear(p + "mlp.fc1", C, 4 * C, b.fc1w, b.fc1b, true);
            addLinear(p + "mlp.fc2", 4 * C, C, b.fc2w, b.fc2b, true);
        }
        std::fill_n(param(m_lnfw), C, 1.0f);
        normal(headW, static_cast<long>(V) * C, 0.02f);
        addLinear("head", C, V, headW, headB, false);
    }

    float forward(const Batch &b) override
    {
        if (b.seqLen > m_s.context)
            throw ConfigError("batch sequence length exceeds the model's context");
        ensure(b.rows, b.seqLen);
        const int B = b.rows, T = b.seqLen, C = m_s.width, NH = m_s.heads, V = m_s.vocab;
        const int N = B * T;
        const long NC = static_cast<long>(N) * C;
        kernels::embeddingForward(m_acts[0].resIn.data(), b.tokens.data(), param(m_wte), param(m_wpe), B, T, C);
        for (int l = 0; l < m_s.layers; ++l) {
            const BlockParams &p = m_blocks[l];
            BlockActs &a = m_acts[l];
            const LinearLayer *lin = &m_linears[4 * l];
            kernels::layernormForward(a.ln1.data(), a.ln1Mean.data(), a.ln1Rstd.data(), a.resIn.data(), param(p.ln1w),
                                      param(p.ln1b), N, C);
            linearForward(lin[0], a.qkv.data(), a.ln1.data(), N);
            kernels::attentionForward(a.atty.data(), a.att.data(), a.qkv.data(), B, T, C, NH);
            linearForward(lin[1], a.resMid.data(), a.atty.data(), N);
            kernels::addInPlace(a.resMid.data(), a.resIn.data(), NC);
            kernels::layernormForward(a.ln2.data(), a.ln2Mean.data(), a.ln2Rstd.data(), a.resMid.data(), param(p.ln2w),
                                      param(p.ln2b), N, C);
            linearForward(lin[2], a.fch.data(), a.ln2.data(), N);
            kernels::geluForward(a.fchGelu.data(), a.fch.data(), 4 * NC);
            float *out = l + 1 < m_s.layers ? m_acts[l + 1].resIn.data() : m_resOut.data();
            linearForward(lin[3], out, a.fchGelu.data(), N);
            kernels::addInPlace(out, a.resMid.data(), NC);
        }
        kernels::layernormForward(m_lnf.data(), m_lnfMean.data(), m_lnfRstd.data(), m_resOut.data(), param(m_lnfw),
                                  param(m_lnfb), N, C);
        const LinearLayer &head = m_linears.back();
        linearForward(head, m_logits.data(), m_lnf.data(), N);
        const float loss = kernels::crossEntropyForward(m_probs.data(), m_logits.data(), b.targets.data(), N, V);
        m_correct = kernels::countCorrect(m_probs.data(), b.targets.data(), N, V);
        return loss;
    }

    void backward(const Batch &b) override
    {
        const int B = b.rows, T = b.seqLen, C = m_s.width, NH = m_s.heads, V = m_s.vocab;
        const int N = B * T;
        const long NC = static_cast<long>(N) * C;
        zero(m_dlogits, static_cast<long>(N) * V);
        kernels::crossEntropyBackward(m_dlogits.data(), m_probs.data(), b.targets.data(), N, V,
                                      1.0f / static_cast<float>(N));
        const LinearLayer &head = m_linears.back();
        zero(m_dlnf, NC);
        linearBackward(head, m_dlnf.data(), m_dlogits.data(), m_lnf.data(), N);
        zero(m_dres, NC); // gradient of the residual stream, carried down through the blocks
        kernels::layernormBackward(m_dres.data(), grad(m_lnfw), grad(m_lnfb), m_dlnf.data(), m_resOut.data(),
                                   param(m_lnfw), m_lnfMean.data(), m_lnfRstd.data(), N, C);
        for (int l = m_s.layers - 1; l >= 0; --l) {
            const BlockParams &p = m_blocks[l];
            BlockActs &a = m_acts[l];
            const LinearLayer *lin = &m_linears[4 * l];
            // MLP branch: dres flows to resMid directly and through fc2 → gelu → fc1 → ln2.
            zero(m_dfchGelu, 4 * NC);
            linearBackward(lin[3], m_dfchGelu.data(), m_dres.data(), a.fchGelu.data(), N);
            zero(m_dfch, 4 * NC);
            kernels::geluBackward(m_dfch.data(), a.fch.data(), m_dfchGelu.data(), 4 * NC);
            zero(m_dln, NC);
            linearBackward(lin[2], m_dln.data(), m_dfch.data(), a.ln2.data(), N);
            kernels::layernormBackward(m_dres.data(), grad(p.ln2w), grad(p.ln2b), m_dln.data(), a.resMid.data(),
                                       param(p.ln2w), a.ln2Mean.data(), a.ln2Rstd.data(), N, C);
            // Attention branch.
            zero(m_datty, NC);
            linearBackward(lin[1], m_datty.data(), m_dres.data(), a.atty.data(), N);
            zero(m_dqkv, 3 * NC);
            kernels::attentionBackward(m_dqkv.data(), m_attScratch.data(), m_datty.data(), a.qkv.data(), a.att.data(),
                                       B, T, C, NH);
            zero(m_dln, NC);
            linearBackward(lin[0], m_dln.data(), m_dqkv.data(), a.ln1.data(), N);
            kernels::layernormBackward(m_dres.data(), grad(p.ln1w), grad(p.ln1b), m_dln.data(), a.resIn.data(),
                                       param(p.ln1w), a.ln1Mean.data(), a.ln1Rstd.data(), N, C);
        }
        kernels::embeddingBackward(grad(m_wte), grad(m_wpe), m_dres.data(), b.tokens.data(), B, T, C);
    }

    long lastCorrect() const override { return m_correct; }

    double attentionFlops(const Batch &b) const override
    {
        // Per block: QKᵀ and A·V forward (2·B·T²·C each), their four backward products.
        const double T = b.seqLen;
        return 12.0 * b.rows * T * T * m_s.width * m_s.layers;
    }

    std::string describe() const override
    {
        std::ostringstream s;
        s << "GPT " << m_s.layers << " layers, " << m_s.heads << " heads, width " << m_s.width << ", context "
          << m_s.context << ", vocabulary " << m_s.vocab << " (" << parameterCount() << " parameters)";
        return s.str();
    }

private:
    static void zero(std::vector<float> &v, long n) { std::fill_n(v.begin(), n, 0.0f); }

    void ensure(int B, int T)
    {
        const long N = static_cast<long>(B) * T;
        if (N <= m_capTokens && static_cast<long>(B) * T * T <= m_capAtt)
            return;
        const long C = m_s.width, NH = m_s.heads, V = m_s.vocab;
        m_capTokens = std::max(m_capTokens, N);
        m_capAtt = std::max(m_capAtt, static_cast<long>(B) * T * T);
        const long n = m_capTokens, att = NH * m_capAtt;
        m_acts.resize(m_s.layers);
        for (auto &a : m_acts) {
            for (auto *v : {&a.resIn, &a.ln1, &a.atty, &a.resMid, &a.ln2})
                v->resize(n * C);
            for (auto *v : {&a.ln1Mean, &a.ln1Rstd, &a.ln2Mean, &a.ln2Rstd})
                v->resize(n);
            a.qkv.resize(n * 3 * C);
            a.att.resize(att);
            a.fch.resize(n * 4 * C);
            a.fchGelu.resize(n * 4 * C);
        }
        for (auto *v : {&m_resOut, &m_lnf, &m_dlnf, &m_dres, &m_dln, &m_datty})
            v->resize(n * C);
        m_lnfMean.resize(n);
        m_lnfRstd.resize(n);
        m_logits.resize(n * V);
        m_probs.resize(n * V);
        m_dlogits.resize(n * V);
        m_dfch.resize(n * 4 * C);
        m_dfchGelu.resize(n * 4 * C);
        m_dqkv.resize(n * 3 * C);
        m_attScratch.resize(att);
    }

    GptShape m_s;
    long m_wte = 0, m_wpe = 0, m_lnfw = 0, m_lnfb = 0;
    std::vector<BlockParams> m_blocks;
    long m_capTokens = 0, m_capAtt = 0;
    std::vector<BlockActs> m_acts;
    std::vector<float> m_resOut, m_lnf, m_lnfMean, m_lnfRstd, m_logits, m_probs; // (B, T, ·)
    std::vector<float> m_dlogits, m_dlnf, m_dres, m_dln, m_datty, m_dqkv, m_dfch, m_dfchGelu, m_attScratch;
    long m_correct = 0;
};

} // namespace

std::unique_ptr<Model> makeGpt(const GptShape &shape, uint64_t seed)
{
    return std::make_unique<Gpt>(shape, seed);
}

} // namespace nm
