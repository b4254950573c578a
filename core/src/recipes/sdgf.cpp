// SDGF, structure decay (PGF; algorithms.md §2.6). The sparse span is split into equal
// frames, each trained as hard-mask STE at the frame's N:M: stepwise (M−1):M, M/2:M, … N:M
// (1:8 → 7:8, 4:8, 2:8, 1:8) or geometric, 4 frames at the target density with a shrinking
// block (1:8 → 8:64, 4:32, 2:16, 1:8; the code's 4 frames, not the enum comment's 5).
// Frame boundaries are in steps: frame i starts at denseEnd + floor(i·span/frames).
// Dense phase first (pgf_dense), hard-mask fine-tune at the target N:M last (pgf_finetune).
#include "recipes/recipe.h"

namespace nm {

namespace {
class SdgfRecipe final : public Recipe {
  public:
    SdgfRecipe(const RunConfig &c, RecipeKind kind, long total)
        : Recipe(c), m_kind(kind), m_total(total), m_phases(pgfPhases(total, c.pgfDense, c.pgfFinetune))
    {
    }

    std::vector<std::pair<int, int>> patterns(int n, int m) const override
    {
        std::vector<std::pair<int, int>> p;
        for (const NmFrame &f : sdgfFrames(m_kind, n, m, m_phases, m_total))
            p.emplace_back(f.n, f.m);
        return p;
    }

    void forward(SparseLayerState &s, long t, float *out) override
    {
        if (t < m_phases.denseEnd) {
            denseForward(s, out);
            return;
        }
        if (t >= m_phases.finetuneStart) {
            hardForward(s, s.targetN, s.targetM, out);
            return;
        }
        if (m_frames.empty())
            m_frames = sdgfFrames(m_kind, s.targetN, s.targetM, m_phases, m_total);
        const NmFrame *f = &m_frames.front();
        for (const NmFrame &x : m_frames)
            if (x.start <= t)
                f = &x;
        hardForward(s, f->n, f->m, out);
    }

  private:
    RecipeKind m_kind;
    long m_total;
    PgfPhases m_phases;
    std::vector<NmFrame> m_frames;
};
} // namespace

std::unique_ptr<Recipe> makeSdgfRecipe(const RunConfig &c, RecipeKind kind, long totalSteps)
{
    return std::make_unique<SdgfRecipe>(c, kind, totalSteps);
}

} // namespace nm
