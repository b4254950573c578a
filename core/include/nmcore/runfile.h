#pragma once
// Run files: one HDF5 file per experiment, one group per run (recipe × seed), written by the
// training threads as the runs go (single-writer/multiple-reader mode, flushed at least every
// two seconds) and read by the GUI, the tests and outside tools (h5py, h5dump, HDFView).
// The layout is documented in the README ("Run-file format").
//
// Every HDF5 call in this module is serialised by one process-wide mutex (Debian's HDF5 is
// not built thread-safe), so writers on several training threads and a reader on the GUI
// thread may share a process.
#include "nmcore/error.h"
#include "nmcore/sparsity.h"
#include "nmcore/trainer.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace nm {

inline constexpr const char *kRunFileSchema = "nmstudio-run";
inline constexpr int kRunFileVersion = 1;

// Not a run file, unknown schema version, truncated or corrupt, or an I/O failure.
class RunFileError : public Error {
  public:
    using Error::Error;
};

// ---- Writing -------------------------------------------------------------------------------

// What the writer does when a file exists at its path. It never replaces one unless asked.
enum class ExistingRunFile {
    Refuse,    // throw RunFileExists; the file is untouched
    Overwrite, // replace it (once the new file is laid out, so a failure leaves it as it was)
    Append,    // add the runs as new groups after the file's own (a copy is extended, then
               // renamed over it, so a failure leaves it as it was); no file: create one
};

struct RunFileOptions {
    double flushSeconds = 2.0; // flush at least this often while training
    int deflate = 4;           // gzip level (with byte shuffle) for snapshots; 0: none
    ExistingRunFile existing = ExistingRunFile::Refuse;
    // Called once if recording stops while the runs go on (disk full, file-size limit, file
    // or folder removed, a write failed), with a message naming the file and the cause. Runs
    // on the training thread that noticed, under the run-file lock: report, do not write.
    std::function<void(const std::string &message)> onFailure;
};

// A file exists at the path and the options say Refuse.
class RunFileExists : public RunFileError {
  public:
    using RunFileError::RunFileError;
};

// `path` if nothing exists there, else the first free of "stem-2.ext", "stem-3.ext", ...
std::string freshRunFilePath(const std::string &path);

// Scalar series (reader names, "group/field") and per-layer series (LayerStats fields), in
// the order the README documents them.
const std::vector<std::string> &scalarSeriesNames();
const std::vector<std::string> &layerSeriesNames();

// Masks in snapshots are bit-packed per row: bit (c % 8) of byte c / 8 (least significant
// bit first, numpy's bitorder="little") holds column c; each row takes ceil(cols / 8) bytes.
std::vector<uint8_t> packMask(const std::vector<uint8_t> &mask, int rows, int cols);
std::vector<uint8_t> unpackMask(const std::vector<uint8_t> &packed, int rows, int cols);

// Creates `path` and lays out one group per run; every dataset is created up front so the
// file can switch to SWMR mode before training starts. The file is built under a temporary
// name (`path` + ".partial") and renamed to `path` once it is in SWMR mode, so an existing
// file at `path` survives any failure before that; options.existing says whether an existing
// file is refused (the default, checked again atomically at the rename), replaced or
// appended to. observer(i) records run i; the observers
// of different runs may be called from different threads. Runs that have not ended when the
// writer closes are recorded as Stopped.
class RunFileWriter {
  public:
    // From the trainers' RunInfo (Trainer::info()): the layout (layer names and shapes) is known.
    RunFileWriter(const std::string &path, const std::vector<RunInfo> &runs, const RunFileOptions &options = {});
    // From configs only: builds each run's model once (loading its data) to learn the layout.
    // Throws ConfigError/DataError before touching `path` when a config cannot train.
    RunFileWriter(const std::string &path, const std::vector<RunConfig> &runs, const RunFileOptions &options = {});
    ~RunFileWriter(); // flushes and closes; never throws
    RunFileWriter(const RunFileWriter &) = delete;
    RunFileWriter &operator=(const RunFileWriter &) = delete;

    TrainingObserver *observer(int run);
    int runCount() const;
    const std::string &path() const;
    // Empty while the file takes writes; once recording has stopped (see
    // RunFileOptions::onFailure), why. Observers then record nothing more.
    std::string failure() const;
    void flush();
    void close(); // throws only when the file cannot be closed at all

  private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

// ---- Reading -------------------------------------------------------------------------------

struct Series {
    std::vector<long> steps;
    std::vector<float> values;
};

// Per-layer series: values[i * layers + l] is layer l at steps[i].
struct LayerSeries {
    std::vector<long> steps;
    int layers = 0;
    std::vector<float> values;
};

struct RunHeader {
    std::string group;      // HDF5 group name, e.g. "runs/000_srste_s1"
    std::string name;       // run name
    std::string configJson; // the full config (every key)
    RunConfig config;
    RecipeKind recipe = RecipeKind::Dense;
    std::string status;                    // Pending (not started), Running, Completed, Stopped, Diverged
    long lastStep = 0;                     // steps recorded so far
    std::vector<SparseLayerInfo> layers;   // every Linear layer
    std::vector<std::string> sparseLayers; // column order of the per-layer series
    RunSummary summary;                    // final metrics when finished (NaN otherwise)
    std::string modelDescription, dataDescription;
    uint64_t seed = 0;
    std::string nm; // configured N:M, e.g. "2:4"
    long parameterCount = 0, effectiveParameterCount = 0;
    int threads = 0;
    std::string blasKernel; // OpenBLAS kernel of the machine that wrote the run
    std::string parent;     // a resumed or forked run: the run it continues ("" otherwise)
    long forkStep = -1;     // and the step it continues from
};

// Opens a finished or still-written file; reads only the headers on open and everything else
// on demand. Throws RunFileError with a message naming the file and the problem.
class RunFileReader {
  public:
    explicit RunFileReader(const std::string &path);
    ~RunFileReader();
    RunFileReader(const RunFileReader &) = delete;
    RunFileReader &operator=(const RunFileReader &) = delete;

    const std::string &path() const;
    int schemaVersion() const;
    std::string toolVersion() const;
    std::string createdAt() const; // ISO 8601, UTC
    // Unix time (seconds) of the writer's last flush; NaN if it never flushed. A file whose
    // runs say Running but whose last flush is old was left by a writer that died.
    double lastFlushTime() const;
    // True when the file was opened in SWMR read mode (every run file is; refresh() follows it).
    bool followsWriter() const;

    // Re-reads statuses, summaries and lastStep of a file that is still being written.
    // series(), layerSeries() and the snapshot calls always return everything flushed so far.
    void refresh();

    int runCount() const;
    const RunHeader &run(int i) const;

    // Scalar series by dataset name: "train/loss", "train/accuracy", "train/lr", "train/grad_norm",
    // "train/step_seconds", "train/elapsed_seconds", "val/loss", "val/accuracy",
    // "val/bits_per_char", "test/loss", "test/accuracy", "test/bits_per_char",
    // "continuity/loss_before", "continuity/dF1", "continuity/dF2", "continuity/aod_actual",
    // "continuity/aod_predicted", "continuity/flips" (scalarSeriesNames()). Missing or empty:
    // empty Series. Values are converted to float (lr, times and flips are stored wider).
    Series series(int run, const std::string &name) const;
    // Per-layer series by LayerStats field name: "flip_rate", "flips", "sad", "oscillation",
    // "grad_norm", "grad_norm_kept", "grad_norm_pruned", "pruned_share", "grad_std_kept",
    // "grad_std_pruned", "grad_noise", "grad_noise_kept", "grad_noise_pruned", "delta_forward",
    // "decay_norm", "alpha", "n", "m", "lambda", "beta", "sparsity".
    LayerSeries layerSeries(int run, const std::string &name) const;

    std::vector<long> snapshotSteps(int run) const;
    // One layer (index into sparseLayers) at one snapshot step.
    LayerSnapshot snapshot(int run, int layer, long step) const;

    // Steps with a checkpoint (parameters, optimiser and mask state; empty for files written
    // without them), and the checkpoint at one of them: Trainer::resume continues from it.
    std::vector<long> checkpointSteps(int run) const;
    Checkpoint checkpoint(int run, long step) const;

  private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

} // namespace nm
