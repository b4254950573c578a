#include "models/transformer.h"

#include "nmcore/error.h"
#include "nmcore/kernels.h"

#include <algorithm>
#include <cmath>

namespace nm::detail {

Transformer::Transformer(const StackShape &s) : m_stack(s)
{
    if (s.layers <= 0 || s.heads <= 0 || s.width <= 0)
        throw ConfigError("transformer sizes must be positive");
    if (s.width % s.heads != 0)
        throw ConfigError("the width (" + std::to_string(s.width) + ") must be a multiple of the heads (" +
                          std::to_string(s.heads) + ")");
}

void Transformer::zero(std::vector<float> &v, long n)
{
    std::fill_n(v.begin(), n, 0.0f);
}

void Transformer::declareBlocks()
{
    const int C = m_stack.width;
    for (int l = 0; l < m_stack.layers; ++l) {
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
}

void Transformer::declareFinalNorm()
{
    m_lnfw = addTensor("lnf.weight", {m_stack.width}, false);
    m_lnfb = addTensor("lnf.bias", {m_stack.width}, false);
}

void Transformer::initBlocks(Rng &rng, int tokensPerSample)
{
    const int C = m_stack.width;
    auto normal = [&](long off, long n, float stdev) {
        for (long i = 0; i < n; ++i)
            param(off)[i] = stdev * rng.normal();
    };
    const float resScale = 0.02f / std::sqrt(2.0f * static_cast<float>(m_stack.layers));
    m_firstLinear = m_linears.size();
    for (int l = 0; l < m_stack.layers; ++l) {
        const BlockParams &b = m_blocks[static_cast<size_t>(l)];
        const std::string p = "h" + std::to_string(l) + ".";
        std::fill_n(param(b.ln1w), C, 1.0f);
        std::fill_n(param(b.ln2w), C, 1.0f);
        normal(b.qkvw, 3L * C * C, 0.02f);
        normal(b.projw, 1L * C * C, resScale);
        normal(b.fc1w, 4L * C * C, 0.02f);
        normal(b.fc2w, 4L * C * C, resScale);
        addLinear(p + "attn.qkv", C, 3 * C, b.qkvw, b.qkvb, false).tokensPerSample = tokensPerSample;
        addLinear(p + "attn.proj", C, C, b.projw, b.projb, false).tokensPerSample = tokensPerSample;
        addLinear(p + "mlp.fc1", C, 4 * C, b.fc1w, b.fc1b, true).tokensPerSample = tokensPerSample;
        addLinear(p + "mlp.fc2", 4 * C, C, b.fc2w, b.fc2b, true).tokensPerSample = tokensPerSample;
    }
}

void Transformer::initFinalNorm()
{
    std::fill_n(param(m_lnfw), m_stack.width, 1.0f);
}

void Transformer::ensureStack(int B, int T)
{
    const long N = static_cast<long>(B) * T;
    if (N <= m_capTokens && static_cast<long>(B) * T * T <= m_capAtt)
        return;
    const long C = m_stack.width, NH = m_stack.heads;
    m_capTokens = std::max(m_capTokens, N);
    m_capAtt = std::max(m_capAtt, static_cast<long>(B) * T * T);
    const long n = m_capTokens, att = NH * m_capAtt;
    const size_t rows = static_cast<size_t>(n), nC = static_cast<size_t>(n * C);
    m_acts.resize(static_cast<size_t>(m_stack.layers));
    for (auto &a : m_acts) {
        for (auto *v : {&a.resIn, &a.ln1, &a.atty, &a.resMid, &a.ln2})
            v->resize(nC);
        for (auto *v : {&a.ln1Mean, &a.ln1Rstd, &a.ln2Mean, &a.ln2Rstd})
            v->resize(rows);
        a.qkv.resize(3 * nC);
        a.att.resize(static_cast<size_t>(att));
        a.fch.resize(4 * nC);
        a.fchGelu.resize(4 * nC);
    }
    for (auto *v : {&m_resOut, &m_lnf, &m_dlnf, &m_dres, &m_dln, &m_datty})
        v->resize(nC);
    m_lnfMean.resize(rows);
    m_lnfRstd.resize(rows);
    m_dfch.resize(4 * nC);
    m_dfchGelu.resize(4 * nC);
    m_dqkv.resize(3 * nC);
}

void Transformer::forwardStack(int B, int T)
{
    const int C = m_stack.width, NH = m_stack.heads, N = B * T;
    // Each residual add is fused into the LayerNorm that reads its sum (the next block's ln1,
    // or lnf after the last block), and fc1's bias into its GELU: fewer passes over activations.
    for (int l = 0; l < m_stack.layers; ++l) {
        const size_t li = static_cast<size_t>(l);
        const BlockParams &p = m_blocks[li];
        BlockActs &a = m_acts[li];
        const LinearLayer *lin = &m_linears[m_firstLinear + 4 * li];
        if (l == 0)
            kernels::layernormForward(a.ln1.data(), a.ln1Mean.data(), a.ln1Rstd.data(), a.resIn.data(), param(p.ln1w),
                                      param(p.ln1b), N, C);
        else // resIn = fc2's output of the block before + that block's resMid
            kernels::layernormResidualForward(a.resIn.data(), a.ln1.data(), a.ln1Mean.data(), a.ln1Rstd.data(),
                                              m_acts[li - 1].resMid.data(), param(p.ln1w), param(p.ln1b), N, C);
        linearForward(lin[0], a.qkv.data(), a.ln1.data(), N);
        kernels::attentionForward(a.atty.data(), a.att.data(), a.qkv.data(), B, T, C, NH, m_stack.causal);
        linearForward(lin[1], a.resMid.data(), a.atty.data(), N);
        kernels::layernormResidualForward(a.resMid.data(), a.ln2.data(), a.ln2Mean.data(), a.ln2Rstd.data(),
                                          a.resIn.data(), param(p.ln2w), param(p.ln2b), N, C);
        linearForward(lin[2], a.fch.data(), a.ln2.data(), N, false);
        kernels::biasGeluForward(a.fch.data(), a.fchGelu.data(), lin[2].bias, N, 4 * C);
        float *out = l + 1 < m_stack.layers ? m_acts[li + 1].resIn.data() : m_resOut.data();
        linearForward(lin[3], out, a.fchGelu.data(), N);
    }
    kernels::layernormResidualForward(m_resOut.data(), m_lnf.data(), m_lnfMean.data(), m_lnfRstd.data(),
                                      m_acts.back().resMid.data(), param(m_lnfw), param(m_lnfb), N, C);
}

void Transformer::backwardStack(int B, int T)
{
    const int C = m_stack.width, NH = m_stack.heads, N = B * T;
    const long NC = static_cast<long>(N) * C;
    zero(m_dres, NC); // gradient of the residual stream, carried down through the blocks
    kernels::layernormBackward(m_dres.data(), grad(m_lnfw), grad(m_lnfb), m_dlnf.data(), m_resOut.data(), param(m_lnfw),
                               m_lnfMean.data(), m_lnfRstd.data(), N, C);
    for (int l = m_stack.layers - 1; l >= 0; --l) {
        const size_t li = static_cast<size_t>(l);
        const BlockParams &p = m_blocks[li];
        BlockActs &a = m_acts[li];
        const LinearLayer *lin = &m_linears[m_firstLinear + 4 * li];
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
        kernels::attentionBackward(m_dqkv.data(), m_datty.data(), a.qkv.data(), a.att.data(), B, T, C, NH,
                                   m_stack.causal);
        zero(m_dln, NC);
        linearBackward(lin[0], m_dln.data(), m_dqkv.data(), a.ln1.data(), N);
        kernels::layernormBackward(m_dres.data(), grad(p.ln1w), grad(p.ln1b), m_dln.data(), a.resIn.data(),
                                   param(p.ln1w), a.ln1Mean.data(), a.ln1Rstd.data(), N, C);
    }
}

double Transformer::stackAttentionFlops(int B, int T) const
{
    const double t = T;
    return 12.0 * B * t * t * m_stack.width * m_stack.layers;
}

} // namespace nm::detail
