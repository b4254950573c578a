// nmrunfile_check FILE.h5 [--series GROUP/NAME]... [--snapshot-sums]
//
// Opens a run file with nm::RunFileReader, the reader the GUI uses, reads everything it exposes
// (every run's header, status and summary, every scalar series, every per-layer series, the
// snapshot steps and each snapshot) and prints it as one JSON object on stdout; NaN prints as
// null. --series also reads series the reader does not list (e.g. "scalars/NAME", written by
// the Python recorder); --snapshot-sums prints the sums of each snapshot's arrays instead of
// the arrays. On failure: the reader's message on stderr and exit status 1 (2 for bad usage).
#include "nmcore/config.h"
#include "nmcore/runfile.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

namespace {

nlohmann::json seriesJson(const nm::Series &s)
{
    return {{"steps", s.steps}, {"values", s.values}};
}

nlohmann::json layerSeriesJson(const nm::LayerSeries &s)
{
    return {{"steps", s.steps}, {"layers", s.layers}, {"values", s.values}};
}

nlohmann::json snapshotJson(const nm::LayerSnapshot &s, bool sums)
{
    nlohmann::json j = {{"name", s.name},   {"rows", s.rows}, {"cols", s.cols}, {"beta", s.beta},
                        {"alpha", s.alpha}, {"n", s.n},       {"m", s.m}};
    if (sums) {
        double w = 0, f = 0;
        long kept = 0;
        for (float v : s.weight)
            w += static_cast<double>(v);
        for (float v : s.forward)
            f += static_cast<double>(v);
        for (uint8_t v : s.mask)
            kept += v;
        j["weight_sum"] = w;
        j["forward_sum"] = f;
        j["mask_kept"] = kept;
    } else {
        j["weight"] = s.weight;
        j["forward"] = s.forward;
        j["mask"] = s.mask;
    }
    return j;
}

nlohmann::json runJson(const nm::RunFileReader &reader, int i, const std::vector<std::string> &extraSeries, bool sums)
{
    const nm::RunHeader &h = reader.run(i);
    nlohmann::json layers = nlohmann::json::array();
    for (const auto &l : h.layers)
        layers.push_back({{"name", l.name},
                          {"in", l.in},
                          {"out", l.out},
                          {"sparse", l.sparse},
                          {"n", l.n},
                          {"m", l.m},
                          {"dense_params", l.denseParams},
                          {"effective_params", l.effectiveParams}});
    const nm::RunSummary &s = h.summary;
    nlohmann::json run = {
        {"group", h.group},
        {"name", h.name},
        {"status", h.status},
        {"last_step", h.lastStep},
        {"recipe", nm::toString(h.recipe)},
        {"config_json", h.configJson},
        {"config", nlohmann::json::parse(nm::configToJson(h.config, -1))}, // as this build reads it
        {"sweep", h.config.sweep},
        {"model", h.modelDescription},
        {"data", h.dataDescription},
        {"seed", h.seed},
        {"nm", h.nm},
        {"parameter_count", h.parameterCount},
        {"effective_parameter_count", h.effectiveParameterCount},
        {"threads", h.threads},
        {"blas_kernel", h.blasKernel},
        {"parent", h.parent},
        {"fork_step", h.forkStep},
        {"layers", layers},
        {"sparse_layers", h.sparseLayers},
        {"summary",
         {{"step", s.step},
          {"status", nm::toString(s.status)},
          {"val_loss", s.valLoss},
          {"val_accuracy", s.valAccuracy},
          {"test_loss", s.testLoss},
          {"test_accuracy", s.testAccuracy},
          {"seconds", s.seconds}}},
    };
    nlohmann::json series = nlohmann::json::object();
    for (const auto &name : nm::scalarSeriesNames())
        series[name] = seriesJson(reader.series(i, name));
    for (const auto &name : extraSeries)
        series[name] = seriesJson(reader.series(i, name));
    run["series"] = series;
    nlohmann::json layerSeries = nlohmann::json::object();
    for (const auto &name : nm::layerSeriesNames())
        layerSeries[name] = layerSeriesJson(reader.layerSeries(i, name));
    run["layer_series"] = layerSeries;
    const std::vector<long> steps = reader.snapshotSteps(i);
    run["snapshot_steps"] = steps;
    nlohmann::json snapshots = nlohmann::json::array();
    for (long step : steps) {
        nlohmann::json perLayer = nlohmann::json::array();
        for (int l = 0; l < static_cast<int>(h.sparseLayers.size()); ++l)
            perLayer.push_back(snapshotJson(reader.snapshot(i, l, step), sums));
        snapshots.push_back({{"step", step}, {"layers", perLayer}});
    }
    run["snapshots"] = snapshots;
    return run;
}

int usage()
{
    std::fprintf(stderr, "usage: nmrunfile_check FILE.h5 [--series GROUP/NAME]... [--snapshot-sums]\n");
    return 2;
}

} // namespace

int main(int argc, char **argv)
{
    std::string path;
    std::vector<std::string> extraSeries;
    bool sums = false;
    for (int a = 1; a < argc; ++a) {
        const std::string arg = argv[a];
        if (arg == "--series" && a + 1 < argc)
            extraSeries.emplace_back(argv[++a]);
        else if (arg == "--snapshot-sums")
            sums = true;
        else if (!arg.empty() && arg[0] != '-' && path.empty())
            path = arg;
        else
            return usage();
    }
    if (path.empty())
        return usage();
    try {
        nm::RunFileReader reader(path);
        nlohmann::json out = {
            {"path", reader.path()},
            {"schema_version", reader.schemaVersion()},
            {"tool_version", reader.toolVersion()},
            {"created", reader.createdAt()},
            {"last_flush", reader.lastFlushTime()},
            {"follows_writer", reader.followsWriter()},
            {"run_count", reader.runCount()},
        };
        nlohmann::json runs = nlohmann::json::array();
        for (int i = 0; i < reader.runCount(); ++i)
            runs.push_back(runJson(reader, i, extraSeries, sums));
        out["runs"] = runs;
        std::printf("%s\n", out.dump().c_str());
        return 0;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "nmrunfile_check: %s\n", e.what());
        return 1;
    }
}
