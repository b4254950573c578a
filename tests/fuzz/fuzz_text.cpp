// Fuzzes the char-level text corpus loader: nm::loadDataset with source "text" and a
// text_file (data.cpp: loadTextDataset, makeTextDataset), then the batches built from it.
//
// Input layout: byte 0 picks the context length (1..256), byte 1 the batch (1..8) and the
// evaluation batch limit; the rest is the corpus file. Only nm::Error may come out; an accepted
// corpus must give a vocabulary of distinct bytes, tokens inside it, the whole text (without
// '\r') split into training and validation text, and batches whose tokens are the text's.
#include "nmcore/data.h"
#include "nmcore/error.h"

#include "fuzz_util.h"

#include <algorithm>
#include <exception>
#include <memory>
#include <string>

namespace {

const char *kName = "fuzz_text";

void checkTokens(const nm::Dataset &d, const std::vector<int> &tokens, const char *what)
{
    for (int t : tokens)
        if (t < 0 || t >= static_cast<int>(d.vocab.size()))
            nmfuzz::bug(kName, "token outside the vocabulary", what);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static nmfuzz::Scratch file(".txt");
    if (size < 2)
        return 0;
    const int seqLen = 1 + data[0];
    const int batch = 1 + (data[1] & 7);
    const int maxBatches = 1 + (data[1] >> 3);
    const std::string text(reinterpret_cast<const char *>(data) + 2, size - 2);
    if (!nmfuzz::writeFile(file.path, text.data(), text.size()))
        nmfuzz::bug(kName, "cannot write", file.path.c_str());

    nm::DataOptions o;
    o.source = nm::DataSource::Text;
    o.task = nm::TaskKind::Language;
    o.textFile = file.path;
    std::shared_ptr<const nm::Dataset> ds;
    try {
        ds = nm::loadDataset(o);
    } catch (const nm::Error &) {
        return 0;
    } catch (const std::exception &e) {
        nmfuzz::bug(kName, "non-nm exception out of loadDataset", e.what());
    }

    const nm::Dataset &d = *ds;
    std::string clean = text;
    clean.erase(std::remove(clean.begin(), clean.end(), '\r'), clean.end());
    if (d.kind != nm::TaskKind::Language || d.trainTokens.size() + d.valTokens.size() != clean.size())
        nmfuzz::bug(kName, "the splits do not cover the text", file.path.c_str());
    std::string sorted = d.vocab;
    std::sort(sorted.begin(), sorted.end());
    if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end() ||
        d.outputs() != static_cast<int>(d.vocab.size()))
        nmfuzz::bug(kName, "vocabulary has repeated bytes", file.path.c_str());
    checkTokens(d, d.trainTokens, "train");
    checkTokens(d, d.valTokens, "val");
    for (size_t i = 0; i < d.trainTokens.size(); ++i)
        if (d.vocab[static_cast<size_t>(d.trainTokens[i])] != clean[i])
            nmfuzz::bug(kName, "training token is not the text's byte", file.path.c_str());
    if (!(d.unigramEntropyBits >= 0.0 && d.unigramEntropyBits <= 8.0 + 1e-9))
        nmfuzz::bug(kName, "unigram entropy outside [0, 8] bits", file.path.c_str());

    try {
        nm::TrainSampler sampler(ds, 1, batch, seqLen);
        nm::Batch b;
        for (long step : {0L, 1L, 12345L}) {
            sampler.fill(b, step);
            if (b.tokens.size() != static_cast<size_t>(batch) * seqLen || b.targets.size() != b.tokens.size())
                nmfuzz::bug(kName, "training batch has the wrong size", file.path.c_str());
            checkTokens(d, b.tokens, "train batch");
            checkTokens(d, b.targets, "train batch targets");
        }
    } catch (const nm::Error &) {
        // a context longer than the training text: refused with a message
    } catch (const std::exception &e) {
        nmfuzz::bug(kName, "non-nm exception out of the sampler", e.what());
    }
    for (nm::Split split : {nm::Split::Validation, nm::Split::Test}) {
        const int n = nm::evalBatchCount(d, split, batch, seqLen, maxBatches);
        if (n < 0 || n > maxBatches)
            nmfuzz::bug(kName, "evalBatchCount out of range", file.path.c_str());
        nm::Batch b;
        for (int i = 0; i < n; ++i) {
            nm::fillEvalBatch(d, split, b, i, batch, seqLen, maxBatches);
            if (b.rows < 1 || b.rows > batch || b.tokens.size() != static_cast<size_t>(b.rows) * seqLen)
                nmfuzz::bug(kName, "evaluation batch has the wrong size", file.path.c_str());
            checkTokens(d, b.tokens, "eval batch");
            checkTokens(d, b.targets, "eval batch targets");
        }
    }
    return 0;
}
