// The plotting layer's numerics: smoothing, decimation, aggregation, schedules.
#include "ui_test_main.h"

#include "plot/palette.h"
#include "plot/series_math.h"
#include "training/schedule_plan.h"

#include "nmcore/config.h"
#include "nmcore/optimizer.h"
#include "nmcore/stats.h"

#include <cmath>
#include <random>

using namespace nmui;
using namespace nmui::plot;

class TestSeriesMath : public QObject {
    Q_OBJECT
  private Q_SLOTS:
    void emaOfConstantIsConstant()
    {
        // Debiasing: an undebiased EMA would start near 0 and creep up to 5.
        std::vector<float> y(50, 5.0f);
        EmaSmoother s;
        const auto &out = s.apply(y, 0.9);
        QCOMPARE(out.size(), y.size());
        for (float v : out)
            QVERIFY(std::abs(v - 5.0f) < 1e-5f);
    }

    void emaKnownValues()
    {
        // w = 0.5: s1 = 0.5·1/(1−0.5) = 1; s2 = (0.25 + 0.5·3)/(1 − 0.25) = 2.333…
        std::vector<float> y = {1, 3};
        EmaSmoother s;
        const auto &out = s.apply(y, 0.5);
        QCOMPARE(out[0], 1.0f);
        QVERIFY(std::abs(out[1] - 7.0f / 3.0f) < 1e-6f);
    }

    void emaIsIncrementalAndSkipsNaN()
    {
        std::vector<float> y = {1, 2, NAN, 4, 5, 6};
        EmaSmoother full;
        const std::vector<float> expect = full.apply(y, 0.6);
        QVERIFY(std::isnan(expect[2]));
        EmaSmoother inc;
        std::vector<float> part(y.begin(), y.begin() + 3);
        inc.apply(part, 0.6);
        part = y; // grown by appending
        const auto &got = inc.apply(part, 0.6);
        for (size_t i = 0; i < y.size(); ++i)
            if (!std::isnan(expect[i]))
                QCOMPARE(got[i], expect[i]);
        // Weight 0 is the identity; weights above 0.999 are clamped (1.0 would be flat).
        EmaSmoother id;
        QCOMPARE(id.apply(y, 0.0)[4], 5.0f);
        QCOMPARE(clampSmoothing(1.0), 0.999);
    }

    void decimationKeepsExtremesAndEnds()
    {
        const size_t n = 100000;
        std::vector<double> x(n);
        std::vector<float> y(n);
        std::mt19937 rng(3);
        std::normal_distribution<float> noise(0.0f, 1.0f);
        for (size_t i = 0; i < n; ++i) {
            x[i] = static_cast<double>(i + 1);
            y[i] = noise(rng);
        }
        y[31337] = 100.0f; // a spike must survive
        y[77777] = -100.0f;
        QList<QPointF> out;
        decimateMinMax(x, y, 1, static_cast<double>(n), 800, false, out);
        QVERIFY(out.size() <= 4 * 800 + 8);
        QVERIFY(out.size() > 800);
        QCOMPARE(out.first().x(), 1.0);
        QCOMPARE(out.last().x(), static_cast<double>(n));
        bool spike = false, dip = false;
        for (const QPointF &p : out) {
            spike = spike || p.y() == 100.0;
            dip = dip || p.y() == -100.0;
        }
        QVERIFY(spike && dip);
        for (qsizetype i = 1; i < out.size(); ++i)
            QVERIFY(out[i].x() > out[i - 1].x());
    }

    void decimationIsStableUnderAppend()
    {
        // Points already drawn do not move when data is appended (fixed bucket grid).
        std::vector<double> x;
        std::vector<float> y;
        for (int i = 1; i <= 20000; ++i) {
            x.push_back(i);
            y.push_back(std::sin(static_cast<float>(i) * 0.01f) + 0.1f * static_cast<float>(i % 7));
        }
        QList<QPointF> a, b;
        decimateMinMax(x, y, 0, 40000, 500, false, a);
        for (int i = 20001; i <= 21000; ++i) {
            x.push_back(i);
            y.push_back(0.5f);
        }
        decimateMinMax(x, y, 0, 40000, 500, false, b);
        // Everything but the last, still open bucket is identical.
        const qsizetype common = a.size() - 4;
        for (qsizetype i = 0; i < common; ++i)
            QCOMPARE(b[i], a[i]);
    }

    void decimationVisibleRangeAndLog()
    {
        std::vector<double> x = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
        std::vector<float> y = {1, 0, 3, -1, 5, 6, 7, 8, 9, NAN};
        QList<QPointF> out;
        decimateMinMax(x, y, 4, 6, 1000, false, out);
        // [4, 6] plus one point outside each edge.
        QCOMPARE(out.size(), 5);
        QCOMPARE(out.first().x(), 3.0);
        QCOMPARE(out.last().x(), 7.0);
        out.clear();
        decimateMinMax(x, y, 1, 10, 1000, true, out); // log axis: no 0, no negatives, no NaN
        for (const QPointF &p : out)
            QVERIFY(p.y() > 0);
        QCOMPARE(out.size(), 7);
    }

    void nearestAndRanges()
    {
        std::vector<double> x = {10, 20, 30};
        QCOMPARE(nearestIndex(x, 0), 0L);
        QCOMPARE(nearestIndex(x, 24), 1L);
        QCOMPARE(nearestIndex(x, 26), 2L);
        QCOMPARE(nearestIndex(x, 99), 2L);
        QCOMPARE(nearestIndex({}, 1), -1L);
        Range r;
        r.include(0.01);
        r.include(10);
        const Range p = padded(r, true);
        QVERIFY(p.lo > 0 && p.lo < 0.01 && p.hi > 10);
        Range flat;
        flat.include(2.0);
        const Range pf = padded(flat, false);
        QVERIFY(pf.lo < 2.0 && pf.hi > 2.0);
    }

    void seedAggregateMeanAndBand()
    {
        std::vector<double> s1 = {1, 2, 3}, s2 = {1, 2};
        std::vector<float> y1 = {1, 2, 3}, y2 = {3, 6};
        const SeedAggregate a = aggregateSeeds({{s1, s1, y1}, {s2, s2, y2}});
        QCOMPARE(a.step.size(), size_t(3));
        QCOMPARE(a.mean[0], 2.0f);
        QCOMPARE(a.lo[1], 2.0f);
        QCOMPARE(a.hi[1], 6.0f);
        QCOMPARE(a.count[2], 1);
        QCOMPARE(a.mean[2], 3.0f);
        // 95 % CI of two seeds: mean ± 12.706·s/√2; one seed: no spread, the band is the mean.
        const float half =
            static_cast<float>(nm::studentTQuantile(1) * static_cast<double>(std::abs(a.hi[1] - a.lo[1])) / 2);
        QVERIFY(std::abs(a.ciHi[1] - (a.mean[1] + half)) < 1e-4f);
        QVERIFY(std::abs(a.ciLo[1] - (a.mean[1] - half)) < 1e-4f);
        QCOMPARE(a.ciLo[2], 3.0f);
        QCOMPARE(a.ciHi[2], 3.0f);
    }

    void mdgfScheduleDecaysToZero()
    {
        nm::RunConfig c = nm::defaultConfig();
        c.recipe = "mdgf-linear";
        c.steps = 1000;
        c.mdgfFraction = 0.5;
        const PlannedSchedule p = planSchedule(c);
        QCOMPARE(p.alpha.front(), 1.0f); // logged step 1 is the step from t = 0: α = 1 − κ·0
        auto at = [&](double step) {
            for (size_t i = 0; i < p.step.size(); ++i)
                if (p.step[i] >= step)
                    return p.alpha[i];
            return p.alpha.back();
        };
        QVERIFY(std::abs(at(251) - 0.5f) < 0.01f);
        QCOMPARE(at(600), 0.0f);
        QCOMPARE(p.density.back(), 0.5f);
    }

    void sdgfFramesAndAspMarks()
    {
        nm::RunConfig c = nm::defaultConfig();
        c.recipe = "sdgf-stepwise";
        c.nm = "1:8";
        c.steps = 800;
        c.sparseLayers = "all";
        const PlannedSchedule p = planSchedule(c);
        QStringList labels;
        for (const auto &m : p.marks)
            labels << m.label;
        QCOMPARE(labels, QStringList({"7:8", "4:8", "2:8", "1:8"}));
        QCOMPARE(p.density.front(), 7.0f / 8.0f);
        QCOMPARE(p.density.back(), 1.0f / 8.0f);

        c.recipe = "asp";
        c.nm = "2:4";
        c.aspPruneAt = 0.25;
        const PlannedSchedule a = planSchedule(c);
        QCOMPARE(a.marks.size(), size_t(1));
        QCOMPARE(a.marks[0].step, 200L);
        QCOMPARE(a.alpha.front(), 1.0f);
        QCOMPARE(a.alpha.back(), 0.0f);
    }

    void learningRateMatchesTheTrainer()
    {
        nm::RunConfig c = nm::defaultConfig("gpt");
        c.steps = 500;
        c.warmup = 50;
        const PlannedSchedule p = planSchedule(c, 5000);
        nm::LrSchedule lr{c.lr, c.minLrRatio, c.warmup, c.steps};
        QCOMPARE(p.step.size(), size_t(500));
        for (size_t i = 0; i < p.step.size(); i += 37)
            QCOMPARE(p.lr[i], static_cast<float>(lr.at(static_cast<long>(p.step[i]) - 1)));
    }

    void paletteIsDistinct()
    {
        QList<QColor> used;
        for (int i = 0; i < 8; ++i) {
            const QColor c = nextRunColor(used);
            QVERIFY(!used.contains(c));
            used << c;
        }
        QCOMPARE(qRed(viridisTable()[0]), 0x44);
        QCOMPARE(divergingTable()[128], divergingTable()[128]);
        QVERIFY(qBlue(divergingTable()[0]) > qRed(divergingTable()[0]));
        QVERIFY(qRed(divergingTable()[255]) > qBlue(divergingTable()[255]));
    }
};

NM_UI_TEST_MAIN(TestSeriesMath)
#include "tst_series_math.moc"
