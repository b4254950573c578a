#include "runfile/h5.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <numeric>

namespace nm::h5 {

std::unique_lock<std::recursive_mutex> lock()
{
    static std::recursive_mutex mutex;
    std::unique_lock guard(mutex);
    static const bool silenced = [] {
        H5open();
        H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
        return true;
    }();
    (void)silenced;
    return guard;
}

void Id::reset()
{
    if (m_id < 0)
        return;
    switch (H5Iget_type(m_id)) {
    case H5I_FILE:
        H5Fclose(m_id);
        break;
    case H5I_GROUP:
        H5Gclose(m_id);
        break;
    case H5I_DATASET:
        H5Dclose(m_id);
        break;
    case H5I_DATATYPE:
        H5Tclose(m_id);
        break;
    case H5I_DATASPACE:
        H5Sclose(m_id);
        break;
    case H5I_ATTR:
        H5Aclose(m_id);
        break;
    case H5I_GENPROP_LST:
        H5Pclose(m_id);
        break;
    default:
        break;
    }
    m_id = -1;
}

namespace {
herr_t collect(unsigned /*n*/, const H5E_error2_t *err, void *data)
{
    auto *out = static_cast<std::string *>(data);
    if (err && err->desc && *err->desc)
        *out = err->desc; // walking downward: the last one is the innermost
    return 0;
}
} // namespace

std::string lastMessage()
{
    std::string msg;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect, &msg);
    H5Eclear2(H5E_DEFAULT);
    return msg;
}

void fail(const std::string &what)
{
    const std::string msg = lastMessage();
    throw RunFileError(msg.empty() ? what : what + " (HDF5: " + msg + ")");
}

hid_t check(hid_t id, const std::string &what)
{
    if (id < 0)
        fail(what);
    return id;
}

void check(herr_t status, const std::string &what)
{
    if (status < 0)
        fail(what);
}

Id vlenString()
{
    Id t(check(H5Tcopy(H5T_C_S1), "string type"));
    check(H5Tset_size(t.get(), H5T_VARIABLE), "string type");
    check(H5Tset_cset(t.get(), H5T_CSET_UTF8), "string type");
    return t;
}

Id fixedString(size_t n)
{
    Id t(check(H5Tcopy(H5T_C_S1), "string type"));
    check(H5Tset_size(t.get(), n), "string type");
    check(H5Tset_strpad(t.get(), H5T_STR_NULLTERM), "string type");
    check(H5Tset_cset(t.get(), H5T_CSET_UTF8), "string type");
    return t;
}

namespace {
void writeAttrRaw(hid_t obj, const char *name, hid_t fileType, hid_t memType, const void *value)
{
    const std::string what = std::string("attribute ") + name;
    Id space(check(H5Screate(H5S_SCALAR), what));
    Id attr(check(H5Acreate2(obj, name, fileType, space.get(), H5P_DEFAULT, H5P_DEFAULT), what));
    check(H5Awrite(attr.get(), memType, value), what);
}

Id linkCreation()
{
    Id lcpl(check(H5Pcreate(H5P_LINK_CREATE), "link properties"));
    check(H5Pset_create_intermediate_group(lcpl.get(), 1), "link properties");
    return lcpl;
}

Id datasetCreation()
{
    Id dcpl(check(H5Pcreate(H5P_DATASET_CREATE), "dataset properties"));
    check(H5Pset_obj_track_times(dcpl.get(), 0), "dataset properties");
    return dcpl;
}
} // namespace

void writeAttr(hid_t obj, const char *name, const std::string &value)
{
    Id t = vlenString();
    const char *p = value.c_str();
    writeAttrRaw(obj, name, t.get(), t.get(), &p);
}

void writeAttr(hid_t obj, const char *name, int64_t value)
{
    writeAttrRaw(obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value);
}

void writeAttr(hid_t obj, const char *name, uint64_t value)
{
    writeAttrRaw(obj, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, &value);
}

void writeAttr(hid_t obj, const char *name, int32_t value)
{
    writeAttrRaw(obj, name, H5T_STD_I32LE, H5T_NATIVE_INT32, &value);
}

Id createGroup(hid_t loc, const std::string &name)
{
    Id lcpl = linkCreation();
    Id gcpl(check(H5Pcreate(H5P_GROUP_CREATE), "group properties"));
    check(H5Pset_obj_track_times(gcpl.get(), 0), "group properties");
    return Id(check(H5Gcreate2(loc, name.c_str(), lcpl.get(), gcpl.get(), H5P_DEFAULT), "create group " + name));
}

void writeStrings(hid_t loc, const std::string &name, const std::vector<std::string> &values)
{
    std::vector<const char *> ptrs;
    ptrs.reserve(values.size());
    for (const auto &v : values)
        ptrs.push_back(v.c_str());
    Id t = vlenString();
    writeArray(loc, name, t.get(), t.get(), ptrs.size(), ptrs.data());
}

void writeArray(hid_t loc, const std::string &name, hid_t fileType, hid_t memType, size_t count, const void *data)
{
    const std::string what = "dataset " + name;
    const hsize_t n = count;
    Id space(check(H5Screate_simple(1, &n, nullptr), what));
    Id lcpl = linkCreation();
    Id dcpl = datasetCreation();
    Id ds(check(H5Dcreate2(loc, name.c_str(), fileType, space.get(), lcpl.get(), dcpl.get(), H5P_DEFAULT), what));
    if (count > 0)
        check(H5Dwrite(ds.get(), memType, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), what);
}

Id createGrowing(hid_t loc, const std::string &name, const ChunkedSpec &spec)
{
    const std::string what = "dataset " + name;
    std::vector<hsize_t> cur = {0}, max = {H5S_UNLIMITED}, chunk = {spec.chunkRows};
    for (size_t i = 0; i < spec.inner.size(); ++i) {
        cur.push_back(spec.inner[i]);
        max.push_back(spec.inner[i]);
        chunk.push_back(i < spec.chunkInner.size() ? spec.chunkInner[i] : spec.inner[i]);
    }
    const int rank = static_cast<int>(cur.size());
    Id space(check(H5Screate_simple(rank, cur.data(), max.data()), what));
    Id lcpl = linkCreation();
    Id dcpl = datasetCreation();
    check(H5Pset_chunk(dcpl.get(), rank, chunk.data()), what);
    if (spec.deflate > 0) {
        check(H5Pset_shuffle(dcpl.get()), what);
        check(H5Pset_deflate(dcpl.get(), static_cast<unsigned>(spec.deflate)), what);
    }
    if (spec.fill)
        check(H5Pset_fill_value(dcpl.get(), spec.fillType, spec.fill), what);
    return Id(
        check(H5Dcreate2(loc, name.c_str(), spec.fileType, space.get(), lcpl.get(), dcpl.get(), H5P_DEFAULT), what));
}

Id createScalar(hid_t loc, const std::string &name, hid_t fileType, hid_t fillType, const void *fill)
{
    const std::string what = "dataset " + name;
    Id space(check(H5Screate(H5S_SCALAR), what));
    Id lcpl = linkCreation();
    Id dcpl = datasetCreation();
    check(H5Pset_alloc_time(dcpl.get(), H5D_ALLOC_TIME_EARLY), what);
    check(H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_ALLOC), what);
    if (fill)
        check(H5Pset_fill_value(dcpl.get(), fillType, fill), what);
    return Id(check(H5Dcreate2(loc, name.c_str(), fileType, space.get(), lcpl.get(), dcpl.get(), H5P_DEFAULT), what));
}

void append(hid_t dataset, hid_t memType, hsize_t rows, const void *data)
{
    if (rows == 0)
        return;
    std::vector<hsize_t> d = dims(dataset);
    const hsize_t first = d[0];
    d[0] += rows;
    check(H5Dset_extent(dataset, d.data()), "extend dataset");
    Id fileSpace(check(H5Dget_space(dataset), "dataset space"));
    std::vector<hsize_t> start(d.size(), 0), count = d;
    start[0] = first;
    count[0] = rows;
    check(H5Sselect_hyperslab(fileSpace.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr),
          "select rows");
    Id memSpace(check(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr), "memory space"));
    check(H5Dwrite(dataset, memType, memSpace.get(), fileSpace.get(), H5P_DEFAULT, data), "write rows");
}

void writeScalar(hid_t dataset, hid_t memType, const void *value)
{
    check(H5Dwrite(dataset, memType, H5S_ALL, H5S_ALL, H5P_DEFAULT, value), "write value");
}

bool exists(hid_t loc, const std::string &path)
{
    size_t pos = 0;
    while (true) {
        const size_t slash = path.find('/', pos);
        const std::string prefix = path.substr(0, slash);
        if (H5Lexists(loc, prefix.c_str(), H5P_DEFAULT) <= 0) {
            H5Eclear2(H5E_DEFAULT);
            return false;
        }
        if (slash == std::string::npos)
            return true;
        pos = slash + 1;
    }
}

bool hasAttr(hid_t obj, const char *name)
{
    const htri_t r = H5Aexists(obj, name);
    H5Eclear2(H5E_DEFAULT);
    return r > 0;
}

namespace {
// HDF5 1.10 trusts the references of variable-length data: a damaged heap ID or global-heap
// collection makes H5Dread copy from outside the collection (a crash, not an error). Before a
// contiguous string dataset is read, its references are checked against the collections they
// point to, walked the way the library walks them (file format spec III.E: "GCOL", version 1,
// collection size; objects of index, references, reserved, size, data padded to 8 bytes).
// Damage found is a RunFileError; layouts this check does not know are left to the library.
void checkVlenReferences(hid_t dataset, hsize_t count, const std::string &what)
{
    Id dcpl(H5Dget_create_plist(dataset));
    if (dcpl.get() < 0 || H5Pget_layout(dcpl.get()) != H5D_CONTIGUOUS) {
        H5Eclear2(H5E_DEFAULT);
        return;
    }
    const haddr_t offset = H5Dget_offset(dataset);
    Id file(H5Iget_file_id(dataset));
    Id fcpl(file.get() >= 0 ? H5Fget_create_plist(file.get()) : -1);
    size_t addrSize = 0, lenSize = 0;
    hsize_t userblock = 0;
    char path[4096] = {};
    if (offset == HADDR_UNDEF || fcpl.get() < 0 || H5Pget_sizes(fcpl.get(), &addrSize, &lenSize) < 0 || addrSize != 8 ||
        lenSize != 8 || H5Pget_userblock(fcpl.get(), &userblock) < 0 ||
        H5Fget_name(file.get(), path, sizeof path) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return;
    }
    std::FILE *f = std::fopen(path, "rb");
    if (!f)
        return;
    std::unique_ptr<std::FILE, int (*)(std::FILE *)> closer(f, &std::fclose);
    auto readAt = [&](uint64_t at, void *out, size_t n) {
        return at <= static_cast<uint64_t>(std::numeric_limits<long>::max()) &&
               std::fseek(f, static_cast<long>(at), SEEK_SET) == 0 && std::fread(out, 1, n, f) == n;
    };
    auto u = [](const unsigned char *p, int bytes) {
        uint64_t v = 0;
        for (int i = bytes - 1; i >= 0; --i)
            v = (v << 8) | p[i];
        return v;
    };
    const auto corrupt = [&](const std::string &why) {
        return RunFileError(what + ": " + why + "; the file is corrupt");
    };
    std::vector<unsigned char> refs(static_cast<size_t>(count) * 16);
    if (!readAt(userblock + offset, refs.data(), refs.size()))
        throw corrupt("its string references lie beyond the end of the file");
    std::map<uint64_t, std::map<uint64_t, uint64_t>> heaps; // collection → object index → size
    for (hsize_t i = 0; i < count; ++i) {
        const unsigned char *r = refs.data() + i * 16;
        const uint64_t length = u(r, 4), addr = u(r + 4, 8), index = u(r + 12, 4);
        if (addr == 0 && length == 0)
            continue; // a null string
        auto it = heaps.find(addr);
        if (it == heaps.end()) {
            unsigned char head[16];
            if (!readAt(userblock + addr, head, sizeof head) || std::memcmp(head, "GCOL", 4) != 0 || head[4] != 1)
                throw corrupt("string " + std::to_string(i) + " points to no global heap");
            const uint64_t size = u(head + 8, 8);
            if (size < 16 || size > (uint64_t(1) << 30))
                throw corrupt("a global heap has an invalid size");
            std::vector<unsigned char> heap(size);
            if (!readAt(userblock + addr, heap.data(), heap.size()))
                throw corrupt("a global heap runs past the end of the file");
            std::map<uint64_t, uint64_t> objects;
            for (uint64_t p = 16; p < size;) {
                if (size - p < 16)
                    break; // too small for an object header: free space
                const uint64_t idx = u(&heap[p], 2), objSize = u(&heap[p + 8], 8);
                const uint64_t need =
                    idx > 0 ? (objSize > size ? size + 1 : 16 + ((objSize + 7) & ~uint64_t(7))) : objSize;
                if (need < 16 || need > size - p)
                    throw corrupt("a global heap object overruns its collection");
                if (idx > 0)
                    objects[idx] = objSize;
                p += need;
            }
            it = heaps.emplace(addr, std::move(objects)).first;
        }
        const auto obj = it->second.find(index);
        if (obj == it->second.end() || obj->second != length)
            throw corrupt("string " + std::to_string(i) + " refers to a missing or mis-sized heap object");
    }
}

// Reads `count` strings of a dataset or attribute whose type is `type` (fixed or variable).
template <typename ReadFn>
std::vector<std::string> readStringData(hid_t type, size_t count, ReadFn read, const std::string &what)
{
    if (H5Tget_class(type) != H5T_STRING)
        throw RunFileError(what + " is not a string");
    std::vector<std::string> out;
    // Memory types are copies of the file type, so ASCII and UTF-8 strings both read as they are.
    Id mem(check(H5Tcopy(type), what));
    if (H5Tis_variable_str(type) > 0) {
        std::vector<char *> ptrs(count, nullptr);
        check(read(mem.get(), ptrs.data()), what);
        for (char *p : ptrs) {
            out.emplace_back(p ? p : "");
            H5free_memory(p);
        }
        return out;
    }
    const size_t size = H5Tget_size(type);
    if (size == 0 || size > (1u << 20))
        throw RunFileError(what + " has an invalid string size");
    check(H5Tset_size(mem.get(), size + 1), what);
    check(H5Tset_strpad(mem.get(), H5T_STR_NULLTERM), what);
    std::vector<char> buf(count * (size + 1), '\0');
    check(read(mem.get(), buf.data()), what);
    for (size_t i = 0; i < count; ++i) {
        const char *p = buf.data() + i * (size + 1);
        out.emplace_back(p, strnlen(p, size));
    }
    return out;
}
} // namespace

std::string objectName(hid_t obj)
{
    char buf[512] = {};
    const ssize_t n = H5Iget_name(obj, buf, sizeof buf);
    H5Eclear2(H5E_DEFAULT);
    return n > 0 ? "'" + std::string(buf) + "'" : std::string("(unnamed)");
}

std::string readStringAttr(hid_t obj, const char *name)
{
    const std::string what = std::string("attribute '") + name + "'";
    Id attr(check(H5Aopen(obj, name, H5P_DEFAULT), "open " + what));
    Id type(check(H5Aget_type(attr.get()), what));
    Id space(check(H5Aget_space(attr.get()), what));
    if (H5Sget_simple_extent_npoints(space.get()) != 1)
        throw RunFileError(what + " is not a single value");
    auto v = readStringData(
        type.get(), 1, [&](hid_t mem, void *buf) { return H5Aread(attr.get(), mem, buf); }, what);
    return v.at(0);
}

int64_t readIntAttr(hid_t obj, const char *name)
{
    const std::string what = std::string("attribute '") + name + "'";
    Id attr(check(H5Aopen(obj, name, H5P_DEFAULT), "open " + what));
    Id type(check(H5Aget_type(attr.get()), what));
    Id space(check(H5Aget_space(attr.get()), what));
    if (H5Tget_class(type.get()) != H5T_INTEGER || H5Sget_simple_extent_npoints(space.get()) != 1)
        throw RunFileError(what + " is not an integer");
    int64_t v = 0;
    check(H5Aread(attr.get(), H5T_NATIVE_INT64, &v), what);
    return v;
}

std::vector<std::string> readStrings(hid_t loc, const std::string &name)
{
    const std::string what = "dataset '" + name + "'";
    Id ds(check(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), "open " + what));
    Id type(check(H5Dget_type(ds.get()), what));
    Id space(check(H5Dget_space(ds.get()), what));
    const hssize_t n = H5Sget_simple_extent_npoints(space.get());
    if (n < 0 || H5Sget_simple_extent_ndims(space.get()) > 1)
        throw RunFileError(what + " is not a list of strings");
    if (n == 0)
        return {};
    checkStored(ds.get(), static_cast<hsize_t>(n));
    if (H5Tget_class(type.get()) == H5T_STRING && H5Tis_variable_str(type.get()) > 0)
        checkVlenReferences(ds.get(), static_cast<hsize_t>(n), what);
    return readStringData(
        type.get(), static_cast<size_t>(n),
        [&](hid_t mem, void *buf) { return H5Dread(ds.get(), mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf); }, what);
}

std::string readStringScalar(hid_t dataset)
{
    const std::string what = "dataset " + objectName(dataset);
    Id type(check(H5Dget_type(dataset), what));
    Id space(check(H5Dget_space(dataset), what));
    if (H5Sget_simple_extent_npoints(space.get()) != 1)
        throw RunFileError(what + " is not a single string");
    if (H5Tget_class(type.get()) == H5T_STRING && H5Tis_variable_str(type.get()) > 0)
        checkVlenReferences(dataset, 1, what);
    auto v = readStringData(
        type.get(), 1, [&](hid_t mem, void *buf) { return H5Dread(dataset, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf); },
        what);
    return v.at(0);
}

void readNumber(hid_t dataset, hid_t memType, void *out)
{
    const std::string what = "dataset " + objectName(dataset);
    Id type(check(H5Dget_type(dataset), what));
    Id space(check(H5Dget_space(dataset), what));
    const H5T_class_t c = H5Tget_class(type.get());
    if ((c != H5T_INTEGER && c != H5T_FLOAT) || H5Sget_simple_extent_npoints(space.get()) != 1)
        throw RunFileError(what + " is not a single number");
    check(H5Dread(dataset, memType, H5S_ALL, H5S_ALL, H5P_DEFAULT, out), "read " + what);
}

std::vector<hsize_t> dims(hid_t dataset)
{
    Id space(check(H5Dget_space(dataset), "dataset space"));
    const int rank = H5Sget_simple_extent_ndims(space.get());
    if (rank < 0 || rank > 8)
        fail("dataset rank");
    std::vector<hsize_t> d(static_cast<size_t>(rank));
    if (rank > 0)
        check(H5Sget_simple_extent_dims(space.get(), d.data(), nullptr), "dataset dimensions");
    return d;
}

hsize_t rows1d(hid_t dataset)
{
    const std::vector<hsize_t> d = dims(dataset);
    if (d.size() != 1)
        throw RunFileError("dataset " + objectName(dataset) + " has rank " + std::to_string(d.size()) +
                           ", expected a 1-D column; the file is corrupt");
    return d[0];
}

hsize_t elementCount(const std::vector<hsize_t> &dims, size_t from, const std::string &what)
{
    hsize_t n = 1;
    for (size_t i = from; i < dims.size(); ++i) {
        if (dims[i] != 0 && n > std::numeric_limits<hsize_t>::max() / dims[i])
            throw RunFileError(what + ": its dimensions overflow; the file is corrupt");
        n *= dims[i];
    }
    return n;
}

void checkStored(hid_t dataset, hsize_t elements)
{
    constexpr hsize_t kUncheckedBytes = hsize_t(16) << 20;
    constexpr hsize_t kMaxExpansion = 1100; // deflate's limit is ~1032:1
    Id type(check(H5Dget_type(dataset), "dataset type"));
    const hsize_t typeSize = std::max<hsize_t>(H5Tget_size(type.get()), 1);
    const bool overflow = elements > std::numeric_limits<hsize_t>::max() / typeSize;
    const hsize_t bytes = overflow ? std::numeric_limits<hsize_t>::max() : elements * typeSize;
    if (bytes <= kUncheckedBytes)
        return;
    const hsize_t stored = H5Dget_storage_size(dataset);
    H5Eclear2(H5E_DEFAULT);
    if (!overflow && bytes / kMaxExpansion <= stored)
        return;
    throw RunFileError("dataset " + objectName(dataset) + " claims " + std::to_string(elements) + " elements (" +
                       (overflow ? std::string("more than 2^64") : std::to_string(bytes)) +
                       " bytes) but the file stores " + std::to_string(stored) + " bytes of it; the file is corrupt");
}

hsize_t rowElements(hid_t dataset, hsize_t first, hsize_t count)
{
    const std::vector<hsize_t> d = dims(dataset);
    if (d.empty())
        throw RunFileError("dataset " + objectName(dataset) + " is a scalar, expected rows; the file is corrupt");
    if (first > d[0] || count > d[0] - first)
        throw RunFileError("read past the end of dataset " + objectName(dataset));
    std::vector<hsize_t> sel = d;
    sel[0] = count;
    const hsize_t n = elementCount(sel, 0, "dataset " + objectName(dataset));
    checkStored(dataset, n);
    return n;
}

void readRows(hid_t dataset, hid_t memType, hsize_t first, hsize_t count, void *out, size_t outElements)
{
    if (count == 0)
        return;
    const hsize_t n = rowElements(dataset, first, count);
    if (n != outElements)
        throw RunFileError("dataset " + objectName(dataset) + " holds " + std::to_string(n) + " elements in " +
                           std::to_string(count) + " row(s), expected " + std::to_string(outElements) +
                           "; the file is corrupt");
    std::vector<hsize_t> d = dims(dataset);
    Id fileSpace(check(H5Dget_space(dataset), "dataset space"));
    std::vector<hsize_t> start(d.size(), 0), cnt = d;
    start[0] = first;
    cnt[0] = count;
    check(H5Sselect_hyperslab(fileSpace.get(), H5S_SELECT_SET, start.data(), nullptr, cnt.data(), nullptr),
          "select rows");
    Id memSpace(check(H5Screate_simple(static_cast<int>(cnt.size()), cnt.data(), nullptr), "memory space"));
    check(H5Dread(dataset, memType, memSpace.get(), fileSpace.get(), H5P_DEFAULT, out), "read rows");
}

void refresh(hid_t dataset, bool swmr)
{
    if (swmr)
        check(H5Drefresh(dataset), "refresh dataset");
}

} // namespace nm::h5
