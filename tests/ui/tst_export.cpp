// Exports: PNG at 1× and 2× of the right size and showing the data, SVG with the text kept
// (title, legend, axis titles), CSV of the visible range or of everything, export-all.
#include "ui_test_main.h"
#include "ui_test_util.h"

#include "chart_export.h"
#include "chart_settings.h"
#include "flip_heatmap.h"
#include "metric_chart.h"

#include <QFile>
#include <QImageReader>
#include <QLineSeries>
#include <QTemporaryDir>

using namespace nmui;
using namespace nmui::test;

namespace {

// Pixels within a small distance of `c` (antialiasing blends the edges of lines).
int pixelsNear(const QImage &img, const QColor &c, int tolerance = 24)
{
    int n = 0;
    for (int y = 0; y < img.height(); ++y)
        for (int x = 0; x < img.width(); ++x) {
            const QColor p = img.pixelColor(x, y);
            if (std::abs(p.red() - c.red()) + std::abs(p.green() - c.green()) + std::abs(p.blue() - c.blue()) <
                tolerance)
                ++n;
        }
    return n;
}

QStringList readLines(const QString &path)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly | QIODevice::Text))
        return {};
    return QString::fromUtf8(f.readAll()).split('\n', Qt::SkipEmptyParts);
}

} // namespace

class TestExport : public QObject {
    Q_OBJECT
private:
    RunStore m_store;
    ChartSettings m_settings;
    std::unique_ptr<MetricChart> m_chart;
    QTemporaryDir m_dir;
    int m_a = -1, m_b = -1;

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_settings.setSmoothing(0.5);
        m_a = addRun(m_store, {QStringLiteral("Alpha, the first"), "ste", 1, 400});
        m_b = addRun(m_store, {QStringLiteral("Beta"), "sste", 1, 300});
        m_chart = std::make_unique<MetricChart>(&m_store, &m_settings, QStringLiteral("Training loss"),
                                                QStringLiteral("loss value"),
                                                QList<CurveSpec>{columnCurve(TableKind::Train, "loss")});
        m_chart->resize(800, 450);
        m_chart->show();
        QVERIFY(QTest::qWaitForWindowExposed(m_chart.get()));
        m_chart->refresh();
    }

    void pngAtOneAndTwoTimes()
    {
        const QSize logical = m_chart->chart()->size().toSize();
        QVERIFY(logical.width() > 700);
        for (double scale : {1.0, 2.0}) {
            const QString path = m_dir.filePath(QStringLiteral("loss-%1.png").arg(scale));
            QString error;
            QVERIFY2(savePng(m_chart.get(), path, scale, &error), qPrintable(error));
            QImageReader reader(path);
            QCOMPARE(reader.format(), QByteArray("png"));
            const QImage img = reader.read();
            QCOMPARE(img.size(), logical * scale);
            // Both runs' lines are in the picture, in their colours.
            QVERIFY(pixelsNear(img, m_store.run(m_a)->meta.color) > 50 * scale);
            QVERIFY(pixelsNear(img, m_store.run(m_b)->meta.color) > 50 * scale);
        }
        // A fixed export size, whatever the window.
        const QString path = m_dir.filePath(QStringLiteral("fixed.png"));
        QVERIFY(savePng(m_chart.get(), path, 1.0, nullptr, QSize(640, 400)));
        QCOMPARE(QImage(path).size(), QSize(640, 400));
        QCOMPARE(m_chart->chart()->size().toSize(), logical); // restored afterwards
    }

    void svgKeepsTextLegendAndAxisTitles()
    {
        const QString path = m_dir.filePath(QStringLiteral("loss.svg"));
        QString error;
        QVERIFY2(saveSvg(m_chart.get(), path, &error), qPrintable(error));
        QFile f(path);
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QString svg = QString::fromUtf8(f.readAll());
        QVERIFY(svg.contains(QStringLiteral("<svg")));
        QVERIFY(svg.contains(QStringLiteral("<path")) || svg.contains(QStringLiteral("<polyline")));
        for (const char *text : {"Training loss", "loss value", "step", "Beta", "Alpha, the first"})
            QVERIFY2(svg.contains(QString::fromUtf8(text)), text);
    }

    void csvOfVisibleRangeOrEverything()
    {
        const QString all = m_dir.filePath(QStringLiteral("all.csv"));
        QVERIFY(saveCsv(m_chart.get(), all, false));
        QStringList lines = readLines(all);
        QCOMPARE(lines.first(), QStringLiteral("step,\"Alpha, the first raw\",\"Alpha, the first smoothed\",Beta raw,"
                                               "Beta smoothed"));
        QCOMPARE(lines.size(), 1 + 400); // one row per step (Beta's cells empty after 300)
        QCOMPARE(lines[1].split(',').first(), QStringLiteral("1"));
        QCOMPARE(lines[1].split(',')[1].toDouble(), 2.0);
        QVERIFY(lines[400].endsWith(QStringLiteral(",,")));
        // Zoom to steps 100…199: the visible range only.
        m_chart->view()->zoomToX(100, 199);
        const QString visible = m_dir.filePath(QStringLiteral("visible.csv"));
        QVERIFY(saveCsv(m_chart.get(), visible, true));
        lines = readLines(visible);
        QCOMPARE(lines.size(), 1 + 100);
        QCOMPARE(lines[1].split(',').first(), QStringLiteral("100"));
        QCOMPARE(lines.last().split(',').first(), QStringLiteral("199"));
        m_chart->view()->resetZoom();
    }

    void exportAllWritesEveryFormat()
    {
        FlipHeatmap map(&m_store);
        map.setAutoRefresh(false);
        map.resize(800, 300);
        map.show();
        map.setRun(m_a);
        map.refresh();
        QStringList errors;
        const QString dir = m_dir.filePath(QStringLiteral("all"));
        const QStringList files = exportCharts({m_chart.get(), &map}, dir, &errors);
        QVERIFY2(errors.isEmpty(), qPrintable(errors.join("; ")));
        QCOMPARE(files.size(), 8);
        for (const char *name : {"training-loss.png", "training-loss@2x.png", "training-loss.svg", "training-loss.csv",
                                 "mask-flips-alpha-the-first.png", "mask-flips-alpha-the-first.csv"})
            QVERIFY2(QFile::exists(dir + '/' + QString::fromLatin1(name)), name);
        // The heatmap's PNG shows viridis colours: its colour scale and cells.
        const QImage heat(dir + QStringLiteral("/mask-flips-alpha-the-first.png"));
        // fc3's first 100 steps hold the largest flip rate: a block of viridis yellow. The
        // colour bar's foot is viridis purple.
        QVERIFY(pixelsNear(heat, QColor(0xfde725)) > 5000);
        QVERIFY(pixelsNear(heat, QColor(0x440154)) > 10);
    }
};

NM_UI_TEST_MAIN(TestExport)
#include "tst_export.moc"
