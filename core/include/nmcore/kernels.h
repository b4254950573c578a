#pragma once
// Forward and backward kernels, llm.c style: free functions, outputs first, then inputs,
// then sizes. Row-major everywhere. Backward functions *accumulate* (+=) into the
// gradients they write, so callers zero gradients once per step. N is the number of rows
// (batch for the MLP, B*T tokens for the GPT). GEMMs go through cblas_sgemm; elementwise
// loops use OpenMP with static schedules so results are bit-identical for a given thread
// count.

namespace nm::kernels {

// out (N, OC) = inp (N, C) · weight (OC, C)ᵀ + bias (OC); bias may be null.
void linearForward(float *out, const float *inp, const float *weight, const float *bias, int N, int C, int OC);
// dinp (N, C) += dout · weight; dweight (OC, C) += doutᵀ · inp; dbias (OC) += Σ_rows dout.
// dinp, dweight and dbias may each be null (e.g. for the input layer, or no bias).
void linearBackward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp, const float *weight,
                    int N, int C, int OC);

// out = max(inp, 0); dinp += dout ⊙ [out > 0] (uses the forward output).
void reluForward(float *out, const float *inp, long n);
void reluBackward(float *dinp, const float *out, const float *dout, long n);

// GELU, tanh approximation (GPT-2): 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))).
void geluForward(float *out, const float *inp, long n);
void geluBackward(float *dinp, const float *inp, const float *dout, long n);
// Bias and GELU in one pass over (N, C): pre += bias (per column), out = GELU(pre). pre keeps
// the pre-activation for geluBackward.
void biasGeluForward(float *pre, float *out, const float *bias, int N, int C);

// LayerNorm over the last dimension C with eps 1e-5. mean and rstd (N) are saved for backward.
void layernormForward(float *out, float *mean, float *rstd, const float *inp, const float *weight, const float *bias,
                      int N, int C);
// The residual add and the LayerNorm after it in one pass: res (N, C) += add, then
// out = LayerNorm(res) as layernormForward (the same values as addInPlace, then layernormForward).
void layernormResidualForward(float *res, float *out, float *mean, float *rstd, const float *add, const float *weight,
                              const float *bias, int N, int C);
void layernormBackward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                       const float *weight, const float *mean, const float *rstd, int N, int C);

// out (B, T, C) = wte[tokens] + wpe[t]. tokens (B, T) must lie in [0, V).
void embeddingForward(float *out, const int *tokens, const float *wte, const float *wpe, int B, int T, int C);
void embeddingBackward(float *dwte, float *dwpe, const float *dout, const int *tokens, int B, int T, int C);

// Multi-head self-attention, causal (token t sees tokens 0..t: the GPT) or over all tokens
// (the ViT). qkv (B, T, 3C) holds q, k, v side by side; heads split C into NH slices of C/NH.
// att (B, NH, T, T) keeps the softmax probabilities for backward; out (B, T, C) is the
// concatenation of the heads' outputs. Fused per (batch, head): scores, softmax and output run
// row group by row group in L1, a causal group only over the keys it sees; each (batch, head)
// is one thread's, so results do not depend on the thread count.
void attentionForward(float *out, float *att, const float *qkv, int B, int T, int C, int NH, bool causal = true);
// dqkv (B, T, 3C) += gradient.
void attentionBackward(float *dqkv, const float *dout, const float *qkv, const float *att, int B, int T, int C, int NH,
                       bool causal = true);

// Softmax cross-entropy, mean over N rows. probs (N, V) keep the softmax for backward;
// returns the mean loss. targets in [0, V).
float crossEntropyForward(float *probs, const float *logits, const int *targets, int N, int V);
// dlogits (N, V) += (probs − onehot(target)) · scale; scale is usually 1/N.
void crossEntropyBackward(float *dlogits, const float *probs, const int *targets, int N, int V, float scale);

// Number of rows whose arg-max equals the target.
long countCorrect(const float *probs, const int *targets, int N, int V);

// In-place residual add: a (n) += b (n).
void addInPlace(float *a, const float *b, long n);

} // namespace nm::kernels
