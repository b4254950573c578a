#pragma once
// Growing series of a run file (internal to core/src/runfile/): one dataset per column, rows
// buffered between flushes, and tables of columns that share a `step` column.
#include "runfile/h5.h"
#include "runfile/schema.h"

#include <cstdint>
#include <string>
#include <vector>

namespace nm::series {

// One growing dataset and the rows buffered for it since the last flush.
struct Column {
    h5::Id ds;
    schema::Kind kind = schema::Kind::F32;
    size_t width = 1; // elements per row
    std::vector<unsigned char> pending;

    void push(double v);
    template <typename T> void pushRaw(T v)
    {
        const auto *b = reinterpret_cast<const unsigned char *>(&v);
        pending.insert(pending.end(), b, b + sizeof v);
    }
    void write();
};

// Columns that share a `step` column. Values are written and flushed before the steps, so a
// step a reader can see always has its values on disk, whenever the writer is killed.
struct Table {
    std::vector<Column> values;
    Column step;
    bool dirty = false;

    void writeValues()
    {
        if (dirty)
            for (auto &c : values)
                c.write();
    }
    void writeSteps()
    {
        if (dirty)
            step.write();
        dirty = false;
    }
};

// width 0: a 1-D series; width >= 1: a (rows × width) matrix. Chunks of `rows` rows (capped
// near 16 KiB): small enough that the allocated but unused tail of a short series stays small.
// Float series are filled with NaN.
h5::ChunkedSpec seriesSpec(schema::Kind kind, size_t width, int deflate, hsize_t rows = 512);
Column makeColumn(hid_t group, const std::string &name, schema::Kind kind, size_t width, int deflate, hsize_t rows);
// The `step` column of a group (a row whose data never arrived reads as -1).
Column makeStepColumn(hid_t group, int deflate, hsize_t rows);

// A group `name` with one column per field of a schema table, and its step column.
template <typename Source, size_t N>
Table makeTable(hid_t run, const std::string &name, const schema::Field<Source> (&fields)[N], size_t width, int deflate,
                hsize_t rows)
{
    h5::Id g = h5::createGroup(run, name);
    Table t;
    for (const auto &f : fields)
        t.values.push_back(makeColumn(g.get(), f.name, f.kind, width, deflate, rows));
    t.step = makeStepColumn(g.get(), deflate, rows);
    return t;
}

} // namespace nm::series
