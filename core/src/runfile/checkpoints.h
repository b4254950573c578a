#pragma once
// The `checkpoints/` group of a run (README, "Run-file format"): what a step needs besides the
// config, written with the snapshot of the same step, so that a run resumes or forks from it
// exactly. The W̃, mask, β, α and N:M of a checkpoint are those of the snapshot at its step.
#include "nmcore/trainer.h"

#include "runfile/h5.h"

#include <functional>
#include <string>
#include <vector>

namespace nm::checkpoints {

class Writer {
  public:
    // Creates `checkpoints/` under the run group for this run's parameter count, optimiser
    // state size and sparse layers (before the file goes to SWMR mode).
    void layout(hid_t run, const RunInfo &info, int deflate);
    // Bytes one checkpoint adds (the disk-space check before writing it).
    uint64_t bytes() const;
    // Throws RunFileError if `c` does not fit the layout; `flush` is called after the values
    // and again after the step, as for every other table.
    void write(const Checkpoint &c, const std::function<void()> &flush);

  private:
    struct Layer {
        std::string name;
        int rows = 0, cols = 0;
        h5::Id prevMask, sadMask, lastN, lastM, lastAlpha, lastBeta, sparsity, flipsSinceSad, maskStep, rng, history,
            historyLength;
    };
    long m_params = 0, m_optimizer = 0;
    size_t m_window = 0;
    std::string m_run;
    h5::Id m_step, m_elapsed, m_flops, m_lr, m_lambda, m_paramsDs, m_optimizerDs;
    std::vector<Layer> m_layers;
};

// Opens a dataset by its path under the run group; invalid when it does not exist.
using OpenDataset = std::function<h5::Id(const std::string &relativePath)>;

// The steps of the run's checkpoints, in file order (none in files written without them).
std::vector<long> steps(const OpenDataset &open);
// Checkpoint row `index` (of `steps`); the sparse layers' W̃ and masks from `snapshot(layer)`.
Checkpoint read(const OpenDataset &open, hsize_t index, const std::vector<std::string> &sparseLayers,
                const std::function<LayerSnapshot(int layer)> &snapshot);

} // namespace nm::checkpoints
