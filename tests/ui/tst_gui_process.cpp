// nmstudio as a process: killed mid-run (a crash, SIGKILL), the run file it was recording stays
// as readable as one left by a killed nmtrain: every flushed step, in order, with its snapshots.
#include "ui_test_main.h"

#include "nmcore/runfile.h"

#include <QDir>
#include <QElapsedTimer>
#include <QProcess>
#include <QTemporaryDir>

#include <cmath>

class TestGuiProcess : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void killedWhileRecordingLeavesAReadableFile()
    {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        QProcess gui;
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
        env.insert(QStringLiteral("HOME"), dir.path());
        gui.setProcessEnvironment(env);
        gui.setProcessChannelMode(QProcess::MergedChannels);
        gui.start(QStringLiteral(NMSTUDIO_PATH),
                  {QStringLiteral("--headless"), QStringLiteral("--out"), dir.path(), QStringLiteral("--steps"),
                   QStringLiteral("1000000"), QStringLiteral("--set"), QStringLiteral("data=synthetic"),
                   QStringLiteral("--set"), QStringLiteral("mlp_hidden=32,32")});
        QVERIFY2(gui.waitForStarted(10000), qPrintable(gui.errorString()));
        const std::string path = QDir(dir.path()).filePath(QStringLiteral("comparison.h5")).toStdString();
        // Wait until every run has flushed a few steps.
        bool flushed = false;
        QElapsedTimer clock;
        clock.start();
        while (!flushed && clock.elapsed() < 60000 && gui.state() == QProcess::Running) {
            QTest::qWait(200);
            try {
                nm::RunFileReader r(path);
                flushed = r.runCount() == 3;
                for (int i = 0; i < r.runCount(); ++i)
                    flushed = flushed && r.run(i).lastStep >= 5;
            } catch (const nm::RunFileError &) {
            }
        }
        QVERIFY2(flushed, qPrintable(QString::fromLocal8Bit(gui.readAll())));
        gui.kill(); // SIGKILL: no handler runs, nothing is closed
        QVERIFY(gui.waitForFinished(10000));
        QCOMPARE(gui.exitStatus(), QProcess::CrashExit);

        nm::RunFileReader reader(path);
        QCOMPARE(reader.runCount(), 3);
        for (int i = 0; i < 3; ++i) {
            QCOMPARE(reader.run(i).status, std::string("Running")); // never ended
            const nm::Series loss = reader.series(i, "train/loss");
            QVERIFY(loss.steps.size() >= 5);
            for (size_t k = 0; k < loss.steps.size(); ++k) {
                QCOMPARE(loss.steps[k], long(k + 1));
                QVERIFY(std::isfinite(loss.values[k]));
            }
            QCOMPARE(reader.layerSeries(i, "flip_rate").steps.size(), loss.steps.size());
            QCOMPARE(reader.snapshotSteps(i).front(), 0L);
            QCOMPARE(reader.snapshot(i, 0, 0).rows, 32);
        }
    }
};

NM_UI_TEST_MAIN(TestGuiProcess)
#include "tst_gui_process.moc"
