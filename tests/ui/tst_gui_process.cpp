// nmstudio as a process: killed mid-run (a crash, SIGKILL), the run file it was recording stays
// as readable as one left by a killed nmtrain: every flushed step, in order, with its snapshots;
// nmstudio --export --preset writes figures of the preset's size, and refuses an unknown preset.
#include "ui_test_main.h"

#include "nmcore/runfile.h"

#include <QDir>
#include <QElapsedTimer>
#include <QImage>
#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>

#include <cmath>

namespace {

// Runs nmstudio with `args` on the offscreen platform; its exit code, stdout and stderr.
struct Run {
    int code = -1;
    QString out, err;
};

Run nmstudio(const QStringList &args, const QString &home)
{
    QProcess p;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
    env.insert(QStringLiteral("HOME"), home);
    p.setProcessEnvironment(env);
    p.start(QStringLiteral(NMSTUDIO_PATH), args);
    if (!p.waitForFinished(120000))
        p.kill();
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1,
            QString::fromLocal8Bit(p.readAllStandardOutput()), QString::fromLocal8Bit(p.readAllStandardError())};
}

QSizeF pdfPage(const QString &path)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return {};
    static const QRegularExpression box(QStringLiteral("/MediaBox \\[0 0 ([0-9.]+) ([0-9.]+)\\]"));
    const auto m = box.match(QString::fromLatin1(f.readAll()));
    return m.hasMatch() ? QSizeF(m.captured(1).toDouble(), m.captured(2).toDouble()) : QSizeF();
}

const QString kSample = QStringLiteral(NM_SOURCE_DIR "/sample_runs/mlp_2to4_ste_srste_sste.h5");

} // namespace

class TestGuiProcess : public QObject {
    Q_OBJECT
  private Q_SLOTS:
    void exportWithAPreset()
    {
        QTemporaryDir home;
        QVERIFY(home.isValid());
        const QString dir = home.filePath(QStringLiteral("figures"));
        const Run r = nmstudio(
            {QStringLiteral("--export"), dir, kSample, QStringLiteral("--preset"), QStringLiteral("one-column")},
            home.path());
        QVERIFY2(r.code == 0, qPrintable(r.out + r.err));
        QVERIFY2(r.err.trimmed().isEmpty(), qPrintable(r.err));
        const QSizeF page = pdfPage(dir + QStringLiteral("/training-loss.pdf"));
        QVERIFY2(std::abs(page.width() - 8.5 / 2.54 * 72) <= 1 && std::abs(page.height() - 5.3 / 2.54 * 72) <= 1,
                 qPrintable(QStringLiteral("%1x%2").arg(page.width()).arg(page.height())));
        QCOMPARE(QImage(dir + QStringLiteral("/training-loss.png")).size(),
                 QSize(qRound(8.5 / 2.54 * 300), qRound(5.3 / 2.54 * 300)));
        QVERIFY(QFile::exists(dir + QStringLiteral("/training-loss.svg")));
        QVERIFY(QFile::exists(dir + QStringLiteral("/training-loss.csv")));
        // A custom size.
        const QString custom = home.filePath(QStringLiteral("custom"));
        const Run c = nmstudio(
            {QStringLiteral("--export"), custom, kSample, QStringLiteral("--preset"), QStringLiteral("3.3x2in")},
            home.path());
        QVERIFY2(c.code == 0, qPrintable(c.out + c.err));
        QCOMPARE(QImage(custom + QStringLiteral("/training-loss.png")).size(), QSize(990, 600));
        QCOMPARE(QImage(custom + QStringLiteral("/training-loss@2x.png")).size(), QSize(1980, 1200));
    }

    void exportWithABadPresetWritesNothing()
    {
        QTemporaryDir home;
        QVERIFY(home.isValid());
        const QString dir = home.filePath(QStringLiteral("figures"));
        const Run r = nmstudio(
            {QStringLiteral("--export"), dir, kSample, QStringLiteral("--preset"), QStringLiteral("onecolumn")},
            home.path());
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains(QStringLiteral("--preset: unknown figure size 'onecolumn'")), qPrintable(r.err));
        for (const char *name : {"one-column", "two-column", "neurips", "slide", "8.5x5.5cm"})
            QVERIFY2(r.err.contains(QString::fromLatin1(name)), qPrintable(r.err));
        QVERIFY(!QFileInfo::exists(dir));
        // --help lists the option and the presets.
        const Run help = nmstudio({QStringLiteral("--help")}, home.path());
        QVERIFY2(help.out.contains(QStringLiteral("--preset <NAME>")) &&
                     help.out.contains(QStringLiteral("one-column")),
                 qPrintable(help.out));
    }

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
