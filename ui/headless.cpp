#include "headless.h"

#include "main_window.h"
#include "panels/chart_pages.h"
#include "panels/experiment_panel.h"
#include "training/run_file_loader.h"
#include "training/run_store.h"

#include "nmcore/error.h"
#include "nmcore/runfile.h"

#include <QCoreApplication>
#include <QDir>
#include <QEventLoop>
#include <QTimer>

#include <algorithm>
#include <map>
#include <string>

// Resources of a static library must be registered by hand.
static void registerResources()
{
    Q_INIT_RESOURCE(nmstudio);
}

namespace nmui {

void initResources()
{
    registerResources();
}

std::vector<nm::RunConfig> defaultComparison()
{
    ExperimentPanel panel;
    panel.setDefaultComparison();
    return panel.configs();
}

void shortenRuns(std::vector<nm::RunConfig> &configs, long steps)
{
    for (auto &c : configs) {
        c.steps = steps;
        c.warmup = static_cast<int>(std::min<long>(c.warmup, steps / 10));
        c.evalEvery = static_cast<int>(std::max<long>(1, std::min<long>(c.evalEvery, steps / 6)));
        c.snapshotEvery = std::max<long>(1, std::min<long>(c.snapshotEvery, steps / 6));
    }
}

void applySettings(std::vector<nm::RunConfig> &configs, const QStringList &settings)
{
    if (settings.isEmpty())
        return;
    std::map<std::string, std::string> flags;
    for (const QString &kv : settings) {
        const qsizetype eq = kv.indexOf('=');
        if (eq <= 0)
            throw nm::ConfigError("expected KEY=VALUE, got '" + kv.toStdString() + "'");
        flags[kv.left(eq).toStdString()] = kv.mid(eq + 1).toStdString();
    }
    std::vector<nm::RunConfig> changed = configs;
    for (auto &c : changed) {
        const std::string name = c.name;
        c = nm::parseConfig(nm::configToJson(c), "the default comparison", flags);
        c.name = name;
    }
    configs = std::move(changed);
}

bool trainToEnd(MainWindow &window, int timeoutMs, QTextStream *progress)
{
    TrainingController *c = window.controller();
    QEventLoop loop;
    QObject::connect(c, &TrainingController::stateChanged, &loop, [&](TrainingController::State s) {
        if (s == TrainingController::State::Finished)
            loop.quit();
    });
    QTimer report;
    report.setInterval(2000);
    QObject::connect(&report, &QTimer::timeout, &loop, [&] {
        if (!progress)
            return;
        const auto p = c->progress();
        *progress << QStringLiteral("step %1/%2  %3 steps/s  %4 s\n")
                         .arg(p.step)
                         .arg(p.total)
                         .arg(p.stepsPerSecond, 0, 'f', 0)
                         .arg(p.elapsed, 0, 'f', 1);
        progress->flush();
    });
    QTimer::singleShot(timeoutMs, &loop, &QEventLoop::quit);
    report.start();
    c->start();
    if (c->state() != TrainingController::State::Finished)
        loop.exec();
    window.store()->flush();
    return c->state() == TrainingController::State::Finished;
}

namespace {

void printSummary(const RunStore &store, QTextStream &out)
{
    for (int id : store.runIds()) {
        const RunMeta &m = store.run(id)->meta;
        out << QStringLiteral("final run=%1 step=%2 status=%3").arg(m.name).arg(m.step).arg(stateName(m.state));
        if (m.hasSummary)
            out << QStringLiteral(" val_acc=%1 test_acc=%2")
                       .arg(m.summary.valAccuracy, 0, 'f', 4)
                       .arg(m.summary.testAccuracy, 0, 'f', 4);
        if (!m.error.isEmpty())
            out << " error=" << m.error;
        out << '\n';
    }
}

} // namespace

int runHeadless(const std::vector<nm::RunConfig> &configs, const QString &outDir, QTextStream &out,
                const FigurePreset &figure)
{
    MainWindow window;
    window.resize(1500, 940);
    window.experiment()->showConfigs(configs);
    window.applyExperiment();
    if (window.controller()->experimentRuns().isEmpty()) {
        out << "nmstudio: the experiment is invalid: " << window.experiment()->firstError() << '\n';
        return 1;
    }
    QDir().mkpath(outDir);
    const QString runFile = QString::fromStdString(
        nm::freshRunFilePath(QDir(outDir).filePath(QStringLiteral("comparison.h5")).toStdString()));
    window.controller()->setRecordPath(runFile);
    out << "recording the runs to " << QDir(runFile).absolutePath() << '\n';
    out.flush();
    if (!trainToEnd(window, 24 * 3600 * 1000, &out)) {
        out << "nmstudio: training did not finish\n";
        return 1;
    }
    printSummary(*window.store(), out);
    QStringList errors;
    const QStringList files = window.exportAll(outDir, &errors, QSize(1000, 620), figure);
    out << QStringLiteral("wrote %1 files to %2\n").arg(files.size()).arg(QDir(outDir).absolutePath());
    for (const QString &e : errors)
        out << "nmstudio: " << e << '\n';
    out.flush();
    return errors.isEmpty() ? 0 : 1;
}

int exportRunFiles(const QStringList &files, const QString &outDir, QTextStream &out, const FigurePreset &figure)
{
    MainWindow window;
    window.resize(1500, 940);
    window.controller()->setExperiment({}); // the files' runs only
    for (const QString &f : files) {
        QString why;
        if (!window.openRunFile(f, &why)) {
            out << "nmstudio: " << why << '\n';
            return 1;
        }
    }
    window.waitForSnapshots();
    window.store()->flush();
    printSummary(*window.store(), out);
    QStringList errors;
    const QStringList written = window.exportAll(outDir, &errors, QSize(1000, 620), figure);
    out << QStringLiteral("wrote %1 files to %2\n").arg(written.size()).arg(QDir(outDir).absolutePath());
    for (const QString &e : errors)
        out << "nmstudio: " << e << '\n';
    out.flush();
    return errors.isEmpty() ? 0 : 1;
}

int renderScreenshots(const std::vector<nm::RunConfig> &configs, const QString &outDir, QTextStream &out,
                      const QStringList &files)
{
    MainWindow window;
    window.resize(1600, 1000);
    window.experiment()->showConfigs(configs);
    window.applyExperiment();
    if (!files.isEmpty()) {
        window.setRecordFolder(QString());
        window.controller()->setExperiment({});
        for (const QString &f : files) {
            QString why;
            if (!window.openRunFile(f, &why)) {
                out << "nmstudio: " << why << '\n';
                return 1;
            }
        }
        window.waitForSnapshots();
    }
    window.show();
    if (files.isEmpty() && !trainToEnd(window, 30 * 60 * 1000, &out))
        return 1;
    printSummary(*window.store(), out);
    QDir().mkpath(outDir);
    ChartPages *pages = window.pages();
    static const char *names[] = {"loss-accuracy", "mask-flips",      "gradient-noise", "schedules",
                                  "continuity",    "layer-inspector", "summary"};
    constexpr int last = static_cast<int>(std::size(names)) - 1;
    for (int i = 0; i < pages->count(); ++i) {
        pages->setCurrentIndex(i);
        for (int k = 0; k < 5; ++k) // let layouts settle and the page refresh
            QCoreApplication::processEvents();
        window.store()->flush();
        QCoreApplication::processEvents();
        const QString path = QDir(outDir).filePath(QStringLiteral("%1.png").arg(names[std::min(i, last)]));
        window.grab().save(path);
        out << "wrote " << path << '\n';
    }
    out.flush();
    return 0;
}

} // namespace nmui
