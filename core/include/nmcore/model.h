#pragma once
// Models own one flat parameter buffer and one flat gradient buffer; layers hold views
// into them (mlpack style), so optimizers, clipping and checkpoints are single loops.
//
// Contract: forward(batch) computes the mean loss and keeps every activation that backward
// needs; backward(batch) *accumulates* into the gradient buffer (call zeroGrad() once per
// step first). Buffers grow on demand, so evaluation may use another batch size.
//
// The sparse seam: every Linear layer is described by a LinearLayer. Its GEMMs read the
// weight through `forwardWeight` (W̃), which is the dense weight W unless a sparsity recipe
// points it at its own buffer; the weight gradient is always written densely to `dweight`
// (∂L/∂W̃), which a recipe may then transform into the gradient for W.
#include "nmcore/data.h"
#include "nmcore/rng.h"

#include <memory>
#include <span>
#include <string>
#include <vector>

namespace nm {

namespace spgemm {
struct SparseWeight;
}

struct ParamTensor {
    std::string name;
    long offset = 0; // into params()/grads()
    long size = 0;
    std::vector<int> shape; // e.g. {out, in}
    bool decay = true;      // weight decay applies (matrices yes; biases, LayerNorm no)
};

// GEMM variants a sparse recipe may switch on for one layer (algorithms.md §4). The layer's
// forward and backward go through nm::linearForward/linearBackward below, which use them.
struct LinearVariant {
    bool mvue = false; // dW = MVUE24(dZᵀ)·X: unbiased 2:4 of the output gradient, groups of 4 tokens
    bool fp8 = false;  // simulated FP8: E4M3 operands forward, E5M2 operands in both backward GEMMs
    Rng rng{1};
    std::vector<float> a, b, c, d; // scratch
};

struct LinearLayer {
    std::string name; // e.g. "fc1", "h0.mlp.fc1"
    int in = 0, out = 0;
    float *weight = nullptr;  // W (out, in), view into params
    float *bias = nullptr;    // (out)
    float *dweight = nullptr; // view into grads
    float *dbias = nullptr;
    const float *forwardWeight = nullptr; // W̃ used by the GEMMs; == weight when dense
    bool sparseByDefault = false;         // hidden MLP layers, GPT feed-forward layers
    bool dataInput = false;               // its input is the data: no backward-data product
    int tokensPerSample = 0;              // rows per batch row (ViT blocks: tokens); 0: the batch's seqLen
    LinearVariant *variant = nullptr;     // null: plain fp32 GEMMs
    // W̃ compressed (nm_gemm.h), set by the sparsifier while W̃ is N:M; the GEMMs use it only
    // while sparse->source == forwardWeight, and only for the products it was chosen for.
    spgemm::SparseWeight *sparse = nullptr;
};

// out (N, out) = inp (N, in) · W̃ᵀ + b, honouring the layer's variant.
// withBias false: without the bias (a later fused pass adds it, e.g. bias + GELU).
void linearForward(const LinearLayer &l, float *out, const float *inp, int N, bool withBias = true);
// dinp (N, in) += dout · W̃ (dinp may be null); dweight += doutᵀ · inp; dbias += Σ dout.
// With MVUE, N must be a multiple of 4.
void linearBackward(const LinearLayer &l, float *dinp, const float *dout, const float *inp, int N);

class Model {
  public:
    virtual ~Model() = default;
    Model(const Model &) = delete;
    Model &operator=(const Model &) = delete;

    virtual float forward(const Batch &batch) = 0;
    virtual void backward(const Batch &batch) = 0;
    // Rows (or tokens) of the last forward whose arg-max prediction was the target.
    virtual long lastCorrect() const = 0;
    virtual std::string describe() const = 0;

    std::span<float> params() { return m_params; }
    std::span<float> grads() { return m_grads; }
    std::span<const float> params() const { return m_params; }
    const std::vector<ParamTensor> &tensors() const { return m_tensors; }
    std::vector<LinearLayer> &linears() { return m_linears; }
    const std::vector<LinearLayer> &linears() const { return m_linears; }
    long parameterCount() const { return static_cast<long>(m_params.size()); }
    void zeroGrad();

    // Theoretical training FLOPs of one step on `batch` (an R×K by K×N product counts 2·R·K·N),
    // with `density[i]` the density of linears()[i]'s W̃ in that step (N/M where the step's mask
    // is N:M, 1 dense): each Linear layer's forward X·W̃ᵀ and backward-data dY·W̃ at that
    // density (no backward-data product where the input is the data), its weight gradient
    // dYᵀ·X dense (half with MVUE's 2:4 output gradient), and the model's other products
    // (attentionFlops). Elementwise work, softmax, normalisation and the optimiser are not
    // counted.
    double trainingFlops(const Batch &batch, std::span<const double> density) const;
    // Products outside the Linear layers, forward and backward (GPT: QKᵀ and A·V per head
    // over the full T×T, 12·B·T²·C per block).
    virtual double attentionFlops(const Batch &) const { return 0; }

  protected:
    Model() = default;
    // Layout helpers for constructors: declare tensors, then allocate(), then bind views.
    long addTensor(const std::string &name, std::vector<int> shape, bool decay);
    void allocate();
    float *param(long offset) { return m_params.data() + offset; }
    float *grad(long offset) { return m_grads.data() + offset; }
    LinearLayer &addLinear(const std::string &name, int in, int out, long wOff, long bOff, bool sparseByDefault);

    std::vector<float> m_params, m_grads;
    std::vector<ParamTensor> m_tensors;
    std::vector<LinearLayer> m_linears;
};

struct MlpShape {
    int inputs = 784;
    std::vector<int> hidden = {256, 256};
    int outputs = 10;
};

struct VitShape {
    int side = 28; // square images of side × side pixels (one channel)
    int classes = 10;
    int patch = 7;          // P: P×P patches, (side/P)² tokens
    int layers = 2;         // L
    int heads = 4;          // NH
    int width = 64;         // C
    bool classToken = true; // pool by a class token (else the mean of the patch tokens)
};

struct GptShape {
    int vocab = 96;
    int context = 64; // T
    int layers = 2;   // L
    int heads = 4;    // NH
    int width = 128;  // C
};

// He-normal weights, zero biases.
std::unique_ptr<Model> makeMlp(const MlpShape &shape, uint64_t seed);
// GPT-2 initialisation: N(0, 0.02), residual projections scaled by 1/√(2L).
std::unique_ptr<Model> makeGpt(const GptShape &shape, uint64_t seed);
// Vision transformer: a Linear patch embedding (P² → C), learned position embeddings, a class
// token or mean pooling, the GPT's pre-LayerNorm blocks without the causal mask, a final
// LayerNorm and a Linear head. GPT-2 initialisation; the patch embedding N(0, 1/P²).
std::unique_ptr<Model> makeVit(const VitShape &shape, uint64_t seed);

} // namespace nm
