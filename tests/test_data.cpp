#include "nmcore/data.h"
#include "nmcore/error.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>

namespace {

const std::string kFashionDir = "/usr/share/datasets/fashion-mnist";

nm::DataOptions synthetic(nm::TaskKind task = nm::TaskKind::Classification)
{
    nm::DataOptions o;
    o.source = nm::DataSource::Synthetic;
    o.task = task;
    return o;
}

uint32_t fnv1a(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; ++i)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

} // namespace

TEST(FashionMnist, IdxFilesHaveExpectedSizesAndFirstImageChecksum)
{
    const auto img = nm::readIdx(kFashionDir + "/train-images-idx3-ubyte.gz");
    ASSERT_EQ(img.dims, (std::vector<int>{60000, 28, 28}));
    // Checksums computed independently with Python's gzip module.
    EXPECT_EQ(std::accumulate(img.data.begin(), img.data.begin() + 784, 0L), 76247);
    EXPECT_EQ(fnv1a(img.data.data(), 784), 4083523736u);
    const auto lbl = nm::readIdx(kFashionDir + "/train-labels-idx1-ubyte.gz");
    ASSERT_EQ(lbl.dims, (std::vector<int>{60000}));
    EXPECT_EQ(lbl.data[0], 9); // ankle boot
    const auto test = nm::readIdx(kFashionDir + "/t10k-images-idx3-ubyte.gz");
    EXPECT_EQ(test.dims, (std::vector<int>{10000, 28, 28}));
}

TEST(FashionMnist, DatasetSplitsAndLabelsInRange)
{
    nm::DataOptions o;
    o.valCount = 5000;
    const auto d = nm::loadDataset(o);
    EXPECT_EQ(d->trainCount() + d->valCount(), 60000);
    EXPECT_EQ(d->valCount(), 5000);
    EXPECT_EQ(d->testY.size(), 10000u);
    EXPECT_EQ(d->inputDim, 784);
    EXPECT_EQ(d->numClasses, 10);
    for (const auto *labels : {&d->trainY, &d->valY, &d->testY}) {
        const auto [lo, hi] = std::minmax_element(labels->begin(), labels->end());
        EXPECT_EQ(*lo, 0);
        EXPECT_EQ(*hi, 9);
    }
    // Normalised with the training split's statistics: mean ≈ 0, std ≈ 1.
    double sum = 0, sq = 0;
    for (float v : d->trainX) {
        sum += static_cast<double>(v);
        sq += static_cast<double>(v) * static_cast<double>(v);
    }
    const double n = double(d->trainX.size());
    EXPECT_NEAR(sum / n, 0.0, 1e-3);
    EXPECT_NEAR(sq / n, 1.0, 1e-2);
}

TEST(FashionMnist, MissingDirectoryNamesTheDebianPackage)
{
    nm::DataOptions o;
    o.idxDir = "/nonexistent-dir";
    try {
        nm::loadDataset(o);
        FAIL() << "expected DataError";
    } catch (const nm::DataError &e) {
        EXPECT_NE(std::string(e.what()).find("train-images-idx3-ubyte"), std::string::npos) << e.what();
    }
    EXPECT_EQ(nm::DataOptions{}.idxDir, kFashionDir);
}

TEST(Idx, CorruptFileIsAnError)
{
    const auto path = std::filesystem::temp_directory_path() / "nm_bad_idx";
    {
        std::ofstream f(path, std::ios::binary);
        f << "not an idx file at all";
    }
    EXPECT_THROW(nm::readIdx(path.string()), nm::DataError);
    {
        std::ofstream f(path, std::ios::binary);
        const unsigned char header[] = {0, 0, 8, 1, 0, 0, 0, 100, 1, 2, 3}; // says 100 bytes, has 3
        f.write(reinterpret_cast<const char *>(header), sizeof header);
    }
    EXPECT_THROW(nm::readIdx(path.string()), nm::DataError);
    std::filesystem::remove(path);
}

TEST(TextCorpus, FortunesSplitNinetyTen)
{
    nm::DataOptions o;
    o.source = nm::DataSource::Text;
    o.task = nm::TaskKind::Language;
    const auto d = nm::loadDataset(o);
    ASSERT_FALSE(nm::fortunesCorpusFiles().empty());
    size_t bytes = 0;
    for (const auto &f : nm::fortunesCorpusFiles())
        bytes += std::filesystem::file_size(f);
    const long total = d->trainCount() + d->valCount();
    EXPECT_LE(total, static_cast<long>(bytes)); // '\r' removed, nothing added
    EXPECT_GT(total, static_cast<long>(bytes) * 99 / 100);
    EXPECT_EQ(d->valCount(), static_cast<long>(static_cast<double>(total) * 0.1));
    EXPECT_GT(d->vocab.size(), 60u);
    EXPECT_LE(d->vocab.size(), 256u);
    EXPECT_GT(d->unigramEntropyBits, 3.0);
    EXPECT_LT(d->unigramEntropyBits, 6.0);
}

TEST(TextCorpus, AnyFileWorksAndVocabularyIsItsBytes)
{
    const auto path = std::filesystem::temp_directory_path() / "nm_corpus.txt";
    {
        std::ofstream f(path);
        for (int i = 0; i < 1000; ++i)
            f << "abcab\n";
    }
    nm::DataOptions o;
    o.source = nm::DataSource::Text;
    o.task = nm::TaskKind::Language;
    o.textFile = path.string();
    const auto d = nm::loadDataset(o);
    EXPECT_EQ(d->vocab, std::string("\nabc"));
    EXPECT_EQ(d->trainCount(), 5400);
    EXPECT_EQ(d->valCount(), 600);
    std::filesystem::remove(path);
    EXPECT_THROW(nm::loadDataset(o), nm::DataError);
}

TEST(TrainSampler, SameSeedSameBatchesDifferentSeedDifferent)
{
    const auto d = nm::loadDataset(synthetic());
    nm::TrainSampler a(d, 7, 16, 1), b(d, 7, 16, 1), c(d, 8, 16, 1);
    nm::Batch ba, bb, bc;
    for (long step : {0L, 5L, 1249L, 1250L, 3000L}) {
        a.fill(ba, step);
        b.fill(bb, step);
        c.fill(bc, step);
        EXPECT_EQ(ba.targets, bb.targets);
        EXPECT_EQ(ba.inputs, bb.inputs);
        EXPECT_NE(ba.inputs, bc.inputs);
    }
}

TEST(TrainSampler, EpochVisitsEveryTrainingExampleOnce)
{
    const auto d = nm::loadDataset(synthetic());
    const int batch = 100;
    nm::TrainSampler s(d, 3, batch, 1);
    std::multiset<int> labels;
    nm::Batch b;
    const long steps = d->trainCount() / batch;
    for (long i = 0; i < steps; ++i) {
        s.fill(b, i);
        labels.insert(b.targets.begin(), b.targets.end());
    }
    std::multiset<int> expected(d->trainY.begin(), d->trainY.end());
    EXPECT_EQ(labels, expected);
}

TEST(TrainSampler, LanguageTargetsAreNextTokens)
{
    const auto d = nm::loadDataset(synthetic(nm::TaskKind::Language));
    nm::TrainSampler s(d, 1, 4, 16);
    nm::Batch b;
    s.fill(b, 3);
    ASSERT_EQ(b.tokens.size(), 64u);
    for (int r = 0; r < 4; ++r)
        for (int t = 0; t + 1 < 16; ++t)
            EXPECT_EQ(b.targets[static_cast<size_t>(r * 16 + t)], b.tokens[static_cast<size_t>(r * 16 + t + 1)]);
}

TEST(EvalBatches, CoverTheValidationSplitOnce)
{
    const auto d = nm::loadDataset(synthetic());
    const int n = nm::evalBatchCount(*d, nm::Split::Validation, 300, 1, 0);
    long rows = 0;
    nm::Batch b;
    for (int i = 0; i < n; ++i) {
        nm::fillEvalBatch(*d, nm::Split::Validation, b, i, 300, 1, 0);
        rows += b.rows;
    }
    EXPECT_EQ(rows, d->valCount());
}
