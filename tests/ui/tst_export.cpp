// Exports: PNG at 1× and 2× of the right size and showing the data, SVG with the text kept
// (title, legend, axis titles), PDF (one page of the chart's size, text as text), CSV of the
// visible range or of everything, export-all; figure sizes (PDF page and SVG in points, PNG at
// 300 dpi, the preset's text size, nothing elided, the chart on screen unchanged after).
#include "ui_test_main.h"
#include "ui_test_util.h"

#include "plot/chart_export.h"
#include "plot/chart_settings.h"
#include "plot/flip_heatmap.h"
#include "plot/metric_chart.h"

#include <QAbstractAxis>
#include <QChart>
#include <QFile>
#include <QImageReader>
#include <QLegend>
#include <QLineSeries>
#include <QRegularExpression>
#include <QScreen>
#include <QTemporaryDir>
#include <QXYSeries>
#include <QtEndian>

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

QByteArray readAll(const QString &path)
{
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

// What a PDF written by QPdfWriter says about itself: its page size in points, and its
// content streams inflated (QPdfWriter compresses them; the text is drawn with Tf/Tj inside
// BT…ET, the lines with m/l/S).
struct Pdf {
    QByteArray raw, content;
    QSizeF page;
};

Pdf readPdf(const QString &path)
{
    Pdf pdf;
    pdf.raw = readAll(path);
    static const QRegularExpression box(QStringLiteral("/MediaBox \\[0 0 ([0-9.]+) ([0-9.]+)\\]"));
    const auto m = box.match(QString::fromLatin1(pdf.raw));
    if (m.hasMatch())
        pdf.page = QSizeF(m.captured(1).toDouble(), m.captured(2).toDouble());
    for (qsizetype at = pdf.raw.indexOf("stream\n"); at >= 0; at = pdf.raw.indexOf("stream\n", at + 1)) {
        if (at >= 3 && pdf.raw.mid(at - 3, 3) == "end")
            continue;
        const qsizetype start = at + 7, end = pdf.raw.indexOf("endstream", start);
        if (end < 0 || !pdf.raw.mid(std::max<qsizetype>(0, at - 200), 200).contains("/FlateDecode"))
            continue;
        const QByteArray data = pdf.raw.mid(start, end - start);
        QByteArray sized(4, 0); // qUncompress wants the size first (a hint: it grows as needed)
        qToBigEndian(static_cast<quint32>(data.size() * 20), sized.data());
        pdf.content += qUncompress(sized + data);
    }
    return pdf;
}

// The text of every <text> element of an SVG.
QStringList svgTexts(const QString &path)
{
    static const QRegularExpression text(QStringLiteral("<text[^>]*>([^<]*)</text>"));
    QStringList out;
    for (const auto &m : text.globalMatch(QString::fromUtf8(readAll(path))))
        out << m.captured(1);
    return out;
}

QStringList elided(const QStringList &texts)
{
    QStringList out;
    for (const QString &t : texts)
        if (t.contains(QStringLiteral("...")) || t.contains(QChar(0x2026)))
            out << t;
    return out;
}

// Everything about a chart on screen an export with a figure size changes for a while.
QString chartState(QChart *c)
{
    QStringList s;
    s << QStringLiteral("size %1x%2").arg(c->size().width()).arg(c->size().height());
    s << c->title() << c->titleFont().toString() << c->legend()->font().toString();
    s << QStringLiteral("legend %1").arg(c->legend()->isVisible());
    s << QStringLiteral("margins %1 %2").arg(c->margins().left()).arg(c->margins().bottom());
    for (QAbstractAxis *a : c->axes())
        s << a->titleText() << a->titleFont().toString() << a->labelsFont().toString();
    for (QAbstractSeries *series : c->series())
        if (auto *xy = qobject_cast<QXYSeries *>(series))
            s << QStringLiteral("pen %1 marker %2").arg(xy->pen().widthF()).arg(xy->markerSize());
    s << QStringLiteral("items %1").arg(c->childItems().size());
    return s.join('\n');
}

FigurePreset preset(const QString &name)
{
    return parseFigurePreset(name).value_or(FigurePreset{});
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
        QCOMPARE(files.size(), 10);
        for (const char *name : {"training-loss.png", "training-loss@2x.png", "training-loss.svg", "training-loss.pdf",
                                 "training-loss.csv", "mask-flips-alpha-the-first.png",
                                 "mask-flips-alpha-the-first.pdf", "mask-flips-alpha-the-first.csv"})
            QVERIFY2(QFile::exists(dir + '/' + QString::fromLatin1(name)), name);
        // The heatmap's PNG shows viridis colours: its colour scale and cells.
        const QImage heat(dir + QStringLiteral("/mask-flips-alpha-the-first.png"));
        // fc3's first 100 steps hold the largest flip rate: a block of viridis yellow. The
        // colour bar's foot is viridis purple.
        QVERIFY(pixelsNear(heat, QColor(0xfde725)) > 5000);
        QVERIFY(pixelsNear(heat, QColor(0x440154)) > 10);
    }

    void pdfIsOnePageOfTheChartsSize()
    {
        const QString path = m_dir.filePath(QStringLiteral("loss.pdf"));
        QString error;
        QVERIFY2(savePdf(m_chart.get(), path, &error), qPrintable(error));
        const Pdf pdf = readPdf(path);
        QVERIFY(pdf.raw.startsWith("%PDF-"));
        // The on-screen size at the screen's resolution, in points.
        const double dpi = qRound(QGuiApplication::primaryScreen()->logicalDotsPerInchY());
        const QSizeF expected = m_chart->chart()->size() * 72.0 / dpi;
        QVERIFY2(std::abs(pdf.page.width() - expected.width()) <= 1 &&
                     std::abs(pdf.page.height() - expected.height()) <= 1,
                 qPrintable(QStringLiteral("%1x%2").arg(pdf.page.width()).arg(pdf.page.height())));
        QCOMPARE(pdf.raw.count("/Type /Page\n"), 1);
    }

    void pdfAtAFigureSizeIsVectorWithText()
    {
        const FigurePreset one = preset(QStringLiteral("one-column"));
        QCOMPARE(one.widthCm, 8.5);
        const QString path = m_dir.filePath(QStringLiteral("loss-one-column.pdf"));
        QString error;
        QVERIFY2(savePdf(m_chart.get(), path, one, &error), qPrintable(error));
        const Pdf pdf = readPdf(path);
        QVERIFY(pdf.raw.startsWith("%PDF-"));
        QVERIFY2(std::abs(pdf.page.width() - 8.5 / 2.54 * 72) <= 1 &&
                     std::abs(pdf.page.height() - 5.3 / 2.54 * 72) <= 1,
                 qPrintable(QStringLiteral("%1x%2").arg(pdf.page.width()).arg(pdf.page.height())));
        // Text stays text: glyphs of an embedded font with a ToUnicode map (so it can be searched
        // and copied), drawn by text operators; lines are path operators, no picture.
        QVERIFY(pdf.raw.contains("/FontFile2"));
        QVERIFY(pdf.raw.contains("/ToUnicode"));
        QVERIFY(!pdf.raw.contains("/Subtype /Image"));
        QVERIFY(pdf.content.count("BT\n") >= 10); // title, axis titles, tick labels, 2 legend names
        QVERIFY(pdf.content.count(" Tj\n") > 40);
        QVERIFY(pdf.content.count(" l\n") > 200);
        // Every text at the preset's 8 pt: Tf sizes are in scene units, which the page's first
        // transformation (a 0 0 -a 0 h cm) scales to points.
        static const QRegularExpression cm(QStringLiteral("([0-9.]+) 0 0 -([0-9.]+) 0 [0-9.]+ cm"));
        const auto scale = cm.match(QString::fromLatin1(pdf.content));
        QVERIFY(scale.hasMatch());
        static const QRegularExpression tf(QStringLiteral("/F[0-9]+ ([0-9.]+) Tf"));
        int fonts = 0;
        for (const auto &m : tf.globalMatch(QString::fromLatin1(pdf.content))) {
            const double pt = m.captured(1).toDouble() * scale.captured(1).toDouble();
            QVERIFY2(std::abs(pt - 8.0) <= 0.5, qPrintable(QString::number(pt)));
            ++fonts;
        }
        QVERIFY(fonts >= 10);
    }

    void pngAtAFigureSizeHasItsPixels()
    {
        const struct {
            const char *preset;
            QSize pixels;
        } cases[] = {{"one-column", {qRound(8.5 / 2.54 * 300), qRound(5.3 / 2.54 * 300)}},
                     {"two-column", {qRound(17.5 / 2.54 * 300), qRound(8.0 / 2.54 * 300)}},
                     {"3.3x2in", {990, 600}},
                     {"85x55mm", {qRound(8.5 / 2.54 * 300), qRound(5.5 / 2.54 * 300)}}};
        for (const auto &c : cases) {
            const QString path = m_dir.filePath(QStringLiteral("fig-%1.png").arg(QString::fromLatin1(c.preset)));
            QString error;
            QVERIFY2(savePng(m_chart.get(), path, preset(QString::fromLatin1(c.preset)), 300, &error),
                     qPrintable(error));
            const QImage img(path);
            QVERIFY2(std::abs(img.width() - c.pixels.width()) <= 1 && std::abs(img.height() - c.pixels.height()) <= 1,
                     qPrintable(QStringLiteral("%1: %2x%3").arg(c.preset).arg(img.width()).arg(img.height())));
            QCOMPARE(qRound(img.dotsPerMeterX() * 0.0254), 300); // the file says 300 dpi
            QVERIFY(pixelsNear(img, m_store.run(m_b)->meta.color) > 100);
        }
        // The "2×" of a figure: twice the resolution.
        const QString path = m_dir.filePath(QStringLiteral("fig-600.png"));
        QVERIFY(savePng(m_chart.get(), path, preset(QStringLiteral("3.3x2in")), 600));
        QCOMPARE(QImage(path).size(), QSize(1980, 1200));
    }

    void svgAtAFigureSizeInMillimetresWithThePresetsText()
    {
        const QString path = m_dir.filePath(QStringLiteral("loss-one-column.svg"));
        QString error;
        QVERIFY2(saveSvg(m_chart.get(), path, preset(QStringLiteral("one-column")), &error), qPrintable(error));
        const QString svg = QString::fromUtf8(readAll(path));
        static const QRegularExpression size(
            QStringLiteral("<svg[^>]* width=\"([0-9.]+)mm\" height=\"([0-9.]+)mm\"[^>]* viewBox=\"0 0 ([0-9.]+) "));
        const auto m = size.match(svg);
        QVERIFY(m.hasMatch());
        QVERIFY2(std::abs(m.captured(1).toDouble() - 85) < 0.4, qPrintable(m.captured(1))); // ±1 pt
        QVERIFY2(std::abs(m.captured(2).toDouble() - 53) < 0.4, qPrintable(m.captured(2)));
        // Text sizes in the view box's units (the scene's, at the screen's resolution): every
        // text at 8 pt.
        const double unitsPerPt = qRound(QGuiApplication::primaryScreen()->logicalDotsPerInchY()) / 72.0;
        QVERIFY(std::abs(m.captured(3).toDouble() - 8.5 / 2.54 * 72 * unitsPerPt) < 0.01);
        static const QRegularExpression text(QStringLiteral("<text[^>]* font-size=\"([0-9.]+)\""));
        int texts = 0;
        for (const auto &t : text.globalMatch(svg)) {
            QVERIFY2(std::abs(t.captured(1).toDouble() / unitsPerPt - 8) < 0.05, qPrintable(t.captured(1)));
            ++texts;
        }
        QVERIFY(texts >= 10);
        // The runs' lines 1 pt wide (and their faded raw curves half that).
        static const QRegularExpression stroke(QStringLiteral("stroke-width=\"([0-9.]+)\""));
        QList<double> widths;
        for (const auto &w : stroke.globalMatch(svg))
            widths << w.captured(1).toDouble() / unitsPerPt;
        auto has = [&](double pt) {
            return std::any_of(widths.begin(), widths.end(), [pt](double w) { return std::abs(w - pt) < 0.01; });
        };
        QVERIFY(has(1.0));
        QVERIFY(has(0.5));
        for (const char *t : {"Training loss", "loss value", "step", "Beta", "Alpha, the first"})
            QVERIFY2(svgTexts(path).contains(QString::fromUtf8(t)), t);
    }

    void figureLabelsAreNotElided()
    {
        FlipHeatmap map(&m_store);
        map.setAutoRefresh(false);
        map.resize(800, 300);
        map.show();
        map.setRun(m_a);
        map.refresh();
        // A heatmap's colour bar needs about 8 cm of width (at 4 cm its labels are elided to
        // "0..."); a line chart fits 6 × 4 cm.
        const std::pair<ChartPanel *, QStringList> cases[] = {
            {m_chart.get(), {"one-column", "two-column", "neurips", "slide", "6x4cm"}},
            {&map, {"one-column", "two-column", "neurips", "slide"}}};
        for (const auto &[panel, names] : cases)
            for (const QString &name : names) {
                const QString path = m_dir.filePath(panel->slug() + QStringLiteral("-%1.svg").arg(name));
                QVERIFY(saveSvg(panel, path, preset(name)));
                const QStringList texts = svgTexts(path);
                QStringList cut = elided(texts);
                // At a custom size as small as 6 × 4 cm a title may not fit, even on two lines;
                // tick labels and the legend's names always do.
                if (name == QStringLiteral("6x4cm"))
                    cut.removeIf([](const QString &t) { return t.startsWith(QStringLiteral("loss")); });
                QVERIFY2(cut.isEmpty(), qPrintable(QStringLiteral("%1 %2: ").arg(panel->slug(), name) +
                                                   cut.join(QStringLiteral(" | "))));
                QVERIFY(texts.contains(QStringLiteral("Alpha, the first")) || panel == &map);
                QVERIFY(texts.size() >= 6); // title, axis titles, tick labels
            }
    }

    void figureExportLeavesTheScreenChartAlone()
    {
        FlipHeatmap map(&m_store);
        map.setAutoRefresh(false);
        map.resize(800, 300);
        map.show();
        map.setRun(m_a);
        map.refresh();
        for (ChartPanel *panel : QList<ChartPanel *>{m_chart.get(), &map}) {
            const QString before = chartState(panel->chart());
            const QImage shown = renderChart(panel);
            for (const char *name : {"one-column", "slide", "3.3x2in"}) {
                const FigurePreset f = preset(QString::fromLatin1(name));
                const QString stem = m_dir.filePath(panel->slug() + QStringLiteral("-alone-%1").arg(name));
                QVERIFY(savePdf(panel, stem + QStringLiteral(".pdf"), f));
                QVERIFY(savePng(panel, stem + QStringLiteral(".png"), f, 300));
                QVERIFY(saveSvg(panel, stem + QStringLiteral(".svg"), f));
                QCOMPARE(chartState(panel->chart()), before);
            }
            QCOMPARE(renderChart(panel), shown); // the same pixels as before
        }
    }

    void presetsByNameOrSize()
    {
        QStringList names;
        for (const FigurePreset &p : figurePresets())
            names << p.name;
        QCOMPARE(names.first(), QStringLiteral("screen"));
        QVERIFY(figurePresets().first().isScreen());
        for (const char *n : {"one-column", "two-column", "neurips", "slide"})
            QVERIFY2(names.contains(QString::fromLatin1(n)), n);
        const FigurePreset two = preset(QStringLiteral("Two-Column"));
        QCOMPARE(two.widthCm, 17.5);
        QCOMPARE(two.fontPt, 9.0);
        QCOMPARE(two.lineWidthPt, 1.0);
        QVERIFY(preset(QStringLiteral("one-column")).describe().contains(QStringLiteral("8.5 × 5.3 cm")));
        const FigurePreset inches = preset(QStringLiteral("3.3x2in"));
        QCOMPARE(inches.widthCm, 3.3 * 2.54);
        QCOMPARE(inches.heightCm, 2 * 2.54);
        QCOMPARE(inches.fontPt, 8.0);
        QCOMPARE(preset(QStringLiteral("85 x 55 mm")).heightCm, 5.5);
        QCOMPARE(preset(QStringLiteral("8.5x5.5cm")).sizePt().width(), 8.5 / 2.54 * 72);
        QCOMPARE(preset(QStringLiteral("20x10cm")).fontPt, 9.0);
        for (const char *bad : {"onecolumn", "8.5cm", "8.5x5.5", "0x0cm", "1x1mm", "300x200cm", ""}) {
            QString error;
            QVERIFY2(!parseFigurePreset(QString::fromLatin1(bad), &error), bad);
            QVERIFY2(error.contains(QString::fromLatin1(bad)), qPrintable(error));
        }
        QString error;
        parseFigurePreset(QStringLiteral("fullpage"), &error);
        for (const char *n : {"one-column", "two-column", "neurips", "slide", "3.3x2in"})
            QVERIFY2(error.contains(QString::fromLatin1(n)), qPrintable(error));
    }

    void exportAllAtAFigureSize()
    {
        QStringList errors;
        const QString dir = m_dir.filePath(QStringLiteral("figures"));
        const QStringList files = exportCharts({m_chart.get()}, dir, &errors, {}, preset(QStringLiteral("one-column")));
        QVERIFY2(errors.isEmpty(), qPrintable(errors.join("; ")));
        QCOMPARE(files.size(), 5);
        QCOMPARE(QImage(dir + QStringLiteral("/training-loss.png")).width(), qRound(8.5 / 2.54 * 300));
        QCOMPARE(QImage(dir + QStringLiteral("/training-loss@2x.png")).width(), qRound(8.5 / 2.54 * 600));
        QVERIFY(std::abs(readPdf(dir + QStringLiteral("/training-loss.pdf")).page.width() - 241) <= 1);
    }
};

NM_UI_TEST_MAIN(TestExport)
#include "tst_export.moc"
