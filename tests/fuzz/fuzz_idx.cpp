// Fuzzes the IDX reader nm::readIdx (Fashion-MNIST/MNIST files, gzip-compressed or not).
//
// Every input is read three ways: the raw bytes as "X.idx", the same bytes under a ".gz"
// name, and the bytes gzip-compressed (zlib) as "X.idx.gz". Only nm::Error may come out; a
// file that reads must hold exactly the bytes its header announces (never more memory than
// the file's data), and all three ways must agree.
#include "nmcore/data.h"
#include "nmcore/error.h"

#include "fuzz_util.h"

#include <zlib.h>

#include <cstring>
#include <exception>
#include <optional>
#include <vector>

namespace {

const char *kName = "fuzz_idx";

std::vector<uint8_t> gzipped(const uint8_t *data, size_t size)
{
    z_stream z{};
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        nmfuzz::bug(kName, "zlib", "deflateInit2 failed");
    std::vector<uint8_t> out(deflateBound(&z, size) + 32);
    z.next_in = const_cast<uint8_t *>(data);
    z.avail_in = static_cast<uInt>(size);
    z.next_out = out.data();
    z.avail_out = static_cast<uInt>(out.size());
    if (deflate(&z, Z_FINISH) != Z_STREAM_END)
        nmfuzz::bug(kName, "zlib", "deflate did not finish");
    out.resize(z.total_out);
    deflateEnd(&z);
    return out;
}

std::optional<nm::IdxFile> read(const std::string &path, const void *bytes, size_t size)
{
    if (!nmfuzz::writeFile(path, bytes, size))
        nmfuzz::bug(kName, "cannot write", path.c_str());
    try {
        nm::IdxFile f = nm::readIdx(path);
        size_t total = 1;
        for (int d : f.dims) {
            if (d <= 0)
                nmfuzz::bug(kName, "accepted a non-positive dimension", path.c_str());
            total *= static_cast<size_t>(d);
        }
        if (f.dims.empty() || f.dims.size() > 4 || total != f.data.size())
            nmfuzz::bug(kName, "dimensions do not match the data returned", path.c_str());
        return f;
    } catch (const nm::Error &) {
        return std::nullopt;
    } catch (const std::exception &e) {
        nmfuzz::bug(kName, "non-nm exception out of readIdx", e.what());
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static nmfuzz::Scratch raw(".idx"), rawGz(".raw.gz"), gz(".idx.gz");
    const auto a = read(raw.path, data, size);
    const auto b = read(rawGz.path, data, size);
    const std::vector<uint8_t> packed = gzipped(data, size);
    const auto c = read(gz.path, packed.data(), packed.size());
    // Input that is itself gzip data reads decompressed from the raw file: nothing to compare.
    if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b)
        return 0;
    for (const auto *other : {&b, &c}) {
        if (a.has_value() != other->has_value())
            nmfuzz::bug(kName, "raw and gzip readings disagree", "one read, the other failed");
        if (a && (a->dims != (*other)->dims || a->data != (*other)->data))
            nmfuzz::bug(kName, "raw and gzip readings disagree", "different contents");
    }
    if (a) {
        // The data are the bytes after the 4 + 4·rank header bytes.
        const size_t header = 4 + 4 * a->dims.size();
        if (size < header + a->data.size() || std::memcmp(data + header, a->data.data(), a->data.size()) != 0)
            nmfuzz::bug(kName, "data differ from the file's bytes", raw.path.c_str());
    }
    return 0;
}
