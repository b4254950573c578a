#include "nmcore/data.h"

#include "nmcore/error.h"
#include "nmcore/rng.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>

namespace nm {

namespace fs = std::filesystem;

long Dataset::trainCount() const
{
    return kind == TaskKind::Classification ? static_cast<long>(trainY.size()) : static_cast<long>(trainTokens.size());
}

long Dataset::valCount() const
{
    return kind == TaskKind::Classification ? static_cast<long>(valY.size()) : static_cast<long>(valTokens.size());
}

namespace {

struct GzFile {
    gzFile f = nullptr;
    explicit GzFile(const std::string &path) : f(gzopen(path.c_str(), "rb")) {}
    ~GzFile()
    {
        if (f)
            gzclose(f);
    }
    GzFile(const GzFile &) = delete;
    GzFile &operator=(const GzFile &) = delete;
};

void readExact(gzFile f, void *dst, size_t n, const std::string &path)
{
    auto *p = static_cast<char *>(dst);
    while (n > 0) {
        const unsigned chunk = static_cast<unsigned>(std::min<size_t>(n, 1u << 30));
        const int got = gzread(f, p, chunk);
        if (got <= 0)
            throw DataError(path + ": file is truncated or not a valid IDX file");
        p += got;
        n -= static_cast<size_t>(got);
    }
}

} // namespace

IdxFile readIdx(const std::string &path)
{
    GzFile gz(path);
    if (!gz.f)
        throw DataError("cannot open " + path);
    unsigned char magic[4];
    readExact(gz.f, magic, 4, path);
    if (magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08 || magic[3] < 1 || magic[3] > 4)
        throw DataError(path + ": not an unsigned-byte IDX file (bad magic number)");
    IdxFile idx;
    // Sizes in the header are only claims: a damaged or hostile header may announce terabytes.
    // The product is bounded (no overflow), and the data are read in growing pieces, so what is
    // allocated follows what the file really holds.
    constexpr size_t kMaxBytes = size_t(1) << 40;
    size_t total = 1;
    for (int d = 0; d < magic[3]; ++d) {
        unsigned char b[4];
        readExact(gz.f, b, 4, path);
        const uint32_t dim = (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) | (uint32_t(b[2]) << 8) | uint32_t(b[3]);
        if (dim == 0 || dim > 0x7fffffffu)
            throw DataError(path + ": invalid dimension " + std::to_string(dim) + " in IDX header");
        if (total > kMaxBytes / dim)
            throw DataError(path + ": IDX header claims more than 2^40 bytes of data; the file is corrupt");
        idx.dims.push_back(static_cast<int>(dim));
        total *= dim;
    }
    size_t have = 0;
    while (have < total) {
        const size_t want = std::min(total - have, std::max<size_t>(have, size_t(1) << 20));
        idx.data.resize(have + want);
        while (have < idx.data.size()) {
            const unsigned chunk = static_cast<unsigned>(std::min<size_t>(idx.data.size() - have, 1u << 30));
            const int got = gzread(gz.f, idx.data.data() + have, chunk);
            if (got <= 0)
                throw DataError(path + ": IDX header announces " + std::to_string(total) +
                                " bytes of data but the file holds only " + std::to_string(have) +
                                " (truncated or not a valid IDX file)");
            have += static_cast<size_t>(got);
        }
    }
    unsigned char extra = 0;
    if (gzread(gz.f, &extra, 1) > 0)
        throw DataError(path + ": file holds more data than the " + std::to_string(total) +
                        " bytes its IDX header announces (not a valid IDX file)");
    return idx;
}

namespace {

std::string findIdx(const std::string &dir, const std::string &stem)
{
    for (const char *ext : {".gz", ""}) {
        const fs::path p = fs::path(dir) / (stem + ext);
        if (fs::exists(p))
            return p.string();
    }
    std::string msg = "dataset file " + stem + "[.gz] not found in " + dir + ".";
    if (dir == DataOptions{}.idxDir)
        msg += " Install it with: apt-get install dataset-fashion-mnist";
    else
        msg += " Point data_dir at a directory with the four IDX files (train/t10k images and labels).";
    throw DataError(msg);
}

void loadImages(const std::string &dir, const std::string &prefix, std::vector<uint8_t> &pixels,
                std::vector<int> &labels, int &dim)
{
    const std::string imgPath = findIdx(dir, prefix + "-images-idx3-ubyte");
    const std::string lblPath = findIdx(dir, prefix + "-labels-idx1-ubyte");
    IdxFile img = readIdx(imgPath);
    IdxFile lbl = readIdx(lblPath);
    if (img.dims.size() != 3)
        throw DataError(imgPath + ": expected a 3-D image file (count, rows, cols)");
    if (lbl.dims.size() != 1 || lbl.dims[0] != img.dims[0])
        throw DataError(lblPath + ": label count does not match " + imgPath);
    dim = img.dims[1] * img.dims[2];
    pixels = std::move(img.data);
    labels.assign(lbl.data.begin(), lbl.data.end());
}

void normalise(std::vector<float> &dst, const std::vector<uint8_t> &src, size_t begin, size_t end, float mean,
               float stdev)
{
    dst.resize(end - begin);
    const float scale = 1.0f / (255.0f * stdev);
    for (size_t i = begin; i < end; ++i)
        dst[i - begin] = static_cast<float>(src[i]) * scale - mean / stdev;
}

std::shared_ptr<Dataset> loadImageDataset(const DataOptions &o)
{
    auto ds = std::make_shared<Dataset>();
    ds->kind = TaskKind::Classification;
    ds->name = "fashion-mnist";
    ds->source = o.idxDir;
    std::vector<uint8_t> trainPix, testPix;
    std::vector<int> trainLbl, testLbl;
    int dim = 0, testDim = 0;
    loadImages(o.idxDir, "train", trainPix, trainLbl, dim);
    loadImages(o.idxDir, "t10k", testPix, testLbl, testDim);
    if (dim != testDim)
        throw DataError(o.idxDir + ": train and t10k images have different sizes");
    const long n = static_cast<long>(trainLbl.size());
    if (o.valCount < 0 || o.valCount >= n)
        throw DataError("val_count must be in [0, " + std::to_string(n - 1) + "] for " + o.idxDir);
    const long nTrain = n - o.valCount;
    // Normalise with the training split's own mean and standard deviation.
    double sum = 0.0, sq = 0.0;
    for (long i = 0; i < nTrain * dim; ++i) {
        const double v = trainPix[static_cast<size_t>(i)] / 255.0;
        sum += v;
        sq += v * v;
    }
    const double cnt = static_cast<double>(nTrain) * dim;
    const float mean = static_cast<float>(sum / cnt);
    const float stdev = static_cast<float>(std::sqrt(std::max(1e-12, sq / cnt - (sum / cnt) * (sum / cnt))));
    normalise(ds->trainX, trainPix, 0, static_cast<size_t>(nTrain * dim), mean, stdev);
    normalise(ds->valX, trainPix, static_cast<size_t>(nTrain * dim), static_cast<size_t>(n * dim), mean, stdev);
    normalise(ds->testX, testPix, 0, testPix.size(), mean, stdev);
    ds->trainY.assign(trainLbl.begin(), trainLbl.begin() + nTrain);
    ds->valY.assign(trainLbl.begin() + nTrain, trainLbl.end());
    ds->testY = std::move(testLbl);
    ds->inputDim = dim;
    int maxLabel = 0;
    for (int y : ds->trainY)
        maxLabel = std::max(maxLabel, y);
    ds->numClasses = std::max(10, maxLabel + 1);
    return ds;
}

double entropyBits(const std::vector<int> &tokens, int vocab)
{
    std::vector<double> counts(static_cast<size_t>(vocab), 0.0);
    for (int t : tokens)
        counts[static_cast<size_t>(t)] += 1.0;
    double h = 0.0;
    for (double c : counts)
        if (c > 0) {
            const double p = c / static_cast<double>(tokens.size());
            h -= p * std::log2(p);
        }
    return h;
}

std::string readWholeFile(const std::string &path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw DataError("cannot read text file " + path);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::shared_ptr<Dataset> makeTextDataset(const std::string &text, const std::string &source, double valFraction)
{
    auto ds = std::make_shared<Dataset>();
    ds->kind = TaskKind::Language;
    ds->name = "text";
    ds->source = source;
    std::array<bool, 256> seen{};
    for (const char c : text)
        seen[static_cast<unsigned char>(c)] = true;
    std::array<int, 256> id{};
    for (int b = 0; b < 256; ++b)
        if (seen[static_cast<size_t>(b)]) {
            id[static_cast<size_t>(b)] = static_cast<int>(ds->vocab.size());
            ds->vocab.push_back(static_cast<char>(b));
        }
    const size_t nVal = static_cast<size_t>(static_cast<double>(text.size()) * valFraction);
    const size_t nTrain = text.size() - nVal;
    ds->trainTokens.reserve(nTrain);
    for (size_t i = 0; i < text.size(); ++i)
        (i < nTrain ? ds->trainTokens : ds->valTokens).push_back(id[static_cast<unsigned char>(text[i])]);
    ds->unigramEntropyBits = entropyBits(ds->trainTokens, static_cast<int>(ds->vocab.size()));
    return ds;
}

std::shared_ptr<Dataset> loadTextDataset(const DataOptions &o)
{
    std::string text, source;
    if (o.textFile.empty()) {
        const auto files = fortunesCorpusFiles();
        if (files.empty())
            throw DataError("the default text corpus (/usr/share/games/fortunes) is missing. Install it with: "
                            "apt-get install fortunes, or set text_file to any text file");
        for (const auto &f : files)
            text += readWholeFile(f);
        source = "fortunes (" + std::to_string(files.size()) + " files in /usr/share/games/fortunes)";
    } else {
        if (!fs::is_regular_file(o.textFile))
            throw DataError("text_file " + o.textFile + " does not exist or is not a regular file");
        text = readWholeFile(o.textFile);
        source = o.textFile;
    }
    text.erase(std::remove(text.begin(), text.end(), '\r'), text.end());
    if (text.size() < 4096)
        throw DataError("text corpus " + source + " is too small (" + std::to_string(text.size()) +
                        " bytes); it needs at least 4096 bytes");
    return makeTextDataset(text, source, o.textValFraction);
}

// Data seed independent of the run seed: every run sees the same synthetic task.
constexpr uint64_t kSyntheticSeed = 0x5eed5eedULL;

std::shared_ptr<Dataset> makeSyntheticClassification()
{
    constexpr int kDim = 64, kClasses = 10;
    auto ds = std::make_shared<Dataset>();
    ds->kind = TaskKind::Classification;
    ds->name = "synthetic";
    ds->source = "Gaussian clusters (64 features, 10 classes)";
    ds->inputDim = kDim;
    ds->numClasses = kClasses;
    Rng rng(kSyntheticSeed);
    std::vector<float> centers(static_cast<size_t>(kClasses) * kDim);
    for (auto &c : centers)
        c = 0.35f * rng.normal();
    auto gen = [&](std::vector<float> &x, std::vector<int> &y, int n) {
        x.resize(static_cast<size_t>(n) * kDim);
        y.resize(static_cast<size_t>(n));
        for (int i = 0; i < n; ++i) {
            const int c = static_cast<int>(rng.below(kClasses));
            y[static_cast<size_t>(i)] = c;
            for (int d = 0; d < kDim; ++d)
                x[static_cast<size_t>(i) * kDim + static_cast<size_t>(d)] =
                    centers[static_cast<size_t>(c) * kDim + static_cast<size_t>(d)] + rng.normal();
        }
    };
    gen(ds->trainX, ds->trainY, 20000);
    gen(ds->valX, ds->valY, 2000);
    gen(ds->testX, ds->testY, 2000);
    return ds;
}

std::shared_ptr<Dataset> makeSyntheticLanguage()
{
    constexpr int kVocab = 32, kSucc = 3;
    auto ds = std::make_shared<Dataset>();
    ds->kind = TaskKind::Language;
    ds->name = "synthetic";
    ds->source = "first-order Markov chain (32 symbols, 3 likely successors each)";
    for (int i = 0; i < kVocab; ++i)
        ds->vocab.push_back(static_cast<char>('a' + i % 26 + (i >= 26 ? 'A' - 'a' : 0)));
    Rng rng(kSyntheticSeed + 1);
    std::vector<std::array<int, kSucc>> succ(kVocab);
    for (auto &s : succ)
        for (auto &v : s)
            v = static_cast<int>(rng.below(kVocab));
    auto gen = [&](std::vector<int> &out, int n) {
        out.resize(static_cast<size_t>(n));
        int cur = 0;
        for (int i = 0; i < n; ++i) {
            const float u = rng.uniform();
            // 60 % / 25 % / 10 % to the three successors, 5 % anywhere.
            cur = u < 0.60f   ? succ[static_cast<size_t>(cur)][0]
                  : u < 0.85f ? succ[static_cast<size_t>(cur)][1]
                  : u < 0.95f ? succ[static_cast<size_t>(cur)][2]
                              : static_cast<int>(rng.below(kVocab));
            out[static_cast<size_t>(i)] = cur;
        }
    };
    gen(ds->trainTokens, 200000);
    gen(ds->valTokens, 20000);
    ds->unigramEntropyBits = entropyBits(ds->trainTokens, kVocab);
    return ds;
}

} // namespace

std::vector<std::string> fortunesCorpusFiles()
{
    std::vector<std::string> files;
    const fs::path dir = "/usr/share/games/fortunes";
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
        return files;
    for (const auto &e : fs::directory_iterator(dir, ec)) {
        const auto ext = e.path().extension().string();
        if (e.is_regular_file() && ext.empty())
            files.push_back(e.path().string());
    }
    std::sort(files.begin(), files.end());
    return files;
}

std::shared_ptr<const Dataset> loadDataset(const DataOptions &o)
{
    switch (o.source) {
    case DataSource::FashionMnist:
        return loadImageDataset(o);
    case DataSource::Text:
        return loadTextDataset(o);
    case DataSource::Synthetic:
        return o.task == TaskKind::Classification ? makeSyntheticClassification() : makeSyntheticLanguage();
    }
    throw DataError("unknown data source " + std::to_string(static_cast<int>(o.source)));
}

TrainSampler::TrainSampler(std::shared_ptr<const Dataset> data, uint64_t seed, int batch, int seqLen)
    : m_data(std::move(data)), m_seed(seed), m_batch(batch), m_seqLen(seqLen)
{
    if (m_data->kind == TaskKind::Language && static_cast<long>(m_data->trainTokens.size()) <= seqLen + 1)
        throw DataError("training text is shorter than the context length");
}

void TrainSampler::ensureEpoch(long epoch)
{
    if (epoch == m_epoch)
        return;
    const long n = m_data->trainCount();
    m_perm.resize(static_cast<size_t>(n));
    std::iota(m_perm.begin(), m_perm.end(), 0);
    Rng rng(m_seed * 0x100000001b3ULL + static_cast<uint64_t>(epoch) + 1);
    for (long i = n - 1; i > 0; --i) // Fisher-Yates
        std::swap(m_perm[static_cast<size_t>(i)], m_perm[rng.below(static_cast<uint64_t>(i) + 1)]);
    m_epoch = epoch;
}

void TrainSampler::fill(Batch &b, long step)
{
    const Dataset &d = *m_data;
    b.rows = m_batch;
    if (d.kind == TaskKind::Classification) {
        b.seqLen = 1;
        b.inputs.resize(static_cast<size_t>(m_batch) * static_cast<size_t>(d.inputDim));
        b.targets.resize(static_cast<size_t>(m_batch));
        const long n = d.trainCount();
        for (int r = 0; r < m_batch; ++r) {
            const long pos = step * m_batch + r;
            ensureEpoch(pos / n);
            const int idx = m_perm[static_cast<size_t>(pos % n)];
            std::copy_n(d.trainX.begin() + static_cast<long>(idx) * d.inputDim, d.inputDim,
                        b.inputs.begin() + static_cast<long>(r) * d.inputDim);
            b.targets[static_cast<size_t>(r)] = d.trainY[static_cast<size_t>(idx)];
        }
        return;
    }
    b.seqLen = m_seqLen;
    b.tokens.resize(static_cast<size_t>(m_batch) * static_cast<size_t>(m_seqLen));
    b.targets.resize(b.tokens.size());
    Rng rng(m_seed * 0x9e3779b97f4a7c15ULL + static_cast<uint64_t>(step) * 0x100000001b3ULL + 7);
    const uint64_t span = d.trainTokens.size() - static_cast<size_t>(m_seqLen) - 1;
    for (int r = 0; r < m_batch; ++r) {
        const size_t off = rng.below(span + 1);
        const size_t row = static_cast<size_t>(r) * static_cast<size_t>(m_seqLen);
        for (int t = 0; t < m_seqLen; ++t) {
            const size_t i = static_cast<size_t>(t);
            b.tokens[row + i] = d.trainTokens[off + i];
            b.targets[row + i] = d.trainTokens[off + i + 1];
        }
    }
}

namespace {
const std::vector<int> &langSplit(const Dataset &d, Split s)
{
    // Text has no separate test split: the validation text serves both.
    (void)s;
    return d.valTokens;
}
} // namespace

int evalBatchCount(const Dataset &d, Split split, int batch, int seqLen, int maxBatches)
{
    if (d.kind == TaskKind::Classification) {
        const long n = split == Split::Validation ? d.valCount() : static_cast<long>(d.testY.size());
        return static_cast<int>((n + batch - 1) / batch);
    }
    const long n = static_cast<long>(langSplit(d, split).size()) - seqLen - 1;
    if (n <= 0)
        return 0;
    const long windows = std::min<long>(n / seqLen, static_cast<long>(maxBatches) * batch);
    return static_cast<int>((windows + batch - 1) / batch);
}

void fillEvalBatch(const Dataset &d, Split split, Batch &b, int index, int batch, int seqLen, int maxBatches)
{
    if (d.kind == TaskKind::Classification) {
        const auto &x = split == Split::Validation ? d.valX : d.testX;
        const auto &y = split == Split::Validation ? d.valY : d.testY;
        const long n = static_cast<long>(y.size());
        const long begin = static_cast<long>(index) * batch;
        const int rows = static_cast<int>(std::min<long>(batch, n - begin));
        b.rows = rows;
        b.seqLen = 1;
        b.inputs.assign(x.begin() + begin * d.inputDim, x.begin() + (begin + rows) * d.inputDim);
        b.targets.assign(y.begin() + begin, y.begin() + begin + rows);
        return;
    }
    const auto &toks = langSplit(d, split);
    const long n = static_cast<long>(toks.size()) - seqLen - 1;
    const long windows = std::min<long>(n / seqLen, static_cast<long>(maxBatches) * batch);
    const long stride = n / windows;
    const long first = static_cast<long>(index) * batch;
    const int rows = static_cast<int>(std::min<long>(batch, windows - first));
    b.rows = rows;
    b.seqLen = seqLen;
    b.tokens.resize(static_cast<size_t>(rows) * static_cast<size_t>(seqLen));
    b.targets.resize(b.tokens.size());
    for (int r = 0; r < rows; ++r) {
        const long off = (first + r) * stride;
        const size_t row = static_cast<size_t>(r) * static_cast<size_t>(seqLen);
        for (int t = 0; t < seqLen; ++t) {
            b.tokens[row + static_cast<size_t>(t)] = toks[static_cast<size_t>(off + t)];
            b.targets[row + static_cast<size_t>(t)] = toks[static_cast<size_t>(off + t + 1)];
        }
    }
}

} // namespace nm
