#pragma once
// Compressed N:M sparse GEMMs (issue: "real speed from N:M on the CPU"; perf.md §3).
//
// A sparse matrix A (rows × cols) is kept as its nonzeros, row by row, split into blocks of
// `block` columns: for row r and column block j the entries are
//   [ptr[r·(blocks+1) + j], ptr[r·(blocks+1) + j + 1])
// with `col` the column inside the block and `val` the value. Built from a dense matrix by
// keeping its nonzeros, so it holds any N:M mask (and "at most N of M", like S-STE's soft
// threshold) without being told the pattern.
//
// multiply() computes out (N, rows) = x (N, cols) · Aᵀ, the product of every Linear layer's
// forward (A = W̃) and backward-data (A = W̃ᵀ, x = dY) GEMM. It packs panels of x (a column
// block × a tile of batch rows, transposed so the batch is the vector dimension) and multiplies
// each kept weight into a register tile of the batch. Each output element is summed by one
// thread in a fixed order, so results are bit-identical for any thread count.
//
// Kernels exist for AVX-512, AVX2+FMA and a portable build; the best this CPU runs is chosen at
// run time (NM_SPARSE_ISA=avx512|avx2|portable overrides it, for tests and measurements).
#include <cstdint>
#include <string>
#include <vector>

namespace nm::spgemm {

enum class Isa { Portable, Avx2, Avx512 };
const char *toString(Isa isa);
bool supported(Isa isa);
Isa bestIsa(); // NM_SPARSE_ISA if set and supported, else the widest this CPU has

// How multiply() tiles the product: `tile` vectors of batch rows per register tile (1, 2, 4
// or 8; the vector width is the ISA's) and `block` columns of x per packed panel.
struct Plan {
    int tile = 4;
    int block = 128;
    Isa isa = Isa::Avx512;
};
// A reasonable plan without measuring (tune() measures).
Plan defaultPlan(int rows, int cols, int batch, double density, Isa isa);

struct SparseMatrix {
    int rows = 0, cols = 0, block = 0, blocks = 0;
    std::vector<int> ptr;      // rows · (blocks + 1)
    std::vector<uint16_t> col; // column inside its block
    std::vector<float> val;
    long nonzeros() const { return ptr.empty() ? 0 : ptr.back(); }
};

// a := the nonzeros of dense (rows × cols, row-major, leading dimension cols), in column
// blocks of `block`. Reuses a's storage.
void compress(SparseMatrix &a, const float *dense, int rows, int cols, int block, Isa isa);
// at := Aᵀ's nonzeros (cols × rows) in column blocks of `block`, from the same dense matrix;
// scratch holds the transposed dense copy.
void compressTransposed(SparseMatrix &at, const float *dense, int rows, int cols, int block, Isa isa,
                        std::vector<float> &scratch);

// out (N, a.rows) = x (N, a.cols) · Aᵀ (+ bias (a.rows) when not null), or += when accumulate.
// Leading dimensions: x a.cols, out a.rows. `tile` as in Plan; the panel width is a.block.
void multiply(float *out, const float *x, const SparseMatrix &a, const float *bias, int N, bool accumulate, int tile,
              Isa isa);

// The paths chosen for one N:M pattern of a layer: which product runs sparse, with which plan,
// and the measured speedups (dense time / sparse time; 0: not measured, as with
// --sparse-gemm on). hasBackward: the layer has a backward-data product (not the first layer).
struct Choice {
    int n = 0, m = 0;
    Plan forward, backward;
    bool useForward = false, useBackward = false, hasBackward = true;
    float speedupForward = 0, speedupBackward = 0;
};
// at := Aᵀ (a.cols × a.rows) in column blocks of `block`, from a itself: a counting sort of its
// nonzeros by column, so it costs the nonzeros, not the dense size (1:16: a sixteenth). Gives
// the same matrix as compressTransposed on the dense original.
void transposeCompressed(SparseMatrix &at, const SparseMatrix &a, int block);

// A layer's choices as the run file's record (layers/gemm, JSON) and back: a resumed run takes
// its parent's paths and plans, so it rounds as the parent did. fromRecord returns nothing for
// an empty record and throws std::runtime_error naming what it cannot read.
std::string toRecord(const std::vector<Choice> &choices);
std::vector<Choice> fromRecord(const std::string &record);
// What pattern n:m of a layer runs: "sparse (forward 1.92×, backward 1.61×)", "dense (…)",
// "sparse forward (…)" or "sparse backward (…)"; "" when the record has no such pattern.
std::string describe(const std::vector<Choice> &choices, int n, int m);
std::string describe(const std::string &record, int n, int m); // "" also for a record it cannot read

// A Linear layer's W̃ in both orientations, rebuilt whenever W̃ changes, and the plans its
// two products run with.
struct SparseWeight {
    const float *source = nullptr; // the W̃ it was built from (the layer uses it only while equal)
    SparseMatrix w;                // W̃ (out × in): the forward product
    SparseMatrix wt;               // W̃ᵀ (in × out): the backward-data product
    Plan forward, backward;
    bool useForward = false, useBackward = false; // the sparse path is faster (or forced) for it
    std::vector<float> scratch;
    void use(const Choice &c); // takes c's plans and paths
    // Rebuilds w (and wt when backward data is needed) from dense W̃ (out × in).
    void build(const float *wTilde, int out, int in, bool withTransposed);
};

// Times the dense GEMM (cblas_sgemm) against the sparse product on random data of this shape
// with W̃ (out × in, any sparsity pattern), choosing the best tile and block, for the forward
// (N × in times W̃ᵀ) and the backward-data product (N × out times W̃). Medians of a few
// repetitions; fills the plans and the use* flags of sw (sparse when faster). Timed on
// `threads` OpenMP threads (the run's own count; ≤ 0: the caller's current one). Decisions are
// kept for the process by shape, batch, density, ISA and threads, so every run and layer of
// that kind takes the same path.
struct Timing {
    double denseForward = 0, sparseForward = 0, denseBackward = 0, sparseBackward = 0; // seconds
};
Timing tune(SparseWeight &sw, const float *wTilde, int out, int in, int N, bool withBackward, Isa isa, int threads = 0);

} // namespace nm::spgemm
