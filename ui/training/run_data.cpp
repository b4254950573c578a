#include "training/run_data.h"

#include "nmcore/config.h"

#include <algorithm>
#include <cmath>

namespace nmui {

const std::vector<float> *MetricTable::column(const std::string &name) const
{
    auto it = columns.find(name);
    return it == columns.end() ? nullptr : &it->second;
}

void MetricTable::append(const MetricTable &rows)
{
    if (rows.empty())
        return;
    const size_t before = step.size();
    step.insert(step.end(), rows.step.begin(), rows.step.end());
    time.insert(time.end(), rows.time.begin(), rows.time.end());
    time.resize(step.size(), NAN);
    if (!rows.wall.empty() || !wall.empty()) {
        wall.resize(before, NAN);
        wall.insert(wall.end(), rows.wall.begin(), rows.wall.end());
        wall.resize(step.size(), NAN);
    }
    if (!rows.flops.empty() || !flops.empty()) {
        flops.resize(before, NAN);
        flops.insert(flops.end(), rows.flops.begin(), rows.flops.end());
        flops.resize(step.size(), NAN);
    }
    for (const auto &[name, values] : rows.columns) {
        auto &col = columns[name];
        col.resize(before, NAN);
        col.insert(col.end(), values.begin(), values.end());
    }
    for (auto &[name, col] : columns)
        col.resize(step.size(), NAN);
}

MetricTable MetricTable::prefix(double maxStep) const
{
    const size_t n = static_cast<size_t>(std::upper_bound(step.begin(), step.end(), maxStep) - step.begin());
    MetricTable t;
    t.step.assign(step.begin(), step.begin() + static_cast<long>(n));
    t.time.assign(time.begin(), time.begin() + static_cast<long>(std::min(n, time.size())));
    t.wall.assign(wall.begin(), wall.begin() + static_cast<long>(std::min(n, wall.size())));
    t.flops.assign(flops.begin(), flops.begin() + static_cast<long>(std::min(n, flops.size())));
    for (const auto &[name, col] : columns)
        t.columns[name].assign(col.begin(), col.begin() + static_cast<long>(std::min(n, col.size())));
    return t;
}

void MetricTable::clear()
{
    step.clear();
    time.clear();
    wall.clear();
    flops.clear();
    columns.clear();
}

std::string layerColumn(const std::string &field, int layer)
{
    return field + "/" + std::to_string(layer);
}

QString stateName(RunState s)
{
    switch (s) {
    case RunState::Ready:
        return QStringLiteral("Ready");
    case RunState::Starting:
        return QStringLiteral("Starting");
    case RunState::Running:
        return QStringLiteral("Running");
    case RunState::Paused:
        return QStringLiteral("Paused");
    case RunState::Completed:
        return QStringLiteral("Completed");
    case RunState::Stopped:
        return QStringLiteral("Stopped");
    case RunState::Diverged:
        return QStringLiteral("Diverged");
    case RunState::Failed:
        return QStringLiteral("Failed");
    case RunState::Loaded:
        return QStringLiteral("Loaded");
    }
    return {};
}

bool isFinished(RunState s)
{
    return s == RunState::Completed || s == RunState::Stopped || s == RunState::Diverged || s == RunState::Failed ||
           s == RunState::Loaded;
}

QString RunMeta::groupKey() const
{
    nm::RunConfig c = config;
    c.seed = 0;
    c.name = "";
    c.threads = 0;
    return QString::fromStdString(nm::configToJson(c)) + QStringLiteral("|") + source +
           QStringLiteral("|%1@%2").arg(parentId).arg(forkStep);
}

} // namespace nmui
