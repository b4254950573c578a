#include "nmcore/experiment.h"

#include "nmcore/error.h"
#include "nmcore/platform.h"
#include "nmcore/sparsity.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <set>
#include <sstream>

namespace nm {

namespace {

// Why an option is not swept (empty: it is).
std::string sweepRefusal(const std::string &key)
{
    if (key == "recipe")
        return "list recipes with --recipes";
    if (key == "seed")
        return "list seeds with --seeds";
    if (key == "name")
        return "runs are named after their swept values";
    return {};
}

} // namespace

SweepAxis parseSweep(const std::string &text)
{
    const auto eq = text.find('=');
    if (eq == std::string::npos || eq == 0)
        throw ConfigError("sweep: expected KEY=V1,V2,... such as lambda=1e-4,2e-4, got '" + text + "'");
    SweepAxis a;
    a.key = requireKey(text.substr(0, eq), " in --sweep");
    if (const std::string why = sweepRefusal(a.key); !why.empty())
        throw ConfigError("sweep: " + a.key + " is not swept with --sweep; " + why);
    const std::string list = text.substr(eq + 1);
    const char sep = list.find('|') != std::string::npos ? '|' : ',';
    std::string item;
    std::istringstream in(list);
    while (std::getline(in, item, sep)) {
        item.erase(0, item.find_first_not_of(' '));
        item.erase(item.find_last_not_of(' ') + 1);
        if (item.empty())
            continue;
        if (std::find(a.values.begin(), a.values.end(), item) != a.values.end())
            throw ConfigError("sweep " + a.key + ": '" + item + "' is listed twice");
        a.values.push_back(item);
    }
    if (a.values.empty())
        throw ConfigError("sweep " + a.key + ": no values; write e.g. --sweep " + a.key + "=V1,V2");
    return a;
}

std::vector<std::string> sweepKeys()
{
    std::vector<std::string> keys;
    for (const OptionInfo &o : configOptions())
        if (sweepRefusal(o.key).empty())
            keys.push_back(o.key);
    return keys;
}

std::vector<std::vector<std::pair<std::string, std::string>>> sweepGrid(const std::vector<SweepAxis> &axes)
{
    std::vector<std::vector<std::pair<std::string, std::string>>> grid(1);
    std::set<std::string> keys;
    for (const SweepAxis &a : axes) {
        if (!keys.insert(a.key).second)
            throw ConfigError("sweep: " + a.key + " is swept twice; give all its values in one --sweep " + a.key +
                              "=V1,V2,...");
        std::vector<std::vector<std::pair<std::string, std::string>>> next;
        for (const auto &point : grid)
            for (const std::string &v : a.values) {
                auto p = point;
                p.emplace_back(a.key, v);
                next.push_back(std::move(p));
            }
        grid = std::move(next);
    }
    return grid;
}

std::vector<RunConfig> expandRuns(const RunConfig &base, const std::vector<std::string> &recipes,
                                  const std::vector<uint64_t> &seeds)
{
    if (recipes.empty())
        throw ConfigError(
            "recipes: the list is empty; give one or more of the --recipe spellings, e.g. ste,srste,sste");
    if (seeds.empty())
        throw ConfigError("seeds: the list is empty; give one or more seeds, e.g. 1,2,3");
    std::set<std::string> seenRecipes;
    for (const auto &r : recipes) {
        parseRecipe(r); // throws ConfigError listing the choices
        if (!seenRecipes.insert(r).second)
            throw ConfigError("recipes: '" + r + "' is listed twice");
    }
    std::set<uint64_t> seenSeeds;
    for (uint64_t s : seeds)
        if (!seenSeeds.insert(s).second)
            throw ConfigError("seeds: " + std::to_string(s) + " is listed twice");
    std::vector<RunConfig> runs;
    for (const auto &r : recipes)
        for (uint64_t s : seeds) {
            RunConfig c = base;
            c.recipe = r;
            c.seed = s;
            std::string tag = r;
            for (const auto &[key, value] : base.sweep)
                tag += "_" + key + "=" + value;
            tag += "_s" + std::to_string(s);
            c.name = base.name == "run" ? tag : base.name + "_" + tag;
            runs.push_back(std::move(c));
        }
    return runs;
}

std::vector<RunConfig> expandSweep(const std::string &text, const std::string &origin,
                                   const std::vector<SweepGroup> &groups, const std::vector<SweepAxis> &axes,
                                   const std::vector<uint64_t> &seeds)
{
    std::vector<RunConfig> runs;
    for (const auto &point : sweepGrid(axes))
        for (const SweepGroup &g : groups) {
            std::map<std::string, std::string> flags = g.flags;
            for (const auto &[key, value] : point)
                flags[key] = value;
            RunConfig base;
            try {
                base = parseConfig(text, origin, flags);
            } catch (const ConfigError &e) {
                if (point.empty())
                    throw;
                std::string at;
                for (const auto &[key, value] : point)
                    at += (at.empty() ? "" : ", ") + key + "=" + value;
                throw ConfigError("--sweep (at " + at + "): " + e.what());
            }
            base.sweep = point;
            for (RunConfig &r : expandRuns(base, g.recipes, seeds))
                runs.push_back(std::move(r));
        }
    return runs;
}

std::vector<std::shared_ptr<const Dataset>> loadRunData(const std::vector<RunConfig> &runs)
{
    std::map<std::string, std::shared_ptr<const Dataset>> loaded;
    std::vector<std::shared_ptr<const Dataset>> out;
    for (const auto &c : runs) {
        const DataOptions o = dataOptions(c);
        const std::string key = choiceName(o.source) + '\n' + std::to_string(static_cast<int>(o.task)) + '\n' +
                                o.idxDir + '\n' + o.textFile + '\n' + std::to_string(o.valCount) + '\n' +
                                std::to_string(o.textValFraction);
        auto it = loaded.find(key);
        if (it == loaded.end())
            it = loaded.emplace(key, loadDataset(o)).first;
        out.push_back(it->second);
    }
    return out;
}

ThreadBudget threadBudget(int runs, int cores)
{
    if (cores <= 0)
        cores = hardwareThreads();
    ThreadBudget b;
    b.concurrentRuns = std::max(1, std::min(runs, cores));
    b.threadsPerRun = std::max(1, cores / b.concurrentRuns);
    return b;
}

// ---- Experiment ----------------------------------------------------------------------------

namespace {
// The last observer of every run: between steps it hands the run's compute slot to the next
// waiting run and takes one back (waiting while the experiment is paused).
class SlotObserver : public TrainingObserver {
  public:
    explicit SlotObserver(std::function<void()> between) : m_between(std::move(between)) {}
    void onStep(const StepMetrics &) override { m_between(); }

  private:
    std::function<void()> m_between;
};
} // namespace

Experiment::Experiment(std::vector<RunConfig> runs, int threads)
{
    if (runs.empty())
        throw ConfigError("an experiment needs at least one run");
    m_budget = threadBudget(static_cast<int>(runs.size()), threads);
    for (auto &c : runs)
        c.threads = m_budget.threadsPerRun;
    const auto data = loadRunData(runs);
    m_runs.resize(runs.size());
    for (size_t i = 0; i < runs.size(); ++i) {
        m_runs[i].config = runs[i];
        m_runs[i].trainer = std::make_unique<Trainer>(runs[i], data[i]);
    }
}

Experiment::Experiment(RunConfig parent, RunConfig run, const Checkpoint *from, long atStep, int threads)
{
    m_budget = threadBudget(1, threads);
    parent.threads = run.threads = m_budget.threadsPerRun;
    const auto data = loadRunData({run}).front();
    m_runs.resize(1);
    m_runs[0].config = run;
    if (from && from->step == atStep) {
        m_runs[0].trainer = Trainer::resume(parent, run, data, *from);
        return;
    }
    std::unique_ptr<Trainer> start =
        from ? Trainer::resume(parent, parent, data, *from) : std::make_unique<Trainer>(parent, data);
    while (start->step() < atStep)
        if (!start->stepOnce() && start->step() < atStep)
            throw Error("replaying run '" + parent.name + "': it ended at step " + std::to_string(start->step()) +
                        " (" + toString(start->status()) + ") before step " + std::to_string(atStep));
    m_runs[0].trainer = Trainer::resume(parent, run, data, start->checkpoint());
}

Experiment::~Experiment()
{
    requestStop();
    for (auto &t : m_threads)
        if (t.joinable())
            t.join();
}

const RunConfig &Experiment::config(int run) const
{
    return m_runs.at(static_cast<size_t>(run)).config;
}

Trainer &Experiment::trainer(int run)
{
    return *m_runs.at(static_cast<size_t>(run)).trainer;
}

std::vector<RunInfo> Experiment::infos() const
{
    std::vector<RunInfo> v;
    for (const auto &r : m_runs)
        v.push_back(r.trainer->info());
    return v;
}

void Experiment::addObserver(int run, TrainingObserver *observer)
{
    if (!m_threads.empty())
        throw Error("experiment: observers must be added before start()");
    trainer(run).addObserver(observer);
}

void Experiment::record(RunFileWriter &writer)
{
    if (writer.runCount() != runCount())
        throw RunFileError("experiment has " + std::to_string(runCount()) + " runs, the run file " +
                           std::to_string(writer.runCount()));
    for (int i = 0; i < runCount(); ++i)
        addObserver(i, writer.observer(i));
}

void Experiment::start()
{
    if (!m_threads.empty())
        throw Error("experiment: already started");
    m_slots = std::make_unique<ComputeSlots>(m_budget.concurrentRuns);
    m_running = runCount();
    for (size_t i = 0; i < m_runs.size(); ++i) {
        m_slotObservers.push_back(std::make_unique<SlotObserver>([this] {
            m_slots->release();
            {
                std::unique_lock lock(m_stateMutex);
                m_pauseCv.wait(lock, [&] { return !m_paused || m_stop; });
            }
            m_slots->acquire();
        }));
        m_runs[i].trainer->addObserver(m_slotObservers.back().get());
    }
    for (size_t i = 0; i < m_runs.size(); ++i)
        m_threads.emplace_back([this, i] { runThread(i); });
}

void Experiment::runThread(size_t i)
{
    Run &r = m_runs[i];
    m_slots->acquire();
    try {
        r.summary = r.trainer->run();
    } catch (...) {
        r.error = std::current_exception();
        requestStop();
    }
    m_slots->release();
    {
        std::lock_guard lock(m_stateMutex);
        --m_running;
    }
    m_doneCv.notify_all();
}

bool Experiment::wait(double seconds)
{
    std::unique_lock lock(m_stateMutex);
    auto done = [&] { return m_running == 0; };
    if (seconds < 0) {
        m_doneCv.wait(lock, done);
        return true;
    }
    return m_doneCv.wait_for(lock, std::chrono::duration<double>(seconds), done);
}

std::vector<RunSummary> Experiment::join()
{
    if (m_threads.empty())
        throw Error("experiment: join() before start()");
    for (auto &t : m_threads)
        if (t.joinable())
            t.join();
    std::vector<RunSummary> out;
    for (auto &r : m_runs) {
        if (r.error)
            std::rethrow_exception(r.error);
        out.push_back(r.summary);
    }
    return out;
}

std::vector<RunSummary> Experiment::run()
{
    start();
    return join();
}

void Experiment::requestStop()
{
    m_stop = true;
    for (auto &r : m_runs)
        r.trainer->requestStop();
    std::lock_guard lock(m_stateMutex);
    m_pauseCv.notify_all();
}

void Experiment::setPaused(bool paused)
{
    {
        std::lock_guard lock(m_stateMutex);
        m_paused = paused;
    }
    m_pauseCv.notify_all();
}

// ---- Mean and spread -----------------------------------------------------------------------

MetricSpread spread(const std::vector<double> &values)
{
    MetricSpread s;
    double sum = 0;
    for (double v : values) {
        if (!std::isfinite(v))
            continue;
        if (s.count == 0)
            s.min = s.max = v;
        s.min = std::min(s.min, v);
        s.max = std::max(s.max, v);
        sum += v;
        ++s.count;
    }
    if (s.count == 0) {
        s.mean = s.stddev = s.min = s.max = std::nan("");
        return s;
    }
    s.mean = sum / s.count;
    double ss = 0;
    for (double v : values)
        if (std::isfinite(v))
            ss += (v - s.mean) * (v - s.mean);
    s.stddev = s.count > 1 ? std::sqrt(ss / (s.count - 1)) : 0.0;
    return s;
}

SeriesBand bandOverSeeds(const std::vector<Series> &series)
{
    std::map<long, std::vector<double>> byStep;
    for (const auto &s : series) {
        const size_t n = std::min(s.steps.size(), s.values.size());
        for (size_t i = 0; i < n; ++i)
            byStep[s.steps[i]].push_back(s.values[i]);
    }
    SeriesBand b;
    for (const auto &[step, values] : byStep) {
        const MetricSpread m = spread(values);
        b.steps.push_back(step);
        b.count.push_back(m.count);
        b.mean.push_back(static_cast<float>(m.mean));
        b.stddev.push_back(static_cast<float>(m.stddev));
        b.min.push_back(static_cast<float>(m.min));
        b.max.push_back(static_cast<float>(m.max));
    }
    return b;
}

std::vector<RecipeSummary> summarizeByRecipe(const std::vector<RunConfig> &configs,
                                             const std::vector<RunSummary> &summaries)
{
    if (configs.size() != summaries.size())
        throw Error("summarizeByRecipe: " + std::to_string(configs.size()) + " configs but " +
                    std::to_string(summaries.size()) + " summaries");
    std::vector<RecipeSummary> groups;
    std::vector<std::vector<size_t>> members;
    for (size_t i = 0; i < configs.size(); ++i) {
        auto it = std::find_if(groups.begin(), groups.end(), [&](const RecipeSummary &g) {
            return g.recipe == configs[i].recipe && g.nm == configs[i].nm && g.sweep == configs[i].sweep;
        });
        if (it == groups.end()) {
            groups.push_back({configs[i].recipe, configs[i].nm, configs[i].sweep, 0, {}, {}, {}, {}, {}, {}});
            members.emplace_back();
            it = groups.end() - 1;
        }
        members[static_cast<size_t>(it - groups.begin())].push_back(i);
    }
    for (size_t g = 0; g < groups.size(); ++g) {
        std::vector<double> vl, va, tl, ta, sec;
        for (size_t i : members[g]) {
            const RunSummary &s = summaries[i];
            groups[g].statuses.push_back(toString(s.status));
            vl.push_back(s.valLoss);
            va.push_back(s.valAccuracy);
            tl.push_back(s.testLoss);
            ta.push_back(s.testAccuracy);
            sec.push_back(s.seconds);
        }
        groups[g].runs = static_cast<int>(members[g].size());
        groups[g].valLoss = spread(vl);
        groups[g].valAccuracy = spread(va);
        groups[g].testLoss = spread(tl);
        groups[g].testAccuracy = spread(ta);
        groups[g].seconds = spread(sec);
    }
    return groups;
}

namespace {
std::string cell(const MetricSpread &m, int runs, int prec)
{
    if (m.count == 0)
        return "-";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f ± %.*f", prec, m.mean, prec, m.stddev);
    std::string s = buf;
    if (m.count < runs)
        s += " (" + std::to_string(m.count) + ")";
    return s;
}
} // namespace

std::string formatSummaryTable(const std::vector<RecipeSummary> &groups)
{
    // A column of swept values when the experiment has a sweep.
    const bool swept =
        std::any_of(groups.begin(), groups.end(), [](const RecipeSummary &g) { return !g.sweep.empty(); });
    std::vector<std::vector<std::string>> rows = {
        {"recipe", "N:M", "runs", "val_loss", "val_acc", "test_loss", "test_acc", "seconds", "status"}};
    if (swept)
        rows[0].insert(rows[0].begin() + 2, "sweep");
    for (const auto &g : groups) {
        std::map<std::string, int> counts;
        for (const auto &s : g.statuses)
            ++counts[s];
        std::string status;
        for (const auto &[s, n] : counts)
            status += (status.empty() ? "" : ",") + s + (n > 1 ? "×" + std::to_string(n) : "");
        rows.push_back({g.recipe, g.nm, std::to_string(g.runs), cell(g.valLoss, g.runs, 4),
                        cell(g.valAccuracy, g.runs, 4), cell(g.testLoss, g.runs, 4), cell(g.testAccuracy, g.runs, 4),
                        cell(g.seconds, g.runs, 1), status});
        if (swept) {
            std::string values;
            for (const auto &[key, value] : g.sweep)
                values += (values.empty() ? "" : " ") + key + "=" + value;
            rows.back().insert(rows.back().begin() + 2, values);
        }
    }
    // Column widths in characters (± and × are one character, two bytes in UTF-8).
    auto width = [](const std::string &s) {
        size_t w = 0;
        for (const char c : s)
            w += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
        return w;
    };
    std::vector<size_t> widths(rows[0].size(), 0);
    for (const auto &r : rows)
        for (size_t c = 0; c < r.size(); ++c)
            widths[c] = std::max(widths[c], width(r[c]));
    std::string out;
    for (const auto &r : rows) {
        std::string line;
        for (size_t c = 0; c < r.size(); ++c) {
            line += r[c];
            if (c + 1 < r.size())
                line += std::string(widths[c] - width(r[c]) + 2, ' ');
        }
        out += line + "\n";
    }
    return out;
}

} // namespace nm
