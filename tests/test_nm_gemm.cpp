// The compressed N:M GEMMs against the dense GEMM on the same masked weight: every ISA build
// this CPU runs, N:M patterns from 1:128 to 4:16, odd batch and input sizes, empty rows,
// accumulation, bias, 1 and 2 threads (bit-identical between them).
#include "nmcore/nm_gemm.h"
#include "nmcore/nm_ops.h"
#include "nmcore/rng.h"

#include <cblas.h>
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <string>
#include <tuple>
#include <vector>

namespace {

using nm::spgemm::Isa;

std::vector<Isa> isas()
{
    std::vector<Isa> v;
    for (Isa i : {Isa::Portable, Isa::Avx2, Isa::Avx512})
        if (nm::spgemm::supported(i))
            v.push_back(i);
    return v;
}

std::vector<float> randomVector(size_t n, nm::Rng &rng)
{
    std::vector<float> v(n);
    for (float &x : v)
        x = rng.normal();
    return v;
}

// W̃ = W ⊙ top-n-of-m mask along each row (the last group may be short when cols % m != 0:
// it keeps its top n too).
std::vector<float> nmWeight(int rows, int cols, int n, int m, nm::Rng &rng)
{
    std::vector<float> w = randomVector(static_cast<size_t>(rows) * static_cast<size_t>(cols), rng);
    for (int r = 0; r < rows; ++r)
        for (int g = 0; g < cols; g += m) {
            float *p = w.data() + static_cast<long>(r) * cols + g;
            const int len = std::min(m, cols - g);
            for (int drop = 0; drop < len - n; ++drop) {
                int arg = -1;
                for (int k = 0; k < len; ++k)
                    if (p[k] != 0.0f && (arg < 0 || std::fabs(p[k]) < std::fabs(p[arg])))
                        arg = k;
                p[arg] = 0.0f;
            }
        }
    return w;
}

// max |a − b| / max(1, max |b|) — relative to the output's scale.
double relError(const std::vector<float> &a, const std::vector<float> &b)
{
    double scale = 1, err = 0;
    for (float v : b)
        scale = std::max(scale, static_cast<double>(std::fabs(v)));
    for (size_t i = 0; i < a.size(); ++i)
        err = std::max(err, static_cast<double>(std::fabs(a[i] - b[i])));
    return err / scale;
}

struct Shape {
    int N, in, out, n, m;
};

class NmGemm : public ::testing::TestWithParam<Shape> {};

TEST_P(NmGemm, ForwardAndBackwardDataEqualTheDenseGemmOnTheMaskedWeight)
{
    const Shape s = GetParam();
    nm::Rng rng(17 + static_cast<uint64_t>(s.N * 31 + s.in * 7 + s.m));
    std::vector<float> w = nmWeight(s.out, s.in, s.n, s.m, rng);
    // An empty row and an empty column: they must give exact zeros (forward) and leave the
    // accumulated gradient untouched (backward).
    if (s.out > 3)
        std::fill(w.begin() + 2L * s.in, w.begin() + 3L * s.in, 0.0f);
    for (int r = 0; r < s.out; ++r)
        w[static_cast<size_t>(r) * static_cast<size_t>(s.in) + static_cast<size_t>(s.in / 2)] = 0.0f;
    const std::vector<float> x = randomVector(static_cast<size_t>(s.N) * static_cast<size_t>(s.in), rng);
    const std::vector<float> dy = randomVector(static_cast<size_t>(s.N) * static_cast<size_t>(s.out), rng);
    const std::vector<float> bias = randomVector(static_cast<size_t>(s.out), rng);
    const std::vector<float> dx0 = randomVector(static_cast<size_t>(s.N) * static_cast<size_t>(s.in), rng);

    std::vector<float> yRef(static_cast<size_t>(s.N) * static_cast<size_t>(s.out));
    for (int b = 0; b < s.N; ++b)
        std::copy(bias.begin(), bias.end(), yRef.begin() + static_cast<long>(b) * s.out);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s.N, s.out, s.in, 1.0f, x.data(), s.in, w.data(), s.in, 1.0f,
                yRef.data(), s.out);
    std::vector<float> dxRef = dx0;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s.N, s.in, s.out, 1.0f, dy.data(), s.out, w.data(), s.in,
                1.0f, dxRef.data(), s.in);

    for (Isa isa : isas()) {
        for (int block : {16, 64, 1000}) {
            nm::spgemm::SparseMatrix a, at;
            std::vector<float> scratch;
            nm::spgemm::compress(a, w.data(), s.out, s.in, block, isa);
            nm::spgemm::compressTransposed(at, w.data(), s.out, s.in, block, isa, scratch);
            long nnz = 0;
            for (float v : w)
                nnz += v != 0.0f;
            ASSERT_EQ(a.nonzeros(), nnz);
            ASSERT_EQ(at.nonzeros(), nnz);
            for (int tile : {1, 2, 4, 8}) {
                std::vector<float> y1, dx1;
                for (int threads : {1, 2}) {
                    omp_set_num_threads(threads);
                    std::vector<float> y(yRef.size(), NAN), dx = dx0;
                    nm::spgemm::multiply(y.data(), x.data(), a, bias.data(), s.N, false, tile, isa);
                    nm::spgemm::multiply(dx.data(), dy.data(), at, nullptr, s.N, true, tile, isa);
                    const std::string where = std::string(nm::spgemm::toString(isa)) + " block " +
                                              std::to_string(block) + " tile " + std::to_string(tile) + " threads " +
                                              std::to_string(threads);
                    EXPECT_LE(relError(y, yRef), 1e-5) << "forward, " << where;
                    EXPECT_LE(relError(dx, dxRef), 1e-5) << "backward data, " << where;
                    if (s.out > 3) {
                        for (int b = 0; b < s.N; ++b)
                            ASSERT_EQ(y[static_cast<size_t>(b) * static_cast<size_t>(s.out) + 2], bias[2])
                                << "empty row, " << where;
                    }
                    for (int b = 0; b < s.N; ++b) {
                        const size_t k =
                            static_cast<size_t>(b) * static_cast<size_t>(s.in) + static_cast<size_t>(s.in / 2);
                        ASSERT_EQ(dx[k], dx0[k]) << "empty column, " << where;
                    }
                    if (threads == 1) {
                        y1 = y;
                        dx1 = dx;
                    } else {
                        EXPECT_EQ(y, y1) << "thread counts differ, " << where;
                        EXPECT_EQ(dx, dx1) << "thread counts differ, " << where;
                    }
                }
            }
        }
    }
    omp_set_num_threads(omp_get_num_procs());
}

INSTANTIATE_TEST_SUITE_P(Patterns, NmGemm,
                         ::testing::Values(Shape{37, 50, 23, 2, 4},   // odd sizes everywhere
                                           Shape{256, 784, 64, 2, 4}, // the MLP's input layer (fewer rows)
                                           Shape{130, 512, 96, 1, 8}, Shape{64, 512, 40, 1, 16},
                                           Shape{48, 256, 33, 1, 128}, // one weight of 128
                                           Shape{100, 200, 30, 4, 16}, Shape{17, 96, 20, 2, 8},
                                           Shape{1, 64, 16, 1, 2},   // a batch of one
                                           Shape{70, 90, 50, 1, 2}), // inputs not a multiple of 16
                         [](const ::testing::TestParamInfo<Shape> &p) {
                             const Shape &s = p.param;
                             return "N" + std::to_string(s.N) + "_in" + std::to_string(s.in) + "_out" +
                                    std::to_string(s.out) + "_" + std::to_string(s.n) + "of" + std::to_string(s.m);
                         });

TEST(NmGemm, KeepsNonzerosOnlyAndTheirColumns)
{
    // One row, blocks of 4: [0 1 0 2 | 0 0 0 0 | 3 0]
    const std::vector<float> d = {0, 1, 0, 2, 0, 0, 0, 0, 3, 0};
    for (Isa isa : isas()) {
        nm::spgemm::SparseMatrix a;
        nm::spgemm::compress(a, d.data(), 1, 10, 4, isa);
        ASSERT_EQ(a.blocks, 3);
        ASSERT_EQ(a.nonzeros(), 3);
        EXPECT_EQ(a.ptr, (std::vector<int>{0, 2, 2, 3}));
        EXPECT_EQ(a.col[0], 1);
        EXPECT_EQ(a.col[1], 3);
        EXPECT_EQ(a.col[2], 0);
        EXPECT_EQ(a.val[0], 1.0f);
        EXPECT_EQ(a.val[2], 3.0f);
    }
}

TEST(NmGemm, TuningTimesBothPathsAndKeepsADecision)
{
    nm::Rng rng(5);
    const std::vector<float> w = nmWeight(64, 128, 1, 16, rng);
    nm::spgemm::SparseWeight sw;
    const nm::spgemm::Timing t = nm::spgemm::tune(sw, w.data(), 64, 128, 64, true, nm::spgemm::bestIsa());
    EXPECT_GT(t.denseForward, 0);
    EXPECT_GT(t.sparseForward, 0);
    EXPECT_GT(t.denseBackward, 0);
    EXPECT_GT(t.sparseBackward, 0);
    EXPECT_EQ(sw.useForward, t.sparseForward < t.denseForward);
    EXPECT_EQ(sw.useBackward, t.sparseBackward < t.denseBackward);
    // The same shape and sparsity: the same decision, from the cache.
    nm::spgemm::SparseWeight again;
    const nm::spgemm::Timing t2 = nm::spgemm::tune(again, w.data(), 64, 128, 64, true, nm::spgemm::bestIsa());
    EXPECT_EQ(t2.sparseForward, t.sparseForward);
    EXPECT_EQ(again.useForward, sw.useForward);
    EXPECT_EQ(again.forward.block, sw.forward.block);
}

} // namespace

TEST(SparseGemmRecord, RoundTripsAndSaysWhichProductRunsSparse)
{
    using nm::spgemm::Choice;
    Choice a;
    a.n = 2;
    a.m = 4;
    a.forward = {4, 128, Isa::Portable};
    a.backward = {8, 64, Isa::Portable};
    a.useForward = true;
    a.useBackward = false;
    a.speedupForward = 1.25f;
    a.speedupBackward = 0.8f;
    Choice b = a;
    b.n = 1;
    b.m = 8;
    b.useBackward = true;
    b.speedupBackward = 3.5f;
    Choice first = a; // the first layer: no backward-data product
    first.hasBackward = false;
    const std::string record = nm::spgemm::toRecord({a, b});
    const std::vector<Choice> back = nm::spgemm::fromRecord(record);
    ASSERT_EQ(back.size(), 2u);
    EXPECT_EQ(back[0].n, 2);
    EXPECT_EQ(back[0].m, 4);
    EXPECT_EQ(back[0].forward.tile, 4);
    EXPECT_EQ(back[0].forward.block, 128);
    EXPECT_EQ(back[0].backward.tile, 8);
    EXPECT_EQ(back[0].backward.block, 64);
    EXPECT_TRUE(back[0].useForward);
    EXPECT_FALSE(back[0].useBackward);
    EXPECT_TRUE(back[1].useBackward);
    EXPECT_FLOAT_EQ(back[1].speedupBackward, 3.5f);
    EXPECT_EQ(nm::spgemm::describe(record, 2, 4), "sparse forward (forward 1.25×, backward 0.80×)");
    EXPECT_EQ(nm::spgemm::describe(record, 1, 8), "sparse (forward 1.25×, backward 3.50×)");
    EXPECT_EQ(nm::spgemm::describe(record, 1, 4), "");
    EXPECT_EQ(nm::spgemm::describe(nm::spgemm::toRecord({first}), 2, 4), "sparse (forward 1.25×)");
    a.useForward = false;
    a.speedupForward = a.speedupBackward = 0;
    EXPECT_EQ(nm::spgemm::describe({a}, 2, 4), "dense");
    EXPECT_TRUE(nm::spgemm::fromRecord("").empty());
    EXPECT_FALSE(nm::spgemm::fromRecord(nm::spgemm::toRecord({first}))[0].hasBackward);
    for (const char *bad :
         {"{", R"({"patterns":[{"nm":"2-4"}]})",
          R"({"patterns":[{"nm":"2:4","forward":{"path":"fast","isa":"avx2","tile":4,"block":64}}]})",
          R"({"patterns":[{"nm":"2:4","forward":{"path":"sparse","isa":"sse9","tile":4,"block":64}}]})",
          R"({"patterns":[{"nm":"2:4","forward":{"path":"sparse","isa":"avx2","tile":0,"block":64}}]})"}) {
        EXPECT_THROW(nm::spgemm::fromRecord(bad), std::runtime_error) << bad;
        EXPECT_EQ(nm::spgemm::describe(std::string(bad), 2, 4), "") << bad;
    }
}

TEST(SparseGemm, TransposingTheCompressedMatrixEqualsCompressingTheTransposedOne)
{
    nm::Rng rng(77);
    for (const auto &[rows, cols, n, m, block, tblock] : {std::tuple{37, 64, 2, 4, 32, 16},
                                                          {64, 48, 1, 16, 48, 64},
                                                          {5, 128, 1, 128, 128, 3},
                                                          {0, 16, 1, 4, 16, 8},
                                                          {20, 40, 4, 8, 7, 5}}) {
        std::vector<float> w = randomVector(static_cast<size_t>(rows) * static_cast<size_t>(cols), rng), wt(w.size());
        std::vector<uint8_t> mask(w.size());
        if (rows > 0)
            nm::nmops::nmMaskApply(mask.data(), wt.data(), w.data(), rows, cols, n, m);
        if (rows > 2)
            std::fill(wt.begin() + cols, wt.begin() + 2 * cols, 0.0f); // an empty row
        nm::spgemm::SparseMatrix a, direct, fromA;
        std::vector<float> scratch;
        nm::spgemm::compress(a, wt.data(), rows, cols, block, Isa::Portable);
        nm::spgemm::compressTransposed(direct, wt.data(), rows, cols, tblock, Isa::Portable, scratch);
        nm::spgemm::transposeCompressed(fromA, a, tblock);
        SCOPED_TRACE(std::to_string(rows) + "x" + std::to_string(cols));
        EXPECT_EQ(fromA.rows, direct.rows);
        EXPECT_EQ(fromA.cols, direct.cols);
        EXPECT_EQ(fromA.blocks, direct.blocks);
        EXPECT_EQ(fromA.ptr, direct.ptr);
        EXPECT_EQ(fromA.col, direct.col);
        EXPECT_EQ(fromA.val, direct.val);
    }
}
