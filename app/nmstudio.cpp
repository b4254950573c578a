// nmstudio: the GUI. With no arguments it opens the default comparison (STE, SR-STE and
// S-STE at 2:4 on the Fashion-MNIST MLP), ready to start. On a machine without a display it
// says so and runs that comparison headless, writing every plot into a folder.
#include "blas_setup.h"

#include "headless.h"
#include "main_window.h"

#include "nmcore/config.h"
#include "nmcore/error.h"
#include "nmcore/platform.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QDateTime>
#include <QDir>
#include <QIcon>
#include <QTextStream>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

bool hasArg(int argc, char **argv, const char *name)
{
    for (int i = 1; i < argc; ++i)
        if (std::strcmp(argv[i], name) == 0 || std::strncmp(argv[i], name, std::strlen(name)) == 0)
            return true;
    return false;
}

// A display Qt can open: an X or Wayland session, or a platform chosen explicitly.
bool displayAvailable(int argc, char **argv)
{
    auto set = [](const char *v) { return std::getenv(v) && *std::getenv(v); };
    return set("DISPLAY") || set("WAYLAND_DISPLAY") || set("QT_QPA_PLATFORM") || hasArg(argc, argv, "-platform");
}

// nmstudio's command line (everything but the run files is optional).
struct Cli {
    QCommandLineOption exportDir{
        QStringLiteral("export"),
        QStringLiteral("Write every chart of FILE.h5 into DIR (PNG 1x and 2x, SVG, PDF, CSV)."), QStringLiteral("DIR")};
    QCommandLineOption preset{
        QStringLiteral("preset"),
        QStringLiteral("Figure size of --export and --headless: %1. The chart is laid out at that size with the "
                       "size's text and line width; PNGs at %2 and %3 dpi. Default: 1000x620 pixels.")
            .arg(nmui::figurePresetChoices())
            .arg(nmui::kFigureDpi)
            .arg(2 * nmui::kFigureDpi),
        QStringLiteral("NAME")};
    QCommandLineOption headless{QStringLiteral("headless"),
                                QStringLiteral("Run the default comparison without a window and write every plot "
                                               "into --out (what happens anyway without a display).")};
    QCommandLineOption out{QStringLiteral("out"), QStringLiteral("Folder for headless output."), QStringLiteral("DIR")};
    QCommandLineOption steps{QStringLiteral("steps"),
                             QStringLiteral("Steps per run for headless runs and screenshots."), QStringLiteral("N")};
    QCommandLineOption set{QStringLiteral("set"),
                           QStringLiteral("Change an option of every run of the default comparison, as nmtrain "
                                          "spells it (repeatable), e.g. --set steps=1000 --set nm=1:4."),
                           QStringLiteral("KEY=VALUE")};
    QCommandLineOption screenshots{QStringLiteral("screenshots"),
                                   QStringLiteral("Train the default comparison in a window (or show FILE.h5) and "
                                                  "save a PNG of every page into DIR."),
                                   QStringLiteral("DIR")};
    QCommandLineParser parser;

    Cli()
    {
        parser.setApplicationDescription(QStringLiteral(
            "Train N:M structured-sparse recipes side by side and compare their masks, gradients and losses."));
        parser.addHelpOption();
        parser.addVersionOption();
        parser.addOptions({exportDir, preset, headless, out, steps, set, screenshots});
        parser.addPositionalArgument(QStringLiteral("FILE.h5"), QStringLiteral("Run files to open."));
    }
};

// The figure preset and the runs of the default comparison as the command line changes them;
// false after printing what is wrong.
bool readCli(const Cli &cli, nmui::FigurePreset &figure, std::vector<nm::RunConfig> &configs)
{
    const QCommandLineParser &p = cli.parser;
    if (p.isSet(cli.preset)) {
        QString why;
        const auto preset = nmui::parseFigurePreset(p.value(cli.preset), &why);
        if (!preset) {
            std::fprintf(stderr, "nmstudio: --preset: %s\n", qPrintable(why));
            return false;
        }
        figure = *preset;
    }
    configs = nmui::defaultComparison();
    if (p.isSet(cli.steps)) {
        bool ok = false;
        const long steps = p.value(cli.steps).toLong(&ok);
        if (!ok || steps < 1) {
            std::fprintf(stderr, "nmstudio: --steps: expected a positive number, got '%s'\n",
                         qPrintable(p.value(cli.steps)));
            return false;
        }
        nmui::shortenRuns(configs, steps);
    }
    try {
        nmui::applySettings(configs, p.values(cli.set));
    } catch (const nm::Error &e) {
        std::fprintf(stderr, "nmstudio: --set: %s\n", e.what());
        return false;
    }
    return true;
}

void setUpApplication()
{
    nmui::initResources();
    QApplication::setOrganizationName(QStringLiteral("nmstudio"));
    QApplication::setApplicationName(QStringLiteral("nmstudio"));
    QApplication::setApplicationVersion(QString::fromLatin1(nm::version()));
    QApplication::setDesktopFileName(QStringLiteral("org.nmstudio.NmStudio"));
    QApplication::setWindowIcon(QIcon(QStringLiteral(":/nmstudio/nmstudio.svg")));
}

int runHeadless(const Cli &cli, bool display, const std::vector<nm::RunConfig> &configs,
                const nmui::FigurePreset &figure, QTextStream &out)
{
    const QString dir = cli.parser.isSet(cli.out)
                            ? cli.parser.value(cli.out)
                            : QStringLiteral("nmstudio-%1")
                                  .arg(QDateTime::currentDateTime().toString(QStringLiteral("yyyyMMdd-HHmmss")));
    if (!display)
        out << "nmstudio: no display (DISPLAY and WAYLAND_DISPLAY are unset); running the default comparison "
               "headless and writing every plot to "
            << QDir(dir).absolutePath() << '\n';
    out << QString::fromStdString(nm::blasBanner(nm::hardwareThreads())) << '\n';
    out.flush();
    return nmui::runHeadless(configs, dir, out, figure);
}

} // namespace

int main(int argc, char **argv)
{
    nm::ensureFastBlas(argc, argv);
    std::signal(SIGXFSZ, SIG_IGN); // past a file-size limit a write fails (recording stops), not the process
    const bool display = displayAvailable(argc, argv);
    const bool batch = hasArg(argc, argv, "--export") || hasArg(argc, argv, "--headless") ||
                       hasArg(argc, argv, "--help") || hasArg(argc, argv, "--version") || hasArg(argc, argv, "-h");
    if (!display || batch)
        setenv("QT_QPA_PLATFORM", "offscreen", 0); // no window needed, or none possible

    QApplication app(argc, argv);
    setUpApplication();
    Cli cli;
    cli.parser.process(app);
    nmui::FigurePreset figure;
    std::vector<nm::RunConfig> configs;
    if (!readCli(cli, figure, configs))
        return 1;

    QTextStream out(stdout);
    const QStringList files = cli.parser.positionalArguments();
    if (cli.parser.isSet(cli.exportDir)) {
        if (files.isEmpty()) {
            std::fprintf(stderr,
                         "nmstudio: --export DIR needs at least one run file (nmstudio --export DIR FILE.h5)\n");
            return 1;
        }
        return nmui::exportRunFiles(files, cli.parser.value(cli.exportDir), out, figure);
    }
    if (cli.parser.isSet(cli.screenshots))
        return nmui::renderScreenshots(configs, cli.parser.value(cli.screenshots), out, files);
    if (!display || cli.parser.isSet(cli.headless))
        return runHeadless(cli, display, configs, figure, out);

    nmui::MainWindow window;
    window.restoreSettings();
    window.show();
    for (const QString &f : files) {
        QString why;
        if (!window.openRunFile(f, &why))
            std::fprintf(stderr, "nmstudio: %s\n", qPrintable(why));
    }
    if (files.isEmpty() && window.showSampleAtStart())
        if (const QString sample = nmui::MainWindow::defaultSampleFile(); !sample.isEmpty())
            window.openRunFile(sample);
    return app.exec();
}
