// nmuibench: the GUI speed targets, each measured against a peer in the same run.
//
//  1. Chart redraw: 4 runs x 100,000 steps in the training-loss MetricChart (1200x700),
//     target <= 30 ms median. Each repetition changes the visible x range (a zoom window or
//     the full range), so the per-pixel-column decimation is redone, refreshes, and is timed
//     until the view has painted once (pending events processed, else a synchronous repaint()).
//     Peer: a plain QChart/QChartView, same view size and render hints, whose 4 QLineSeries get
//     replace() with all 100k points each (no decimation), timed the same way.
//  2. UI-thread responsiveness while training: MainWindow trains 4 runs of the default
//     comparison (MLP on Fashion-MNIST) while the chart pages are cycled so every page draws
//     live data; a 5 ms QTimer records the gaps between its ticks (event-loop latency).
//     Peer: the same timer, duration and page cycling with the window idle (no training).
//     Targets: no gap over 50 ms, p99 <= 20 ms, the UI thread <= 25 % of a core.
//  3. Opening a run file of about 1 GB (generated once into the temporary folder) until the
//     first page has drawn its curves, target <= 1 s. Peer: the 3.4 MB sample run file.
//  4. Page switches of a window showing the sample run file: first show and later ones.
//
// A benchmark, not a test: it exits 0 whether or not a target is met (non-zero only when the
// measurement itself could not be made). Runs on the offscreen platform unless
// QT_QPA_PLATFORM is set. Total run time is about 40-60 s (plus writing the 1 GB file once).
// Arguments "redraw", "latency", "open" or "pages" run those parts only.
#include "blas_setup.h"

#include "../ui/ui_test_util.h"

#include "main_window.h"
#include "panels/chart_pages.h"
#include "panels/experiment_panel.h"
#include "plot/chart_settings.h"
#include "plot/curve_layer.h"
#include "plot/metric_chart.h"
#include "training/run_store.h"

#include "nmcore/runfile.h"

#include <QAbstractAxis>
#include <QApplication>
#include <QChart>
#include <QChartView>
#include <QDir>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QFile>
#include <QFileInfo>
#include <QLineSeries>
#include <QStandardPaths>
#include <QThread>
#include <QTimer>
#include <QValueAxis>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <functional>
#include <iterator>
#include <memory>
#include <vector>

#include <unistd.h>

using namespace nmui;

namespace {

constexpr long kPoints = 100000;
constexpr int kRuns = 4;
constexpr QSize kChartSize(1200, 700);
constexpr int kRedrawReps = 15;
constexpr double kRedrawTargetMs = 30.0;
constexpr double kNaiveBudgetMs = 15000.0; // the naive peer stops repeating after this (at least 3 reps)
constexpr int kTrainMs = 8000;
constexpr int kTickMs = 5;
constexpr int kPageEveryMs = 1000;
constexpr double kLatencyTargetMs = 50.0; // no gap longer while training, page switches included
constexpr double kP99TargetMs = 20.0;
constexpr double kUiShareTarget = 0.25; // of one core, while training

double nowMs(const QElapsedTimer &t)
{
    return static_cast<double>(t.nsecsElapsed()) / 1e6;
}

// CPU time of the calling thread, in ms.
double threadCpuMs()
{
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// The 1-minute load average (other processes on the machine skew every number here).
double loadAverage()
{
    double load = NAN;
    if (FILE *f = std::fopen("/proc/loadavg", "r")) {
        if (std::fscanf(f, "%lf", &load) != 1)
            load = NAN;
        std::fclose(f);
    }
    return load;
}

// CPU time of the whole process, in ms.
double processCpuMs()
{
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// CPU the rest of the machine used over an interval, in cores: all busy time (/proc/stat)
// minus this process's. Another build or program on a 2-core machine changes every number.
class OtherLoad {
  public:
    OtherLoad() { restart(); }
    void restart()
    {
        m_busy0 = machineBusyMs();
        m_proc0 = processCpuMs();
        m_wall.start();
    }
    double cores() const
    {
        const double wall = nowMs(m_wall);
        return wall > 0 ? std::max(0.0, (machineBusyMs() - m_busy0) - (processCpuMs() - m_proc0)) / wall
                        : static_cast<double>(NAN);
    }

  private:
    static double machineBusyMs()
    {
        unsigned long long v[8] = {};
        if (FILE *f = std::fopen("/proc/stat", "r")) {
            if (std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                            &v[6], &v[7]) != 8)
                std::fill(std::begin(v), std::end(v), 0ull);
            std::fclose(f);
        }
        // user nice system idle iowait irq softirq steal: everything but idle and iowait
        const unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
        return static_cast<double>(busy) * 1000.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
    }
    double m_busy0 = 0, m_proc0 = 0;
    QElapsedTimer m_wall;
};

double quantile(std::vector<double> v, double q)
{
    if (v.empty())
        return NAN;
    std::sort(v.begin(), v.end());
    const double pos = q * static_cast<double>(v.size() - 1);
    const auto i = static_cast<size_t>(pos);
    const double frac = pos - static_cast<double>(i);
    return i + 1 < v.size() ? v[i] * (1 - frac) + v[i + 1] * frac : v[i];
}

double median(const std::vector<double> &v)
{
    return quantile(v, 0.5);
}

double maxOf(const std::vector<double> &v)
{
    return v.empty() ? static_cast<double>(NAN) : *std::max_element(v.begin(), v.end());
}

// Runs the event loop for `ms` milliseconds.
void spin(int ms)
{
    QEventLoop loop;
    QTimer::singleShot(ms, Qt::PreciseTimer, &loop, &QEventLoop::quit);
    loop.exec();
}

// Spins until `done` or `timeoutMs`; false on timeout.
bool spinUntil(const std::function<bool()> &done, int timeoutMs)
{
    QElapsedTimer t;
    t.start();
    while (!done()) {
        if (t.elapsed() > timeoutMs)
            return false;
        QCoreApplication::processEvents(QEventLoop::AllEvents, 20);
        if (!done())
            spin(5);
    }
    return true;
}

// Counts paint events of a widget (checks that a repetition painted, and only once).
class PaintCounter : public QObject {
  public:
    int paints = 0;
    bool eventFilter(QObject *, QEvent *e) override
    {
        if (e->type() == QEvent::Paint)
            ++paints;
        return false;
    }
};

// Brings a view on screen now, as the event loop would after a change: pending layout, scene
// and update requests are processed (which paints the changed region); if that painted
// nothing, a synchronous repaint() of the whole viewport. One paint per call, never two.
void paintNow(QChartView *view, const PaintCounter *counter = nullptr)
{
    const int before = counter ? counter->paints : 0;
    QCoreApplication::processEvents();
    if (!counter || counter->paints == before) {
        view->viewport()->repaint();
        QCoreApplication::processEvents();
    }
}

// The visible x range of repetition `rep`: every third one the full range, else a zoom window
// of varying width and position.
struct Window {
    bool full;
    double x0, x1;
};
Window windowFor(int rep)
{
    if (rep % 3 == 0)
        return {true, 1, static_cast<double>(kPoints)};
    const double width = 4000.0 + static_cast<double>((rep * 7919) % 46000);
    const double x0 = 1.0 + static_cast<double>((rep * 15485) % static_cast<int>(kPoints - width));
    return {false, x0, x0 + width};
}

// A noisy, decaying loss (deterministic): decimation has something to keep.
float syntheticLoss(int run, long step)
{
    uint64_t h = static_cast<uint64_t>(step) * 0x9E3779B97F4A7C15ull +
                 static_cast<unsigned long long>(run) * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
    h *= 0x94D049BB133111EBull;
    h ^= h >> 29;
    const float noise = static_cast<float>(h % 10000) / 10000.0f - 0.5f;
    return (0.3f + 0.1f * static_cast<float>(run)) + 2.0f / std::sqrt(static_cast<float>(step)) + 0.15f * noise;
}

struct RedrawResult {
    std::vector<double> ms;
    std::vector<double> updateMs; // range change and series update (refresh() / replace()), before painting
    int paints = 0;               // viewport paint events over all repetitions
    int badRefreshes = 0;         // repetitions that did not replace the series exactly once
    int points = 0;               // points in one run's main series after the last repetition
    QSize viewSize;               // the chart view (the panel also holds a header row)
};

// The training-loss chart of the benchmark, on screen and drawn once (exactly as
// tests/ui/tst_charts.cpp lossChart(), at the benchmark's size).
std::unique_ptr<MetricChart> shownLossChart(RunStore &store, ChartSettings &settings)
{
    auto chart =
        std::make_unique<MetricChart>(&store, &settings, QStringLiteral("Training loss"), QStringLiteral("loss"),
                                      QList<CurveSpec>{columnCurve(TableKind::Train, "loss")});
    chart->resize(kChartSize);
    chart->show();
    spinUntil([&] { return chart->isVisible() && chart->view()->viewport()->isVisible(); }, 5000);
    store.flush();
    chart->refresh();
    paintNow(chart->view());
    return chart;
}

RedrawResult timeOurs(RunStore &store, const QList<int> &ids, double smoothing)
{
    ChartSettings settings;
    settings.setSmoothing(smoothing);
    auto chart = shownLossChart(store, settings);
    if (chart->traceCount() != kRuns)
        std::printf("warning: the chart shows %d traces, expected %d\n", chart->traceCount(), kRuns);

    PaintCounter counter;
    chart->view()->viewport()->installEventFilter(&counter);
    int replaced = 0;

    RedrawResult r;
    QElapsedTimer t;
    for (int rep = 0; rep < kRedrawReps; ++rep) {
        const Window w = windowFor(rep);
        const int paintsBefore = counter.paints;
        const int updatesBefore = chart->curveLayer()->updates();
        t.start();
        if (w.full) {
            chart->view()->resetZoom(); // the panel refreshes on zoomWasReset
        } else {
            chart->view()->zoomToX(w.x0, w.x1);
            chart->refresh();
        }
        r.updateMs.push_back(nowMs(t));
        paintNow(chart->view(), &counter);
        r.ms.push_back(nowMs(t));
        r.paints += counter.paints - paintsBefore;
        replaced = chart->curveLayer()->updates() - updatesBefore;
        if (replaced != 1)
            ++r.badRefreshes;
    }
    r.points = static_cast<int>(chart->mainPoints(ids.first()).size());
    r.viewSize = chart->view()->size();
    chart->view()->viewport()->removeEventFilter(&counter);
    return r;
}

RedrawResult timeNaive(const std::vector<QList<QPointF>> &data, double ylo, double yhi, QSize viewSize)
{
    auto *chart = new QChart;
    chart->setAnimationOptions(QChart::NoAnimation);
    chart->setTitle(QStringLiteral("Training loss (naive)"));
    chart->legend()->setAlignment(Qt::AlignBottom);
    auto *x = new QValueAxis;
    auto *y = new QValueAxis;
    chart->addAxis(x, Qt::AlignBottom);
    chart->addAxis(y, Qt::AlignLeft);
    std::vector<QLineSeries *> series;
    for (size_t i = 0; i < data.size(); ++i) {
        auto *s = new QLineSeries;
        s->setName(QStringLiteral("run %1").arg(i + 1));
        chart->addSeries(s);
        s->attachAxis(x);
        s->attachAxis(y);
        series.push_back(s);
    }
    QChartView view(chart);
    view.setRenderHint(QPainter::Antialiasing); // as PlotView draws
    view.resize(viewSize);                      // the size of MetricChart's view
    view.show();
    spinUntil([&] { return view.isVisible(); }, 5000);
    x->setRange(1, static_cast<double>(kPoints));
    y->setRange(ylo, yhi);
    paintNow(&view);

    PaintCounter counter;
    view.viewport()->installEventFilter(&counter);
    RedrawResult r;
    QElapsedTimer t, total;
    total.start();
    for (int rep = 0; rep < kRedrawReps; ++rep) {
        if (rep >= 3 && nowMs(total) > kNaiveBudgetMs)
            break;
        const Window w = windowFor(rep);
        const int paintsBefore = counter.paints;
        t.start();
        x->setRange(w.x0, w.x1);
        for (size_t i = 0; i < data.size(); ++i)
            series[i]->replace(data[i]); // every point, every frame
        r.updateMs.push_back(nowMs(t));
        paintNow(&view, &counter);
        r.ms.push_back(nowMs(t));
        r.paints += counter.paints - paintsBefore;
    }
    r.points = series.front()->count();
    r.viewSize = view.size();
    view.viewport()->removeEventFilter(&counter);
    return r;
}

// Sparse curves, as in the first minutes of training: 4 runs x kSparsePoints noisy steps with
// the default smoothing (raw and smoothed lines, both stroked), the whole chart repainted;
// our stroke against QPainter's (CurveLayer::setOwnStrokes(false)) in alternating repetitions.
constexpr long kSparsePoints = 500;
void benchSparseRedraw(bool jagged)
{
    RunStore store;
    ChartSettings settings;
    QList<int> ids;
    const char *recipes[kRuns] = {"ste", "srste", "sste", "mdgf-linear"};
    for (int i = 0; i < kRuns; ++i) {
        test::SyntheticRun s;
        s.name = QStringLiteral("run%1").arg(i + 1);
        s.recipe = recipes[i];
        s.steps = kSparsePoints;
        s.layers = 1;
        // Jagged: noise over the whole range, as a gradient-noise curve has it (the longest strokes).
        s.loss = [i, jagged](long step) {
            return jagged ? 1.0f + 10.0f * (syntheticLoss(i, step + 1000000) - syntheticLoss(i, 1000000000))
                          : syntheticLoss(i, step);
        };
        ids << test::addRun(store, s);
    }
    auto chart = shownLossChart(store, settings);
    std::vector<double> own, theirs;
    QElapsedTimer t;
    for (int rep = 0; rep < 2 * kRedrawReps; ++rep) {
        const bool mine = rep % 2 == 0;
        CurveLayer::setOwnStrokes(mine);
        t.start();
        chart->view()->viewport()->repaint();
        (mine ? own : theirs).push_back(nowMs(t));
    }
    CurveLayer::setOwnStrokes(true);
    std::printf("redraw 4x%ld sparse%s (stroked, raw+smoothed, %d pts/curve): nmstudio stroke median %.1f ms (max "
                "%.1f) | QPainter stroke median %.1f ms (max %.1f) | ratio %.3f\n",
                kSparsePoints, jagged ? ", jagged" : "", static_cast<int>(chart->mainPoints(ids.first()).size()),
                median(own), maxOf(own), median(theirs), maxOf(theirs), median(own) / median(theirs));
    std::fflush(stdout);
}

void benchRedraw()
{
    QElapsedTimer build;
    build.start();
    RunStore store;
    QList<int> ids;
    const char *recipes[kRuns] = {"ste", "srste", "sste", "mdgf-linear"}; // distinct: no seed grouping
    std::vector<QList<QPointF>> naiveData(kRuns);
    double ylo = INFINITY, yhi = -INFINITY;
    for (int i = 0; i < kRuns; ++i) {
        test::SyntheticRun s;
        s.name = QStringLiteral("run%1").arg(i + 1);
        s.recipe = recipes[i];
        s.steps = kPoints;
        s.layers = 1;
        s.loss = [i](long step) { return syntheticLoss(i, step); };
        ids << test::addRun(store, s);
        QList<QPointF> &pts = naiveData[static_cast<size_t>(i)];
        pts.reserve(kPoints);
        for (long step = 1; step <= kPoints; ++step) {
            const float v = syntheticLoss(i, step);
            pts.append(QPointF(static_cast<double>(step), static_cast<double>(v)));
            ylo = std::min(ylo, static_cast<double>(v));
            yhi = std::max(yhi, static_cast<double>(v));
        }
    }
    std::printf("redraw: %d runs x %ld points built in %.0f ms; chart %dx%d, %d repetitions, zoom window changed "
                "every repetition (every third: full range)\n",
                kRuns, kPoints, nowMs(build), kChartSize.width(), kChartSize.height(), kRedrawReps);
    std::fflush(stdout);

    OtherLoad others;
    const RedrawResult ours = timeOurs(store, ids, ChartSettings().smoothing());
    const RedrawResult ours0 = timeOurs(store, ids, 0.0);
    const RedrawResult naive = timeNaive(naiveData, ylo, yhi, ours.viewSize);

    auto note = [](const RedrawResult &r) {
        QString s;
        if (r.paints != static_cast<int>(r.ms.size()))
            s += QStringLiteral(" [%1 paints in %2 reps]").arg(r.paints).arg(r.ms.size());
        if (r.badRefreshes)
            s += QStringLiteral(" [%1 reps without exactly one replace()]").arg(r.badRefreshes);
        return s.toStdString();
    };
    const double mOurs = median(ours.ms), mOurs0 = median(ours0.ms), mNaive = median(naive.ms);
    std::printf(
        "redraw 4x100k: nmstudio median %.1f ms (max %.1f, smoothing %.2g: raw+smoothed curves, %d pts/curve)%s"
        " | naive replace median %.1f ms (max %.1f, %zu reps, %d pts/curve)%s | ratio %.3f | target <= %.0f ms: %s\n",
        mOurs, maxOf(ours.ms), ChartSettings().smoothing(), ours.points, note(ours).c_str(), mNaive, maxOf(naive.ms),
        naive.ms.size(), naive.points, note(naive).c_str(), mOurs / mNaive, kRedrawTargetMs,
        mOurs <= kRedrawTargetMs ? "met" : "NOT met");
    std::printf("redraw 4x100k, smoothing off: nmstudio median %.1f ms (max %.1f, %d pts/curve)%s | naive replace "
                "median %.1f ms | ratio %.3f | target <= %.0f ms: %s\n",
                mOurs0, maxOf(ours0.ms), ours0.points, note(ours0).c_str(), mNaive, mOurs0 / mNaive, kRedrawTargetMs,
                mOurs0 <= kRedrawTargetMs ? "met" : "NOT met");
    std::printf("  of which range change + series update (before painting), median: nmstudio %.1f ms, smoothing off "
                "%.1f ms, naive %.1f ms; the rest is layout + paint. Chart views %dx%d (both). Other processes used "
                "%.2f cores meanwhile\n",
                median(ours.updateMs), median(ours0.updateMs), median(naive.updateMs), ours.viewSize.width(),
                ours.viewSize.height(), others.cores());
    std::fflush(stdout);
    benchSparseRedraw(false);
    benchSparseRedraw(true);
}

// Gaps between the ticks of a 5 ms timer on the UI thread, each tagged (the chart page shown
// when it ended).
class LatencyProbe : public QObject {
  public:
    explicit LatencyProbe(std::function<int()> tag = {}) : m_tag(std::move(tag))
    {
        m_timer.setTimerType(Qt::PreciseTimer);
        m_timer.setInterval(kTickMs);
        connect(&m_timer, &QTimer::timeout, this, [this] {
            const double now = nowMs(m_clock);
            if (m_last >= 0) {
                m_gaps.push_back(now - m_last);
                m_tags.push_back(m_tag ? m_tag() : 0);
            }
            m_last = now;
        });
    }
    void start()
    {
        m_gaps.clear();
        m_tags.clear();
        m_last = -1;
        m_clock.start();
        m_timer.start();
    }
    std::vector<double> stop()
    {
        m_timer.stop();
        return m_gaps;
    }
    const std::vector<int> &tags() const { return m_tags; }

  private:
    std::function<int()> m_tag;
    QTimer m_timer;
    QElapsedTimer m_clock;
    double m_last = -1;
    std::vector<double> m_gaps;
    std::vector<int> m_tags;
};

struct LatencyStats {
    double median = NAN, p99 = NAN, max = NAN;
    double uiBusy = NAN;    // UI-thread CPU time / wall time over the window
    double others = NAN;    // cores used by other processes over the window
    double procCores = NAN; // process CPU time / wall time (cores in use by this process)
    long over50 = 0, over16 = 0, ticks = 0;
};

LatencyStats stats(const std::vector<double> &gaps)
{
    LatencyStats s;
    s.median = median(gaps);
    s.p99 = quantile(gaps, 0.99);
    s.max = maxOf(gaps);
    s.ticks = static_cast<long>(gaps.size());
    for (double g : gaps) {
        s.over50 += g > kLatencyTargetMs;
        s.over16 += g > 16.7;
    }
    return s;
}

// Measures for `ms` while switching the chart page every second, so every page is shown
// (and refreshes with live data) during the window; also the worst gap per page.
std::vector<double> measureWithPageCycle(MainWindow &w, int ms, std::vector<double> &worstPerPage, double &uiBusy,
                                         double &procCores, double &others,
                                         std::vector<double> *switchPerPage = nullptr, int *frames = nullptr)
{
    ChartPages *pages = w.pages();
    const int n = pages->count();
    pages->setCurrentIndex(0);
    spin(50);
    LatencyProbe probe([pages] { return pages->currentIndex(); });
    QTimer cycle;
    cycle.setInterval(kPageEveryMs);
    std::vector<double> switchMs(static_cast<size_t>(n), 0.0);
    QObject::connect(&cycle, &QTimer::timeout, [&] {
        QElapsedTimer t;
        t.start();
        const int next = (pages->currentIndex() + 1) % n;
        pages->setCurrentIndex(next); // shows the page: its charts refresh (layout and paint follow)
        switchMs[static_cast<size_t>(next)] = std::max(switchMs[static_cast<size_t>(next)], nowMs(t));
    });
    int frameCount = 0;
    QMetaObject::Connection counting =
        QObject::connect(w.store(), &RunStore::dataChanged, [&frameCount] { ++frameCount; });
    QElapsedTimer wall;
    const double cpu0 = threadCpuMs(), proc0 = processCpuMs();
    OtherLoad load;
    wall.start();
    probe.start();
    cycle.start();
    spin(ms);
    cycle.stop();
    const std::vector<double> gaps = probe.stop();
    QObject::disconnect(counting);
    if (switchPerPage)
        *switchPerPage = switchMs;
    if (frames)
        *frames = frameCount;
    uiBusy = (threadCpuMs() - cpu0) / nowMs(wall);
    procCores = (processCpuMs() - proc0) / nowMs(wall);
    others = load.cores();
    worstPerPage.assign(static_cast<size_t>(n), 0.0);
    for (size_t i = 0; i < gaps.size(); ++i) {
        const int p = probe.tags()[i];
        if (p >= 0 && p < n)
            worstPerPage[static_cast<size_t>(p)] = std::max(worstPerPage[static_cast<size_t>(p)], gaps[i]);
    }
    pages->setCurrentIndex(0);
    return gaps;
}

void printWorstPerPage(MainWindow &w, const char *label, const std::vector<double> &worst)
{
    std::printf("  %-9s worst gap per page:", label);
    for (size_t p = 0; p < worst.size(); ++p)
        std::printf(
            "%s %s %.1f ms", p ? "," : "",
            qPrintable(w.pages()->tabText(static_cast<int>(p)).replace(QStringLiteral("&&"), QStringLiteral("&"))),
            worst[p]);
    std::printf("\n");
}

void printLatency(const char *label, const LatencyStats &s)
{
    std::printf("  %-9s ticks %5ld | median %.2f ms | p99 %.2f ms | max %.1f ms | gaps > 16.7 ms: %ld | gaps > 50 ms: "
                "%ld | CPU: UI thread %.0f%%, process %.2f cores, other processes %.2f cores\n",
                label, s.ticks, s.median, s.p99, s.max, s.over16, s.over50, 100.0 * s.uiBusy, s.procCores, s.others);
}

int benchResponsiveness()
{
    MainWindow w;
    w.setRecordFolder(QString()); // not recorded
    w.resize(1400, 900);
    w.show();
    if (!spinUntil([&] { return w.isVisible(); }, 5000)) {
        std::printf("responsiveness: the window did not show\n");
        return 1;
    }
    // The default comparison (STE, SR-STE, S-STE, 2:4 MLP on Fashion-MNIST) plus a fourth recipe,
    // long enough to train for the whole window; stopped when the window ends.
    w.experiment()->addRecipe(QStringLiteral("mdgf-linear"));
    w.experiment()->setValue("steps", QStringLiteral("100000"));
    w.applyExperiment();
    QList<int> ids = w.controller()->experimentRuns();
    if (ids.size() != kRuns) {
        std::printf("responsiveness: expected %d runs, the experiment has %lld (%s)\n", kRuns, ids.size(),
                    qPrintable(w.experiment()->firstError()));
        return 1;
    }
    const nm::RunConfig cfg = w.store()->run(ids.first())->meta.config;
    QStringList hidden;
    for (int h : cfg.mlpHidden)
        hidden << QString::number(h);
    std::printf("responsiveness: %d runs (%s model, hidden %s, batch %d, data %s, eval every %d, snapshot every %ld), "
                "window 1400x900, %lld chart pages cycled every %d ms, %d ms timer, %d ms windows\n",
                kRuns, nm::choiceName(cfg.model).c_str(), qPrintable(hidden.join(',')), cfg.batch,
                nm::choiceName(cfg.data).c_str(), cfg.evalEvery, cfg.snapshotEvery,
                static_cast<long long>(w.pages()->count()), kPageEveryMs, kTickMs, kTrainMs);
    std::fflush(stdout);
    spin(300); // let the window settle

    // Peer first: the same window, idle. Counts runs (re-)added meanwhile: an idle window
    // should add none.
    int runsAdded = 0;
    QObject::connect(w.store(), &RunStore::runAdded, &w, [&runsAdded] { ++runsAdded; });
    std::vector<double> worstIdle, worstTrain;
    double busy = 0, cores = 0, others = 0;
    LatencyStats idle = stats(measureWithPageCycle(w, kTrainMs, worstIdle, busy, cores, others));
    idle.uiBusy = busy;
    idle.procCores = cores;
    idle.others = others;
    const int runsAddedIdle = runsAdded;

    // Start (through the toolbar's action, as a user does), then wait until every run steps.
    QAction *start = nullptr;
    for (QAction *a : w.findChildren<QAction *>())
        if (a->text() == QStringLiteral("Start"))
            start = a;
    if (!start || !start->isEnabled()) {
        std::printf("responsiveness: no enabled Start action\n");
        return 1;
    }
    QElapsedTimer clock;
    clock.start();
    LatencyProbe startup;
    startup.start();
    start->trigger();
    const double triggerMs = nowMs(clock);
    // The form's edits re-apply the experiment (new run ids) until the start: read them now.
    ids = w.controller()->experimentRuns();
    auto stepOf = [&](int id) {
        const Run *r = w.store()->run(id);
        return r ? r->meta.step : -1L;
    };
    const bool stepping = spinUntil(
        [&] {
            for (int id : ids)
                if (stepOf(id) < 1)
                    return false;
            return true;
        },
        60000);
    const LatencyStats boot = stats(startup.stop());
    const double bootMs = nowMs(clock);
    if (!stepping) {
        std::printf("responsiveness: the runs did not start stepping within 60 s\n");
        w.controller()->stop();
        spinUntil([&] { return w.controller()->state() != TrainingController::State::Running; }, 30000);
        return 1;
    }
    long stepsBefore = 0;
    for (int id : ids)
        stepsBefore += stepOf(id);

    std::vector<double> switchTrain;
    int frames = 0;
    LatencyStats train =
        stats(measureWithPageCycle(w, kTrainMs, worstTrain, busy, cores, others, &switchTrain, &frames));
    train.uiBusy = busy;
    train.procCores = cores;
    train.others = others;

    long stepsAfter = 0;
    for (int id : ids)
        stepsAfter += stepOf(id);
    QElapsedTimer stopClock;
    stopClock.start();
    w.controller()->stop();
    const double stopCallMs = nowMs(stopClock);
    spinUntil([&] { return w.controller()->state() == TrainingController::State::Finished; }, 30000);
    const double stoppedMs = nowMs(stopClock);

    std::printf("  start: Start action took %.1f ms on the UI thread; all runs stepping after %.0f ms (max gap "
                "meanwhile %.1f ms)\n",
                triggerMs, bootMs, boot.max);
    std::printf("  training window: %ld steps over %d runs (%.0f steps/s together); stop() took %.1f ms, all runs "
                "stopped after %.0f ms\n",
                stepsAfter - stepsBefore, kRuns, static_cast<double>(stepsAfter - stepsBefore) / (kTrainMs / 1000.0),
                stopCallMs, stoppedMs);
    if (runsAddedIdle > 0)
        std::printf("  note: %d runs were added to the store during the idle window (the experiment was re-applied "
                    "about every %.0f ms while nothing changed)\n",
                    runsAddedIdle, kTrainMs / (static_cast<double>(runsAddedIdle) / kRuns));
    printLatency("idle", idle);
    printLatency("training", train);
    printWorstPerPage(w, "idle", worstIdle);
    printWorstPerPage(w, "training", worstTrain);
    printWorstPerPage(w, "switch", switchTrain);
    std::printf("  (switch: the page change itself while training, its charts' refreshes included; the rest of a "
                "page's gap is layout and paint)\n");
    std::printf("  chart frames while training: %d in %d ms (%.1f per second; paced to keep the UI thread's share "
                "of a core near 20 %%)\n",
                frames, kTrainMs, frames / (kTrainMs / 1000.0));
    std::printf("ui latency 4 runs training: nmstudio median %.2f ms p99 %.2f ms max %.1f ms (%ld gaps > 50 ms) | idle "
                "median %.2f ms p99 %.2f ms max %.1f ms (%ld gaps > 50 ms) | ratio p99 training/idle %.2f | max gap < "
                "%.0f ms while training: %s\n",
                train.median, train.p99, train.max, train.over50, idle.median, idle.p99, idle.max, idle.over50,
                train.p99 / idle.p99, kLatencyTargetMs, train.max < kLatencyTargetMs ? "met" : "NOT met");
    std::printf("ui latency targets while training: p99 %.2f ms (target <= %.0f ms: %s) | UI thread %.0f%% of a core "
                "(target <= %.0f%%: %s; idle %.0f%%)\n",
                train.p99, kP99TargetMs, train.p99 <= kP99TargetMs ? "met" : "NOT met", 100.0 * train.uiBusy,
                100.0 * kUiShareTarget, train.uiBusy <= kUiShareTarget ? "met" : "NOT met", 100.0 * idle.uiBusy);
    std::fflush(stdout);
    w.controller()->reset();
    return 0;
}

// A run file of about 1 GB, as long sparse runs with frequent snapshots make them: 4 runs of
// the MLP 784-256-256-10 (2:4 on every layer), 20,000 steps each with every per-layer series,
// an evaluation every 250 steps and a snapshot (W, W̃, mask, flip counts) every 200: 101
// snapshots of 2.7 MB per run. Written through the RunFileWriter with synthetic values and
// snapshots stored uncompressed (random weights do not compress; writing 1 GB at gzip level
// 4 would take minutes). Kept in the temporary folder and reused while it is there.
QString largeRunFile(double &writeSeconds)
{
    const QString path = QDir::temp().filePath(QStringLiteral("nmuibench-1gb-v1.h5"));
    writeSeconds = 0;
    if (QFileInfo(path).size() > 900'000'000)
        return path;
    QFile::remove(path);
    QElapsedTimer t;
    t.start();
    constexpr long kSteps = 20000;
    constexpr int kEvalEvery = 250, kSnapEvery = 200;
    const char *recipes[kRuns] = {"ste", "srste", "sste", "mdgf-linear"};
    std::vector<nm::RunInfo> infos;
    for (int i = 0; i < kRuns; ++i) {
        nm::RunInfo info;
        info.name = std::string("big_") + recipes[i];
        info.config = nm::defaultConfig();
        info.config.name = info.name;
        info.config.recipe = recipes[i];
        info.config.steps = kSteps;
        info.config.evalEvery = kEvalEvery;
        info.config.snapshotEvery = kSnapEvery;
        info.recipe = nm::parseRecipe(recipes[i]);
        info.modelDescription = "MLP 784-256-256-10 (synthetic values)";
        info.dataDescription = "synthetic";
        info.threads = 1;
        info.blasCore = "none";
        info.layers = {{"fc1", 784, 256, true, 2, 4, 200960, 100608},
                       {"fc2", 256, 256, true, 2, 4, 65792, 33024},
                       {"fc3", 256, 10, true, 2, 4, 2570, 1290}};
        info.parameterCount = 269322;
        info.effectiveParameterCount = 134922;
        infos.push_back(info);
    }
    nm::RunFileOptions options;
    options.deflate = 0;
    nm::RunFileWriter writer(path.toStdString(), infos, options);
    for (int i = 0; i < kRuns; ++i) {
        nm::TrainingObserver *obs = writer.observer(i);
        obs->onStart(infos[static_cast<size_t>(i)]);
        auto snapshot = [&](long step) {
            nm::Snapshot snap;
            snap.step = step;
            for (const auto &l : infos[static_cast<size_t>(i)].layers) {
                nm::LayerSnapshot ls;
                ls.name = l.name;
                ls.rows = l.out;
                ls.cols = l.in;
                const size_t n = static_cast<size_t>(l.in) * static_cast<size_t>(l.out);
                ls.weight.resize(n);
                ls.forward.resize(n);
                ls.mask.resize(n);
                ls.flipCount.resize(n);
                for (size_t k = 0; k < n; ++k) {
                    ls.weight[k] = syntheticLoss(i, static_cast<long>(k + 1) + step) - 0.5f;
                    ls.mask[k] = (k + static_cast<size_t>(step / kSnapEvery)) % 4 < 2;
                    ls.forward[k] = ls.mask[k] ? ls.weight[k] : 0.0f;
                    ls.flipCount[k] = static_cast<uint16_t>((k * 7 + static_cast<size_t>(step)) % 23);
                }
                ls.n = 2;
                ls.m = 4;
                snap.layers.push_back(std::move(ls));
            }
            obs->onSnapshot(snap);
        };
        snapshot(0);
        for (long step = 1; step <= kSteps; ++step) {
            nm::StepMetrics m;
            m.step = step;
            m.loss = syntheticLoss(i, step);
            m.accuracy = 0.9f - 0.1f * m.loss;
            m.lr = 0.05;
            m.gradNorm = m.loss;
            m.stepSeconds = 0.01;
            m.elapsedSeconds = 0.01 * static_cast<double>(step);
            m.flops = 4.1e8;
            m.totalFlops = m.flops * static_cast<double>(step);
            for (int l = 0; l < 3; ++l) {
                nm::LayerStats row;
                row.flips = step % 97 + l;
                row.flipRate = static_cast<float>(row.flips) * 1e-5f;
                row.gradNorm = row.gradNormKept = m.loss;
                row.gradNormPruned = 0.5f * m.loss;
                row.gradNoise = row.gradNoiseKept = row.gradNoisePruned = 0.2f + 0.1f * m.loss;
                row.n = 2;
                row.m = 4;
                row.sparsity = 0.5f;
                m.layers.push_back(row);
            }
            obs->onStep(m);
            if (step % kEvalEvery == 0)
                obs->onEval({step, nm::Split::Validation, m.loss, m.accuracy, NAN});
            if (step % kSnapEvery == 0)
                snapshot(step);
        }
        nm::RunSummary end;
        end.name = infos[static_cast<size_t>(i)].name;
        end.step = kSteps;
        end.status = nm::RunStatus::Completed;
        end.valLoss = end.testLoss = 0.4f;
        end.valAccuracy = end.testAccuracy = 0.85f;
        obs->onEnd(end);
    }
    writer.close();
    writeSeconds = nowMs(t) / 1000.0;
    return path;
}

// Opens a file in a fresh window showing the Loss & accuracy page and times it until that page
// has painted the file's curves.
double timeOpen(const QString &file, int *runs = nullptr)
{
    MainWindow w;
    w.setRecordFolder(QString());
    w.controller()->setExperiment({});
    w.resize(1400, 900);
    w.show();
    spinUntil([&] { return w.isVisible(); }, 5000);
    spin(200);
    w.pages()->setCurrentIndex(0);
    QElapsedTimer t;
    t.start();
    QString error;
    if (!w.openRunFile(file, &error)) {
        std::printf("open: %s\n", qPrintable(error));
        return NAN;
    }
    w.store()->flush(); // the frame the window would draw next
    QCoreApplication::processEvents();
    const QList<int> ids = w.store()->runIds();
    const double ms = !ids.isEmpty() && !w.pages()->trainLoss()->mainPoints(ids.first()).isEmpty()
                          ? nowMs(t)
                          : static_cast<double>(NAN);
    if (runs)
        *runs = static_cast<int>(ids.size());
    // The snapshots keep arriving in the background; the window stays responsive meanwhile.
    LatencyProbe probe;
    probe.start();
    QElapsedTimer rest;
    rest.start();
    const bool all = w.waitForSnapshots(300000);
    const LatencyStats st = stats(probe.stop());
    std::printf("    %s: first page drawn after %.0f ms; all snapshots in after %.1f s more%s (UI gaps meanwhile: "
                "p99 %.1f ms, max %.1f ms)\n",
                qPrintable(QFileInfo(file).fileName()), ms, nowMs(rest) / 1000.0, all ? "" : " (timed out)", st.p99,
                st.max);
    return ms;
}

void benchOpenLarge()
{
    double writeSeconds = 0;
    const QString big = largeRunFile(writeSeconds);
    const double gb = static_cast<double>(QFileInfo(big).size()) / 1e9;
    std::printf("open: %s, %.2f GB (%s)\n", qPrintable(big), gb,
                writeSeconds > 0 ? qPrintable(QStringLiteral("written in %1 s").arg(writeSeconds, 0, 'f', 1))
                                 : "reused");
    std::fflush(stdout);
    const QString small = QStringLiteral(NMSTUDIO_SAMPLE_DIR "/mlp_2to4_ste_srste_sste.h5");
    const double smallMs = timeOpen(small);
    const double bigMs = timeOpen(big);
    std::printf("open 1 GB run file: nmstudio first page %.0f ms | sample run file (%.1f MB) %.0f ms | ratio %.2f | "
                "target <= 1000 ms: %s\n",
                bigMs, static_cast<double>(QFileInfo(small).size()) / 1e6, smallMs, bigMs / smallMs,
                bigMs <= 1000 ? "met" : "NOT met");
    std::fflush(stdout);
}

// Page switches of a window holding finished runs (a sample run file): each switch is timed
// until the page has painted (setCurrentIndex, then pending layout and paint events), over
// several rounds, so the first show of a page and later ones are apart.
int benchPageSwitch(const QString &file)
{
    MainWindow w;
    w.setRecordFolder(QString());
    w.resize(1400, 900);
    w.show();
    if (!spinUntil([&] { return w.isVisible(); }, 5000))
        return 1;
    QString error;
    if (!w.openRunFile(file, &error)) {
        std::printf("page switch: cannot open %s: %s\n", qPrintable(file), qPrintable(error));
        return 1;
    }
    spin(300);
    ChartPages *pages = w.pages();
    const int n = pages->count();
    constexpr int kRounds = 4;
    std::vector<std::vector<double>> ms(static_cast<size_t>(n));
    for (int round = 0; round < kRounds; ++round)
        for (int p = 0; p < n; ++p) {
            QElapsedTimer t;
            t.start();
            pages->setCurrentIndex(p);
            QCoreApplication::processEvents();
            ms[static_cast<size_t>(p)].push_back(nowMs(t));
            spin(30);
        }
    std::printf("page switch (%s, %lld runs): first show / median of the next %d, ms:",
                qPrintable(QFileInfo(file).fileName()), w.store()->runIds().size(), kRounds - 1);
    for (int p = 0; p < n; ++p) {
        std::vector<double> later(ms[static_cast<size_t>(p)].begin() + 1, ms[static_cast<size_t>(p)].end());
        std::printf("%s %s %.1f / %.1f", p ? "," : "",
                    qPrintable(pages->tabText(p).replace(QStringLiteral("&&"), QStringLiteral("&"))),
                    ms[static_cast<size_t>(p)].front(), median(later));
    }
    std::printf("\n");
    return 0;
}

} // namespace

int main(int argc, char **argv)
{
    nm::ensureFastBlas(argc, argv);
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM"))
        qputenv("QT_QPA_PLATFORM", "offscreen");
    QStandardPaths::setTestModeEnabled(true); // QSettings stay out of the user's configuration
    QApplication app(argc, argv);
    app.setOrganizationName(QStringLiteral("nmstudio-bench"));
    app.setApplicationName(QStringLiteral("nmuibench"));
    std::printf("nmuibench: Qt %s, platform %s, %d cores, load average %.2f\n", qVersion(),
                qPrintable(QGuiApplication::platformName()), QThread::idealThreadCount(), loadAverage());
    QElapsedTimer total;
    total.start();
    // Arguments: "redraw" and/or "latency" run only those parts (default: both).
    const QStringList args = app.arguments().mid(1);
    const bool all = !args.contains(QStringLiteral("redraw")) && !args.contains(QStringLiteral("latency")) &&
                     !args.contains(QStringLiteral("pages")) && !args.contains(QStringLiteral("open"));
    if (all || args.contains(QStringLiteral("open")))
        benchOpenLarge();
    if (all || args.contains(QStringLiteral("pages")))
        benchPageSwitch(QStringLiteral(NMSTUDIO_SAMPLE_DIR "/mlp_2to4_ste_srste_sste.h5"));
    if (all || args.contains(QStringLiteral("redraw")))
        benchRedraw();
    int rc = 0;
    if (all || args.contains(QStringLiteral("latency")))
        rc = benchResponsiveness();
    std::printf("total %.1f s, load average now %.2f (other processes on the machine skew these numbers)\n",
                nowMs(total) / 1000.0, loadAverage());
    return rc;
}
