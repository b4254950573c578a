#pragma once
// Runs with known data, put straight into a RunStore (no training), for chart tests.
#include "training/run_store.h"

#include "nmcore/config.h"

#include <cmath>
#include <functional>
#include <memory>

namespace nmui::test {

struct SyntheticRun {
    QString name = QStringLiteral("run");
    std::string recipe = "ste";
    uint64_t seed = 1;
    long steps = 1000;
    int layers = 3;
    int layerIn = 16, layerOut = 16; // every layer's shape
    long firstStep = 1;
    std::function<float(long step)> loss = [](long s) { return 2.0f / std::sqrt(static_cast<float>(s)); };
    // Flip rate of layer l at a step.
    std::function<float(long step)> valAccuracy = [](long) { return 0.8f; };
    std::vector<std::pair<std::string, std::string>> sweep = {}; // RunConfig::sweep
    std::function<void(nm::RunConfig &)> config = nullptr;       // further changes to the config
    std::string gemm = {};                                       // every layer's SparseLayerInfo::gemm
    std::function<float(int layer, long step)> flipRate = [](int l, long s) {
        return 0.01f * static_cast<float>(l + 1) / static_cast<float>(1 + s / 100);
    };
};

inline int addRun(RunStore &store, const SyntheticRun &s)
{
    RunMeta meta;
    meta.name = s.name;
    meta.config = nm::defaultConfig();
    meta.config.recipe = s.recipe;
    meta.config.seed = s.seed;
    meta.config.steps = s.steps;
    meta.config.name = s.name.toStdString();
    meta.config.sweep = s.sweep;
    if (s.config)
        s.config(meta.config);
    meta.recipeTitle = QString::fromStdString(s.recipe);
    meta.state = RunState::Loaded;
    for (int l = 0; l < s.layers; ++l) {
        nm::SparseLayerInfo info;
        info.name = "fc" + std::to_string(l + 1);
        info.in = s.layerIn;
        info.out = s.layerOut;
        info.sparse = true;
        info.n = 2;
        info.m = 4;
        info.gemm = s.gemm;
        meta.layers.push_back(info);
        meta.sparseLayers.push_back(info.name);
    }
    const int id = store.addRun(meta);
    MetricTable train, val, test, cont;
    for (long step = s.firstStep; step <= s.steps; ++step) {
        train.step.push_back(static_cast<double>(step));
        train.time.push_back(0.01 * static_cast<double>(step));
        train.wall.push_back(0.02 * static_cast<double>(step));
        train.columns["loss"].push_back(s.loss(step));
        train.columns["accuracy"].push_back(1.0f - s.loss(step) / 4.0f);
        for (int l = 0; l < s.layers; ++l) {
            const float r = s.flipRate(l, step);
            train.columns[layerColumn("flip_rate", l)].push_back(r);
            train.columns[layerColumn("flips", l)].push_back(std::round(r * 256.0f));
            train.columns[layerColumn("grad_noise_kept", l)].push_back(0.2f);
            train.columns[layerColumn("grad_noise_pruned", l)].push_back(0.4f);
        }
        if (step % 100 == 0) {
            val.step.push_back(static_cast<double>(step));
            val.time.push_back(0.01 * static_cast<double>(step));
            val.columns["loss"].push_back(s.loss(step) * 1.1f);
            val.columns["accuracy"].push_back(s.valAccuracy(step));
            cont.step.push_back(static_cast<double>(step));
            cont.time.push_back(0.01 * static_cast<double>(step));
            cont.columns["dF1"].push_back(-0.01f * static_cast<float>(step % 7));
            cont.columns["dF2"].push_back(-0.01f * static_cast<float>(step % 5));
        }
    }
    store.setSeries(id, std::move(train), std::move(val), std::move(test), std::move(cont));
    return id;
}

// A snapshot of every layer of a SyntheticRun at `step`: weights, all kept, and the flip count
// of each weight from `count(layer, row, col)` (none recorded when `count` is empty).
inline std::shared_ptr<const nm::Snapshot> syntheticSnapshot(const SyntheticRun &s, long step,
                                                             std::function<int(int, int, int)> count)
{
    auto snap = std::make_shared<nm::Snapshot>();
    snap->step = step;
    for (int l = 0; l < s.layers; ++l) {
        nm::LayerSnapshot ls;
        ls.name = "fc" + std::to_string(l + 1);
        ls.rows = s.layerOut;
        ls.cols = s.layerIn;
        ls.n = 2;
        ls.m = 4;
        const size_t size = static_cast<size_t>(ls.rows) * static_cast<size_t>(ls.cols);
        ls.weight.assign(size, 0.5f);
        ls.forward = ls.weight;
        ls.mask.assign(size, 1);
        if (count)
            for (int r = 0; r < ls.rows; ++r)
                for (int c = 0; c < ls.cols; ++c)
                    ls.flipCount.push_back(static_cast<uint16_t>(count(l, r, c)));
        snap->layers.push_back(std::move(ls));
    }
    return snap;
}

// Appends steps (a live run growing).
inline void appendSteps(RunStore &store, int id, long from, long to, float value)
{
    RunBatch b;
    b.runId = id;
    for (long s = from; s <= to; ++s) {
        b.train.step.push_back(static_cast<double>(s));
        b.train.time.push_back(0.01 * static_cast<double>(s));
        b.train.wall.push_back(0.02 * static_cast<double>(s));
        b.train.columns["loss"].push_back(value);
    }
    store.apply(b);
}

} // namespace nmui::test
