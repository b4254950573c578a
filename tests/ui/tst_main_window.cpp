// The whole window as a user drives it: start a short experiment, pause, resume, stop; the
// charts and the status bar follow; runs are recorded to a run file that opens again with
// the same numbers; the shipped sample opens; exports go where asked; settings persist.
#include "ui_test_main.h"

#include "main_window.h"
#include "panels/chart_pages.h"
#include "panels/experiment_panel.h"
#include "panels/fork_dialog.h"
#include "panels/heatmap_panel.h"
#include "panels/layer_inspector.h"
#include "panels/recipe_editor.h"
#include "plot/chart_panel.h"
#include "plot/flip_heatmap.h"
#include "plot/image_chart.h"
#include "plot/metric_chart.h"
#include "training/run_file_loader.h"
#include "training/run_store.h"

#include "nmcore/config.h"
#include "nmcore/experiment.h"
#include "nmcore/runfile.h"

#include <hdf5.h>

#include <QAbstractButton>
#include <QAction>
#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QImage>
#include <QLabel>
#include <QLineEdit>
#include <QLineSeries>
#include <QMenu>
#include <QMessageBox>
#include <QSet>
#include <QSettings>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QTimer>
#include <QToolButton>

using namespace nmui;
using State = TrainingController::State;

namespace {

QAction *action(MainWindow &w, const QString &text)
{
    for (QAction *a : w.findChildren<QAction *>())
        if (a->text() == text)
            return a;
    return nullptr;
}

// A small experiment that trains in about a second.
void makeSmall(MainWindow &w, long steps)
{
    ExperimentPanel *p = w.experiment();
    p->setValue("data", QStringLiteral("synthetic"));
    p->setValue("mlp_hidden", QStringLiteral("32,32"));
    p->setValue("batch", QStringLiteral("32"));
    p->setValue("steps", QString::number(steps));
    p->setValue("eval_every", QStringLiteral("50"));
    p->setValue("snapshot_every", QStringLiteral("50"));
    w.applyExperiment();
}

long stepOf(MainWindow &w, int id)
{
    return w.store()->run(id)->meta.step;
}

} // namespace

class TestMainWindow : public QObject {
    Q_OBJECT
  private:
    QTemporaryDir m_dir;

    // The window with no experiment of its own and nothing recorded, showing `file`.
    static bool openAlone(MainWindow &w, const QString &file)
    {
        w.setRecordFolder(QString());
        w.controller()->setExperiment({});
        return w.openRunFile(file) && w.waitForSnapshots();
    }

  private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        QSettings().clear();
    }

    void startPauseResumeStop()
    {
        MainWindow w;
        w.setRecordFolder(QString()); // not recorded here
        w.resize(1400, 900);
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        makeSmall(w, 100000);
        const QList<int> ids = w.controller()->experimentRuns();
        QCOMPARE(ids.size(), 3);
        QAction *start = action(w, QStringLiteral("Start")), *pause = action(w, QStringLiteral("Pause"));
        QVERIFY(start && start->isEnabled() && !pause->isEnabled());
        start->trigger();
        QCOMPARE(w.controller()->state(), State::Running);
        QVERIFY(!start->isEnabled());
        QVERIFY(!w.experiment()->isEnabled() || !w.experiment()->field("nm")->widget()->isEnabled()); // locked
        QTRY_VERIFY_WITH_TIMEOUT(stepOf(w, ids[2]) > 50, 20000);
        // The loss chart has every run's points; the status bar counts steps.
        MetricChart *loss = w.pages()->trainLoss();
        QTRY_VERIFY(loss->mainPoints(ids[0]).size() > 10);
        QTRY_VERIFY(w.statusStep()->text().startsWith(QStringLiteral("step ")));
        pause->trigger();
        QCOMPARE(w.controller()->state(), State::Paused);
        QTRY_VERIFY(w.store()->run(ids[0])->meta.state == RunState::Paused);
        QTest::qWait(100);
        const long s = stepOf(w, ids[0]);
        QTest::qWait(300);
        QCOMPARE(stepOf(w, ids[0]), s);
        pause->trigger();
        QCOMPARE(w.controller()->state(), State::Running);
        QTRY_VERIFY_WITH_TIMEOUT(stepOf(w, ids[0]) > s + 20, 20000);
        action(w, QStringLiteral("Stop"))->trigger();
        QTRY_COMPARE_WITH_TIMEOUT(w.controller()->state(), State::Finished, 20000);
        QCOMPARE(w.store()->run(ids[0])->meta.state, RunState::Stopped);
        QCOMPARE(action(w, QStringLiteral("Restart"))->isEnabled(), true);
        QVERIFY(w.experiment()->field("nm")->widget()->isEnabled()); // unlocked
    }

    void invalidFormDisablesStart()
    {
        MainWindow w;
        w.setRecordFolder(QString());
        w.experiment()->setValue("lr", QStringLiteral("fast"));
        QTRY_VERIFY(!action(w, QStringLiteral("Start"))->isEnabled());
        w.experiment()->setValue("lr", QStringLiteral("0.05"));
        QTRY_VERIFY(action(w, QStringLiteral("Start"))->isEnabled());
    }

    void recordsARunFileThatOpensAgain()
    {
        const QString folder = m_dir.filePath(QStringLiteral("runs"));
        QString recorded;
        std::vector<float> liveLoss;
        {
            MainWindow w;
            w.setRecordFolder(folder);
            makeSmall(w, 120);
            action(w, QStringLiteral("Start"))->trigger();
            recorded = w.controller()->recordedPath();
            QVERIFY(recorded.startsWith(folder));
            QTRY_COMPARE_WITH_TIMEOUT(w.controller()->state(), State::Finished, 30000);
            const int id = w.controller()->experimentRuns()[1];
            liveLoss = *w.store()->run(id)->train.column("loss");
            QCOMPARE(liveLoss.size(), size_t(120));
            QVERIFY(w.recentFiles().contains(recorded));
        }
        QTRY_VERIFY(QFile::exists(recorded));
        MainWindow w;
        w.setRecordFolder(QString());
        w.controller()->setExperiment({});
        QString error;
        QVERIFY2(w.openRunFile(recorded, &error), qPrintable(error));
        QVERIFY(w.waitForSnapshots());
        QCOMPARE(w.store()->count(), 3);
        const Run *r = w.store()->run(w.store()->runIds()[1]);
        QCOMPARE(r->meta.name, QStringLiteral("SR-STE"));
        QCOMPARE(r->meta.state, RunState::Completed);
        QCOMPARE(*r->train.column("loss"), liveLoss);
        QCOMPARE(r->meta.sparseLayers.size(), size_t(3));
        QVERIFY(r->train.column("flip_rate/2"));
        QCOMPARE(static_cast<int>(r->snapshots.size()), 4); // 0, 50, 100, 120
    }

    void snapshotsArriveAfterTheSeriesAndClosingMidwayIsSafe()
    {
        MainWindow w;
        w.setRecordFolder(QString());
        w.controller()->setExperiment({});
        const QString sample = MainWindow::defaultSampleFile();
        nm::RunFileReader file(sample.toStdString());
        int total = 0;
        for (int i = 0; i < file.runCount(); ++i)
            total += static_cast<int>(file.snapshotSteps(i).size());
        QVERIFY(total > 0);
        QVERIFY(w.openRunFile(sample));
        // On return: every series, no snapshot yet (they reach the store through the event loop).
        const QList<int> ids = w.store()->runIds();
        QCOMPARE(ids.size(), file.runCount());
        for (int id : ids) {
            QCOMPARE(w.store()->run(id)->train.size(), size_t(2000));
            QVERIFY(w.store()->run(id)->snapshots.empty());
        }
        QCOMPARE(w.loader()->snapshotsPending(), total);
        QVERIFY(w.waitForSnapshots());
        for (int i = 0; i < file.runCount(); ++i) {
            const Run *r = w.store()->run(ids[i]);
            std::vector<long> steps;
            for (const auto &[step, snap] : r->snapshots) {
                steps.push_back(step);
                QCOMPARE(snap->layers.size(), r->meta.sparseLayers.size());
            }
            QCOMPARE(steps, file.snapshotSteps(i));
            const long last = steps.back();
            QCOMPARE(r->snapshots.at(last)->layers[0].mask, file.snapshot(i, 0, last).mask);
        }
        // Reopened and closed at once: the reading stops, nothing comes back afterwards.
        QVERIFY(w.openRunFile(sample));
        w.loader()->close(w.loader()->files().first());
        QCOMPARE(w.loader()->snapshotsPending(), 0);
        QTest::qWait(200);
        QCOMPARE(w.store()->count(), 0);
    }

    void sampleExperimentOpens()
    {
        QCOMPARE(MainWindow::sampleFiles().size(), 4);
        const QString sample = MainWindow::defaultSampleFile();
        QVERIFY(sample.endsWith(QStringLiteral("mlp_2to4_ste_srste_sste.h5")));
        MainWindow w;
        w.setRecordFolder(QString());
        w.resize(1400, 900);
        w.show();
        QVERIFY(w.openRunFile(sample));
        QVERIFY(w.waitForSnapshots());
        QList<int> loaded;
        for (int id : w.store()->runIds())
            if (!w.store()->run(id)->meta.source.isEmpty())
                loaded << id;
        QCOMPARE(loaded.size(), 6); // STE, SR-STE, S-STE x seeds 1, 2
        for (int id : loaded) {
            const Run *r = w.store()->run(id);
            QCOMPARE(r->meta.state, RunState::Completed);
            QCOMPARE(r->train.size(), size_t(2000));
            QVERIFY(r->meta.hasSummary && r->meta.summary.testAccuracy > 0.85f);
        }
        // Every page draws the sample: loss curves, one heatmap per run, the inspector.
        w.store()->flush();
        QTRY_VERIFY(w.pages()->trainLoss()->mainSeries(loaded[0]));
        w.pages()->setCurrentWidget(w.pages()->heatmaps());
        QTRY_VERIFY(w.pages()->heatmaps()->heatmapFor(loaded[0]) != nullptr);
        QVERIFY(w.pages()->heatmaps()->heatmapFor(loaded[0])->cells().height() >= 1);
        w.pages()->setCurrentWidget(w.pages()->inspector());
        w.pages()->inspector()->select(loaded[2], 0, 2000);
        QCOMPARE(w.pages()->inspector()->step(), 2000L);
        QVERIFY(!w.pages()->inspector()->maskChart()->image().isNull());
        QVERIFY(w.pages()->inspector()->flippedCount() > 0); // flips since step 0
    }

    void exportsGoWhereAsked()
    {
        MainWindow w;
        QVERIFY(openAlone(w, MainWindow::defaultSampleFile()));
        const QString target = m_dir.filePath(QStringLiteral("asked.svg"));
        w.setAskPath([&](const QString &, const QString &suggested, const QString &) {
            return suggested.endsWith(QStringLiteral(".svg")) ? target : QString();
        });
        QVERIFY(w.exportChart(w.pages()->trainLoss(), ExportFormat::Svg));
        QVERIFY(QFile::exists(target));
        QVERIFY(!w.exportChart(w.pages()->trainLoss(), ExportFormat::Png)); // cancelled
        QStringList errors;
        const QStringList files = w.exportAll(m_dir.filePath(QStringLiteral("everything")), &errors, QSize(800, 500));
        QVERIFY2(errors.isEmpty(), qPrintable(errors.join("; ")));
        QCOMPARE(files.size(), 5 * w.pages()->charts().size()); // PNG 1× and 2×, SVG, PDF, CSV
    }

    void exportMenuOffersPdfAndFigureSizes()
    {
        MainWindow w;
        QVERIFY(openAlone(w, MainWindow::defaultSampleFile()));
        ChartPanel *loss = w.pages()->trainLoss();
        QMenu *menu = nullptr;
        for (QToolButton *b : loss->findChildren<QToolButton *>())
            if (b->text() == QStringLiteral("Export"))
                menu = b->menu();
        QVERIFY(menu);
        QStringList items;
        for (QAction *a : menu->actions())
            items << a->text();
        QVERIFY2(items.contains(QStringLiteral("PDF…")) && items.contains(QStringLiteral("Figure size")),
                 qPrintable(items.join(" | ")));
        QMenu *sizes = nullptr;
        for (QAction *a : menu->actions())
            if (a->menu())
                sizes = a->menu();
        QVERIFY(sizes);
        QStringList presets;
        for (QAction *a : sizes->actions())
            presets << a->text();
        QCOMPARE(presets.size(), figurePresets().size());
        QVERIFY2(presets.contains(QStringLiteral("One column: 8.5 × 5.3 cm, 8 pt text")),
                 qPrintable(presets.join(" | ")));
        // Choosing a size: the PNG entries say their resolution, and the exports have that size.
        QAction *one = nullptr;
        for (QAction *a : sizes->actions())
            if (a->data().toString() == QStringLiteral("one-column"))
                one = a;
        QVERIFY(one);
        one->trigger();
        QCOMPARE(currentFigurePreset().name, QStringLiteral("one-column"));
        Q_EMIT menu->aboutToShow();
        QCOMPARE(menu->actions().first()->text(), QStringLiteral("PNG (300 dpi)…"));
        const QString pdf = m_dir.filePath(QStringLiteral("one-column.pdf")),
                      png = m_dir.filePath(QStringLiteral("one.png"));
        w.setAskPath([&](const QString &, const QString &suggested, const QString &) {
            return suggested.endsWith(QStringLiteral(".pdf")) ? pdf : png;
        });
        QVERIFY(w.exportChart(loss, ExportFormat::Pdf));
        QFile f(pdf);
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QByteArray bytes = f.readAll();
        QVERIFY(bytes.startsWith("%PDF"));
        QVERIFY(bytes.contains("/MediaBox [0 0 241") || bytes.contains("/MediaBox [0 0 240"));
        QVERIFY(w.statusMessage()->text().contains(QStringLiteral("One column")));
        QVERIFY(w.exportChart(loss, ExportFormat::Png));
        QCOMPARE(QImage(png).width(), qRound(8.5 / 2.54 * 300));
        setCurrentFigurePreset(QStringLiteral("screen"));
        Q_EMIT menu->aboutToShow();
        QCOMPARE(menu->actions().first()->text(), QStringLiteral("PNG (1×)…"));
    }

    void closingWhileTrainingAsksAndCancelKeepsTraining()
    {
        MainWindow w;
        w.setRecordFolder(QString());
        w.show();
        makeSmall(w, 1000000);
        QStringList asked;
        w.setConfirm([&](const QString &title, const QString &text, const QString &) {
            asked << title + QStringLiteral(" | ") + text;
            return false;
        });
        action(w, QStringLiteral("Start"))->trigger();
        const int id = w.controller()->experimentRuns()[0];
        QTRY_VERIFY_WITH_TIMEOUT(stepOf(w, id) > 5, 20000);
        QVERIFY(!w.close());
        QCOMPARE(asked.size(), 1);
        QVERIFY2(asked[0].contains(QStringLiteral("not recorded")), qPrintable(asked[0]));
        QVERIFY(w.isVisible());
        const long s = stepOf(w, id);
        QTRY_VERIFY_WITH_TIMEOUT(stepOf(w, id) > s + 5, 20000); // still training
        QCOMPARE(w.controller()->state(), State::Running);
        w.controller()->stop();
        QTRY_COMPARE_WITH_TIMEOUT(w.controller()->state(), State::Finished, 20000);
        QVERIFY(w.close()); // nothing trains: no question
        QCOMPARE(asked.size(), 1);
    }

    void closingWhileTrainingStopsTheRunsAndTheFileSaysStopped()
    {
        const QString folder = m_dir.filePath(QStringLiteral("closing"));
        QString recorded;
        {
            MainWindow w;
            w.setRecordFolder(folder);
            w.show();
            makeSmall(w, 1000000);
            QString question;
            w.setConfirm([&](const QString &, const QString &text, const QString &) {
                question = text;
                return true;
            });
            action(w, QStringLiteral("Start"))->trigger();
            recorded = w.controller()->recordedPath();
            const int id = w.controller()->experimentRuns()[2];
            QTRY_VERIFY_WITH_TIMEOUT(stepOf(w, id) > 20, 20000);
            QVERIFY(w.close());
            QVERIFY2(question.contains(QDir::toNativeSeparators(recorded)), qPrintable(question));
            // Closed at once: the threads have stopped and the file is complete on disk.
            nm::RunFileReader reader(recorded.toStdString());
            QCOMPARE(reader.runCount(), 3);
            for (int i = 0; i < 3; ++i) {
                QCOMPARE(reader.run(i).status, std::string("Stopped"));
                QVERIFY(reader.run(i).lastStep > 0);
                QCOMPARE(reader.series(i, "train/loss").steps.size(), size_t(reader.run(i).lastStep));
            }
        }
    }

    void closeQuestionIsAMessageBoxWithStopAndCancel()
    {
        // The question as a user sees it (no test hook): answered by clicking its buttons.
        const QString folder = m_dir.filePath(QStringLiteral("question"));
        MainWindow w;
        w.setRecordFolder(folder);
        w.resize(1200, 800);
        w.show();
        makeSmall(w, 1000000);
        action(w, QStringLiteral("Start"))->trigger();
        const int id = w.controller()->experimentRuns()[0];
        QTRY_VERIFY_WITH_TIMEOUT(stepOf(w, id) > 5, 20000);
        QString seen;
        auto answer = [&](const QString &button) {
            QTimer::singleShot(300, [&, button] {
                auto *box = qobject_cast<QMessageBox *>(QApplication::activeModalWidget());
                if (!box)
                    return;
                seen = box->text();
                if (const QByteArray dir = qgetenv("NM_SCREENSHOT_DIR"); !dir.isEmpty())
                    box->grab().save(QDir(QString::fromLocal8Bit(dir)).filePath(QStringLiteral("close-question.png")));
                if (button.isEmpty())
                    box->button(QMessageBox::Cancel)->click();
                for (QAbstractButton *b : box->buttons())
                    if (!button.isEmpty() && b->text() == button)
                        b->click();
            });
        };
        answer(QString()); // Cancel
        QVERIFY(!w.close());
        QVERIFY2(seen.contains(QStringLiteral("Closing stops them")), qPrintable(seen));
        QCOMPARE(w.controller()->state(), State::Running);
        seen.clear();
        answer(QStringLiteral("Stop and close"));
        QVERIFY(w.close());
        QVERIFY(!seen.isEmpty());
        nm::RunFileReader reader(w.controller()->recordedPath().toStdString());
        QCOMPARE(reader.run(0).status, std::string("Stopped"));
    }

    void recordingThatStopsSaysSoAndTheRunsGoOn()
    {
        const QString folder = m_dir.filePath(QStringLiteral("removed"));
        MainWindow w;
        w.resize(1400, 900);
        w.setRecordFolder(folder);
        makeSmall(w, 1000000);
        action(w, QStringLiteral("Start"))->trigger();
        const QString recorded = w.controller()->recordedPath();
        const int id = w.controller()->experimentRuns()[0];
        QTRY_VERIFY_WITH_TIMEOUT(QFile::exists(recorded) && stepOf(w, id) > 10, 20000);
        QVERIFY(QDir(folder).removeRecursively());
        QTRY_VERIFY_WITH_TIMEOUT(
            w.statusMessage()->text().startsWith(QStringLiteral("Recording stopped: the file was removed")), 20000);
        QVERIFY2(w.statusMessage()->toolTip().contains(recorded), qPrintable(w.statusMessage()->toolTip()));
        if (const QByteArray dir = qgetenv("NM_SCREENSHOT_DIR"); !dir.isEmpty())
            w.grab().save(QDir(QString::fromLocal8Bit(dir)).filePath(QStringLiteral("recording-stopped.png")));
        const long s = stepOf(w, id);
        QTRY_VERIFY_WITH_TIMEOUT(stepOf(w, id) > s + 20, 20000); // the runs go on
        QCOMPARE(w.controller()->state(), State::Running);
        w.controller()->stop();
        QTRY_COMPARE_WITH_TIMEOUT(w.controller()->state(), State::Finished, 20000);
        // Finished, and still saying that the recording stopped, until the next start.
        QVERIFY2(
            w.statusMessage()->text().startsWith(QStringLiteral("Finished. Recording stopped: the file was removed")),
            qPrintable(w.statusMessage()->text()));
        QVERIFY(w.statusMessage()->toolTip().contains(recorded));
    }

    void recordingPicksAFreshNameAndNeverReplacesAFile()
    {
        const QString folder = m_dir.filePath(QStringLiteral("fresh"));
        QDir().mkpath(folder);
        // Files of the names the next seconds' recordings would take, put there by hand.
        QStringList mine;
        const QDateTime now = QDateTime::currentDateTime();
        for (int k = 0; k < 20; ++k) {
            mine << QDir(folder).filePath(
                QStringLiteral("experiment-%1.h5").arg(now.addSecs(k).toString(QStringLiteral("yyyyMMdd-HHmmss"))));
            QFile f(mine.back());
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write("precious");
        }
        MainWindow w;
        w.setRecordFolder(folder);
        makeSmall(w, 30);
        QStringList paths;
        for (int k = 0; k < 3; ++k) { // three starts within a second or two: three files
            action(w, QStringLiteral("Start"))->trigger();
            paths << w.controller()->recordedPath();
            QTRY_COMPARE_WITH_TIMEOUT(w.controller()->state(), State::Finished, 30000);
            w.controller()->reset();
        }
        QCOMPARE(QSet<QString>(paths.begin(), paths.end()).size(), 3);
        for (const QString &p : mine) {
            QVERIFY(!paths.contains(p));
            QFile f(p);
            QVERIFY(f.open(QIODevice::ReadOnly));
            QCOMPARE(f.readAll(), QByteArray("precious"));
        }
        for (const QString &p : paths) {
            nm::RunFileReader reader(p.toStdString());
            QCOMPARE(reader.runCount(), 3);
            QCOMPARE(reader.run(0).status, std::string("Completed"));
        }
    }

    void forkReplaysItsPrefixAndContinuesAsTheRecordedRun()
    {
        // Forking a recorded run at step 20 with its own recipe and length replays its first
        // 20 steps and then continues exactly as the recorded run did. The parent is recorded
        // here, on this machine's BLAS kernel: a shipped file may come from another kernel,
        // whose rounding differs from step 1 and grows with the steps.
        QTemporaryDir dir;
        const std::string path = dir.filePath(QStringLiteral("parent.h5")).toStdString();
        nm::RunConfig config = nm::parseConfig("", "",
                                               {{"data", "synthetic"},
                                                {"steps", "60"},
                                                {"mlp_hidden", "32,32"},
                                                {"recipe", "ste"},
                                                {"eval_every", "20"},
                                                {"snapshot_every", "30"},
                                                {"threads", "1"},
                                                {"name", "parent"}});
        {
            nm::Experiment exp({config}, 1);
            nm::RunFileWriter writer(path, exp.infos());
            exp.record(writer);
            exp.run();
        }
        MainWindow w;
        QVERIFY(openAlone(w, QString::fromStdString(path)));
        const int parent = w.store()->runIds().first();
        const Run *p = w.store()->run(parent);
        ForkDialog d(w.store(), w.controller(), parent, &w);
        d.stepSpin()->setValue(20);
        d.recipe()->setRecipe(QStringLiteral("ste"));
        QCOMPARE(d.stepsEdit()->text(), QStringLiteral("60"));
        const int child = d.forkNow();
        QVERIFY2(child > 0, qPrintable(d.error()));
        QTRY_COMPARE_WITH_TIMEOUT(w.controller()->state(), State::Finished, 60000);
        const Run *c = w.store()->run(child);
        QCOMPARE(c->meta.forkStep, 20L);
        QCOMPARE(c->meta.parentId, parent);
        const auto &lc = *c->train.column("loss"), &lp = *p->train.column("loss");
        QCOMPARE(lc.size(), size_t(60));
        QCOMPARE(lp.size(), size_t(60));
        // One thread in both, same kernel, same data order: the same arithmetic, bit for bit.
        for (size_t i = 0; i < 60; ++i)
            QVERIFY2(lc[i] == lp[i], qPrintable(QStringLiteral("step %1: %2 vs %3").arg(i + 1).arg(lc[i]).arg(lp[i])));
    }

    void chartsUseTrainingFlopsAsTheXAxis()
    {
        // A dense and a 1:8 SR-STE run recorded to a file: every table of a run gets the
        // cumulative FLOPs of its step, the sparse run costs less, and with the FLOPs x axis
        // the validation curves end at each run's own count.
        QTemporaryDir dir;
        const std::string path = dir.filePath(QStringLiteral("flops.h5")).toStdString();
        std::vector<nm::RunConfig> configs;
        for (const char *recipe : {"dense", "srste"})
            configs.push_back(nm::parseConfig("", "",
                                              {{"data", "synthetic"},
                                               {"steps", "60"},
                                               {"mlp_hidden", "32,32"},
                                               {"recipe", recipe},
                                               {"nm", "1:8"},
                                               {"eval_every", "20"},
                                               {"threads", "1"},
                                               {"name", recipe}}));
        {
            nm::Experiment exp(configs, 1);
            nm::RunFileWriter writer(path, exp.infos());
            exp.record(writer);
            exp.run();
        }
        MainWindow w;
        w.resize(1400, 900);
        QVERIFY(openAlone(w, QString::fromStdString(path)));
        const QList<int> ids = w.store()->runIds();
        QCOMPARE(ids.size(), 2);
        const Run *dense = w.store()->run(ids[0]), *sparse = w.store()->run(ids[1]);
        for (const Run *r : {dense, sparse}) {
            QCOMPARE(r->train.flops.size(), r->train.step.size());
            QCOMPARE(r->val.flops.size(), r->val.step.size());
            QVERIFY(!r->val.step.empty());
            const auto k = static_cast<size_t>(r->val.step.back()) - 1; // train rows: steps 1..60
            QCOMPARE(r->val.flops.back(), r->train.flops[k]);
        }
        QVERIFY(sparse->train.flops.back() < 0.8 * dense->train.flops.back());
        w.chartSettings()->setXMode(XAxisMode::Flops);
        MetricChart *val = nullptr;
        for (ChartPanel *c : w.pages()->charts())
            if (c->title() == QStringLiteral("Validation accuracy"))
                val = qobject_cast<MetricChart *>(c);
        QVERIFY(val);
        val->refresh();
        for (const Run *r : {dense, sparse}) {
            const QList<QPointF> s = val->mainPoints(r->meta.id);
            QVERIFY(!s.isEmpty());
            QCOMPARE(s.last().x(), r->val.flops.back());
        }
        QCOMPARE(val->chart()->axes(Qt::Horizontal).first()->titleText(), QStringLiteral("training FLOPs"));
    }

    void forkFromAFileCheckpointIsExactAndAReplayOnAnotherKernelSaysSo()
    {
        // A file written on "another machine" (its BLAS kernel attribute says so). At a step
        // with a checkpoint the fork continues from it, exactly as the recorded run went on;
        // between checkpoints it replays from the one before, and the dialog and the status
        // bar warn that the replay rounds differently.
        QTemporaryDir dir;
        const std::string path = dir.filePath(QStringLiteral("other.h5")).toStdString();
        nm::RunConfig config = nm::parseConfig("", "",
                                               {{"data", "synthetic"},
                                                {"steps", "60"},
                                                {"mlp_hidden", "32,32"},
                                                {"recipe", "sste"},
                                                {"eval_every", "20"},
                                                {"snapshot_every", "30"},
                                                {"threads", "1"},
                                                {"name", "far"}});
        {
            nm::Experiment exp({config}, 1);
            auto infos = exp.infos();
            infos[0].blasCore = "FarAwayKernel";
            nm::RunFileWriter writer(path, infos);
            exp.record(writer);
            exp.run();
        }
        MainWindow w;
        QVERIFY(openAlone(w, QString::fromStdString(path)));
        const int parent = w.store()->runIds().first();
        const Run *p = w.store()->run(parent);
        QCOMPARE(p->meta.checkpointSteps, (std::vector<long>{30, 60}));
        ForkDialog d(w.store(), w.controller(), parent, &w);
        QCOMPARE(d.stepSpin()->value(), 60); // the last checkpoint
        d.stepSpin()->setValue(30);
        QVERIFY2(d.note().contains(QStringLiteral("exactly from the checkpoint saved at step 30")),
                 qPrintable(d.note()));
        d.recipe()->setRecipe(QStringLiteral("sste"));
        const int child = d.forkNow();
        QVERIFY2(child > 0, qPrintable(d.error()));
        QTRY_COMPARE_WITH_TIMEOUT(w.controller()->state(), State::Finished, 60000);
        QVERIFY(!w.statusMessage()->text().contains(QStringLiteral("FarAwayKernel")));
        const auto &lc = *w.store()->run(child)->train.column("loss"), &lp = *p->train.column("loss");
        QCOMPARE(lc.size(), size_t(60));
        for (size_t i = 30; i < 60; ++i)
            QVERIFY2(lc[i] == lp[i], qPrintable(QStringLiteral("step %1: %2 vs %3").arg(i + 1).arg(lc[i]).arg(lp[i])));

        d.stepSpin()->setValue(45);
        QVERIFY2(d.note().contains(QStringLiteral("steps 31 to 45 are replayed from the checkpoint at step 30")),
                 qPrintable(d.note()));
        QVERIFY2(d.note().contains(QStringLiteral("OpenBLAS kernel FarAwayKernel")), qPrintable(d.note()));
        const int replayed = d.forkNow();
        QVERIFY2(replayed > 0, qPrintable(d.error()));
        QVERIFY2(w.statusMessage()->text().contains(QStringLiteral("FarAwayKernel")),
                 qPrintable(w.statusMessage()->text()));
        QTRY_COMPARE_WITH_TIMEOUT(w.controller()->state(), State::Finished, 60000);
        // The end of the runs does not hide the warning.
        QVERIFY2(w.statusMessage()->text().startsWith(QStringLiteral("Finished. ")) &&
                     w.statusMessage()->text().contains(QStringLiteral("FarAwayKernel")),
                 qPrintable(w.statusMessage()->text()));
        QCOMPARE(w.store()->run(replayed)->meta.forkStep, 45L);
        QVERIFY(w.store()->run(replayed)->train.column("loss")->size() == 60);
        if (const QString shots = qEnvironmentVariable("NM_SCREENSHOTS"); !shots.isEmpty()) {
            d.show();
            d.grab().save(shots + QStringLiteral("/fork_dialog_replay.png"));
            w.resize(1300, 860);
            w.show();
            w.grab().save(shots + QStringLiteral("/fork_replay_status.png"));
        }
    }

    void resumeContinuesAStoppedFileRunAsIfItHadNeverStopped()
    {
        // A run stopped at step 40 of 60 (its file has the checkpoint of the stop). "Resume"
        // offers its own recipe and settings from step 40 to 60, and the resumed steps are
        // those of a run that never stopped.
        QTemporaryDir dir;
        const std::string path = dir.filePath(QStringLiteral("stopped.h5")).toStdString();
        const nm::RunConfig config = nm::parseConfig("", "",
                                                     {{"data", "synthetic"},
                                                      {"steps", "60"},
                                                      {"mlp_hidden", "32,32"},
                                                      {"recipe", "srste"},
                                                      {"lambda", "0.001"},
                                                      {"eval_every", "20"},
                                                      {"snapshot_every", "25"},
                                                      {"threads", "1"},
                                                      {"name", "halted"}});
        const auto data = nm::loadDataset(nm::dataOptions(config));
        std::vector<float> whole;
        {
            struct Losses : nm::TrainingObserver {
                std::vector<float> v;
                void onStep(const nm::StepMetrics &m) override { v.push_back(m.loss); }
            } losses;
            nm::Trainer t(config, data);
            t.addObserver(&losses);
            t.run();
            whole = losses.v;
        }
        {
            nm::Trainer t(config, data);
            nm::RunFileWriter writer(path, {t.info()});
            t.addObserver(writer.observer(0));
            for (int i = 0; i < 40; ++i)
                t.stepOnce();
            t.requestStop();
            t.run();
        }
        MainWindow w;
        QVERIFY(openAlone(w, QString::fromStdString(path)));
        const int parent = w.store()->runIds().first();
        QCOMPARE(w.store()->run(parent)->meta.state, RunState::Stopped);
        ForkDialog d(w.store(), w.controller(), parent, &w, ForkDialog::Mode::Resume);
        QCOMPARE(d.windowTitle(), QStringLiteral("Resume a run"));
        QCOMPARE(d.stepSpin()->value(), 40);
        QCOMPARE(d.stepsEdit()->text(), QStringLiteral("60"));
        QCOMPARE(d.recipe()->recipe(), QStringLiteral("srste"));
        QCOMPARE(d.recipe()->field("lambda")->text(), QStringLiteral("0.001"));
        QVERIFY2(d.note().contains(QStringLiteral("checkpoint saved at step 40")), qPrintable(d.note()));
        const int child = d.forkNow();
        QVERIFY2(child > 0, qPrintable(d.error()));
        QCOMPARE(w.store()->run(child)->meta.name, QStringLiteral("halted@40"));
        QTRY_COMPARE_WITH_TIMEOUT(w.controller()->state(), State::Finished, 60000);
        const auto &lc = *w.store()->run(child)->train.column("loss");
        QCOMPARE(lc.size(), size_t(60));
        for (size_t i = 40; i < 60; ++i)
            QVERIFY2(lc[i] == whole[i],
                     qPrintable(QStringLiteral("step %1: %2 vs %3").arg(i + 1).arg(lc[i]).arg(whole[i])));
        if (const QString shots = qEnvironmentVariable("NM_SCREENSHOTS"); !shots.isEmpty()) {
            d.show();
            d.grab().save(shots + QStringLiteral("/resume_dialog.png"));
        }
    }

    void runsTrainedInPyTorchAreShownButNotContinued()
    {
        // A file whose tool_version is the PyTorch recorder's (nmstudio.Recorder): its runs open
        // like any other, but a fork or resume names the reason instead of replaying a config
        // that nmtrain cannot train.
        QTemporaryDir dir;
        const std::string path = dir.filePath(QStringLiteral("torch.h5")).toStdString();
        const nm::RunConfig config = nm::parseConfig("", "",
                                                     {{"data", "synthetic"},
                                                      {"steps", "20"},
                                                      {"mlp_hidden", "32,32"},
                                                      {"recipe", "srste"},
                                                      {"snapshot_every", "10"},
                                                      {"name", "cnn"}});
        {
            nm::Trainer t(config, nm::loadDataset(nm::dataOptions(config)));
            nm::RunFileWriter writer(path, {t.info()});
            t.addObserver(writer.observer(0));
            t.run();
        }
        const std::string tool = "nmstudio-python 0.1.0";
        const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
        QVERIFY(f >= 0);
        QVERIFY(H5Adelete(f, "tool_version") >= 0);
        const hid_t type = H5Tcopy(H5T_C_S1);
        H5Tset_size(type, tool.size());
        H5Tset_cset(type, H5T_CSET_UTF8);
        const hid_t space = H5Screate(H5S_SCALAR);
        const hid_t a = H5Acreate2(f, "tool_version", type, space, H5P_DEFAULT, H5P_DEFAULT);
        QVERIFY(a >= 0 && H5Awrite(a, type, tool.c_str()) >= 0);
        H5Aclose(a);
        H5Sclose(space);
        H5Tclose(type);
        H5Fclose(f);

        MainWindow w;
        QVERIFY(openAlone(w, QString::fromStdString(path)));
        const int id = w.store()->runIds().first();
        QCOMPARE(w.store()->run(id)->meta.trainedWith, QString::fromStdString(tool));
        QCOMPARE(w.store()->run(id)->train.column("loss")->size(), size_t(20));
        ForkDialog d(w.store(), w.controller(), id, &w, ForkDialog::Mode::Resume);
        QVERIFY2(d.note().contains(QStringLiteral("trained in PyTorch")), qPrintable(d.note()));
        QCOMPARE(d.forkNow(), -1);
        QVERIFY2(d.error().contains(QStringLiteral("resume it in PyTorch")), qPrintable(d.error()));
        QCOMPARE(w.store()->runIds().size(), qsizetype(1));
    }

    void forkFromTheShippedSampleTrains()
    {
        // The shipped sample forks and trains on any machine (its values are not compared:
        // they depend on the BLAS kernel of the machine that wrote it).
        MainWindow w;
        QVERIFY(openAlone(w, MainWindow::defaultSampleFile()));
        const int parent = w.store()->runIds().first();
        QCOMPARE(w.store()->run(parent)->meta.config.recipe, std::string("ste"));
        ForkDialog d(w.store(), w.controller(), parent, &w);
        d.stepSpin()->setValue(20);
        QCOMPARE(d.stepsEdit()->text(), QStringLiteral("2000"));
        const int child = d.forkNow();
        QVERIFY2(child > 0, qPrintable(d.error()));
        QTRY_VERIFY_WITH_TIMEOUT(w.store()->run(child)->meta.step >= 30, 60000);
        w.controller()->stop();
        QTRY_COMPARE_WITH_TIMEOUT(w.controller()->state(), State::Finished, 30000);
        const Run *c = w.store()->run(child);
        QCOMPARE(c->meta.forkStep, 20L);
        QVERIFY(c->train.column("loss")->size() >= 30);
        for (float v : *c->train.column("loss"))
            QVERIFY(std::isfinite(v));
    }

    void settingsPersist()
    {
        {
            MainWindow w;
            w.experiment()->setValue("lr", QStringLiteral("0.03"));
            w.chartSettings()->setSmoothing(0.42);
            w.saveSettings();
        }
        MainWindow w;
        w.restoreSettings();
        QCOMPARE(w.experiment()->field("lr")->text(), QStringLiteral("0.03"));
        QCOMPARE(w.chartSettings()->smoothing(), 0.42);
    }
};

NM_UI_TEST_MAIN(TestMainWindow)
#include "tst_main_window.moc"
