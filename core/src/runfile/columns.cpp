#include "runfile/columns.h"

#include <algorithm>
#include <limits>

namespace nm::series {

using schema::Kind;

void Column::push(double v)
{
    switch (kind) {
    case Kind::F32:
        pushRaw(static_cast<float>(v));
        break;
    case Kind::F64:
        pushRaw(v);
        break;
    case Kind::I32:
        pushRaw(static_cast<int32_t>(v));
        break;
    case Kind::I64:
        pushRaw(static_cast<int64_t>(v));
        break;
    }
}

void Column::write()
{
    const size_t rowBytes = schema::byteSize(kind) * width;
    h5::append(ds.get(), schema::memType(kind), pending.size() / rowBytes, pending.data());
    pending.clear();
}

h5::ChunkedSpec seriesSpec(Kind kind, size_t width, int deflate, hsize_t rows)
{
    static const float nanF = std::numeric_limits<float>::quiet_NaN();
    static const double nanD = std::numeric_limits<double>::quiet_NaN();
    h5::ChunkedSpec s;
    s.fileType = schema::fileType(kind);
    if (width > 0)
        s.inner = {width};
    s.chunkRows = std::max<hsize_t>(16, std::min<hsize_t>(rows, 2048 / std::max<size_t>(width, 1)));
    s.deflate = deflate;
    if (kind == Kind::F32) {
        s.fill = &nanF;
        s.fillType = H5T_NATIVE_FLOAT;
    } else if (kind == Kind::F64) {
        s.fill = &nanD;
        s.fillType = H5T_NATIVE_DOUBLE;
    }
    return s;
}

Column makeColumn(hid_t group, const std::string &name, Kind kind, size_t width, int deflate, hsize_t rows)
{
    Column c;
    c.kind = kind;
    c.width = std::max<size_t>(width, 1);
    c.ds = h5::createGrowing(group, name, seriesSpec(kind, width, deflate, rows));
    return c;
}

Column makeStepColumn(hid_t group, int deflate, hsize_t rows)
{
    static const int64_t minusOne = -1;
    Column c;
    c.kind = Kind::I64;
    h5::ChunkedSpec s = seriesSpec(Kind::I64, 0, deflate, rows);
    s.fill = &minusOne;
    s.fillType = H5T_NATIVE_INT64;
    c.ds = h5::createGrowing(group, "step", s);
    return c;
}

} // namespace nm::series
