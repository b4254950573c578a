// Vision transformer for small grey images (ViT, Dosovitskiy et al. 2021; the pre-LayerNorm
// blocks of the GPT without the causal mask):
//   tokens = patch_embed(P×P patches) (+ a class token first), x = tokens + pos
//   per block: x += proj(attn(ln1(x)));  x += fc2(gelu(fc1(ln2(x))))   (transformer.h)
//   logits = head(pool(lnf(x))), pool = the class token's row or the mean over the tokens;
//   mean cross-entropy over the B images.
#include "models/transformer.h"
#include "nmcore/error.h"
#include "nmcore/kernels.h"
#include "nmcore/model.h"
#include "nmcore/rng.h"
#include "parallel.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace nm {

namespace {

class Vit final : public detail::Transformer {
  public:
    Vit(const VitShape &s, uint64_t seed)
        : Transformer({s.layers, s.heads, s.width, false}), m_s(s), m_grid(s.patch > 0 ? s.side / s.patch : 0),
          m_patches(m_grid * m_grid), m_tokens(m_patches + (s.classToken ? 1 : 0))
    {
        if (s.side <= 0 || s.classes <= 0 || s.patch <= 0)
            throw ConfigError("ViT sizes must be positive");
        if (s.side % s.patch != 0)
            throw ConfigError("vit_patch: " + std::to_string(s.patch) + " does not divide the image side " +
                              std::to_string(s.side) + " (use a divisor, e.g. 4 or 7 for 28×28 images)");
        const int C = s.width, P2 = s.patch * s.patch;
        if (s.classToken)
            m_cls = addTensor("cls_token", {C}, false);
        m_pos = addTensor("pos_embed", {m_tokens, C}, false);
        const long patchW = addTensor("patch_embed.weight", {C, P2}, true);
        const long patchB = addTensor("patch_embed.bias", {C}, false);
        declareBlocks();
        declareFinalNorm();
        const long headW = addTensor("head.weight", {s.classes, C}, true);
        const long headB = addTensor("head.bias", {s.classes}, false);
        allocate();

        Rng rng(seed);
        auto normal = [&](long off, long n, float stdev) {
            for (long i = 0; i < n; ++i)
                param(off)[i] = stdev * rng.normal();
        };
        if (s.classToken)
            normal(m_cls, C, 0.02f);
        normal(m_pos, static_cast<long>(m_tokens) * C, 0.02f);
        normal(patchW, static_cast<long>(C) * P2, 1.0f / static_cast<float>(s.patch));
        LinearLayer &embed = addLinear("patch_embed", P2, C, patchW, patchB, false);
        embed.dataInput = true;
        embed.tokensPerSample = m_patches;
        initBlocks(rng, m_tokens);
        initFinalNorm();
        normal(headW, static_cast<long>(s.classes) * C, 0.02f);
        addLinear("head", C, s.classes, headW, headB, false).tokensPerSample = 1;
    }

    float forward(const Batch &b) override
    {
        const int B = b.rows, T = m_tokens, C = m_s.width, K = m_s.classes;
        if (static_cast<long>(b.inputs.size()) != static_cast<long>(B) * m_s.side * m_s.side)
            throw ConfigError("the ViT needs " + std::to_string(m_s.side) + "×" + std::to_string(m_s.side) +
                              " images; the batch has " +
                              std::to_string(B > 0 ? b.inputs.size() / static_cast<size_t>(B) : 0) + " inputs per row");
        ensure(B);
        gatherPatches(b.inputs.data(), B);
        const int NP = B * m_patches;
        linearForward(m_linears.front(), m_emb.data(), m_patchRows.data(), NP);
        float *x = streamIn();
        const int first = m_s.classToken ? 1 : 0;
        const float *pos = param(m_pos);
        const bool par = static_cast<long>(B) * T * C > kKernelParallelMin;
#pragma omp parallel for schedule(static) if (par)
        for (int bi = 0; bi < B; ++bi)
            for (int t = 0; t < T; ++t) {
                float *row = x + (static_cast<long>(bi) * T + t) * C;
                const float *src =
                    t < first ? param(m_cls) : m_emb.data() + (static_cast<long>(bi) * m_patches + t - first) * C;
                const float *p = pos + static_cast<long>(t) * C;
                for (int c = 0; c < C; ++c)
                    row[c] = src[c] + p[c];
            }
        forwardStack(B, T);
        pool(B);
        linearForward(m_linears.back(), m_logits.data(), m_pooled.data(), B);
        const float loss = kernels::crossEntropyForward(m_probs.data(), m_logits.data(), b.targets.data(), B, K);
        m_correct = kernels::countCorrect(m_probs.data(), b.targets.data(), B, K);
        return loss;
    }

    void backward(const Batch &b) override
    {
        const int B = b.rows, T = m_tokens, C = m_s.width, K = m_s.classes;
        std::fill_n(m_dlogits.begin(), static_cast<long>(B) * K, 0.0f);
        kernels::crossEntropyBackward(m_dlogits.data(), m_probs.data(), b.targets.data(), B, K,
                                      1.0f / static_cast<float>(B));
        std::fill_n(m_dpooled.begin(), static_cast<long>(B) * C, 0.0f);
        linearBackward(m_linears.back(), m_dpooled.data(), m_dlogits.data(), m_pooled.data(), B);
        unpool(B);
        backwardStack(B, T);
        const float *d = dStreamIn();
        const int first = m_s.classToken ? 1 : 0;
        // Position (and class-token) gradients: each thread owns tokens, images summed in order.
        float *dpos = grad(m_pos);
        const bool par = static_cast<long>(B) * T * C > kKernelParallelMin;
#pragma omp parallel for schedule(static) if (par)
        for (int t = 0; t < T; ++t) {
            float *dp = dpos + static_cast<long>(t) * C;
            for (int bi = 0; bi < B; ++bi) {
                const float *g = d + (static_cast<long>(bi) * T + t) * C;
                for (int c = 0; c < C; ++c)
                    dp[c] += g[c];
                if (t < first) // the class token's stream row
                    for (int c = 0; c < C; ++c)
                        grad(m_cls)[c] += g[c];
                else
                    std::copy_n(g, C, m_demb.data() + (static_cast<long>(bi) * m_patches + t - first) * C);
            }
        }
        linearBackward(m_linears.front(), nullptr, m_demb.data(), m_patchRows.data(), B * m_patches);
    }

    long lastCorrect() const override
    {
        return m_correct;
    }

    double attentionFlops(const Batch &b) const override
    {
        return stackAttentionFlops(b.rows, m_tokens);
    }

    std::string describe() const override
    {
        std::ostringstream s;
        s << "ViT " << m_s.layers << " layers, " << m_s.heads << " heads, width " << m_s.width << ", " << m_s.patch
          << "×" << m_s.patch << " patches (" << m_patches << " tokens"
          << (m_s.classToken ? " + class token" : ", mean pooling") << "), " << m_s.classes << " classes ("
          << parameterCount() << " parameters)";
        return s.str();
    }

  private:
    void ensure(int B)
    {
        ensureStack(B, m_tokens);
        if (B <= m_cap)
            return;
        m_cap = B;
        const long C = m_s.width, P2 = static_cast<long>(m_s.patch) * m_s.patch, NP = static_cast<long>(B) * m_patches;
        m_patchRows.resize(static_cast<size_t>(NP * P2));
        m_emb.resize(static_cast<size_t>(NP * C));
        m_demb.resize(static_cast<size_t>(NP * C));
        m_pooled.resize(static_cast<size_t>(B * C));
        m_dpooled.resize(static_cast<size_t>(B * C));
        m_logits.resize(static_cast<size_t>(B) * static_cast<size_t>(m_s.classes));
        m_probs.resize(m_logits.size());
        m_dlogits.resize(m_logits.size());
    }

    // Rows of P² pixels, patch (gy, gx) of image b at row b·G² + gy·G + gx, pixels row-major.
    void gatherPatches(const float *images, int B)
    {
        const int S = m_s.side, P = m_s.patch, G = m_grid;
        const long P2 = static_cast<long>(P) * P;
        const bool par = static_cast<long>(B) * S * S > kKernelParallelMin;
#pragma omp parallel for schedule(static) if (par)
        for (int bi = 0; bi < B; ++bi)
            for (int gy = 0; gy < G; ++gy)
                for (int gx = 0; gx < G; ++gx) {
                    float *dst = m_patchRows.data() + ((static_cast<long>(bi) * G + gy) * G + gx) * P2;
                    for (int py = 0; py < P; ++py)
                        std::copy_n(images + static_cast<long>(bi) * S * S + static_cast<long>(gy * P + py) * S +
                                        gx * P,
                                    P, dst + static_cast<long>(py) * P);
                }
    }

    void pool(int B)
    {
        const int T = m_tokens, C = m_s.width;
        const float *y = normOut();
        for (int bi = 0; bi < B; ++bi) {
            float *out = m_pooled.data() + static_cast<long>(bi) * C;
            const float *rows = y + static_cast<long>(bi) * T * C;
            if (m_s.classToken) {
                std::copy_n(rows, C, out);
                continue;
            }
            std::fill_n(out, C, 0.0f);
            for (int t = 0; t < T; ++t)
                for (int c = 0; c < C; ++c)
                    out[c] += rows[static_cast<long>(t) * C + c];
            for (int c = 0; c < C; ++c)
                out[c] /= static_cast<float>(T);
        }
    }

    void unpool(int B)
    {
        const int T = m_tokens, C = m_s.width;
        float *d = dNormOut();
        std::fill_n(d, static_cast<long>(B) * T * C, 0.0f);
        for (int bi = 0; bi < B; ++bi) {
            const float *g = m_dpooled.data() + static_cast<long>(bi) * C;
            float *rows = d + static_cast<long>(bi) * T * C;
            if (m_s.classToken) {
                std::copy_n(g, C, rows);
                continue;
            }
            for (int t = 0; t < T; ++t)
                for (int c = 0; c < C; ++c)
                    rows[static_cast<long>(t) * C + c] = g[c] / static_cast<float>(T);
        }
    }

    VitShape m_s;
    int m_grid, m_patches, m_tokens;
    long m_cls = 0, m_pos = 0;
    int m_cap = 0;
    std::vector<float> m_patchRows, m_emb, m_demb;   // (B·G², P²), (B·G², C)
    std::vector<float> m_pooled, m_dpooled;          // (B, C)
    std::vector<float> m_logits, m_probs, m_dlogits; // (B, classes)
    long m_correct = 0;
};

} // namespace

std::unique_ptr<Model> makeVit(const VitShape &shape, uint64_t seed)
{
    return std::make_unique<Vit>(shape, seed);
}

} // namespace nm
