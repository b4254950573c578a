// nmtrain: the command-line runner. Trains one run from a JSON config and/or flags and
// prints a parseable summary line at the end.
#include "blas_setup.h"
#include "console_observer.h"

#include "nmcore/config.h"
#include "nmcore/error.h"
#include "nmcore/platform.h"
#include "nmcore/trainer.h"

#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

namespace {

std::atomic<bool> g_interrupted{false};

void onSigint(int)
{
    if (g_interrupted.exchange(true))
        std::_Exit(130); // second Ctrl-C: leave at once
}

struct CliArgs {
    std::string configPath;
    std::map<std::string, std::string> flags;
    bool json = false, quiet = false, help = false, printConfig = false;
};

void printHelp()
{
    std::printf(
        "Usage: nmtrain [--config FILE] [--OPTION VALUE ...] [--json] [--quiet]\n"
        "\n"
        "Trains an MLP on Fashion-MNIST or a char-level GPT on text and prints one summary line:\n"
        "  final run=NAME step=N val_loss=X val_acc=Y status=Completed|Stopped|Diverged [test_loss=.. test_acc=..] "
        "seconds=S\n"
        "\n"
        "Program options:\n"
        "  --config FILE     JSON object of option: value pairs; flags given on the command line win\n"
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
    std::printf("\nExit status: 0 when a run ends (Completed, Stopped by Ctrl-C, or Diverged), 1 on invalid input.\n"
                "The BLAS kernel is chosen at start-up (OPENBLAS_CORETYPE is honoured when set).\n");
}

bool isBoolOption(const std::string &key)
{
    for (const auto &o : nm::configOptions())
        if (o.key == key)
            return o.type == nm::OptionType::Bool;
    return false;
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
        if (name == "json" || name == "quiet" || name == "print-config" || name == "print_config") {
            (name == "json" ? a.json : name == "quiet" ? a.quiet : a.printConfig) = true;
            continue;
        }
        const std::string key = name == "config" ? "config" : nm::canonicalKey(name);
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
        const std::string text = args.configPath.empty() ? "" : readConfigFile(args.configPath);
        const nm::RunConfig config = nm::parseConfig(text, args.configPath.empty() ? "config" : args.configPath,
                                                     args.flags);
        if (args.printConfig) {
            std::printf("%s\n", nm::configToJson(config, 2).c_str());
            return 0;
        }
        nm::setThreadCount(config.threads);
        if (!args.quiet)
            std::fprintf(stderr, "nmtrain %s | %s\n", NMSTUDIO_VERSION, nm::blasBanner(nm::threadCount()).c_str());
        const auto data = nm::loadDataset(nm::dataOptions(config));
        nm::Trainer trainer(config, data);
        nm::ConsoleObserver console(trainer, args.json, args.quiet, g_interrupted);
        trainer.addObserver(&console);
        std::signal(SIGINT, onSigint);
        trainer.run();
        return 0;
    } catch (const nm::Error &e) {
        std::fprintf(stderr, "nmtrain: error: %s\n", e.what());
        return 1;
    }
}
