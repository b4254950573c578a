// The plotting layer on screen (offscreen platform): charts receive points through one
// replace() per frame, decimation bounds the point count, zoom survives live updates,
// smoothing draws the raw curve underneath, log axes drop non-positive values, seed groups
// draw a band, the crosshair reads every run, heatmaps place the right colours, the layer
// inspector's flip counts have the layer's shape and a histogram over every weight.
#include "ui_test_main.h"
#include "ui_test_util.h"

#include "panels/chart_pages.h"
#include "panels/heatmap_panel.h"
#include "panels/layer_inspector.h"
#include "plot/chart_settings.h"
#include "plot/curve_layer.h"
#include "plot/flip_heatmap.h"
#include "plot/image_chart.h"
#include "plot/metric_chart.h"
#include "plot/palette.h"
#include "plot/plot_view.h"
#include "plot/scatter_chart.h"
#include "plot/step_values.h"
#include "plot/summary_chart.h"

#include "nmcore/nm_gemm.h"
#include "nmcore/stats.h"

#include <numeric>

#include <QAreaSeries>
#include <QChart>
#include <QLegend>
#include <QLegendMarker>
#include <QLineSeries>
#include <QLogValueAxis>
#include <QMouseEvent>
#include <QScatterSeries>
#include <QSignalSpy>
#include <QTextBrowser>
#include <QValueAxis>

using namespace nmui;
using namespace nmui::test;

namespace {

QPoint toView(MetricChart &c, QPointF value)
{
    QLineSeries *s = qobject_cast<QLineSeries *>(c.chart()->series().first());
    const QPointF scene = c.chart()->mapToScene(c.chart()->mapToPosition(value, s));
    return c.view()->mapFromScene(scene);
}

// A plain hover (no button): QTest::mouseMove does not reach a widget under the offscreen
// platform unless the window is under the cursor, so the event goes to the viewport directly.
void hover(QWidget *viewport, QPoint p)
{
    QMouseEvent e(QEvent::MouseMove, QPointF(p), QPointF(viewport->mapToGlobal(p)), Qt::NoButton, Qt::NoButton,
                  Qt::NoModifier);
    QApplication::sendEvent(viewport, &e);
}

double xMin(ChartPanel &c)
{
    return c.view()->xRange().x();
}
double xMax(ChartPanel &c)
{
    return c.view()->xRange().y();
}

MetricChart *lossChart(RunStore &store, ChartSettings &settings)
{
    auto *c = new MetricChart(&store, &settings, QStringLiteral("Training loss"), QStringLiteral("loss"),
                              {columnCurve(TableKind::Train, "loss")});
    c->resize(900, 500);
    c->show();
    return c;
}

} // namespace

class TestCharts : public QObject {
    Q_OBJECT
  private Q_SLOTS:
    void chartsReceivePointsWithOneReplacePerFrame()
    {
        RunStore store;
        ChartSettings settings;
        settings.setSmoothing(0.0);
        const int a = addRun(store, {QStringLiteral("A"), "ste", 1, 500});
        const int b = addRun(store, {QStringLiteral("B"), "srste", 1, 500});
        std::unique_ptr<MetricChart> c(lossChart(store, settings));
        QVERIFY(QTest::qWaitForWindowExposed(c.get()));
        store.flush();
        QLineSeries *sa = c->mainSeries(a), *sb = c->mainSeries(b);
        QVERIFY(sa && sb);
        QCOMPARE(sa->count(), 0);               // the series are legend keys; the curve layer draws the points
        QCOMPARE(c->mainPoints(a).size(), 500); // 500 points fit the plot width undecimated
        QCOMPARE(c->mainPoints(a).at(0), QPointF(1, 2.0));
        const int updates = c->curveLayer()->updates();
        appendSteps(store, a, 501, 600, 0.05f);
        appendSteps(store, b, 501, 600, 0.06f);
        store.flush(); // one frame
        QCOMPARE(c->curveLayer()->updates(), updates + 1);
        QCOMPARE(c->mainPoints(a).size(), 600);
        QCOMPARE(c->mainPoints(a).at(599).y(), static_cast<double>(0.05f));
        // Drawn as one main line per run, each with its series' pen.
        QCOMPARE(c->curveLayer()->shapes().size(), size_t{2});
        for (const CurveLayer::Shape &shape : c->curveLayer()->shapes())
            QVERIFY(shape.style == sa || shape.style == sb);
        // Distinct, stable colours from the palette.
        QCOMPARE(sa->pen().color(), runPalette()[0]);
        QCOMPARE(sb->pen().color(), runPalette()[1]);
    }

    void curvesPaintWhereTheirPointsAreDenseOrSparse()
    {
        // A dense run (100k steps: filled column by column) and a sparse one (40 steps: stroked),
        // each a flat line in a chart of its own; the painted chart has the run's colour on the
        // row of its value and nowhere far from it.
        for (const long steps : {100000L, 40L}) {
            RunStore store;
            ChartSettings settings;
            settings.setSmoothing(0.0);
            SyntheticRun run{QStringLiteral("run"), "ste", 1, steps};
            run.loss = [](long s) { return s % 2 ? 1.0f : 3.0f; };
            SyntheticRun flat{QStringLiteral("flat"), "srste", 1, steps};
            flat.loss = [](long) { return 2.0f; };
            addRun(store, run);
            const int id = addRun(store, flat);
            std::unique_ptr<MetricChart> c(lossChart(store, settings));
            QVERIFY(QTest::qWaitForWindowExposed(c.get()));
            c->refresh();
            QCoreApplication::processEvents();
            QCOMPARE(c->mainPoints(id).size() > c->view()->plotColumns(), steps > 1000); // dense, or not
            const QImage img = c->view()->grab().toImage();
            const QRectF area = c->chart()->plotArea();
            const double scale = img.width() / static_cast<double>(c->view()->width());
            const QColor colour = c->mainSeries(id)->pen().color();
            const double expected =
                c->chart()->mapToPosition(QPointF(c->view()->xRange().x(), 2.0), c->mainSeries(id)).y() * scale;
            for (double x : {0.2, 0.5, 0.8}) {
                const int px = static_cast<int>((area.left() + x * area.width()) * scale);
                QList<int> rows;
                for (int y = static_cast<int>(area.top() * scale); y < static_cast<int>(area.bottom() * scale); ++y) {
                    const QColor p = img.pixelColor(px, y);
                    if (std::abs(p.red() - colour.red()) + std::abs(p.green() - colour.green()) +
                            std::abs(p.blue() - colour.blue()) <
                        40)
                        rows << y;
                }
                const QString where = QStringLiteral("%1 steps, x %2").arg(steps).arg(x);
                QVERIFY2(!rows.isEmpty(), qPrintable(where + QStringLiteral(": not painted")));
                for (int y : rows) // a 2-pixel pen, antialiased: within two pixels of the value's row
                    QVERIFY2(std::abs(y - expected) <= 2.5 * scale,
                             qPrintable(where + QStringLiteral(": row %1, expected %2").arg(y).arg(expected)));
            }
        }
    }

    void ownStrokesMatchQPainterStrokes()
    {
        // A sparse, jagged run (shallow and steep segments) and a dashed one: our raster stroke
        // puts the same ink in the same places as QPainter's stroke of the same polyline (box
        // blurred 3×3 against antialiasing differences), measured against the chart without
        // the curves.
        RunStore store;
        ChartSettings settings;
        settings.setSmoothing(0.0);
        SyntheticRun jagged{QStringLiteral("jagged"), "ste", 1, 300};
        jagged.loss = [](long s) {
            return 1.0f + static_cast<float>((s * 37) % 11) * 0.2f + (s % 40 == 0 ? 2.0f : 0.f);
        };
        const int id = addRun(store, jagged);
        std::unique_ptr<MetricChart> c(lossChart(store, settings));
        QVERIFY(QTest::qWaitForWindowExposed(c.get()));
        c->refresh();
        QCoreApplication::processEvents();
        QVERIFY(c->mainPoints(id).size() < c->view()->plotColumns() / 2); // stroked, not filled by column
        auto grab = [&] {
            c->view()->viewport()->repaint();
            return c->view()->grab().toImage().convertToFormat(QImage::Format_RGB32);
        };
        const QRect area = c->chart()->plotArea().toAlignedRect().adjusted(2, 2, -2, -2);
        // Ink per pixel (0 white … 1 black), blurred 3×3, minus the chart without curves.
        auto ink = [&](const QImage &img, const std::vector<double> *base) {
            std::vector<double> out;
            for (int y = area.top(); y <= area.bottom(); ++y)
                for (int x = area.left(); x <= area.right(); ++x) {
                    double sum = 0;
                    for (int dy = -1; dy <= 1; ++dy)
                        for (int dx = -1; dx <= 1; ++dx) {
                            const QRgb p = img.pixel(x + dx, y + dy);
                            sum += (765.0 - qRed(p) - qGreen(p) - qBlue(p)) / 765.0 / 9.0;
                        }
                    out.push_back(sum - (base ? (*base)[out.size()] : 0.0));
                }
            return out;
        };
        for (const Qt::PenStyle style : {Qt::SolidLine, Qt::DashLine}) {
            QPen pen = c->mainSeries(id)->pen();
            pen.setStyle(style);
            c->mainSeries(id)->setPen(pen);
            c->mainSeries(id)->setVisible(false);
            const std::vector<double> empty = ink(grab(), nullptr);
            c->mainSeries(id)->setVisible(true);
            const std::vector<double> own = ink(grab(), &empty);
            CurveLayer::setOwnStrokes(false);
            const std::vector<double> theirs = ink(grab(), &empty);
            CurveLayer::setOwnStrokes(true);
            double inkOwn = 0, inkTheirs = 0, diff = 0;
            for (size_t i = 0; i < own.size(); ++i) {
                inkOwn += own[i];
                inkTheirs += theirs[i];
                diff += std::abs(own[i] - theirs[i]);
            }
            const QString what = style == Qt::SolidLine ? QStringLiteral("solid") : QStringLiteral("dashed");
            QVERIFY2(inkTheirs > 100, qPrintable(what + QStringLiteral(": QPainter drew no curve")));
            QVERIFY2(std::abs(inkOwn / inkTheirs - 1.0) < 0.1,
                     qPrintable(what + QStringLiteral(": ink %1 against QPainter's %2").arg(inkOwn).arg(inkTheirs)));
            QVERIFY2(diff / inkTheirs < 0.1,
                     qPrintable(what + QStringLiteral(": differs by %1 of the ink").arg(diff / inkTheirs)));
        }
    }

    void decimationBoundsThePointCount()
    {
        RunStore store;
        ChartSettings settings;
        settings.setSmoothing(0.0);
        SyntheticRun big{QStringLiteral("big"), "ste", 1, 100000};
        big.loss = [](long s) { return s == 54321 ? 50.0f : 1.0f + 0.1f * std::sin(0.01f * static_cast<float>(s)); };
        const int id = addRun(store, big);
        std::unique_ptr<MetricChart> c(lossChart(store, settings));
        QVERIFY(QTest::qWaitForWindowExposed(c.get()));
        c->refresh();
        const QList<QPointF> s = c->mainPoints(id);
        const int columns = c->view()->plotColumns();
        QVERIFY2(s.size() <= 4 * columns + 8, qPrintable(QString::number(s.size())));
        bool spike = false;
        for (const QPointF &p : s)
            spike = spike || p.y() == 50.0;
        QVERIFY(spike); // min/max decimation keeps the outlier
        QCOMPARE(s.last().x(), 100000.0);
    }

    void smoothingDrawsTheRawCurveUnderneath()
    {
        RunStore store;
        ChartSettings settings;
        SyntheticRun noisy{QStringLiteral("noisy"), "ste", 1, 400};
        noisy.loss = [](long s) { return (s % 2) ? 1.0f : 3.0f; };
        const int id = addRun(store, noisy);
        settings.setSmoothing(0.9);
        std::unique_ptr<MetricChart> c(lossChart(store, settings));
        QVERIFY(QTest::qWaitForWindowExposed(c.get()));
        c->refresh();
        QCOMPARE(c->rawPoints(id).size(), 400);
        QCOMPARE(c->rawSeries(id)->pen().color().alpha(), 70); // faded
        // The smoothed curve settles near the mean, 2, while the raw one alternates 1 and 3.
        QVERIFY(std::abs(c->mainPoints(id).last().y() - 2.0) < 0.2);
        // Drawn under the main line.
        const auto &shapes = c->curveLayer()->shapes();
        QCOMPARE(shapes.size(), size_t{2});
        QCOMPARE(shapes[0].style.data(), c->rawSeries(id));
        QCOMPARE(shapes[1].style.data(), c->mainSeries(id));
        settings.setSmoothing(0.0);
        c->refresh();
        QCOMPARE(c->rawPoints(id).size(), 0);
        QCOMPARE(c->mainPoints(id).last().y(), 3.0);
    }

    void zoomSurvivesLiveUpdatesAndFollowLatestSlides()
    {
        RunStore store;
        ChartSettings settings;
        settings.setSmoothing(0.0);
        const int id = addRun(store, {QStringLiteral("A"), "ste", 1, 1000});
        std::unique_ptr<MetricChart> c(lossChart(store, settings));
        QVERIFY(QTest::qWaitForWindowExposed(c.get()));
        c->refresh();
        QCOMPARE(xMax(*c), 1000.0);
        // Rubber-band zoom on the viewport, from step 200 to step 400.
        const QPoint p1 = toView(*c, {200, 1.5}), p2 = toView(*c, {400, 0.2});
        QTest::mousePress(c->view()->viewport(), Qt::LeftButton, {}, p1);
        QTest::mouseMove(c->view()->viewport(), p2);
        QTest::mouseRelease(c->view()->viewport(), Qt::LeftButton, {}, p2);
        QVERIFY(c->view()->userZoomed());
        const double z0 = xMin(*c), z1 = xMax(*c);
        QVERIFY(std::abs(z0 - 200) < 10 && std::abs(z1 - 400) < 10);
        const QPointF y = c->view()->yRange();
        appendSteps(store, id, 1001, 1500, 0.1f); // live update
        store.flush();
        QCOMPARE(xMin(*c), z0);
        QCOMPARE(xMax(*c), z1);
        QCOMPARE(c->view()->yRange(), y);
        // Zoomed points are decimated from the zoomed range only: every step in it is there.
        QVERIFY(c->mainPoints(id).size() >= 190);
        // Follow latest slides the zoomed window to the newest step, keeping its width.
        settings.setFollowLatest(true);
        appendSteps(store, id, 1501, 1600, 0.1f);
        store.flush();
        QCOMPARE(xMax(*c), 1600.0);
        QVERIFY(std::abs((xMax(*c) - xMin(*c)) - (z1 - z0)) < 1e-6);
        // Double-click resets to the full range.
        settings.setFollowLatest(false);
        QTest::mouseDClick(c->view()->viewport(), Qt::LeftButton, {}, p1);
        QVERIFY(!c->view()->userZoomed());
        QCOMPARE(xMax(*c), 1600.0);
        QCOMPARE(xMin(*c), 1.0);
    }

    void rangeAndTickChangesNeverPassThroughMoreTicks()
    {
        // Qt Charts builds every tick of the current range at once: the new interval over the
        // old range (or the old interval over the new one) froze the window for minutes when a
        // chart went from a wide range to a narrow one.
        QChart chart;
        auto *axis = new QValueAxis;
        chart.addAxis(axis, Qt::AlignLeft);
        axis->setTickType(QValueAxis::TicksDynamic);
        axis->setRange(0, 1);
        axis->setTickInterval(0.2);
        double most = 0;
        auto count = [&] { most = std::max(most, (axis->max() - axis->min()) / axis->tickInterval()); };
        connect(axis, &QValueAxis::rangeChanged, this, count);
        connect(axis, &QValueAxis::tickIntervalChanged, this, count);
        struct Case {
            double lo, hi, tick;
        };
        for (const Case &c : {Case{0, 1000, 200}, Case{0.5, 0.5 + 1e-6, 2e-7}, Case{-5e5, 5e5, 2e5}, Case{2, 3, 0.2},
                              Case{0, 1e9, 2e8}}) {
            const double before = (axis->max() - axis->min()) / axis->tickInterval();
            most = 0;
            setTicksAndRange(axis, c.lo, c.hi, c.tick);
            QCOMPARE(axis->min(), c.lo);
            QCOMPARE(axis->max(), c.hi);
            QCOMPARE(axis->tickInterval(), c.tick);
            QVERIFY2(most <= std::max(before, (c.hi - c.lo) / c.tick) * (1 + 1e-9),
                     qPrintable(QStringLiteral("%1 ticks on the way to [%2, %3]").arg(most).arg(c.lo).arg(c.hi)));
        }
        // An empty or non-finite range leaves the range; a bad interval leaves the interval.
        setTicksAndRange(axis, 4, 4, std::nan(""));
        QCOMPARE(axis->min(), 0.0);
        QCOMPARE(axis->tickInterval(), 2e8);
    }

    void logAxisDropsNonPositiveValues()
    {
        RunStore store;
        ChartSettings settings;
        settings.setSmoothing(0.0);
        SyntheticRun zeros{QStringLiteral("Z"), "ste", 1, 100};
        zeros.loss = [](long s) { return s % 10 == 0 ? 0.0f : 0.5f; };
        const int id = addRun(store, zeros);
        std::unique_ptr<MetricChart> c(lossChart(store, settings));
        c->setLogY(true);
        c->refresh();
        QVERIFY(qobject_cast<QLogValueAxis *>(c->chart()->axes(Qt::Vertical).first()));
        QCOMPARE(c->mainPoints(id).size(), 90);
        for (const QPointF &p : c->mainPoints(id))
            QVERIFY(p.y() > 0);
        QVERIFY(c->view()->yRange().x() > 0);
    }

    void seedsDrawAMeanLineOverABand()
    {
        RunStore store;
        ChartSettings settings;
        settings.setSmoothing(0.0);
        SyntheticRun s1{QStringLiteral("STE s1"), "ste", 1, 200}, s2{QStringLiteral("STE s2"), "ste", 2, 200};
        s1.loss = [](long) { return 1.0f; };
        s2.loss = [](long) { return 3.0f; };
        const int a = addRun(store, s1), b = addRun(store, s2);
        std::unique_ptr<MetricChart> c(lossChart(store, settings));
        c->refresh();
        QCOMPARE(c->traceCount(), 1);
        QCOMPARE(c->mainSeries(a), c->mainSeries(b));
        QCOMPARE(c->mainPoints(a).first().y(), 2.0);
        QCOMPARE(c->mainSeries(a)->name(), QStringLiteral("STE (2 seeds)"));
        QCOMPARE(c->chart()->title(), QStringLiteral("Training loss · mean ± 95 % CI over seeds"));
        auto band = [&] {
            QList<QAreaSeries *> found;
            for (QAbstractSeries *s : c->chart()->series())
                if (auto *area = qobject_cast<QAreaSeries *>(s))
                    found.append(area);
            return found.size() == 1 ? found.first() : nullptr;
        };
        // 95 % CI of {1, 3}: 2 ± t(0.975, 1)·√2/√2 = 2 ± 12.706.
        QVERIFY(band());
        QVERIFY(std::abs(c->bandPoints(a).first.first().y() - 14.7062) < 1e-3);
        QVERIFY(std::abs(c->bandPoints(a).second.first().y() + 10.7062) < 1e-3);
        settings.setSeedBand(SeedBand::MinMax);
        c->refresh();
        QCOMPARE(c->chart()->title(), QStringLiteral("Training loss · mean, min–max over seeds"));
        QCOMPARE(c->bandPoints(a).first.first().y(), 3.0);
        QCOMPARE(c->bandPoints(a).second.first().y(), 1.0);
        settings.setGroupSeeds(false);
        c->refresh();
        QCOMPARE(c->traceCount(), 2);
    }

    void seedGroupNamesKeepTheWholeRunName()
    {
        RunStore store;
        ChartSettings settings;
        SyntheticRun s1{QStringLiteral("srste_lambda=2e-4_s1"), "srste", 1, 50},
            s2{QStringLiteral("srste_lambda=2e-4_s2"), "srste", 2, 50};
        const int a = addRun(store, s1);
        addRun(store, s2);
        std::unique_ptr<MetricChart> c(lossChart(store, settings));
        c->refresh();
        QCOMPARE(c->mainSeries(a)->name(), QStringLiteral("srste_lambda=2e-4 (2 seeds)"));
        QCOMPARE(c->chart()->legend()->alignment(), Qt::AlignBottom);
        // Names that do not fit in one row below the plot go to its right, one per line, whole.
        for (int k = 0; k < 8; ++k) {
            SyntheticRun r{QStringLiteral("srste_lambda=%1e-4_nm=1:16_warmup_long_name").arg(k + 3), "srste", 1, 50};
            r.config = [k](nm::RunConfig &cfg) { cfg.lambda = (k + 3) * 1e-4; };
            addRun(store, r);
        }
        c->refresh();
        QCOMPARE(c->chart()->legend()->alignment(), Qt::AlignRight);
    }

    void zoomingOneLineChartZoomsTheOthersOnItsPage()
    {
        RunStore store;
        ChartSettings settings;
        addRun(store, {QStringLiteral("A"), "ste", 1, 1000});
        ChartPages pages(&store, &settings);
        pages.resize(1200, 800);
        pages.show();
        QVERIFY(QTest::qWaitForWindowExposed(&pages));
        store.flush();
        for (MetricChart *m : {pages.trainLoss(), pages.valLoss(), pages.trainAccuracy(), pages.valAccuracy()})
            m->refresh();
        MetricChart *c = pages.trainLoss();
        const QPoint p1 = toView(*c, {200, 1.5}), p2 = toView(*c, {400, 0.2});
        QTest::mousePress(c->view()->viewport(), Qt::LeftButton, {}, p1);
        QTest::mouseMove(c->view()->viewport(), p2);
        QTest::mouseRelease(c->view()->viewport(), Qt::LeftButton, {}, p2);
        QVERIFY(c->view()->userZoomed());
        const QPointF zoomed = c->view()->xRange();
        for (MetricChart *m : {pages.valLoss(), pages.trainAccuracy(), pages.valAccuracy()}) {
            QVERIFY(m->view()->userZoomed());
            QCOMPARE(m->view()->xRange(), zoomed);
        }
        QVERIFY(!pages.gradientNoise()->view()->userZoomed()); // another page
        QTest::mouseDClick(c->view()->viewport(), Qt::LeftButton, {}, p1);
        QVERIFY(!pages.valAccuracy()->view()->userZoomed());
        // Unlinked, a zoom stays in its chart.
        settings.setLinkX(false);
        QTest::mousePress(c->view()->viewport(), Qt::LeftButton, {}, p1);
        QTest::mouseMove(c->view()->viewport(), p2);
        QTest::mouseRelease(c->view()->viewport(), Qt::LeftButton, {}, p2);
        QVERIFY(c->view()->userZoomed());
        QVERIFY(!pages.valAccuracy()->view()->userZoomed());
    }

    void valuesAtTheHoveredStepListEveryRun()
    {
        RunStore store;
        ChartSettings settings;
        settings.setSmoothing(0.5);
        addRun(store, {QStringLiteral("A"), "ste", 1, 1000}); // loss 2/√step
        SyntheticRun b{QStringLiteral("B"), "srste", 1, 1000};
        b.loss = [](long s) { return s == 600 ? 0.01f : 1.0f; };
        addRun(store, b);
        ChartPages pages(&store, &settings);
        pages.resize(1200, 800);
        pages.show();
        QVERIFY(QTest::qWaitForWindowExposed(&pages));
        store.flush();
        MetricChart *c = pages.trainLoss();
        c->refresh();
        StepValuesTable *t = pages.stepValues();
        hover(c->view()->viewport(), toView(*c, {100, 1.0}));
        QCOMPARE(t->rowCount(), 2);
        QCOMPARE(t->heading(), QStringLiteral("Training loss"));
        auto cell = [&](int r, int col) { return t->item(r, col)->text(); };
        QCOMPARE(cell(0, 0), QStringLiteral("A"));
        const double step = cell(0, 1).toDouble();
        QVERIFY(std::abs(step - 100) < 10);
        QVERIFY(std::abs(cell(0, 2).toDouble() - 2.0 / std::sqrt(step)) < 1e-4);
        QVERIFY(cell(0, 3).toDouble() > cell(0, 2).toDouble()); // smoothed lags a falling curve
        QVERIFY(std::abs(cell(0, 4).toDouble() - 2.0 / std::sqrt(1000.0)) < 1e-4);
        QCOMPARE(cell(0, 5).toDouble(), 2.0);
        QCOMPARE(cell(1, 4).toDouble(), 0.01);
        QCOMPARE(cell(1, 6), QStringLiteral("600"));
        // A click keeps the step; hovering elsewhere leaves the table as it is.
        QTest::mouseClick(c->view()->viewport(), Qt::LeftButton, {}, toView(*c, {100, 1.0}));
        QVERIFY(t->pinned());
        hover(c->view()->viewport(), toView(*c, {800, 1.0}));
        QCOMPARE(cell(0, 1).toDouble(), step);
    }

    void summaryPlotsSeedGroupsAgainstASweptValueWithConfidenceIntervals()
    {
        RunStore store;
        // λ = 1e-4: seeds at 0.80, 0.82, 0.84; λ = 2e-4: all 0.90. Every run peaks at step 500.
        const float base[2][3] = {{0.80f, 0.82f, 0.84f}, {0.90f, 0.90f, 0.90f}};
        const char *lambdas[2] = {"1e-4", "2e-4"};
        for (int l = 0; l < 2; ++l)
            for (int s = 0; s < 3; ++s) {
                SyntheticRun r{QStringLiteral("srste_lambda=%1_s%2").arg(lambdas[l]).arg(s + 1), "srste",
                               static_cast<uint64_t>(s + 1), 1000};
                r.sweep = {{"lambda", lambdas[l]}};
                r.config = [l](nm::RunConfig &c) { c.lambda = l == 0 ? 1e-4 : 2e-4; };
                const float b = base[l][s];
                r.valAccuracy = [b](long step) { return step == 500 ? b + 0.05f : b; };
                addRun(store, r);
            }
        SummaryChart c(&store);
        c.resize(800, 500);
        c.refresh();
        QCOMPARE(c.options().x, QStringLiteral("sweep:lambda")); // a sweep's key is the default x
        QCOMPARE(c.groups().size(), 2);
        const SummaryGroup g = c.groups()[0]; // a copy: refresh() replaces the groups
        QCOMPARE(g.y.n, 3);
        QCOMPARE(g.x, 1e-4);
        QVERIFY(std::abs(g.y.mean - 0.82) < 1e-6);
        QVERIFY(std::abs(g.y.halfWidth - nm::studentTQuantile(2) * 0.02 / std::sqrt(3.0)) < 1e-6);
        QCOMPARE(c.errorBarCount(), 2);
        QLineSeries *line = c.lineFor(QStringLiteral("srste 2:4"));
        QVERIFY(line);
        QCOMPARE(line->count(), 2);
        QVERIFY(std::abs(line->at(1).y() - 0.90) < 1e-6);
        c.show();
        QVERIFY(QTest::qWaitForWindowExposed(&c));
        int legend = 0;
        for (QLegendMarker *m : c.chart()->legend()->markers())
            legend += m->isVisible() ? 1 : 0;
        QCOMPARE(legend, 1); // the line; error bars stay out of the legend
        // Best takes each run's step-500 peak; at step 300 the value before it.
        SummaryOptions o = c.options();
        o.stat = SummaryStat::Best;
        c.setOptions(o);
        c.refresh();
        QVERIFY(std::abs(c.groups()[0].y.mean - 0.87) < 1e-6);
        o.stat = SummaryStat::AtStep;
        o.step = 300;
        c.setOptions(o);
        c.refresh();
        QVERIFY(std::abs(c.groups()[1].y.mean - 0.90) < 1e-6);
        QCOMPARE(c.groups()[1].y.halfWidth, 0.0);
        // The table (CSV export): one row per group, mean and CI columns.
        const DataTable t = c.table(false);
        QCOMPARE(t.rows.size(), 2);
        const auto n = t.header.indexOf(QStringLiteral("n")), lo = t.header.indexOf(QStringLiteral("ci95_low"));
        QVERIFY(n >= 0 && lo >= 0);
        QCOMPARE(t.rows[0][n], QStringLiteral("3"));
        QVERIFY(std::abs(t.rows[0][lo].toDouble() - g.y.lo()) < 1e-5);
        // Against the density N/M: both groups at 0.5, on one line.
        o.x = QStringLiteral("density");
        c.setOptions(o);
        c.refresh();
        QCOMPARE(c.groups().size(), 2);
        QCOMPARE(c.groups()[0].x, 0.5);
    }

    void crosshairReadsEveryRunAtTheHoveredStep()
    {
        RunStore store;
        ChartSettings settings;
        settings.setSmoothing(0.0);
        SyntheticRun a{QStringLiteral("Alpha"), "ste", 1, 300}, b{QStringLiteral("Beta"), "srste", 1, 300};
        a.loss = [](long s) { return static_cast<float>(s) / 100.0f; };
        b.loss = [](long) { return 0.25f; };
        addRun(store, a);
        addRun(store, b);
        std::unique_ptr<MetricChart> c(lossChart(store, settings));
        QVERIFY(QTest::qWaitForWindowExposed(c.get()));
        c->refresh();
        hover(c->view()->viewport(), toView(*c, {150, 1.0}));
        const QString text = c->view()->crosshairText();
        QVERIFY2(text.contains(QStringLiteral("step 150")), qPrintable(text));
        QVERIFY(text.contains(QStringLiteral("Alpha")) && text.contains(QStringLiteral("Beta")));
        QVERIFY(text.contains(QStringLiteral("1.5")) && text.contains(QStringLiteral("0.25")));
        // Nearest run first: Alpha (1.5) is nearer to the cursor at 1.0 than Beta (0.25).
        QVERIFY(text.indexOf(QStringLiteral("Alpha")) < text.indexOf(QStringLiteral("Beta")));
    }

    void hiddenRunsLeaveTheCharts()
    {
        RunStore store;
        ChartSettings settings;
        const int a = addRun(store, {QStringLiteral("A"), "ste", 1, 100});
        const int b = addRun(store, {QStringLiteral("B"), "sste", 1, 100});
        std::unique_ptr<MetricChart> c(lossChart(store, settings));
        c->refresh();
        const QColor colorB = c->mainSeries(b)->pen().color();
        store.setVisible(a, false);
        store.flush();
        QVERIFY(!c->mainSeries(a));
        QCOMPARE(c->mainSeries(b)->pen().color(), colorB); // colours stay with their runs
    }

    void heatmapPlacesTheRightColours()
    {
        RunStore store;
        SyntheticRun r{QStringLiteral("H"), "ste", 1, 400};
        r.flipRate = [](int l, long s) { return l == 1 && s > 200 ? 0.5f : 0.0f; };
        const int id = addRun(store, r);
        FlipHeatmap map(&store);
        map.setAutoRefresh(false);
        map.resize(900, 300);
        map.show();
        QVERIFY(QTest::qWaitForWindowExposed(&map));
        map.setRun(id);
        map.refresh();
        QCOMPARE(map.cells().height(), 3); // one row per layer
        const int cols = map.cells().width();
        QVERIFY(cols >= 2 && cols <= map.view()->plotColumns());
        // Layer fc2 (row 1) flips from step 201 on: the last column is the top of the scale,
        // the first is the bottom; other layers never flip.
        QCOMPARE(map.cells().pixel(cols - 1, 1), viridisTable()[255] | 0xff000000u);
        QCOMPARE(map.cells().pixel(0, 1), viridisTable()[0] | 0xff000000u);
        QCOMPARE(map.cells().pixel(cols - 1, 0), viridisTable()[0] | 0xff000000u);
        QCOMPARE(map.cellValue(1, cols - 1), 0.5);
        QCOMPARE(map.table(false).rows.size(), 400);
    }

    void heatmapsShareOneScaleAndShowDifferences()
    {
        RunStore store;
        ChartSettings settings;
        SyntheticRun hot{QStringLiteral("hot"), "ste", 1, 300}, cold{QStringLiteral("cold"), "sste", 1, 300};
        hot.flipRate = [](int, long) { return 0.2f; };
        cold.flipRate = [](int, long) { return 0.1f; };
        const int a = addRun(store, hot), b = addRun(store, cold);
        HeatmapPanel panel(&store, &settings);
        panel.resize(1000, 900);
        panel.show();
        QVERIFY(QTest::qWaitForWindowExposed(&panel));
        panel.setLogScale(false);
        FlipHeatmap *ma = panel.heatmapFor(a), *mb = panel.heatmapFor(b);
        QVERIFY(ma && mb);
        // Shared linear scale 0…0.2: the hot run is at the top, the cold one half way.
        QCOMPARE(ma->cells().pixel(0, 0), viridisTable()[255] | 0xff000000u);
        QCOMPARE(mb->cells().pixel(0, 0), viridisTable()[128] | 0xff000000u);
        panel.setSharedScale(false); // each its own: both at the top
        QCOMPARE(mb->cells().pixel(0, 0), viridisTable()[255] | 0xff000000u);
        panel.setDifference(true, a, b);
        FlipHeatmap *d = panel.differenceMap();
        QVERIFY(d->isVisible());
        QVERIFY(std::abs(d->cellValue(0, 0) - 0.1) < 1e-6); // A − B
        // Positive differences are red (the upper end of the diverging map).
        const QRgb px = d->cells().pixel(0, 0);
        QVERIFY(qRed(px) > qBlue(px));
    }

    void inspectorShowsFlipCountsAsAnImageAndAHistogramPerRun()
    {
        QCOMPARE(flipCountBin(0), 0);
        QCOMPARE(flipCountBin(1), 1);
        QCOMPARE(flipCountBin(2), 2);
        QCOMPARE(flipCountBin(3), 3);
        QCOMPARE(flipCountBin(4), 3);
        QCOMPARE(flipCountBin(5), 4);
        QCOMPARE(flipCountBin(8), 4);
        QCOMPARE(flipCountBin(9), 5);
        QCOMPARE(flipCountBin(65535), 17);
        QCOMPARE(flipCountBinLabel(17), QStringLiteral("32769–65535"));

        RunStore store;
        // Layers of 12 outputs × 16 inputs: the image is 16 wide, 12 high.
        SyntheticRun ra{QStringLiteral("A"), "ste", 1, 200}, rb{QStringLiteral("B"), "srste", 1, 200},
            rc{QStringLiteral("old"), "sste", 1, 200};
        for (SyntheticRun *r : {&ra, &rb, &rc}) {
            r->layers = 2;
            r->layerIn = 16;
            r->layerOut = 12;
        }
        nm::spgemm::Choice sparseForward;
        sparseForward.n = 2;
        sparseForward.m = 4;
        sparseForward.useForward = true;
        sparseForward.speedupForward = 1.5f;
        sparseForward.speedupBackward = 0.9f;
        ra.gemm = nm::spgemm::toRecord({sparseForward});
        const int a = addRun(store, ra), b = addRun(store, rb), c = addRun(store, rc);
        // A: row 3 flips 9 times, column 1 of every group once; B: every weight twice; the old run
        // has no counts.
        for (long step : {0L, 100L, 200L}) {
            store.addSnapshot(a, syntheticSnapshot(ra, step, [step](int, int r, int col) {
                                  return step == 0 ? 0 : r == 3 ? 9 : col % 4 == 1 ? 1 : 0;
                              }));
            store.addSnapshot(b, syntheticSnapshot(rb, step, [step](int, int, int) { return step == 0 ? 0 : 2; }));
            store.addSnapshot(c, syntheticSnapshot(rc, step, nullptr));
        }
        LayerInspector insp(&store);
        insp.resize(1500, 1000);
        insp.show();
        QVERIFY(QTest::qWaitForWindowExposed(&insp));
        insp.select(a, 1, 200);
        QCOMPARE(insp.runId(), a);
        QCOMPARE(insp.step(), 200L);
        const QImage &img = insp.flipCountChart(0)->image();
        QCOMPARE(img.size(), QSize(16, 12));
        // One colour scale from 1 to the 99.5th percentile (9 here): row 3 at the top, single
        // flips at the bottom, weights that never flipped white.
        QCOMPARE(img.pixel(0, 3), viridisTable()[255] | 0xff000000u);
        QCOMPARE(img.pixel(0, 0), 0xffffffffu);
        QCOMPARE(img.pixel(1, 0), viridisTable()[0] | 0xff000000u);
        QCOMPARE(insp.compareRunId(), b);
        QVERIFY(insp.flipCountChart(1)->isVisible());
        QCOMPARE(insp.flipCountChart(1)->image().size(), QSize(16, 12));
        QCOMPARE(insp.flipCountChart(1)->image().pixel(5, 5), viridisTable()[32] | 0xff000000u); // 2 on 1…9
        // The readout says which products of the layer run on the compressed W̃.
        auto *readout = insp.findChild<QTextBrowser *>();
        QVERIFY(readout);
        QVERIFY2(readout->toPlainText().contains(
                     QStringLiteral("GEMMs at 2:4: sparse forward (forward 1.50×, backward 0.90×)")),
                 qPrintable(readout->toPlainText()));

        const FlipHistogramData h = insp.flipHistogram();
        QCOMPARE(h.bins, (QStringList{QStringLiteral("0"), QStringLiteral("1"), QStringLiteral("2"),
                                      QStringLiteral("3–4"), QStringLiteral("5–8"), QStringLiteral("9–16")}));
        QCOMPARE(h.runIds, (QList<int>{a, b})); // the old run has no counts to show
        for (const auto &row : h.weights)
            QCOMPARE(std::accumulate(row.begin(), row.end(), 0.0), 16.0 * 12.0); // in · out
        QCOMPARE(h.weights[0], (QList<double>{132, 44, 0, 0, 0, 16}));
        QCOMPARE(h.weights[1], (QList<double>{0, 0, 192, 0, 0, 0}));
        QVERIFY(insp.charts().contains(insp.flipCountChart(0)));

        insp.select(c, 1, 200); // a run without a record: dense GEMMs
        QVERIFY2(readout->toPlainText().contains(QStringLiteral("GEMMs at 2:4: dense")),
                 qPrintable(readout->toPlainText()));
        // At step 0 nothing has flipped: every weight in bin 0.
        insp.select(a, 1, 0);
        QCOMPARE(insp.flipHistogram().weights[0].first(), 192.0);

        // Only the selected run visible: no second image.
        store.setVisible(b, false);
        store.setVisible(c, false);
        insp.select(a, 0, 200);
        QCOMPARE(insp.compareRunId(), -1);
        QVERIFY(!insp.flipCountChart(1)->isVisible());
        QCOMPARE(insp.flipHistogram().runIds, QList<int>{a});

        // A run from a file without counts: no image and no bars of its own, no error; the
        // visible run beside it still shows.
        insp.select(c, 0, 200);
        QCOMPARE(insp.runId(), c);
        QVERIFY(insp.flipCountChart(0)->image().isNull());
        QVERIFY(!insp.maskChart()->image().isNull());
        QCOMPARE(insp.compareRunId(), a);
        QCOMPARE(insp.flipHistogram().runIds, QList<int>{a});
    }

    void inspectorDrawsNewSnapshotsInStagesAndTheNewestWins()
    {
        RunStore store;
        SyntheticRun ra{QStringLiteral("A"), "ste", 1, 500};
        ra.layers = 1;
        ra.layerIn = 16;
        ra.layerOut = 12;
        const int a = addRun(store, ra);
        // Every weight has flipped step / 100 times: the histogram says which snapshot is drawn.
        auto add = [&](long step) {
            store.addSnapshot(
                a, syntheticSnapshot(ra, step, [step](int, int, int) { return static_cast<int>(step / 100); }));
            store.flush();
        };
        add(0);
        add(100);
        LayerInspector insp(&store);
        insp.resize(1200, 900);
        insp.show();
        QVERIFY(QTest::qWaitForWindowExposed(&insp));
        insp.select(a, 0, 100); // at once
        auto bin = [&insp] {
            const FlipHistogramData h = insp.flipHistogram();
            return h.weights.isEmpty() ? -1 : static_cast<int>(h.weights[0].indexOf(192.0));
        };
        QCOMPARE(bin(), 1);
        const qint64 weightsKey = insp.weightChart()->image().cacheKey();

        // A new snapshot while shown: the view follows it, drawn over the next passes of the event
        // loop, not inside the store's frame.
        add(200);
        QCOMPARE(insp.step(), 200L);
        QCOMPARE(bin(), 1);
        QCOMPARE(insp.weightChart()->image().cacheKey(), weightsKey);
        QTRY_COMPARE(bin(), 2);
        QTRY_VERIFY(insp.weightChart()->image().cacheKey() != weightsKey);
        QTRY_VERIFY(insp.maskChart()->title().contains(QStringLiteral("step 200")));

        // Two snapshots in a row: the stages of the older one are dropped, the newest is drawn.
        add(300);
        add(400);
        QTRY_COMPARE(bin(), 3); // 4 flips: bin "3–4"
        QTRY_VERIFY(insp.maskChart()->title().contains(QStringLiteral("step 400")));
        QTest::qWait(20);
        QCOMPARE(bin(), 3);

        // Hidden, then shown: the page paints first; then it catches up.
        insp.hide();
        add(500);
        insp.show();
        QCOMPARE(bin(), 3);
        QTRY_COMPARE(bin(), 4); // 5 flips: bin "5–8"
        QTRY_VERIFY(insp.maskChart()->title().contains(QStringLiteral("step 500")));
    }

    void continuityScatterHasOnePointPerMeasurement()
    {
        RunStore store;
        const int id = addRun(store, {QStringLiteral("S"), "sste", 1, 1000});
        ScatterChart c(&store, QStringLiteral("continuity"), TableKind::Continuity, "dF2", "dF1", QStringLiteral("dF2"),
                       QStringLiteral("dF1"));
        c.resize(600, 500);
        c.show();
        c.refresh();
        QCOMPARE(c.seriesFor(id)->count(), 0); // the legend key; the curve layer draws the points
        QCOMPARE(c.pointsFor(id).size(), 10);
        QCOMPARE(c.pointsFor(id).at(2), QPointF(-0.01f * 0, -0.01f * (300 % 7)));
        QCOMPARE(c.table(false).rows.size(), 10);
    }
};

NM_UI_TEST_MAIN(TestCharts)
#include "tst_charts.moc"
