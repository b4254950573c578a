// nmtrain: the command-line runner. Trains one run, or an experiment of several recipes and
// seeds side by side, from a JSON config and/or flags; optionally records everything in a run
// file (HDF5); prints a parseable summary line per run at the end (and a table over seeds).
#include "blas_setup.h"
#include "console_observer.h"

#include "nmcore/config.h"
#include "nmcore/error.h"
#include "nmcore/experiment.h"
#include "nmcore/platform.h"
#include "nmcore/runfile.h"
#include "nmcore/trainer.h"

#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace {

std::atomic<bool> g_interrupted{false};

void onSigint(int)
{
    if (g_interrupted.exchange(true))
        std::_Exit(130); // second Ctrl-C: leave at once
}

struct CliArgs {
    std::string configPath;
    std::string recipes, seeds, out; // experiment options (not config keys)
    std::vector<std::string> sweeps; // --sweep KEY=V1,V2,... (repeatable)
    std::string resume, run;         // --resume FILE.h5 --run NAME [--from-step K]
    long fromStep = -1;
    std::map<std::string, std::string> flags;
    bool json = false, quiet = false, help = false, printConfig = false;
    bool overwrite = false, append = false; // what --out does with an existing file
};

void printHelp()
{
    std::printf(
        "Usage: nmtrain [--config FILE] [--OPTION VALUE ...] [--recipes LIST] [--seeds LIST] [--sweep KEY=LIST ...]\n"
        "               [--out FILE.h5 [--overwrite | --append]] [--json] [--quiet]\n"
        "       nmtrain --resume FILE.h5 --run NAME [--from-step K] [--OPTION VALUE ...] [--out OTHER.h5]\n"
        "\n"
        "Trains an MLP on Fashion-MNIST or a char-level GPT on text and prints one summary line per run:\n"
        "  final run=NAME step=N val_loss=X val_acc=Y status=Completed|Stopped|Diverged [test_loss=.. test_acc=..] "
        "seconds=S\n"
        "\n"
        "Program options:\n"
        "  --config FILE     JSON object of option: value pairs; flags given on the command line win\n"
        "  --recipes LIST    experiment: one run per recipe and seed, e.g. ste,srste,sste (instead of --recipe)\n"
        "  --seeds LIST      experiment: seeds, e.g. 1,2,3 (instead of --seed); runs with one seed share the\n"
        "                    data order and initial weights; a table of mean ± std per recipe ends the output\n"
        "  --sweep KEY=LIST  experiment: one run per value of option KEY (repeatable: the grid of every\n"
        "                    sweep × recipes × seeds), e.g. --sweep lambda=1e-4,2e-4 --sweep nm=2:4,1:8;\n"
        "                    separate values with | when they hold commas (mlp_hidden=128,128|256,256);\n"
        "                    runs are named recipe_KEY=VALUE_sSEED and grouped by them in the table\n"
        "  --out FILE.h5     record every run in an HDF5 run file (layout: README, \"Run-file format\");\n"
        "                    an existing file is never replaced unless --overwrite or --append is given\n"
        "  --overwrite       replace an existing --out file\n"
        "  --append          add the runs to an existing --out file, after its own runs\n"
        "  --resume FILE.h5  continue run NAME of a run file from its last checkpoint (bit-identical to an\n"
        "                    uninterrupted run on the same machine and thread count); options given change\n"
        "                    the continued run (e.g. --steps 6000, --recipe sste: a fork). The new run is\n"
        "                    added to FILE.h5 (named NAME@K, attributes parent and fork_step) unless --out\n"
        "  --run NAME        the run of --resume to continue\n"
        "  --from-step K     continue from step K instead: from the checkpoint at K, or by replaying the steps\n"
        "                    from the last checkpoint before K (a warning says when the file's BLAS kernel\n"
        "                    or thread count differs, so the replayed steps round differently)\n"
        "  --json            print JSON lines on stdout (start, eval, final) instead of the summary line\n"
        "  --quiet           no progress output on stderr\n"
        "  --print-config    print the resolved configuration as JSON and exit\n"
        "  --help            this text\n"
        "\n"
        "Run options (also valid as config-file keys; write them with - or _):\n");
    for (const auto &o : nm::configOptions()) {
        std::string flag = "--" + o.key;
        for (auto &ch : flag)
            if (ch == '_')
                ch = '-';
        std::string kind;
        switch (o.type) {
        case nm::OptionType::Int:
            kind = "N";
            break;
        case nm::OptionType::Float:
            kind = "X";
            break;
        case nm::OptionType::Bool:
            kind = "[true|false]";
            break;
        case nm::OptionType::String:
            kind = "TEXT";
            break;
        case nm::OptionType::IntList:
            kind = "N,N,...";
            break;
        case nm::OptionType::Choice:
            for (size_t i = 0; i < o.choices.size(); ++i)
                kind += (i ? "|" : "") + o.choices[i];
            break;
        }
        std::printf("  %-22s %s\n  %-22s %s (default: %s)\n", flag.c_str(), kind.c_str(), "", o.help.c_str(),
                    o.defaultText.empty() ? "empty" : o.defaultText.c_str());
    }
    std::printf("\nExit status: 0 when a run ends (Completed, Stopped by Ctrl-C, or Diverged), 1 on invalid input\n"
                "or when recording to --out stopped early (disk full, file removed; the runs still finish).\n"
                "The BLAS kernel is chosen at start-up (OPENBLAS_CORETYPE is honoured when set).\n");
}

bool isBoolOption(const std::string &key)
{
    for (const auto &o : nm::configOptions())
        if (o.key == key)
            return o.type == nm::OptionType::Bool;
    return false;
}

long parseStep(const std::string &text)
{
    size_t used = 0;
    long v = -1;
    try {
        v = std::stol(text, &used);
    } catch (const std::exception &) {
        used = 0;
    }
    if (used != text.size() || text.empty() || v < 1)
        throw nm::ConfigError("from-step: '" + text + "' is not a step (a positive integer, e.g. --from-step 1500)");
    return v;
}

CliArgs parseArgs(int argc, char **argv)
{
    CliArgs a;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "-h" || arg == "--help") {
            a.help = true;
            continue;
        }
        if (arg.rfind("--", 0) != 0 || arg.size() == 2)
            throw nm::ConfigError("unexpected argument '" + arg + "'; options start with -- (see --help)");
        std::string name = arg.substr(2), value;
        bool hasValue = false;
        if (const auto eq = name.find('='); eq != std::string::npos) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
            hasValue = true;
        }
        if (name == "json" || name == "quiet" || name == "print-config" || name == "print_config" ||
            name == "overwrite" || name == "append") {
            (name == "json"        ? a.json
             : name == "quiet"     ? a.quiet
             : name == "overwrite" ? a.overwrite
             : name == "append"    ? a.append
                                   : a.printConfig) = true;
            continue;
        }
        const bool program = name == "config" || name == "recipes" || name == "seeds" || name == "sweep" ||
                             name == "out" || name == "resume" || name == "run" || name == "from-step" ||
                             name == "from_step";
        const std::string key = program ? name : nm::canonicalKey(name);
        if (!hasValue) {
            const bool boolFlag = !key.empty() && isBoolOption(key);
            if (boolFlag && (i + 1 >= argc || std::string(argv[i + 1]).rfind("--", 0) == 0)) {
                value = "true";
            } else {
                if (i + 1 >= argc)
                    throw nm::ConfigError("--" + name + " needs a value (see --help)");
                value = argv[++i];
            }
        }
        if (name == "config")
            a.configPath = value;
        else if (name == "recipes")
            a.recipes = value;
        else if (name == "seeds")
            a.seeds = value;
        else if (name == "sweep")
            a.sweeps.push_back(value);
        else if (name == "out")
            a.out = value;
        else if (name == "resume")
            a.resume = value;
        else if (name == "run")
            a.run = value;
        else if (name == "from-step" || name == "from_step")
            a.fromStep = parseStep(value);
        else
            a.flags[name] = value; // unknown names are reported by parseConfig with a suggestion
    }
    return a;
}

std::string readConfigFile(const std::string &path)
{
    std::ifstream in(path);
    if (!in)
        throw nm::ConfigError("cannot read config file '" + path + "' (does it exist and is it readable?)");
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::vector<uint64_t> parseSeeds(const std::string &text)
{
    std::vector<uint64_t> seeds;
    for (const auto &s : nm::splitList(text)) {
        size_t used = 0;
        unsigned long long v = 0;
        try {
            v = std::stoull(s, &used);
        } catch (const std::exception &) {
            used = 0;
        }
        if (used != s.size() || s[0] == '-')
            throw nm::ConfigError("seeds: '" + s + "' is not a non-negative integer; write e.g. --seeds 1,2,3");
        seeds.push_back(v);
    }
    return seeds;
}

bool flagGiven(const CliArgs &args, const char *key)
{
    for (const auto &[k, v] : args.flags)
        if (nm::canonicalKey(k) == key)
            return true;
    return false;
}

// The runs the command line asks for: one, or the grid of sweeps × recipes × seeds. Each point
// of a sweep is its own config (its values applied as flags, so per-model defaults follow a
// swept model).
std::vector<nm::RunConfig> plannedRuns(const CliArgs &args, const nm::RunConfig &config, const std::string &text,
                                       const std::string &origin)
{
    if (args.recipes.empty() && args.seeds.empty() && args.sweeps.empty())
        return {config};
    if (!args.recipes.empty() && flagGiven(args, "recipe"))
        throw nm::ConfigError("give either --recipe or --recipes, not both");
    if (!args.seeds.empty() && flagGiven(args, "seed"))
        throw nm::ConfigError("give either --seed or --seeds, not both");
    const auto recipes = args.recipes.empty() ? std::vector<std::string>{config.recipe} : nm::splitList(args.recipes);
    const auto seeds = args.seeds.empty() ? std::vector<uint64_t>{config.seed} : parseSeeds(args.seeds);
    std::vector<nm::SweepAxis> axes;
    for (const std::string &s : args.sweeps) {
        axes.push_back(nm::parseSweep(s));
        if (flagGiven(args, axes.back().key.c_str()))
            throw nm::ConfigError("give " + axes.back().key + " either as --" + axes.back().key +
                                  " or in --sweep, "
                                  "not both");
    }
    if (axes.empty())
        return nm::expandRuns(config, recipes, seeds);
    return nm::expandSweep(text, origin, {{args.flags, recipes}}, axes, seeds);
}

// What --resume continues: the saved run's config, the checkpoint at or before the step, and
// the config of the continued run (the saved one with the flags given applied).
struct ResumePlan {
    nm::RunConfig parent, child;
    std::optional<nm::Checkpoint> from;
    long atStep = 0;
    std::string replayNote;     // what is replayed before the run continues ("" if nothing)
    bool replayDiffers = false; // another BLAS kernel or thread count than the file's
};

ResumePlan planResume(const CliArgs &args, int threads)
{
    if (!args.recipes.empty() || !args.seeds.empty() || !args.sweeps.empty())
        throw nm::ConfigError("--resume continues one run; --recipes, --seeds and --sweep do not apply (resume "
                              "once per recipe with --recipe)");
    if (!args.configPath.empty())
        throw nm::ConfigError("--config does not apply with --resume: the run continues with its own config; "
                              "change options with flags such as --steps");
    nm::RunFileReader r(args.resume);
    std::string names;
    int index = -1;
    for (int i = 0; i < r.runCount(); ++i) {
        const nm::RunHeader &h = r.run(i);
        names += (names.empty() ? "" : ", ") + h.name;
        if (h.name == args.run && index < 0)
            index = i;
    }
    if (args.run.empty() || index < 0)
        throw nm::ConfigError((args.run.empty() ? std::string("--resume needs --run NAME")
                                                : "run file '" + args.resume + "' has no run '" + args.run + "'") +
                              "; its runs: " + names);
    const nm::RunHeader &h = r.run(index);
    if (h.lastStep < 1)
        throw nm::ConfigError("run '" + h.name + "' has no steps recorded; start it anew instead");
    const std::vector<long> saved = r.checkpointSteps(index);
    ResumePlan p;
    p.atStep = args.fromStep > 0 ? args.fromStep : (saved.empty() ? h.lastStep : saved.back());
    if (p.atStep > h.lastStep)
        throw nm::ConfigError("from-step: run '" + h.name + "' has steps 1 to " + std::to_string(h.lastStep) +
                              " recorded; choose one of them");
    long base = 0;
    for (long k : saved)
        if (k <= p.atStep)
            base = std::max(base, k);
    if (base > 0)
        p.from = r.checkpoint(index, base);
    p.parent = h.config;
    p.parent.name = h.name;
    if (p.from) { // the live settings in effect when it was saved
        p.parent.lr = p.from->lr;
        p.parent.lambda = p.from->lambda;
    }
    p.child = nm::parseConfig(h.configJson, args.resume + ": run '" + h.name + "'", args.flags);
    p.parent.dataDir = p.child.dataDir; // --data-dir: where this machine keeps the same data
    if (!flagGiven(args, "lr"))
        p.child.lr = p.parent.lr;
    if (!flagGiven(args, "lambda"))
        p.child.lambda = p.parent.lambda;
    if (!flagGiven(args, "name"))
        p.child.name = h.name + "@" + std::to_string(p.atStep);
    if (p.child.steps <= p.atStep)
        throw nm::ConfigError("steps: run '" + h.name + "' was set to " + std::to_string(p.child.steps) +
                              " steps and continues from step " + std::to_string(p.atStep) +
                              "; give --steps N with N > " + std::to_string(p.atStep) + " to train further");
    const long replay = p.atStep - base;
    if (replay > 0) {
        const int t = nm::threadBudget(1, threads).threadsPerRun;
        std::string why;
        if (!h.blasKernel.empty() && h.blasKernel != nm::blasCoreName())
            why =
                "it was written with OpenBLAS kernel " + h.blasKernel + " and this machine uses " + nm::blasCoreName();
        if (h.threads > 0 && h.threads != t)
            why += (why.empty() ? "it was written with " : ", and with ") + std::to_string(h.threads) +
                   " threads where this run uses " + std::to_string(t);
        p.replayDiffers = !why.empty();
        p.replayNote = ("run '" + h.name + "' has " +
                        (base > 0 ? "its last checkpoint before step " + std::to_string(p.atStep) + " at step " +
                                        std::to_string(base)
                                  : std::string("no checkpoint before step ") + std::to_string(p.atStep)) +
                        ": replaying " + std::to_string(replay) + " steps" +
                        (why.empty() ? std::string(" (same BLAS kernel and thread count: the same steps)")
                                     : "; " + why +
                                           ", so the replayed steps round differently and the "
                                           "continued run starts near, not at, the file's step " +
                                           std::to_string(p.atStep)));
    }
    return p;
}

// What --out does with an existing file, checked before anything trains.
nm::RunFileOptions runFileOptions(const CliArgs &args)
{
    nm::RunFileOptions o;
    if (args.overwrite && args.append)
        throw nm::ConfigError("give either --overwrite or --append, not both");
    if ((args.overwrite || args.append) && args.out.empty())
        throw nm::ConfigError(std::string(args.overwrite ? "--overwrite" : "--append") +
                              " applies to the run file of --out FILE.h5, which is not given");
    o.existing = args.overwrite ? nm::ExistingRunFile::Overwrite
                 : args.append  ? nm::ExistingRunFile::Append
                                : nm::ExistingRunFile::Refuse;
    if (o.existing == nm::ExistingRunFile::Refuse && !args.out.empty() && std::filesystem::exists(args.out))
        throw nm::RunFileExists("run file '" + args.out +
                                "' already exists and was left as it is; pass "
                                "--overwrite to replace it, --append to add these runs to it, or choose "
                                "another --out");
    return o;
}

void printExperimentSummary(const std::vector<nm::RunConfig> &runs, const std::vector<nm::RunSummary> &summaries,
                            bool json)
{
    const auto groups = nm::summarizeByRecipe(runs, summaries);
    if (!json) {
        std::printf("\nmean ± std over seeds (value in parentheses: runs with a finite value)\n%s",
                    nm::formatSummaryTable(groups).c_str());
        return;
    }
    auto stat = [](const nm::MetricSpread &m) {
        auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
        return nlohmann::json{
            {"n", m.count}, {"mean", num(m.mean)}, {"std", num(m.stddev)}, {"min", num(m.min)}, {"max", num(m.max)}};
    };
    nlohmann::json j = {{"event", "summary"}, {"groups", nlohmann::json::array()}};
    for (const auto &g : groups)
        j["groups"].push_back(
            {{"recipe", g.recipe},
             {"nm", g.nm},
             {"sweep", nlohmann::json(std::map<std::string, std::string>(g.sweep.begin(), g.sweep.end()))},
             {"runs", g.runs},
             {"statuses", g.statuses},
             {"val_loss", stat(g.valLoss)},
             {"val_acc", stat(g.valAccuracy)},
             {"test_loss", stat(g.testLoss)},
             {"test_acc", stat(g.testAccuracy)},
             {"seconds", stat(g.seconds)}});
    std::printf("%s\n", j.dump().c_str());
}

} // namespace

int main(int argc, char **argv)
{
    nm::ensureFastBlas(argc, argv);
    try {
        const CliArgs args = parseArgs(argc, argv);
        if (args.help) {
            printHelp();
            return 0;
        }
        std::optional<ResumePlan> plan;
        if (!args.resume.empty() || !args.run.empty() || args.fromStep > 0) {
            if (args.resume.empty())
                throw nm::ConfigError("--run and --from-step choose what --resume FILE.h5 continues; give --resume");
            int threads = 0;
            if (auto it = args.flags.find("threads"); it != args.flags.end())
                threads = nm::parseConfig("", "the command line", {{"threads", it->second}}).threads;
            plan = planResume(args, threads);
        }
        const std::string text = args.configPath.empty() ? "" : readConfigFile(args.configPath);
        const std::string origin = args.configPath.empty() ? "config" : args.configPath;
        const nm::RunConfig config = plan ? plan->child : nm::parseConfig(text, origin, args.flags);
        if (args.printConfig) {
            std::printf("%s\n", nm::configToJson(config, 2).c_str());
            return 0;
        }
        nm::RunFileOptions fileOptions = runFileOptions(args);
        // A resumed run joins its own file unless --out says otherwise.
        const std::string out = plan && args.out.empty() ? args.resume : args.out;
        if (plan && args.out.empty())
            fileOptions.existing = nm::ExistingRunFile::Append;
        const std::vector<nm::RunConfig> runs =
            plan ? std::vector<nm::RunConfig>{config} : plannedRuns(args, config, text, origin);
        if (plan && !plan->replayNote.empty())
            std::fprintf(stderr, "nmtrain: %s%s\n", plan->replayDiffers ? "warning: " : "", plan->replayNote.c_str());
        auto experimentPtr =
            plan ? std::make_unique<nm::Experiment>(plan->parent, plan->child, plan->from ? &*plan->from : nullptr,
                                                    plan->atStep, config.threads)
                 : std::make_unique<nm::Experiment>(runs, config.threads);
        nm::Experiment &experiment = *experimentPtr;
        const nm::ThreadBudget budget = experiment.budget();
        if (!args.quiet) {
            std::fprintf(stderr, "nmtrain %s | %s\n", nm::version(), nm::blasBanner(budget.threadsPerRun).c_str());
            if (runs.size() > 1)
                std::fprintf(stderr, "experiment: %zu runs, %d at a time with %d thread%s each\n", runs.size(),
                             budget.concurrentRuns, budget.threadsPerRun, budget.threadsPerRun == 1 ? "" : "s");
            if (plan)
                std::fprintf(stderr, "resuming run '%s' of %s at step %ld as '%s'\n", plan->parent.name.c_str(),
                             args.resume.c_str(), plan->atStep, config.name.c_str());
        }
        std::unique_ptr<nm::RunFileWriter> writer;
        if (!out.empty()) {
            nm::RunFileOptions options = fileOptions;
            options.onFailure = [](const std::string &message) {
                std::fprintf(stderr, "nmtrain: warning: %s\n", message.c_str());
            };
            writer = std::make_unique<nm::RunFileWriter>(out, experiment.infos(), options);
            experiment.record(*writer);
        }
        std::shared_ptr<nm::ConsoleGroup> group;
        if (runs.size() > 1) {
            group = std::make_shared<nm::ConsoleGroup>();
            group->runs = static_cast<int>(runs.size());
            for (const auto &r : runs)
                group->totalSteps += r.steps;
        }
        std::vector<std::unique_ptr<nm::ConsoleObserver>> consoles;
        for (int i = 0; i < experiment.runCount(); ++i) {
            consoles.push_back(std::make_unique<nm::ConsoleObserver>(experiment.trainer(i), args.json, args.quiet,
                                                                     g_interrupted, group));
            experiment.addObserver(i, consoles.back().get());
        }
        std::signal(SIGINT, onSigint);
        std::signal(SIGXFSZ, SIG_IGN); // past a file-size limit a write fails (recording stops), not the process
        experiment.start();
        while (!experiment.wait(0.05))
            if (g_interrupted.load())
                experiment.requestStop();
        const std::vector<nm::RunSummary> summaries = experiment.join();
        if (writer) {
            writer->close();
            if (!args.quiet)
                std::fprintf(stderr, "run file: %s%s\n", out.c_str(),
                             fileOptions.existing == nm::ExistingRunFile::Append ? " (runs appended)" : "");
        }
        if (runs.size() > 1)
            printExperimentSummary(runs, summaries, args.json);
        if (writer && !writer->failure().empty()) {
            std::fprintf(stderr, "nmtrain: error: the run file is incomplete: %s\n", writer->failure().c_str());
            return 1;
        }
        return 0;
    } catch (const nm::Error &e) {
        std::fprintf(stderr, "nmtrain: error: %s\n", e.what());
        return 1;
    } catch (const std::exception &e) { // out of memory, a file-system error: say so, do not abort
        std::fprintf(stderr, "nmtrain: error: %s\n", e.what());
        return 1;
    }
}
