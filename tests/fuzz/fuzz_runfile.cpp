// Fuzzes the run-file reader's validation of files that are valid HDF5 but not valid run
// files. The input is not fed to libhdf5 (that would fuzz HDF5's own parser): it is a small
// program that edits a valid run-file layout (README "Run-file format", core/src/runfile/writer.cpp)
// held in memory, which is then written through the HDF5 C API into /dev/shm and opened
// with nm::RunFileReader. Every reader call is made (refresh, runs, every scalar and layer
// series, snapshot steps and snapshots, checkpoint steps and checkpoints); only nm::Error may
// come out, and what the reader returns must be self-consistent.
//
// Program: a sequence of operations, each an opcode byte followed by its argument bytes
// (missing bytes read as 0). Operations pick a node (group, dataset or soft link) by index
// and drop it, change its dtype, rank, shape or first dimension (huge extents are written as
// chunked datasets without data, so the file stays small), its values, its attributes (type,
// shape, value, drop, add), add datasets, attributes and runs, turn groups into datasets and
// back, replace nodes by soft links, or switch the file-format version bounds.
#include "nmcore/config.h"
#include "nmcore/error.h"
#include "nmcore/runfile.h"

#include "fuzz_util.h"

#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <string>
#include <vector>

namespace {

const char *kName = "fuzz_runfile";

// ---- The layout model ----------------------------------------------------------------------

enum class Ty : uint8_t { I32, I64, U64, U8, F32, F64, VStr, FStr, Compound, Count };

struct Value {
    Ty type = Ty::I32;
    size_t strLen = 16;            // FStr: bytes per string
    bool null = false;             // H5S_NULL dataspace
    std::vector<hsize_t> dims;     // empty: scalar
    bool growing = false;          // chunked, unlimited first dimension
    int pattern = 0;               // how elements are generated when nums/strs are empty
    std::vector<double> nums;      // numeric elements, cycled
    std::vector<std::string> strs; // string elements, cycled
};

struct Attr {
    std::string name;
    Value v;
};

enum class Kind { Group, Dataset, SoftLink };

struct Node {
    std::string path; // relative to the root, no leading '/'
    Kind kind = Kind::Group;
    Value v;
    std::string target; // SoftLink
    std::vector<Attr> attrs;
};

struct Tree {
    std::vector<Node> nodes;
    std::vector<Attr> rootAttrs;
    bool latest = true;
};

Value str(const std::string &s)
{
    Value v;
    v.type = Ty::VStr;
    v.strs = {s};
    return v;
}

Value num(Ty t, double x)
{
    Value v;
    v.type = t;
    v.nums = {x};
    return v;
}

Value array(Ty t, std::vector<double> xs)
{
    Value v;
    v.type = t;
    v.dims = {xs.size()};
    v.nums = std::move(xs);
    return v;
}

Value strings(std::vector<std::string> s)
{
    Value v;
    v.type = Ty::VStr;
    v.dims = {s.size()};
    v.strs = std::move(s);
    return v;
}

Value series(Ty t, std::vector<hsize_t> dims, int pattern)
{
    Value v;
    v.type = t;
    v.dims = std::move(dims);
    v.growing = true;
    v.pattern = pattern;
    return v;
}

void addGroup(Tree &t, const std::string &path, std::vector<Attr> attrs = {})
{
    t.nodes.push_back({path, Kind::Group, {}, {}, std::move(attrs)});
}

void addDataset(Tree &t, const std::string &path, Value v, std::vector<Attr> attrs = {})
{
    t.nodes.push_back({path, Kind::Dataset, std::move(v), {}, std::move(attrs)});
}

// A valid file: one run of a 3-layer model, two sparse layers ("fc1", and "blk/fc2", whose
// snapshot group is "blk_fc2"), 3 logged steps, 2 validation rows, 1 test row, 1 continuity
// row, 2 snapshots (steps 0 and 3) and a checkpoint at step 3.
Tree baseTree()
{
    Tree t;
    t.rootAttrs = {{"schema", str(nm::kRunFileSchema)},
                   {"schema_version", num(Ty::I32, nm::kRunFileVersion)},
                   {"tool_version", str("0.1.0")},
                   {"created", str("2026-11-24T18:34:35Z")},
                   {"run_count", num(Ty::I32, 1)}};
    addDataset(t, "updated", num(Ty::F64, 1.7e9));
    addGroup(t, "runs");
    const std::string r = "runs/000_run";
    const std::string config = nm::configToJson(nm::defaultConfig());
    addGroup(t, r,
             {{"name", str("run")},
              {"index", num(Ty::I32, 0)},
              {"recipe", str("ste")},
              {"recipe_title", str("STE")},
              {"nm", str("2:4")},
              {"seed", num(Ty::U64, 1)},
              {"config_json", str(config)},
              {"model", str("MLP 8-4-3-2")},
              {"data", str("synthetic")},
              {"task", str("classification")},
              {"parameter_count", num(Ty::I64, 53)},
              {"effective_parameter_count", num(Ty::I64, 35)},
              {"threads", num(Ty::I32, 1)},
              {"blas_kernel", str("Haswell")}});
    addGroup(t, r + "/layers");
    addDataset(t, r + "/layers/name", strings({"fc1", "blk/fc2", "head"}));
    addDataset(t, r + "/layers/in", array(Ty::I32, {8, 4, 3}));
    addDataset(t, r + "/layers/out", array(Ty::I32, {4, 3, 2}));
    addDataset(t, r + "/layers/sparse", array(Ty::I32, {1, 1, 0}));
    addDataset(t, r + "/layers/n", array(Ty::I32, {2, 2, 0}));
    addDataset(t, r + "/layers/m", array(Ty::I32, {4, 4, 0}));
    addDataset(t, r + "/layers/dense_params", array(Ty::I64, {36, 15, 8}));
    addDataset(t, r + "/layers/effective_params", array(Ty::I64, {20, 9, 8}));
    struct Table {
        const char *group;
        hsize_t rows;
        std::vector<std::pair<const char *, Ty>> fields;
    };
    const std::vector<Table> tables = {
        {"train",
         3,
         {{"loss", Ty::F32},
          {"accuracy", Ty::F32},
          {"lr", Ty::F64},
          {"grad_norm", Ty::F64},
          {"step_seconds", Ty::F64},
          {"elapsed_seconds", Ty::F64},
          {"flops", Ty::F64}}},
        {"val", 2, {{"loss", Ty::F32}, {"accuracy", Ty::F32}, {"bits_per_char", Ty::F32}}},
        {"test", 1, {{"loss", Ty::F32}, {"accuracy", Ty::F32}, {"bits_per_char", Ty::F32}}},
        {"continuity",
         1,
         {{"loss_before", Ty::F32},
          {"dF1", Ty::F32},
          {"dF2", Ty::F32},
          {"aod_actual", Ty::F32},
          {"aod_predicted", Ty::F32},
          {"aod_predicted_ste", Ty::F32},
          {"flips", Ty::I64}}},
    };
    for (const auto &tb : tables) {
        const std::string g = r + "/" + tb.group;
        addGroup(t, g);
        for (const auto &[name, ty] : tb.fields)
            addDataset(t, g + "/" + name, series(ty, {tb.rows}, 6));
        addDataset(t, g + "/step", series(Ty::I64, {tb.rows}, 0));
    }
    const std::string ls = r + "/layer_stats";
    addGroup(t, ls);
    addDataset(t, ls + "/layer", strings({"fc1", "blk/fc2"}));
    addDataset(t, ls + "/step", series(Ty::I64, {3}, 0));
    for (const std::string &f : nm::layerSeriesNames())
        addDataset(t, ls + "/" + f,
                   series(f == "flips"           ? Ty::I64
                          : f == "n" || f == "m" ? Ty::I32
                                                 : Ty::F32,
                          {3, 2}, 6));
    const std::string sn = r + "/snapshots";
    addGroup(t, sn);
    Value snapSteps = series(Ty::I64, {2}, 0);
    snapSteps.nums = {0, 3};
    addDataset(t, sn + "/step", snapSteps);
    struct Layer {
        const char *name, *group;
        hsize_t out, in;
    };
    for (const Layer &l : {Layer{"fc1", "fc1", 4, 8}, Layer{"blk/fc2", "blk_fc2", 3, 4}}) {
        const std::string g = sn + "/" + l.group;
        addGroup(t, g, {{"name", str(l.name)}});
        addDataset(t, g + "/weight", series(Ty::F32, {2, l.out, l.in}, 6));
        addDataset(t, g + "/forward", series(Ty::F32, {2, l.out, l.in}, 6));
        addDataset(t, g + "/mask", series(Ty::U8, {2, l.out, (l.in + 7) / 8}, 6));
        addDataset(t, g + "/beta", series(Ty::F32, {2}, 6));
        addDataset(t, g + "/alpha", series(Ty::F32, {2}, 6));
        Value nv = series(Ty::I32, {2}, 0);
        nv.nums = {2};
        addDataset(t, g + "/n", nv);
        nv.nums = {4};
        addDataset(t, g + "/m", nv);
    }
    const std::string ck = r + "/checkpoints";
    addGroup(t, ck, {{"optimizer", str("sgd")}});
    Value ckStep = series(Ty::I64, {1}, 0);
    ckStep.nums = {3};
    addDataset(t, ck + "/step", ckStep);
    for (const char *name : {"elapsed_seconds", "training_flops", "lr", "lambda"})
        addDataset(t, ck + "/" + name, series(Ty::F64, {1}, 6));
    addDataset(t, ck + "/params", series(Ty::F32, {1, 53}, 6));
    addDataset(t, ck + "/optimizer", series(Ty::F32, {1, 53}, 6));
    for (const Layer &l : {Layer{"fc1", "fc1", 4, 8}, Layer{"blk/fc2", "blk_fc2", 3, 4}}) {
        const std::string g = ck + "/" + l.group;
        addGroup(t, g, {{"name", str(l.name)}});
        addDataset(t, g + "/prev_mask", series(Ty::U8, {1, l.out, (l.in + 7) / 8}, 6));
        addDataset(t, g + "/sad_mask", series(Ty::U8, {1, l.out, (l.in + 7) / 8}, 6));
        for (const char *name : {"last_n", "last_m"})
            addDataset(t, g + "/" + name, series(Ty::I32, {1}, 0));
        for (const char *name : {"last_alpha", "last_beta", "sparsity"})
            addDataset(t, g + "/" + name, series(Ty::F32, {1}, 6));
        for (const char *name : {"flips_since_sad", "mask_step"})
            addDataset(t, g + "/" + name, series(Ty::I64, {1}, 0));
        addDataset(t, g + "/rng", series(Ty::U64, {1, 6}, 0));
        addDataset(t, g + "/noise_history", series(Ty::F64, {1, 3, 5}, 6));
        Value length = series(Ty::I32, {1}, 0);
        length.nums = {4};
        addDataset(t, g + "/noise_history_length", length);
    }
    Value status = str("Completed");
    status.type = Ty::FStr;
    status.strLen = 16;
    addDataset(t, r + "/status", status);
    addGroup(t, r + "/summary");
    addDataset(t, r + "/summary/step", num(Ty::I64, 3));
    for (const char *name : {"val_loss", "val_accuracy", "test_loss", "test_accuracy"})
        addDataset(t, r + "/summary/" + name, num(Ty::F32, 0.5));
    addDataset(t, r + "/summary/seconds", num(Ty::F64, 1.25));
    return t;
}

// ---- Tables the program indexes into ---------------------------------------------------------

const hsize_t kDims[] = {0,
                         1,
                         2,
                         3,
                         4,
                         5,
                         8,
                         16,
                         64,
                         1000,
                         hsize_t(1) << 20,
                         hsize_t(1) << 28,
                         hsize_t(1) << 31,
                         (hsize_t(1) << 32) + 1,
                         hsize_t(1) << 40,
                         hsize_t(1) << 62};
const double kNums[] = {-1,
                        0,
                        1,
                        2,
                        3,
                        4,
                        7,
                        100,
                        -1e9,
                        2147483647.0,
                        2147483648.0,
                        -2147483649.0,
                        9.3e18,
                        std::numeric_limits<double>::quiet_NaN(),
                        std::numeric_limits<double>::infinity(),
                        0.5,
                        1e300,
                        -9.3e18};
const size_t kStrLens[] = {1, 2, 4, 15, 16, 17, 64, 255, size_t(1) << 20, (size_t(1) << 20) + 1};
const char *const kStrs[] = {"",
                             "nmstudio-run",
                             "Completed",
                             "Running",
                             "Pending",
                             "Diverged",
                             "Stopped",
                             "fc1",
                             "blk/fc2",
                             "head",
                             "ste",
                             "nosuchrecipe",
                             "2:4",
                             "9:4",
                             "{",
                             "[]",
                             "{}",
                             "null",
                             "{\"steps\": -1}",
                             "{\"model\": \"gpt\", \"unknown_key\": 1, \"nm\": \"1:8\"}",
                             "{\"name\": \"\", \"lr\": 1e999}",
                             "{\"mlp_hidden\": [1e30]}",
                             ".",
                             "..",
                             "step",
                             "\xff\xfe not utf-8",
                             "a very long string that is longer than the sixteen bytes of a status"};
const char *const kAttrNames[] = {"schema",
                                  "schema_version",
                                  "tool_version",
                                  "created",
                                  "run_count",
                                  "name",
                                  "index",
                                  "recipe",
                                  "recipe_title",
                                  "nm",
                                  "seed",
                                  "config_json",
                                  "model",
                                  "data",
                                  "task",
                                  "parameter_count",
                                  "effective_parameter_count",
                                  "threads",
                                  "blas_kernel",
                                  "extra"};
const char *const kDatasetNames[] = {"step", "loss",  "layer", "name",    "weight", "forward",   "mask",
                                     "beta", "alpha", "n",     "m",       "status", "flip_rate", "in",
                                     "out",  "extra", "fc1",   "blk_fc2", "head",   "layer_step"};
const char *const kRunNames[] = {"001_b",       "002_c", "999_z", "x", "000_run", "-5_neg", "abc", "10000000000000_big",
                                 "000_run_copy"};
const char *const kLinkTargets[] = {"/runs",
                                    "/",
                                    "/nonexistent",
                                    "/runs/000_run/train/step",
                                    "/runs/000_run/status",
                                    "/updated",
                                    "/runs/000_run",
                                    "/runs/000_run/layers/name"};

// ---- The program -----------------------------------------------------------------------------

struct Bytes {
    const uint8_t *p;
    size_t n;
    size_t at = 0;
    bool done() const { return at >= n; }
    unsigned u8() { return at < n ? p[at++] : 0; }
    unsigned u16() { return u8() | (u8() << 8); }
    template <typename T, size_t N> const T &pick(const T (&table)[N]) { return table[u8() % N]; }
};

Node *pickNode(Tree &t, Bytes &b)
{
    if (t.nodes.empty())
        return nullptr;
    return &t.nodes[b.u16() % t.nodes.size()];
}

std::vector<Attr> *pickAttrs(Tree &t, Bytes &b)
{
    const unsigned i = b.u16() % (t.nodes.size() + 1);
    return i == t.nodes.size() ? &t.rootAttrs : &t.nodes[i].attrs;
}

bool under(const std::string &path, const std::string &prefix)
{
    return path == prefix ||
           (path.size() > prefix.size() && path.compare(0, prefix.size(), prefix) == 0 && path[prefix.size()] == '/');
}

void dropSubtree(Tree &t, const std::string &path, bool keepSelf)
{
    t.nodes.erase(std::remove_if(t.nodes.begin(), t.nodes.end(),
                                 [&](const Node &n) { return under(n.path, path) && !(keepSelf && n.path == path); }),
                  t.nodes.end());
}

void setShape(Value &v, Bytes &b)
{
    const unsigned code = b.u8() % 6;
    v.null = code == 5;
    v.dims.clear();
    for (unsigned i = 0; i < code && code < 5; ++i)
        v.dims.push_back(b.pick(kDims));
    v.growing = !v.dims.empty() && (b.u8() & 1);
}

void setType(Value &v, Bytes &b)
{
    v.type = static_cast<Ty>(b.u8() % static_cast<unsigned>(Ty::Count));
    if (v.type == Ty::FStr)
        v.strLen = b.pick(kStrLens);
}

void setContent(Value &v, Bytes &b)
{
    const unsigned code = b.u8();
    v.nums.clear();
    v.strs.clear();
    if (code % 3 == 0) {
        v.pattern = static_cast<int>(b.u8() % 7);
    } else if (code % 3 == 1) {
        for (unsigned i = 0, k = 1 + b.u8() % 4; i < k; ++i)
            v.nums.push_back(b.pick(kNums));
    } else {
        for (unsigned i = 0, k = 1 + b.u8() % 3; i < k; ++i)
            v.strs.emplace_back(b.pick(kStrs));
    }
}

void run(Tree &t, Bytes &b)
{
    for (int ops = 0; !b.done() && ops < 64; ++ops) {
        const unsigned op = b.u8() % 16;
        switch (op) {
        case 0: // drop a node and everything under it
            if (Node *n = pickNode(t, b))
                dropSubtree(t, std::string(n->path), false);
            break;
        case 1: // dataset dtype
            if (Node *n = pickNode(t, b))
                setType(n->v, b);
            break;
        case 2: // dataset rank and shape
            if (Node *n = pickNode(t, b))
                setShape(n->v, b);
            break;
        case 3: // dataset values
            if (Node *n = pickNode(t, b))
                setContent(n->v, b);
            break;
        case 4: // first dimension only (steps vs. values lengths)
            if (Node *n = pickNode(t, b)) {
                if (n->v.dims.empty())
                    n->v.dims.push_back(1);
                n->v.dims[0] = b.pick(kDims);
                n->v.growing = true;
            }
            break;
        case 5: { // drop an attribute
            auto *a = pickAttrs(t, b);
            if (!a->empty())
                a->erase(a->begin() + b.u8() % a->size());
            break;
        }
        case 6: { // attribute dtype and shape
            auto *a = pickAttrs(t, b);
            if (!a->empty()) {
                Value &v = (*a)[b.u8() % a->size()].v;
                setType(v, b);
                const unsigned s = b.u8() % 4;
                v.null = s == 3;
                v.dims = s == 1 ? std::vector<hsize_t>{2} : s == 2 ? std::vector<hsize_t>{0} : std::vector<hsize_t>{};
            }
            break;
        }
        case 7: { // attribute value
            auto *a = pickAttrs(t, b);
            if (!a->empty())
                setContent((*a)[b.u8() % a->size()].v, b);
            break;
        }
        case 8: { // add (or replace) an attribute
            auto *a = pickAttrs(t, b);
            Attr at{b.pick(kAttrNames), {}};
            setType(at.v, b);
            setContent(at.v, b);
            a->erase(std::remove_if(a->begin(), a->end(), [&](const Attr &x) { return x.name == at.name; }), a->end());
            a->push_back(std::move(at));
            break;
        }
        case 9: { // add a dataset under a node
            if (Node *n = pickNode(t, b)) {
                Node d{n->path + "/" + b.pick(kDatasetNames), Kind::Dataset, {}, {}, {}};
                setType(d.v, b);
                setShape(d.v, b);
                setContent(d.v, b);
                dropSubtree(t, d.path, false);
                t.nodes.push_back(std::move(d));
            }
            break;
        }
        case 10: { // copy run 000_run under another name
            const std::string to = std::string("runs/") + b.pick(kRunNames);
            const std::string from = "runs/000_run";
            if (to == from)
                break;
            dropSubtree(t, to, false);
            std::vector<Node> copies;
            for (const Node &n : t.nodes)
                if (under(n.path, from)) {
                    Node c = n;
                    c.path = to + n.path.substr(from.size());
                    copies.push_back(std::move(c));
                }
            t.nodes.insert(t.nodes.end(), copies.begin(), copies.end());
            break;
        }
        case 11: // group <-> dataset
            if (Node *n = pickNode(t, b)) {
                const std::string p = n->path;
                if (n->kind == Kind::Group) {
                    n->kind = Kind::Dataset;
                    n->v = num(Ty::I32, 1);
                    dropSubtree(t, p, true);
                } else {
                    n->kind = Kind::Group;
                }
            }
            break;
        case 12: // replace a node by a soft link
            if (Node *n = pickNode(t, b)) {
                const std::string p = n->path;
                n->kind = Kind::SoftLink;
                n->target = b.pick(kLinkTargets);
                n->attrs.clear();
                dropSubtree(t, p, true);
            }
            break;
        case 13: // file-format version bounds: latest (as written) or the earliest
            t.latest = !t.latest;
            break;
        case 14: // string contents of a dataset
            if (Node *n = pickNode(t, b)) {
                n->v.type = b.u8() & 1 ? Ty::VStr : Ty::FStr;
                setContent(n->v, b);
            }
            break;
        case 15: // the status string
            for (Node &n : t.nodes)
                if (n.path.size() > 7 && n.path.compare(n.path.size() - 7, 7, "/status") == 0)
                    n.v.strs = {b.pick(kStrs)};
            break;
        }
    }
}

// ---- Writing the file ------------------------------------------------------------------------

constexpr hsize_t kMaxWritten = 1 << 14; // larger datasets are created without data

hid_t fileType(const Value &v)
{
    switch (v.type) {
    case Ty::I32:
        return H5Tcopy(H5T_STD_I32LE);
    case Ty::I64:
        return H5Tcopy(H5T_STD_I64LE);
    case Ty::U64:
        return H5Tcopy(H5T_STD_U64LE);
    case Ty::U8:
        return H5Tcopy(H5T_STD_U8LE);
    case Ty::F32:
        return H5Tcopy(H5T_IEEE_F32LE);
    case Ty::F64:
        return H5Tcopy(H5T_IEEE_F64LE);
    case Ty::VStr: {
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, H5T_VARIABLE);
        H5Tset_cset(t, H5T_CSET_UTF8);
        return t;
    }
    case Ty::FStr: {
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, v.strLen);
        H5Tset_strpad(t, H5T_STR_NULLTERM);
        return t;
    }
    case Ty::Compound:
    case Ty::Count:
        break;
    }
    hid_t t = H5Tcreate(H5T_COMPOUND, 8);
    H5Tinsert(t, "a", 0, H5T_STD_I32LE);
    H5Tinsert(t, "b", 4, H5T_IEEE_F32LE);
    return t;
}

double element(const Value &v, size_t i)
{
    if (!v.nums.empty())
        return v.nums[i % v.nums.size()];
    switch (v.pattern) {
    case 0:
        return static_cast<double>(i + 1);
    case 1:
        return -1;
    case 2:
        return 0;
    case 3:
        return std::numeric_limits<double>::quiet_NaN();
    case 4:
        return 1e30;
    case 5:
        return -static_cast<double>(i + 1);
    default:
        return static_cast<double>((i * 2654435761u) % 1000) / 250.0;
    }
}

template <typename T> T clampTo(double x)
{
    if (std::isnan(x))
        return 0;
    if (x <= static_cast<double>(std::numeric_limits<T>::lowest()))
        return std::numeric_limits<T>::lowest();
    if (x >= static_cast<double>(std::numeric_limits<T>::max()))
        return std::numeric_limits<T>::max();
    return static_cast<T>(x);
}

// The elements of `v` in its file type's memory layout (file types are little-endian, as
// is this machine); `ptrs` keeps the variable-length string pointers.
std::vector<unsigned char> buffer(const Value &v, size_t count, std::vector<std::string> &keep,
                                  std::vector<const char *> &ptrs)
{
    std::vector<unsigned char> out;
    auto put = [&](const auto &x) {
        const auto *p = reinterpret_cast<const unsigned char *>(&x);
        out.insert(out.end(), p, p + sizeof x);
    };
    for (size_t i = 0; i < count; ++i) {
        const double x = element(v, i);
        const std::string s =
            v.strs.empty() ? std::to_string(static_cast<long long>(clampTo<int64_t>(x))) : v.strs[i % v.strs.size()];
        switch (v.type) {
        case Ty::I32:
            put(clampTo<int32_t>(x));
            break;
        case Ty::I64:
            put(clampTo<int64_t>(x));
            break;
        case Ty::U64:
            put(clampTo<uint64_t>(x));
            break;
        case Ty::U8:
            put(clampTo<uint8_t>(x));
            break;
        case Ty::F32:
            put(static_cast<float>(std::isfinite(x) && std::fabs(x) > 3e38 ? std::copysign(INFINITY, x) : x));
            break;
        case Ty::F64:
            put(x);
            break;
        case Ty::VStr:
            keep.push_back(s);
            break;
        case Ty::FStr: {
            std::string f = s;
            f.resize(v.strLen, '\0');
            out.insert(out.end(), f.begin(), f.end());
            break;
        }
        case Ty::Compound:
        case Ty::Count:
            put(clampTo<int32_t>(x));
            put(static_cast<float>(0.5));
            break;
        }
    }
    if (v.type == Ty::VStr) {
        for (const auto &s : keep)
            ptrs.push_back(s.c_str());
        out.resize(ptrs.size() * sizeof(char *));
        if (!ptrs.empty())
            std::memcpy(out.data(), ptrs.data(), out.size());
    }
    return out;
}

hsize_t elements(const Value &v)
{
    if (v.null)
        return 0;
    hsize_t n = 1;
    for (hsize_t d : v.dims) {
        if (d != 0 && n > std::numeric_limits<hsize_t>::max() / d)
            return std::numeric_limits<hsize_t>::max();
        n *= d;
    }
    return n;
}

hid_t space(const Value &v, bool growing)
{
    if (v.null)
        return H5Screate(H5S_NULL);
    if (v.dims.empty())
        return H5Screate(H5S_SCALAR);
    std::vector<hsize_t> max = v.dims;
    if (growing)
        max[0] = H5S_UNLIMITED;
    return H5Screate_simple(static_cast<int>(v.dims.size()), v.dims.data(), max.data());
}

void writeAttrs(hid_t obj, const std::vector<Attr> &attrs)
{
    for (const Attr &a : attrs) {
        Value v = a.v;
        if (elements(v) > 64) // attributes live in the object header: keep them small
            v.dims = {2};
        const hid_t type = fileType(v);
        const hid_t sp = space(v, false);
        const hid_t at = H5Acreate2(obj, a.name.c_str(), type, sp, H5P_DEFAULT, H5P_DEFAULT);
        if (at >= 0) {
            std::vector<std::string> keep;
            std::vector<const char *> ptrs;
            const auto buf = buffer(v, static_cast<size_t>(elements(v)), keep, ptrs);
            if (!buf.empty())
                H5Awrite(at, type, buf.data());
            H5Aclose(at);
        }
        H5Sclose(sp);
        H5Tclose(type);
    }
}

void writeDataset(hid_t file, const Node &n, hid_t lcpl)
{
    const Value &v = n.v;
    const hsize_t count = elements(v);
    const bool chunked = !v.null && !v.dims.empty() && (v.growing || count > kMaxWritten);
    const hid_t type = fileType(v);
    const hid_t sp = space(v, chunked);
    const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (chunked) {
        std::vector<hsize_t> chunk;
        for (hsize_t d : v.dims)
            chunk.push_back(std::clamp<hsize_t>(d, 1, 16));
        H5Pset_chunk(dcpl, static_cast<int>(chunk.size()), chunk.data());
    }
    const hid_t ds = H5Dcreate2(file, n.path.c_str(), type, sp, lcpl, dcpl, H5P_DEFAULT);
    if (ds >= 0) {
        if (count > 0 && count <= kMaxWritten) {
            std::vector<std::string> keep;
            std::vector<const char *> ptrs;
            const auto buf = buffer(v, static_cast<size_t>(count), keep, ptrs);
            H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data());
        }
        writeAttrs(ds, n.attrs);
        H5Dclose(ds);
    }
    H5Pclose(dcpl);
    H5Sclose(sp);
    H5Tclose(type);
}

void writeTree(const Tree &t, const std::string &path)
{
    const hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (t.latest)
        H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
    const hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (file < 0)
        nmfuzz::bug(kName, "cannot create", path.c_str());
    writeAttrs(file, t.rootAttrs);
    const hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    // Parents before children: creation order by depth, stable within a depth.
    std::vector<const Node *> order;
    for (const Node &n : t.nodes)
        order.push_back(&n);
    std::stable_sort(order.begin(), order.end(), [](const Node *a, const Node *b) {
        return std::count(a->path.begin(), a->path.end(), '/') < std::count(b->path.begin(), b->path.end(), '/');
    });
    for (const Node *n : order) {
        switch (n->kind) {
        case Kind::Group: {
            const hid_t g = H5Gcreate2(file, n->path.c_str(), lcpl, H5P_DEFAULT, H5P_DEFAULT);
            if (g >= 0) {
                writeAttrs(g, n->attrs);
                H5Gclose(g);
            }
            break;
        }
        case Kind::Dataset:
            writeDataset(file, *n, lcpl);
            break;
        case Kind::SoftLink:
            H5Lcreate_soft(n->target.c_str(), file, n->path.c_str(), lcpl, H5P_DEFAULT);
            break;
        }
    }
    H5Pclose(lcpl);
    H5Eclear2(H5E_DEFAULT);
    if (H5Fclose(file) < 0)
        nmfuzz::bug(kName, "cannot close", path.c_str());
}

// ---- Reading it back -------------------------------------------------------------------------

template <typename Fn> void call(const char *what, Fn &&fn)
{
    try {
        fn();
    } catch (const nm::Error &e) {
        // a refused file or dataset: expected (NMFUZZ_VERBOSE=1 prints the messages)
        static const bool verbose = std::getenv("NMFUZZ_VERBOSE") != nullptr;
        if (verbose)
            std::fprintf(stderr, "  %s\n", e.what());
    } catch (const std::exception &e) {
        nmfuzz::bug(kName, what, e.what());
    }
}

void readAll(const std::string &path)
{
    std::unique_ptr<nm::RunFileReader> reader;
    call("non-nm exception opening", [&] { reader = std::make_unique<nm::RunFileReader>(path); });
    if (!reader)
        return;
    nm::RunFileReader &r = *reader;
    if (std::getenv("NMFUZZ_VERBOSE"))
        std::fprintf(stderr, "  opened: %d run(s), swmr %d\n", r.runCount(), r.followsWriter() ? 1 : 0);
    call("non-nm exception from lastFlushTime", [&] { (void)r.lastFlushTime(); });
    call("non-nm exception from refresh", [&] { r.refresh(); });
    for (int i = -1; i <= r.runCount(); ++i) {
        const nm::RunHeader *h = nullptr;
        call("non-nm exception from run()", [&] { h = &r.run(i); });
        if (!h)
            continue;
        for (const std::string &name : nm::scalarSeriesNames())
            call("non-nm exception from series()", [&] {
                const nm::Series s = r.series(i, name);
                if (s.values.size() != s.steps.size())
                    nmfuzz::bug(kName, "series values and steps differ in length", name.c_str());
            });
        for (const std::string &name : nm::layerSeriesNames())
            call("non-nm exception from layerSeries()", [&] {
                const nm::LayerSeries s = r.layerSeries(i, name);
                if (s.values.size() != s.steps.size() * static_cast<size_t>(s.layers))
                    nmfuzz::bug(kName, "layer series values do not fill steps x layers", name.c_str());
            });
        std::vector<long> steps;
        call("non-nm exception from snapshotSteps()", [&] { steps = r.snapshotSteps(i); });
        steps.resize(std::min<size_t>(steps.size(), 3));
        steps.push_back(-7); // no snapshot there
        for (int layer = -1; layer <= static_cast<int>(std::min<size_t>(h->sparseLayers.size(), 3)); ++layer)
            for (long step : steps)
                call("non-nm exception from snapshot()", [&] {
                    const nm::LayerSnapshot s = r.snapshot(i, layer, step);
                    const size_t size = static_cast<size_t>(s.rows) * static_cast<size_t>(s.cols);
                    if (s.rows <= 0 || s.cols <= 0 || s.weight.size() != size || s.forward.size() != size ||
                        s.mask.size() != size)
                        nmfuzz::bug(kName, "snapshot arrays do not match its shape", h->sparseLayers[layer].c_str());
                });
        std::vector<long> saved;
        call("non-nm exception from checkpointSteps()", [&] { saved = r.checkpointSteps(i); });
        saved.resize(std::min<size_t>(saved.size(), 3));
        saved.push_back(-7); // no checkpoint there
        for (long step : saved)
            call("non-nm exception from checkpoint()", [&] {
                const nm::Checkpoint c = r.checkpoint(i, step);
                if (c.step != step || c.layers.size() != h->sparseLayers.size())
                    nmfuzz::bug(kName, "checkpoint does not match its step or the sparse layers", "");
                for (const auto &l : c.layers) {
                    const size_t size = static_cast<size_t>(l.rows) * static_cast<size_t>(l.cols);
                    if (l.forward.size() != size || l.mask.size() != size || l.prevMask.size() != size ||
                        l.sadMask.size() != size || l.normHistory.size() != l.keptHistory.size())
                        nmfuzz::bug(kName, "checkpoint arrays do not match the layer's shape", l.name.c_str());
                }
            });
    }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
    H5open();
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); // the harness's own failed calls are expected
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static nmfuzz::Scratch file(".h5");
    static const Tree base = baseTree();
    Tree t = base;
    Bytes b{data, size};
    run(t, b);
    writeTree(t, file.path);
    readAll(file.path);
    return 0;
}
