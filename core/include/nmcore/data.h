#pragma once
// Datasets and batches. A Dataset is loaded once and shared read-only by every run of an
// experiment; a TrainSampler turns (seed, step) into the step's batch, so the data order
// depends only on the seed and the step and runs can be compared, forked or resumed.
//
// Sources:
//  - fashion-mnist: IDX files (train-images-idx3-ubyte.gz, ...) from Debian's
//    dataset-fashion-mnist package or any directory holding the same four files (MNIST
//    works too). The last `valCount` training images form the validation split (fixed,
//    independent of the seed); t10k is the test split.
//  - text: a char-level corpus from any text file (default: every fortune file of Debian's
//    fortunes package, concatenated in name order). The vocabulary is the set of bytes that
//    occur; the first 90 % is training text, the rest validation.
//  - synthetic: generated from a fixed data seed, no files. Classification: Gaussian
//    clusters; language: a sparse first-order Markov chain with known entropy.
#include "nmcore/config.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace nm {

enum class TaskKind { Classification, Language };

struct Batch {
    int rows = 0;              // B
    int seqLen = 1;            // T (1 for classification)
    std::vector<float> inputs; // (B, D) features, classification only
    std::vector<int> tokens;   // (B, T) input tokens, language only
    std::vector<int> targets;  // (B) class labels or (B, T) next tokens
};

struct Dataset {
    TaskKind kind = TaskKind::Classification;
    std::string name;   // "fashion-mnist", "text", "synthetic"
    std::string source; // where it came from, for logs and run files

    // Classification: row-major (n, inputDim) normalised features and labels.
    int inputDim = 0;
    int numClasses = 0;
    std::vector<float> trainX, valX, testX;
    std::vector<int> trainY, valY, testY;

    // Language: token ids in [0, vocab.size()); vocab[i] is the byte of token i.
    std::string vocab;
    std::vector<int> trainTokens, valTokens;
    double unigramEntropyBits = 0.0; // of the training text, for reference

    long trainCount() const;
    long valCount() const;
    int outputs() const { return kind == TaskKind::Classification ? numClasses : static_cast<int>(vocab.size()); }
};

// Raw IDX file contents (optionally gzip-compressed, detected by magic bytes).
struct IdxFile {
    std::vector<int> dims;
    std::vector<uint8_t> data;
};
IdxFile readIdx(const std::string &path);

struct DataOptions {
    DataSource source = DataSource::FashionMnist;
    TaskKind task = TaskKind::Classification;
    std::string idxDir = "/usr/share/datasets/fashion-mnist";
    std::string textFile; // empty: the fortunes corpus
    int valCount = 5000;  // validation images taken from the end of the training file
    double textValFraction = 0.1;
};

// Throws DataError naming the missing file and the Debian package that provides it.
std::shared_ptr<const Dataset> loadDataset(const DataOptions &options);

// Default text corpus: the files of Debian's fortunes package.
std::vector<std::string> fortunesCorpusFiles();

// Deterministic training batches. Classification walks a per-epoch permutation drawn from
// (seed, epoch); language draws random windows from (seed, step).
class TrainSampler {
  public:
    TrainSampler(std::shared_ptr<const Dataset> data, uint64_t seed, int batch, int seqLen);
    void fill(Batch &batch, long step);

  private:
    void ensureEpoch(long epoch);
    std::shared_ptr<const Dataset> m_data;
    uint64_t m_seed;
    int m_batch, m_seqLen;
    long m_epoch = -1;
    std::vector<int> m_perm;
};

// Evaluation batches in a fixed order. Classification: consecutive rows of the split.
// Language: windows at evenly spaced offsets of the split, `batches` batches of `batch`.
enum class Split { Validation, Test };
int evalBatchCount(const Dataset &data, Split split, int batch, int seqLen, int maxBatches);
void fillEvalBatch(const Dataset &data, Split split, Batch &out, int index, int batch, int seqLen, int maxBatches);

} // namespace nm
