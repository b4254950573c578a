// T-SR-STE + dense fine-tune (Hu et al., ICML 2024; algorithms.md §2.4, the thu-ml v1 code).
// Forward: W̃ = W ⊙ m_T with a transposable 2:4 mask (2:4 along rows and along columns of
// every 4×4 block): per block, the one of the 90 such patterns with the largest Σ|w|
// (ties: the first pattern in lexicographic order of its row pairs). The mask is recomputed
// every tsrste_refresh steps (40) and fixed in between. SR-STE decay λ(1−m)⊙W once per step
// after clipping (the ICML-24 placement). The last tsrste_dense_tail of training (1/6 in the
// reference: 250k of 300k) is dense: W̃ = W, no decay; the run therefore ends with dense
// weights (the paper evaluates T-SR-STE+DF dense).
#include "recipes/recipe.h"

#include <array>
#include <cmath>

namespace nm {

namespace {

// The 90 4×4 0/1 patterns with two ones in every row and column, as 4 row masks of 4 bits.
const std::vector<std::array<uint8_t, 4>> &transposablePatterns()
{
    static const std::vector<std::array<uint8_t, 4>> patterns = [] {
        std::vector<uint8_t> rows; // 4-bit row masks with two ones, ascending
        for (uint8_t r = 0; r < 16; ++r)
            if (__builtin_popcount(r) == 2)
                rows.push_back(r);
        std::vector<std::array<uint8_t, 4>> out;
        for (uint8_t a : rows)
            for (uint8_t b : rows)
                for (uint8_t c : rows)
                    for (uint8_t d : rows) {
                        bool ok = true;
                        for (int col = 0; col < 4 && ok; ++col)
                            ok = ((a >> col) & 1) + ((b >> col) & 1) + ((c >> col) & 1) + ((d >> col) & 1) == 2;
                        if (ok)
                            out.push_back({a, b, c, d});
                    }
        return out;
    }();
    return patterns;
}

class TSrSteDfRecipe final : public Recipe {
  public:
    TSrSteDfRecipe(const RunConfig &c, long total)
        : Recipe(c), m_refresh(c.tsrsteRefresh),
          m_denseStart(total - static_cast<long>(std::llround(c.tsrsteDenseTail * static_cast<double>(total))))
    {
    }

    int outMultiple() const override { return 4; }
    bool persistentMask() const override { return true; }

    void forward(SparseLayerState &s, long t, float *out) override
    {
        if (t >= m_denseStart) {
            // Dense fine-tuning: the last transposable mask stays as the reported mask.
            s.n = s.m = 0;
            s.alpha = 1.0f;
            copyWeight(s, out);
            return;
        }
        if (t % m_refresh == 0 || s.maskStep < 0) {
            transposableMask(s);
            s.maskStep = t;
        }
        s.n = 2;
        s.m = 4;
        s.alpha = 0.0f;
        nmops::applyMask(out, s.layer->weight, s.mask.data(), s.size);
    }

    double lambda(long t, double live) const override { return t >= m_denseStart ? 0.0 : live; }

  private:
    static void transposableMask(SparseLayerState &s)
    {
        const auto &pats = transposablePatterns();
        const LinearLayer &l = *s.layer;
        const int R = l.out, C = l.in;
        uint8_t *mask = s.mask.data();
#pragma omp parallel for schedule(static) if (s.size > kWeightParallelMin)
        for (int br = 0; br < R / 4; ++br) {
            for (int bc = 0; bc < C / 4; ++bc) {
                float a[4][4];
                for (int i = 0; i < 4; ++i)
                    for (int j = 0; j < 4; ++j)
                        a[i][j] = std::fabs(l.weight[static_cast<long>(4 * br + i) * C + 4 * bc + j]);
                // Score of each row mask per row, then the best pattern.
                float rowScore[4][16];
                for (int i = 0; i < 4; ++i)
                    for (int r = 0; r < 16; ++r) {
                        float sc = 0;
                        for (int j = 0; j < 4; ++j)
                            sc += (r >> j) & 1 ? a[i][j] : 0.0f;
                        rowScore[i][r] = sc;
                    }
                size_t best = 0;
                float bestScore = -1;
                for (size_t p = 0; p < pats.size(); ++p) {
                    const auto &q = pats[p];
                    const float sc = rowScore[0][q[0]] + rowScore[1][q[1]] + rowScore[2][q[2]] + rowScore[3][q[3]];
                    if (sc > bestScore) {
                        bestScore = sc;
                        best = p;
                    }
                }
                for (int i = 0; i < 4; ++i)
                    for (int j = 0; j < 4; ++j)
                        mask[static_cast<long>(4 * br + i) * C + 4 * bc + j] =
                            (pats[best][static_cast<size_t>(i)] >> j) & 1;
            }
        }
    }

    int m_refresh;
    long m_denseStart;
};
} // namespace

std::unique_ptr<Recipe> makeTSrSteDfRecipe(const RunConfig &c, long totalSteps)
{
    return std::make_unique<TSrSteDfRecipe>(c, totalSteps);
}

} // namespace nm
