#include "runfile/schema.h"

#include "nmcore/runfile.h"

#include <cmath>

namespace nm {
namespace schema {

hid_t fileType(Kind k)
{
    switch (k) {
    case Kind::F32:
        return H5T_IEEE_F32LE;
    case Kind::F64:
        return H5T_IEEE_F64LE;
    case Kind::I32:
        return H5T_STD_I32LE;
    case Kind::I64:
        return H5T_STD_I64LE;
    }
    return H5T_IEEE_F32LE;
}

hid_t memType(Kind k)
{
    switch (k) {
    case Kind::F32:
        return H5T_NATIVE_FLOAT;
    case Kind::F64:
        return H5T_NATIVE_DOUBLE;
    case Kind::I32:
        return H5T_NATIVE_INT32;
    case Kind::I64:
        return H5T_NATIVE_INT64;
    }
    return H5T_NATIVE_FLOAT;
}

size_t byteSize(Kind k)
{
    return k == Kind::F32 || k == Kind::I32 ? 4 : 8;
}

using K = Kind;

const Field<StepMetrics> kTrainFields[7] = {
    {"loss", K::F32, [](const StepMetrics &m) -> double { return m.loss; }},
    {"accuracy", K::F32, [](const StepMetrics &m) -> double { return m.accuracy; }},
    {"lr", K::F64, [](const StepMetrics &m) -> double { return m.lr; }},
    {"grad_norm", K::F64, [](const StepMetrics &m) -> double { return m.gradNorm; }},
    {"step_seconds", K::F64, [](const StepMetrics &m) -> double { return m.stepSeconds; }},
    {"elapsed_seconds", K::F64, [](const StepMetrics &m) -> double { return m.elapsedSeconds; }},
    {"flops", K::F64, [](const StepMetrics &m) -> double { return m.totalFlops; }},
};

const Field<EvalMetrics> kEvalFields[3] = {
    {"loss", K::F32, [](const EvalMetrics &e) -> double { return e.loss; }},
    {"accuracy", K::F32, [](const EvalMetrics &e) -> double { return e.accuracy; }},
    {"bits_per_char", K::F32, [](const EvalMetrics &e) -> double { return e.bitsPerChar; }},
};

std::string runGroupName(int index, const std::string &name)
{
    char prefix[16];
    std::snprintf(prefix, sizeof prefix, "%03d_", index);
    std::string clean;
    for (char c : name)
        clean += std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-' ? c : '_';
    return std::string(kRunsGroup) + "/" + prefix + clean;
}

std::string layerGroupName(const std::string &layer)
{
    std::string g = layer;
    for (char &c : g)
        if (c == '/')
            c = '_';
    return g.empty() || g == "." || g == ".." || g == "step" ? "layer_" + g : g;
}

} // namespace schema

const std::vector<std::string> &scalarSeriesNames()
{
    static const std::vector<std::string> names = [] {
        std::vector<std::string> v;
        for (const auto &f : schema::kTrainFields)
            v.push_back(std::string("train/") + f.name);
        for (const char *split : {"val/", "test/"})
            for (const auto &f : schema::kEvalFields)
                v.push_back(split + std::string(f.name));
        for (const auto &f : schema::kContinuityFields)
            v.push_back(std::string("continuity/") + f.name);
        return v;
    }();
    return names;
}

const std::vector<std::string> &layerSeriesNames()
{
    static const std::vector<std::string> names = [] {
        std::vector<std::string> v;
        for (const auto &f : schema::kLayerFields)
            v.emplace_back(f.name);
        return v;
    }();
    return names;
}

std::vector<uint8_t> packMask(const std::vector<uint8_t> &mask, int rows, int cols)
{
    const size_t rowBytes = (static_cast<size_t>(cols) + 7) / 8;
    if (mask.size() != static_cast<size_t>(rows) * static_cast<size_t>(cols))
        throw RunFileError("packMask: mask has " + std::to_string(mask.size()) + " entries, expected " +
                           std::to_string(rows) + "x" + std::to_string(cols));
    std::vector<uint8_t> out(rowBytes * static_cast<size_t>(rows), 0);
    for (size_t r = 0; r < static_cast<size_t>(rows); ++r)
        for (size_t c = 0; c < static_cast<size_t>(cols); ++c)
            if (mask[r * static_cast<size_t>(cols) + c])
                out[r * rowBytes + c / 8] |= static_cast<uint8_t>(1u << (c % 8));
    return out;
}

std::vector<uint8_t> unpackMask(const std::vector<uint8_t> &packed, int rows, int cols)
{
    const size_t rowBytes = (static_cast<size_t>(cols) + 7) / 8;
    if (packed.size() != rowBytes * static_cast<size_t>(rows))
        throw RunFileError("unpackMask: " + std::to_string(packed.size()) + " bytes do not hold a " +
                           std::to_string(rows) + "x" + std::to_string(cols) + " mask");
    std::vector<uint8_t> out(static_cast<size_t>(rows) * static_cast<size_t>(cols));
    for (size_t r = 0; r < static_cast<size_t>(rows); ++r)
        for (size_t c = 0; c < static_cast<size_t>(cols); ++c)
            out[r * static_cast<size_t>(cols) + c] = (packed[r * rowBytes + c / 8] >> (c % 8)) & 1u;
    return out;
}

} // namespace nm
