#pragma once
// Thin RAII layer over the HDF5 C API for the run-file writer and reader (core/src only).
//
// Debian's libhdf5 is built without thread safety, so every HDF5 call in the process goes
// through lock(): one recursive mutex. Handles (Id) must be created and destroyed while it
// is held. Failures become RunFileError with the innermost HDF5 message attached; HDF5's
// own printing of error stacks to stderr is switched off.
#include "nmcore/runfile.h"

#include <hdf5.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace nm::h5 {

// The process-wide HDF5 lock; also silences HDF5's automatic error printing once.
std::unique_lock<std::recursive_mutex> lock();

// Owns one HDF5 identifier of any kind and closes it with the matching H5*close.
class Id {
  public:
    Id() = default;
    explicit Id(hid_t id) : m_id(id) {}
    ~Id() { reset(); }
    Id(Id &&o) noexcept : m_id(o.m_id) { o.m_id = -1; }
    Id &operator=(Id &&o) noexcept
    {
        if (this != &o) {
            reset();
            m_id = o.m_id;
            o.m_id = -1;
        }
        return *this;
    }
    Id(const Id &) = delete;
    Id &operator=(const Id &) = delete;

    hid_t get() const { return m_id; }
    bool valid() const { return m_id >= 0; }
    void reset();
    hid_t release()
    {
        const hid_t id = m_id;
        m_id = -1;
        return id;
    }

  private:
    hid_t m_id = -1;
};

// The deepest message on HDF5's error stack (empty if none), then clears the stack.
std::string lastMessage();
[[noreturn]] void fail(const std::string &what);
// Throws RunFileError("<what> (HDF5: ...)") when id/status is negative.
hid_t check(hid_t id, const std::string &what);
void check(herr_t status, const std::string &what);

// ---- Types ---------------------------------------------------------------------------------
Id vlenString();          // variable-length UTF-8 string
Id fixedString(size_t n); // n bytes, NUL-terminated

// ---- Writing (creation happens before SWMR mode starts) -----------------------------------
void writeAttr(hid_t obj, const char *name, const std::string &value);
void writeAttr(hid_t obj, const char *name, int64_t value);
void writeAttr(hid_t obj, const char *name, uint64_t value);
void writeAttr(hid_t obj, const char *name, int32_t value);

Id createGroup(hid_t loc, const std::string &name);
// A 1-D string dataset, written once.
void writeStrings(hid_t loc, const std::string &name, const std::vector<std::string> &values);
// A small 1-D numeric dataset, written once; memType describes `data`.
void writeArray(hid_t loc, const std::string &name, hid_t fileType, hid_t memType, size_t count, const void *data);

struct ChunkedSpec {
    hid_t fileType = -1;
    std::vector<hsize_t> inner;      // fixed trailing dimensions (empty: 1-D)
    hsize_t chunkRows = 1024;        // chunk length along the growing first dimension
    std::vector<hsize_t> chunkInner; // chunk extent along the trailing dimensions (empty: inner)
    int deflate = 0;                 // 0: no compression, else gzip level (with byte shuffle)
    const void *fill = nullptr;      // fill value in fileType's memory layout, or null
    hid_t fillType = -1;             // memory type of `fill`
};
// A chunked dataset whose first dimension grows (unlimited), initially 0 rows.
Id createGrowing(hid_t loc, const std::string &name, const ChunkedSpec &spec);
// A scalar dataset with space allocated at creation, so that rewriting it in SWMR mode only
// touches raw data.
Id createScalar(hid_t loc, const std::string &name, hid_t fileType, hid_t fillType, const void *fill);

// Appends `rows` rows (each the product of the inner dimensions, memType elements) at the end.
void append(hid_t dataset, hid_t memType, hsize_t rows, const void *data);
void writeScalar(hid_t dataset, hid_t memType, const void *value);

// ---- Reading -------------------------------------------------------------------------------
// Every read checks the shape it expects before anything is allocated: files that are valid
// HDF5 but not valid run files (wrong ranks, extents far beyond the data stored) are refused
// with a RunFileError naming the dataset.
bool exists(hid_t loc, const std::string &path); // every link on the way must exist
bool hasAttr(hid_t obj, const char *name);
std::string objectName(hid_t obj); // "'/runs/000_ste_s1/train/step'" (quoted), for messages
std::string readStringAttr(hid_t obj, const char *name);
int64_t readIntAttr(hid_t obj, const char *name);
std::vector<std::string> readStrings(hid_t loc, const std::string &name);
std::string readStringScalar(hid_t dataset); // exactly one string
// Exactly one integer or floating-point value (scalar or one-element dataset), as memType.
void readNumber(hid_t dataset, hid_t memType, void *out);
std::vector<hsize_t> dims(hid_t dataset);
// The length of a 1-D dataset (a `step` column); anything else is a RunFileError.
hsize_t rows1d(hid_t dataset);
// Product of dims[from..]; a RunFileError when it overflows.
hsize_t elementCount(const std::vector<hsize_t> &dims, size_t from, const std::string &what);
// Refuses a dataset that claims far more elements than the file stores for it (deflate packs
// at most ~1032 bytes into one; reads of up to 16 MiB are let through, they may be fill values).
void checkStored(hid_t dataset, hsize_t elements);
// Elements in rows [first, first + count) of a dataset (all inner dimensions), after checking
// that the rows exist and that the file plausibly holds them.
hsize_t rowElements(hid_t dataset, hsize_t first, hsize_t count);
// Reads rows [first, first + count) of a dataset (all inner dimensions) as memType into `out`,
// which holds `outElements` elements; a RunFileError when the rows hold another number.
void readRows(hid_t dataset, hid_t memType, hsize_t first, hsize_t count, void *out, size_t outElements);
template <typename T> std::vector<T> readRowsAs(hid_t dataset, hid_t memType, hsize_t first, hsize_t count)
{
    std::vector<T> out(static_cast<size_t>(rowElements(dataset, first, count)));
    readRows(dataset, memType, first, count, out.data(), out.size());
    return out;
}
// Re-reads a dataset's metadata from the file (SWMR readers); a no-op on other files.
void refresh(hid_t dataset, bool swmr);

} // namespace nm::h5
