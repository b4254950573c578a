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
#include <map>
#include <string>

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
    nmui::initResources();
    QApplication::setOrganizationName(QStringLiteral("nmstudio"));
    QApplication::setApplicationName(QStringLiteral("nmstudio"));
    QApplication::setApplicationVersion(QString::fromLatin1(nm::version()));
    QApplication::setDesktopFileName(QStringLiteral("org.nmstudio.NmStudio"));
    QApplication::setWindowIcon(QIcon(QStringLiteral(":/nmstudio/nmstudio.svg")));

    QCommandLineParser cli;
    cli.setApplicationDescription(QStringLiteral(
        "Train N:M structured-sparse recipes side by side and compare their masks, gradients and losses."));
    cli.addHelpOption();
    cli.addVersionOption();
    QCommandLineOption exportOpt(
        QStringLiteral("export"),
        QStringLiteral("Write every chart of FILE.h5 into DIR (PNG 1x and 2x, SVG, PDF, CSV)."), QStringLiteral("DIR"));
    QCommandLineOption presetOpt(
        QStringLiteral("preset"),
        QStringLiteral("Figure size of --export and --headless: %1. The chart is laid out at that size with the "
                       "size's text and line width; PNGs at %2 and %3 dpi. Default: 1000x620 pixels.")
            .arg(nmui::figurePresetChoices())
            .arg(nmui::kFigureDpi)
            .arg(2 * nmui::kFigureDpi),
        QStringLiteral("NAME"));
    QCommandLineOption headlessOpt(QStringLiteral("headless"),
                                   QStringLiteral("Run the default comparison without a window and write every plot "
                                                  "into --out (what happens anyway without a display)."));
    QCommandLineOption outOpt(QStringLiteral("out"), QStringLiteral("Folder for headless output."),
                              QStringLiteral("DIR"));
    QCommandLineOption stepsOpt(QStringLiteral("steps"),
                                QStringLiteral("Steps per run for headless runs and screenshots."),
                                QStringLiteral("N"));
    QCommandLineOption setOpt(QStringLiteral("set"),
                              QStringLiteral("Change an option of every run of the default comparison, as nmtrain "
                                             "spells it (repeatable), e.g. --set steps=1000 --set nm=1:4."),
                              QStringLiteral("KEY=VALUE"));
    QCommandLineOption shotsOpt(QStringLiteral("screenshots"),
                                QStringLiteral("Train the default comparison in a window (or show FILE.h5) and save a "
                                               "PNG of every page into DIR."),
                                QStringLiteral("DIR"));
    cli.addOptions({exportOpt, presetOpt, headlessOpt, outOpt, stepsOpt, setOpt, shotsOpt});
    cli.addPositionalArgument(QStringLiteral("FILE.h5"), QStringLiteral("Run files to open."));
    cli.process(app);

    QTextStream out(stdout);
    nmui::FigurePreset figure;
    if (cli.isSet(presetOpt)) {
        QString why;
        const auto preset = nmui::parseFigurePreset(cli.value(presetOpt), &why);
        if (!preset) {
            std::fprintf(stderr, "nmstudio: --preset: %s\n", qPrintable(why));
            return 1;
        }
        figure = *preset;
    }
    auto configs = nmui::defaultComparison();
    if (cli.isSet(stepsOpt)) {
        bool ok = false;
        const long steps = cli.value(stepsOpt).toLong(&ok);
        if (!ok || steps < 1) {
            std::fprintf(stderr, "nmstudio: --steps: expected a positive number, got '%s'\n",
                         qPrintable(cli.value(stepsOpt)));
            return 1;
        }
        for (auto &c : configs) {
            c.steps = steps;
            c.warmup = std::min<long>(c.warmup, steps / 10);
            c.evalEvery = static_cast<int>(std::max<long>(1, std::min<long>(c.evalEvery, steps / 6)));
            c.snapshotEvery = std::max<long>(1, std::min<long>(c.snapshotEvery, steps / 6));
        }
    }
    if (cli.isSet(setOpt)) {
        std::map<std::string, std::string> flags;
        for (const QString &kv : cli.values(setOpt)) {
            const qsizetype eq = kv.indexOf('=');
            if (eq <= 0) {
                std::fprintf(stderr, "nmstudio: --set: expected KEY=VALUE, got '%s'\n", qPrintable(kv));
                return 1;
            }
            flags[kv.left(eq).toStdString()] = kv.mid(eq + 1).toStdString();
        }
        try {
            for (auto &c : configs) {
                const std::string name = c.name;
                c = nm::parseConfig(nm::configToJson(c), "the default comparison", flags);
                c.name = name;
            }
        } catch (const nm::Error &e) {
            std::fprintf(stderr, "nmstudio: --set: %s\n", e.what());
            return 1;
        }
    }
    const QStringList files = cli.positionalArguments();
    if (cli.isSet(exportOpt)) {
        if (files.isEmpty()) {
            std::fprintf(stderr,
                         "nmstudio: --export DIR needs at least one run file (nmstudio --export DIR FILE.h5)\n");
            return 1;
        }
        return nmui::exportRunFiles(files, cli.value(exportOpt), out, figure);
    }
    if (cli.isSet(shotsOpt))
        return nmui::renderScreenshots(configs, cli.value(shotsOpt), out, cli.positionalArguments());
    if (!display || cli.isSet(headlessOpt)) {
        const QString dir = cli.isSet(outOpt)
                                ? cli.value(outOpt)
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
