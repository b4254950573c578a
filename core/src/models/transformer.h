#pragma once
// The pre-LayerNorm transformer stack the GPT and the ViT share (GPT-2 blocks):
//   per block: x += proj(attn(ln1(x)));  x += fc2(gelu(fc1(ln2(x))))
//   then y = lnf(x)
// attention causal for the GPT, over all tokens for the ViT. A model derives from
// Transformer, declares its own tensors around the stack's (declareBlocks, declareFinalNorm),
// fills the residual stream (streamIn) before forwardStack() and reads normOut(); backward
// fills dNormOut() and calls backwardStack(), which leaves dStreamIn().
#include "nmcore/model.h"

#include <vector>

namespace nm::detail {

struct StackShape {
    int layers = 2;  // L
    int heads = 4;   // NH
    int width = 128; // C
    bool causal = true;
};

class Transformer : public Model {
  protected:
    explicit Transformer(const StackShape &s);

    void declareBlocks();    // h<l>.ln1 … h<l>.mlp.fc2 for every block
    void declareFinalNorm(); // lnf.weight, lnf.bias
    // After allocate(): GPT-2 initialisation of the blocks (N(0, 0.02), residual projections
    // scaled by 1/√(2L), LayerNorms at identity) and their four Linear layers each; a token
    // count > 0 is the layers' rows per batch row for the FLOP count (0: the batch's seqLen).
    void initBlocks(Rng &rng, int tokensPerSample);
    void initFinalNorm();

    // Activations for B·T tokens (grows on demand).
    void ensureStack(int B, int T);
    float *streamIn() { return m_acts[0].resIn.data(); }
    void forwardStack(int B, int T);
    const float *normOut() const { return m_lnf.data(); }
    float *dNormOut() { return m_dlnf.data(); }
    void backwardStack(int B, int T);
    const float *dStreamIn() const { return m_dres.data(); }
    // QKᵀ and A·V per head over the full T×T, forward and backward: 12·B·T²·C per block.
    double stackAttentionFlops(int B, int T) const;

    const StackShape m_stack;

  private:
    struct BlockParams {
        long ln1w, ln1b, qkvw, qkvb, projw, projb, ln2w, ln2b, fc1w, fc1b, fc2w, fc2b;
    };
    // Activations of one block for a (B, T) batch; shapes in the comments.
    struct BlockActs {
        std::vector<float> resIn;                 // (B, T, C) residual stream entering the block
        std::vector<float> ln1, ln1Mean, ln1Rstd; // (B, T, C), (B, T), (B, T)
        std::vector<float> qkv;                   // (B, T, 3C)
        std::vector<float> att;                   // (B, NH, T, T)
        std::vector<float> atty;                  // (B, T, C)
        std::vector<float> resMid;                // (B, T, C) after the attention residual
        std::vector<float> ln2, ln2Mean, ln2Rstd;
        std::vector<float> fch, fchGelu; // (B, T, 4C)
    };
    static void zero(std::vector<float> &v, long n);

    std::vector<BlockParams> m_blocks;
    size_t m_firstLinear = 0; // index of h0.attn.qkv in m_linears
    long m_lnfw = 0, m_lnfb = 0;
    long m_capTokens = 0, m_capAtt = 0;
    std::vector<BlockActs> m_acts;
    std::vector<float> m_resOut, m_lnf, m_lnfMean, m_lnfRstd; // (B, T, ·)
    std::vector<float> m_dlnf, m_dres, m_dln, m_datty, m_dqkv, m_dfch, m_dfchGelu;
};

} // namespace nm::detail
