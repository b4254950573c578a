#include "panels/layer_inspector.h"

#include "plot/image_chart.h"
#include "plot/palette.h"
#include "plot/plot_view.h"
#include "plot/series_math.h"
#include "training/run_store.h"

#include <QBarCategoryAxis>
#include <QBarSeries>
#include <QBarSet>
#include <QChart>
#include <QCheckBox>
#include <QComboBox>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLogValueAxis>
#include <QSlider>
#include <QSplitter>
#include <QTextBrowser>
#include <QTimer>
#include <QValueAxis>

#include "nmcore/nm_gemm.h"
#include <algorithm>
#include <cmath>
#include <utility>

namespace nmui {

namespace {

const QColor kKept(0x26, 0x26, 0x26), kPruned(0xff, 0xff, 0xff);
const QColor kBecameKept(0xD5, 0x5E, 0x00), kBecamePruned(0x56, 0xB4, 0xE9);
const QColor kNeverFlipped(0xff, 0xff, 0xff);

// Summed flips of one layer up to a step.
double flipsUpTo(const Run &r, int layer, double step)
{
    const auto *f = r.train.column(layerColumn("flips", layer));
    if (!f)
        return 0;
    double sum = 0;
    for (size_t i = 0; i < f->size() && r.train.step[i] <= step; ++i)
        if (std::isfinite((*f)[i]))
            sum += static_cast<double>((*f)[i]);
    return sum;
}

// The run's newest snapshot at or before `step` (null if none).
std::shared_ptr<const nm::Snapshot> snapshotAtOrBefore(const Run &r, long step)
{
    auto it = r.snapshots.upper_bound(step);
    if (it == r.snapshots.begin())
        return nullptr;
    return std::prev(it)->second;
}

// The layer named `name` in a snapshot (null if the snapshot does not hold it).
const nm::LayerSnapshot *layerNamed(const nm::Snapshot *snap, const std::string &name)
{
    if (snap)
        for (const auto &l : snap->layers)
            if (l.name == name)
                return &l;
    return nullptr;
}

} // namespace

int flipCountBin(int count)
{
    if (count <= 0)
        return 0;
    int bin = 1;
    while ((1 << (bin - 1)) < count)
        ++bin;
    return bin;
}

QString flipCountBinLabel(int bin)
{
    if (bin <= 2)
        return QString::number(std::max(0, bin));
    const int lo = (1 << (bin - 2)) + 1, hi = std::min(1 << (bin - 1), 65535);
    return QStringLiteral("%1–%2").arg(lo).arg(hi);
}

std::vector<long> countByValue(const std::vector<uint16_t> &counts)
{
    std::vector<long> n;
    for (uint16_t c : counts) {
        if (c >= n.size())
            n.resize(static_cast<size_t>(c) + 1, 0);
        ++n[c];
    }
    return n;
}

std::vector<long> flipCountHistogram(const std::vector<long> &byValue)
{
    std::vector<long> bins(3, 0); // 0, 1, 2 always
    for (size_t v = 0; v < byValue.size(); ++v) {
        const auto b = static_cast<size_t>(flipCountBin(static_cast<int>(v)));
        if (b >= bins.size())
            bins.resize(b + 1, 0);
        bins[b] += byValue[v];
    }
    return bins;
}

std::vector<long> flipCountHistogram(const std::vector<uint16_t> &counts)
{
    return flipCountHistogram(countByValue(counts));
}

// The legend entries of a bar chart: its sets' labels (the run names).
QStringList setLabels(const QBarSeries *series)
{
    QStringList names;
    for (const QBarSet *set : series->barSets())
        names << set->label();
    return names;
}

// Weights per flip-count bin, one bar set per run, side by side.
class FlipCountHistogram : public ChartPanel {
  public:
    explicit FlipCountHistogram(RunStore *store) : ChartPanel(store, QObject::tr("Flip counts per weight"))
    {
        setAutoRefresh(false);
        m_series = new QBarSeries;
        chart()->addSeries(m_series);
        m_axisX = new QBarCategoryAxis;
        m_axisX->setTitleText(QObject::tr("mask-bit changes since step 0"));
        chart()->addAxis(m_axisX, Qt::AlignBottom);
        m_series->attachAxis(m_axisX);
        installYAxis();
        view()->setRubberBand(QChartView::NoRubberBand);
        view()->setCrosshairEnabled(false);
        m_logBox = new QCheckBox(QObject::tr("log y"), this);
        m_logBox->setChecked(m_logY);
        QObject::connect(m_logBox, &QCheckBox::toggled, this, [this](bool on) { setLogY(on); });
        headerLayout()->insertWidget(headerLayout()->count() - 2, m_logBox);
    }

    // Log y by default: most weights sit in the first bins, the oscillating ones in the tail.
    void setLogY(bool on)
    {
        if (on == m_logY)
            return;
        m_logY = on;
        m_logBox->setChecked(on);
        installYAxis();
        refresh();
    }
    bool logY() const { return m_logY; }

    void display(const FlipHistogramData &data, const QString &title)
    {
        m_data = data;
        setTitleText(title);
        refresh();
    }
    const FlipHistogramData &data() const { return m_data; }

    void refresh() override
    {
        m_series->clear();
        m_axisX->clear();
        m_axisX->append(m_data.bins);
        double hi = 1;
        for (int i = 0; i < m_data.runIds.size(); ++i) {
            const Run *r = store()->run(m_data.runIds[i]);
            auto *set = new QBarSet(r ? r->meta.name : QString());
            if (r) {
                set->setColor(r->meta.color);
                set->setBorderColor(r->meta.color);
            }
            for (double v : m_data.weights[i]) {
                set->append(m_logY ? std::max(v, kLogFloor) : v); // empty bins: no height on a log axis
                hi = std::max(hi, v);
            }
            m_series->append(set);
        }
        fitLegend(setLabels(m_series));
        if (auto *v = qobject_cast<QValueAxis *>(m_axisY))
            setTicksAndRange(v, 0, hi * 1.08, plot::niceInterval(hi * 1.08, 5));
        else if (auto *l = qobject_cast<QLogValueAxis *>(m_axisY))
            l->setRange(kLogFloor, std::pow(10.0, std::ceil(std::log10(hi * 1.5))));
    }

    DataTable table(bool) const override
    {
        DataTable t;
        t.header << QStringLiteral("run") << m_data.bins;
        for (int i = 0; i < m_data.runIds.size(); ++i) {
            const Run *r = store()->run(m_data.runIds[i]);
            QList<QString> row{r ? r->meta.name : QString()};
            for (double v : m_data.weights[i])
                row << QString::number(v, 'f', 0);
            t.rows.append(row);
        }
        return t;
    }

  private:
    static constexpr double kLogFloor = 0.5;

    void installYAxis()
    {
        QAbstractAxis *y = nullptr;
        if (m_logY) {
            auto *l = new QLogValueAxis;
            l->setBase(10);
            l->setLabelFormat(QStringLiteral("%g"));
            y = l;
        } else {
            auto *v = new QValueAxis;
            v->setLabelFormat(QStringLiteral("%.0f"));
            v->setTickAnchor(0);
            v->setTickInterval(1);
            v->setTickType(QValueAxis::TicksDynamic);
            y = v;
        }
        y->setTitleText(QObject::tr("weights"));
        chart()->addAxis(y, Qt::AlignLeft);
        if (m_axisY) {
            m_series->detachAxis(m_axisY);
            chart()->removeAxis(m_axisY);
            delete m_axisY;
        }
        m_series->attachAxis(y);
        m_axisY = y;
    }

    QBarSeries *m_series;
    QBarCategoryAxis *m_axisX;
    QAbstractAxis *m_axisY = nullptr;
    QCheckBox *m_logBox = nullptr;
    bool m_logY = true;
    FlipHistogramData m_data;
};

// Flips per sparse layer up to the selected step, one bar set per visible run.
class FlipBarChart : public ChartPanel {
  public:
    explicit FlipBarChart(RunStore *store) : ChartPanel(store, QObject::tr("Mask flips per layer"))
    {
        setAutoRefresh(false);
        m_series = new QBarSeries;
        chart()->addSeries(m_series);
        m_axisX = new QBarCategoryAxis;
        m_axisY = new QValueAxis;
        m_axisY->setLabelFormat(QStringLiteral("%.0f"));
        m_axisY->setTickAnchor(0);
        m_axisY->setTickInterval(1);
        m_axisY->setTickType(QValueAxis::TicksDynamic);
        m_axisY->setTitleText(QObject::tr("flipped mask bits"));
        chart()->addAxis(m_axisX, Qt::AlignBottom);
        chart()->addAxis(m_axisY, Qt::AlignLeft);
        m_series->attachAxis(m_axisX);
        m_series->attachAxis(m_axisY);
        view()->setRubberBand(QChartView::NoRubberBand);
        view()->setCrosshairEnabled(false);
    }

    void display(const QStringList &layers, double step)
    {
        m_step = step;
        m_layers = layers;
        setTitleText(QObject::tr("Mask flips per layer, steps 1–%1").arg(step, 0, 'f', 0));
        refresh();
    }

    void refresh() override
    {
        m_series->clear();
        m_axisX->clear();
        m_axisX->append(m_layers);
        double hi = 1;
        for (int id : store()->visibleRunIds()) {
            const Run *r = store()->run(id);
            auto *set = new QBarSet(r->meta.name);
            set->setColor(r->meta.color);
            set->setBorderColor(r->meta.color);
            for (int l = 0; l < m_layers.size(); ++l) {
                const double v = l < r->sparseLayerCount() ? flipsUpTo(*r, l, m_step) : 0.0;
                set->append(v);
                hi = std::max(hi, v);
            }
            m_series->append(set);
        }
        fitLegend(setLabels(m_series));
        setTicksAndRange(m_axisY, 0, hi * 1.08, plot::niceInterval(hi * 1.08, 4));
    }

    DataTable table(bool) const override
    {
        DataTable t;
        t.header << QStringLiteral("run");
        t.header << m_layers;
        for (int id : store()->visibleRunIds()) {
            const Run *r = store()->run(id);
            QList<QString> row{r->meta.name};
            for (int l = 0; l < m_layers.size(); ++l)
                row << QString::number(l < r->sparseLayerCount() ? flipsUpTo(*r, l, m_step) : 0.0, 'f', 0);
            t.rows.append(row);
        }
        return t;
    }

  private:
    QBarSeries *m_series;
    QBarCategoryAxis *m_axisX;
    QValueAxis *m_axisY;
    QStringList m_layers;
    double m_step = 0;
};

// The row above the charts: run, layer, snapshot step, which weight, flip highlighting.
QHBoxLayout *LayerInspector::buildControls()
{
    m_run = new QComboBox(this);
    m_layer = new QComboBox(this);
    m_which = new QComboBox(this);
    m_which->addItem(tr("forward weight W̃"));
    m_which->addItem(tr("dense weight W"));
    m_step = new QSlider(Qt::Horizontal, this);
    m_step->setMinimumWidth(200);
    m_step->setPageStep(1);
    m_stepLabel = new QLabel(this);
    m_stepLabel->setMinimumWidth(90);
    m_highlight = new QCheckBox(tr("highlight flips since the previous snapshot"), this);
    m_highlight->setChecked(true);
    auto *controls = new QHBoxLayout;
    controls->addWidget(new QLabel(tr("Run"), this));
    controls->addWidget(m_run);
    controls->addWidget(new QLabel(tr("Layer"), this));
    controls->addWidget(m_layer);
    controls->addWidget(new QLabel(tr("Snapshot"), this));
    controls->addWidget(m_step, 1);
    controls->addWidget(m_stepLabel);
    controls->addWidget(m_which);
    controls->addWidget(m_highlight);
    return controls;
}

LayerInspector::LayerInspector(RunStore *store, QWidget *parent) : QWidget(parent), m_store(store)
{
    QHBoxLayout *controls = buildControls();

    m_weights = new ImageChart(store, tr("Weights"), this);
    m_mask = new ImageChart(store, tr("Mask"), this);
    m_bars = new FlipBarChart(store);
    m_bars->setParent(this);
    m_flipCounts[0] = new ImageChart(store, tr("Flip counts"), this);
    m_flipCounts[1] = new ImageChart(store, tr("Flip counts"), this);
    m_histogram = new FlipCountHistogram(store);
    m_histogram->setParent(this);
    m_stats = new QTextBrowser(this);
    m_stats->setOpenLinks(false);
    for (ChartPanel *c : charts())
        connect(c, &ChartPanel::exportRequested, this, &LayerInspector::exportRequested);

    // Rows: weights and mask; the flip counts of the selected run and the one beside it; flips
    // per layer and the flip-count histogram. The readout text runs down the right.
    auto *rows = new QSplitter(Qt::Vertical);
    for (const auto &[left, right] : {std::pair<QWidget *, QWidget *>{m_weights, m_mask},
                                      {m_flipCounts[0], m_flipCounts[1]},
                                      {m_bars, m_histogram}}) {
        auto *row = new QSplitter(Qt::Horizontal);
        row->addWidget(left);
        row->addWidget(right);
        row->setStretchFactor(0, 1);
        row->setStretchFactor(1, 1);
        rows->addWidget(row);
    }
    for (int i = 0; i < rows->count(); ++i)
        rows->setStretchFactor(i, 1);
    auto *split = new QSplitter(Qt::Horizontal, this);
    split->addWidget(rows);
    split->addWidget(m_stats);
    split->setStretchFactor(0, 1);
    split->setStretchFactor(1, 0);
    m_stats->setMinimumWidth(250);
    split->setSizes({900, 290});
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addLayout(controls);
    layout->addWidget(split, 1);

    connect(store, &RunStore::dataChanged, this, [this] {
        if (isVisible()) {
            syncChoices();
            if (viewKey() != m_shownKey) // most frames only add steps past the shown snapshot
                showSelectionInStages();
        } else {
            m_stale = true;
        }
    });
    auto changed = [this] {
        if (!m_syncing)
            showSelection();
    };
    connect(m_run, &QComboBox::currentIndexChanged, this, [this] {
        if (!m_syncing) {
            syncChoices();
            showSelection();
        }
    });
    connect(m_layer, &QComboBox::currentIndexChanged, this, changed);
    connect(m_which, &QComboBox::currentIndexChanged, this, changed);
    connect(m_step, &QSlider::valueChanged, this, changed);
    connect(m_highlight, &QCheckBox::toggled, this, changed);
}

QList<ChartPanel *> LayerInspector::charts() const
{
    return {m_weights, m_mask, m_flipCounts[0], m_flipCounts[1], m_histogram, m_bars};
}

FlipHistogramData LayerInspector::flipHistogram() const
{
    return m_histogram->data();
}

void LayerInspector::refresh()
{
    syncChoices();
    showSelection();
}

int LayerInspector::runId() const
{
    return m_run->currentData().toInt();
}

int LayerInspector::layer() const
{
    return std::max(0, m_layer->currentIndex());
}

long LayerInspector::step() const
{
    const int i = m_step->value();
    return i >= 0 && static_cast<size_t>(i) < m_steps.size() ? m_steps[static_cast<size_t>(i)] : -1;
}

void LayerInspector::select(int runId, int layer, long step)
{
    syncChoices();
    m_syncing = true;
    if (const int i = m_run->findData(runId); i >= 0)
        m_run->setCurrentIndex(i);
    m_syncing = false;
    syncChoices();
    m_syncing = true;
    m_layer->setCurrentIndex(std::clamp(layer, 0, std::max(0, m_layer->count() - 1)));
    const auto it = std::lower_bound(m_steps.begin(), m_steps.end(), step);
    if (!m_steps.empty())
        m_step->setValue(static_cast<int>(std::min<long>(it - m_steps.begin(), static_cast<long>(m_steps.size()) - 1)));
    m_syncing = false;
    showSelection();
}

void LayerInspector::syncChoices()
{
    m_syncing = true;
    const int current = m_run->currentData().toInt();
    QList<int> ids;
    for (int id : m_store->runIds())
        if (!m_store->run(id)->snapshots.empty())
            ids << id;
    if (m_run->count() != ids.size() ||
        (m_run->count() > 0 && m_run->itemData(m_run->count() - 1).toInt() != ids.last())) {
        m_run->clear();
        for (int id : ids)
            m_run->addItem(m_store->run(id)->meta.name, id);
        const int i = m_run->findData(current);
        m_run->setCurrentIndex(i >= 0 ? i : 0);
    }
    const Run *r = m_store->run(m_run->currentData().toInt());
    QStringList layers;
    if (r)
        for (const auto &n : r->meta.sparseLayers)
            layers << QString::fromStdString(n);
    QStringList have;
    for (int i = 0; i < m_layer->count(); ++i)
        have << m_layer->itemText(i);
    if (have != layers) {
        const int l = m_layer->currentIndex();
        m_layer->clear();
        m_layer->addItems(layers);
        m_layer->setCurrentIndex(std::clamp(l, 0, std::max(0, static_cast<int>(layers.size()) - 1)));
    }
    std::vector<long> steps;
    if (r)
        for (const auto &[s, snap] : r->snapshots)
            steps.push_back(s);
    if (steps != m_steps) {
        const bool atEnd = m_steps.empty() || m_step->value() == static_cast<int>(m_steps.size()) - 1;
        m_steps = steps;
        m_step->setRange(0, std::max(0, static_cast<int>(steps.size()) - 1));
        if (atEnd) // follow the newest snapshot unless the user picked an older one
            m_step->setValue(m_step->maximum());
    }
    m_syncing = false;
}

std::vector<quint64> LayerInspector::viewKey() const
{
    const long s = step();
    std::vector<quint64> key{static_cast<quint64>(runId()), static_cast<quint64>(layer()), static_cast<quint64>(s),
                             static_cast<quint64>(m_which->currentIndex()), m_highlight->isChecked() ? 1u : 0u};
    QList<int> ids = m_store->visibleRunIds();
    ids.prepend(runId());
    for (int id : ids) {
        const Run *r = m_store->run(id);
        if (!r)
            continue;
        const auto snap = s >= 0 ? snapshotAtOrBefore(*r, s) : nullptr;
        const long lastStep = r->train.step.empty() ? -1 : static_cast<long>(r->train.step.back());
        key.insert(key.end(), {static_cast<quint64>(id), reinterpret_cast<quintptr>(snap.get()),
                               static_cast<quint64>(r->snapshots.size()), static_cast<quint64>(std::min(lastStep, s)),
                               static_cast<quint64>(r->meta.color.rgba()), static_cast<quint64>(qHash(r->meta.name))});
    }
    return key;
}

void LayerInspector::showSelection()
{
    m_stale = false;
    m_shownKey = viewKey();
    ++m_generation;
    for (int stage = 0; stage < kStages; ++stage)
        drawStage(stage);
}

void LayerInspector::showSelectionInStages()
{
    m_stale = false;
    m_shownKey = viewKey();
    queueStage(++m_generation, 0);
}

void LayerInspector::queueStage(int generation, int stage)
{
    QTimer::singleShot(0, this, [this, generation, stage] {
        if (generation != m_generation)
            return;
        drawStage(stage);
        if (stage + 1 < kStages)
            queueStage(generation, stage + 1);
    });
}

void LayerInspector::drawStage(int stage)
{
    if (stage == 0) {
        // The snapshot to show, the layer bars and the flip counts of every run shown.
        const Run *r = m_store->run(runId());
        const long s = step();
        m_stepLabel->setText(s >= 0 ? tr("step %1").arg(s) : tr("no snapshot"));
        m_snap.reset();
        m_prev.reset();
        const int l = layer();
        if (r && s >= 0) {
            auto it = r->snapshots.find(s);
            if (it != r->snapshots.end() && l < static_cast<int>(it->second->layers.size())) {
                m_snap = it->second;
                if (it != r->snapshots.begin())
                    m_prev = std::prev(it)->second;
            }
        }
        m_layerIndex = l;
        QStringList layers;
        if (r)
            for (const auto &n : r->meta.sparseLayers)
                layers << QString::fromStdString(n);
        m_bars->display(layers, s >= 0 ? static_cast<double>(s) : 0.0);
        drawFlipCounts(s);
        return;
    }
    // The images of the snapshot stage 0 chose.
    if (!m_snap) {
        if (stage == 1) {
            m_weights->setImage(QImage(), QString(), QString());
            m_mask->setImage(QImage(), QString(), QString());
            writeStats(nullptr, nullptr);
        }
        return;
    }
    const nm::LayerSnapshot &cur = m_snap->layers[static_cast<size_t>(m_layerIndex)];
    const nm::LayerSnapshot *prev = m_prev && m_layerIndex < static_cast<int>(m_prev->layers.size())
                                        ? &m_prev->layers[static_cast<size_t>(m_layerIndex)]
                                        : nullptr;
    if (stage == 1) {
        drawWeights(cur);
    } else {
        drawMask(cur, prev, m_prev ? m_prev->step : -1);
        writeStats(&cur, prev);
    }
}

void LayerInspector::drawWeights(const nm::LayerSnapshot &s)
{
    const bool forward = m_which->currentIndex() == 0;
    const std::vector<float> &w = forward ? s.forward : s.weight;
    // Colour limit: the 99th percentile of |w|, so a few large weights do not wash out the rest.
    std::vector<float> mags;
    mags.reserve(w.size());
    for (float v : w)
        if (std::isfinite(v))
            mags.push_back(std::abs(v));
    float limit = 1e-6f;
    if (!mags.empty()) {
        const size_t k = std::min(mags.size() - 1, static_cast<size_t>(0.99 * static_cast<double>(mags.size())));
        std::nth_element(mags.begin(), mags.begin() + static_cast<long>(k), mags.end());
        limit = std::max(limit, mags[k]);
    }
    QImage img(s.cols, s.rows, QImage::Format_RGB32);
    const auto &table = divergingTable();
    for (int r = 0; r < s.rows; ++r) {
        auto *line = reinterpret_cast<QRgb *>(img.scanLine(r));
        for (int c = 0; c < s.cols; ++c) {
            const float v = w[static_cast<size_t>(r) * static_cast<size_t>(s.cols) + static_cast<size_t>(c)];
            const double t = std::clamp(0.5 + 0.5 * static_cast<double>(v) / static_cast<double>(limit), 0.0, 1.0);
            line[c] = table[static_cast<size_t>(std::lround(t * 255.0))];
        }
    }
    m_weights->setChartTitle(
        tr("%1 of %2 at step %3").arg(forward ? tr("W̃") : tr("W"), QString::fromStdString(s.name)).arg(m_snap->step));
    m_weights->setImage(img, tr("input"), tr("output"));
    m_weights->setColorBar(divergingStops(), -limit, limit, forward ? tr("W̃") : tr("W"));
    auto snap = m_snap;
    const int li = m_layerIndex;
    m_weights->setReadoutFunction([snap, li](int c, int r) {
        const auto &ls = snap->layers[static_cast<size_t>(li)];
        const size_t i = static_cast<size_t>(r) * static_cast<size_t>(ls.cols) + static_cast<size_t>(c);
        return QStringLiteral("<b>out %1, in %2</b><br>W %3<br>W̃ %4<br>mask %5")
            .arg(r)
            .arg(c)
            .arg(ls.weight[i], 0, 'g', 4)
            .arg(ls.forward[i], 0, 'g', 4)
            .arg(ls.mask[i] ? QStringLiteral("kept") : QStringLiteral("pruned"));
    });
    m_weights->setTableFunction([snap, li, forward](bool) {
        DataTable t;
        const auto &ls = snap->layers[static_cast<size_t>(li)];
        t.header << QStringLiteral("out") << QStringLiteral("in") << QStringLiteral("W") << QStringLiteral("W_forward")
                 << QStringLiteral("mask");
        Q_UNUSED(forward);
        for (int r = 0; r < ls.rows; ++r)
            for (int c = 0; c < ls.cols; ++c) {
                const size_t i = static_cast<size_t>(r) * static_cast<size_t>(ls.cols) + static_cast<size_t>(c);
                t.rows.append({QString::number(r), QString::number(c), QString::number(ls.weight[i], 'g', 8),
                               QString::number(ls.forward[i], 'g', 8), QString::number(ls.mask[i])});
            }
        return t;
    });
}

void LayerInspector::drawMask(const nm::LayerSnapshot &s, const nm::LayerSnapshot *prev, long prevStep)
{
    const bool highlight = m_highlight->isChecked() && prev && prev->mask.size() == s.mask.size();
    QImage img(s.cols, s.rows, QImage::Format_RGB32);
    m_flipped = 0;
    for (int r = 0; r < s.rows; ++r) {
        auto *line = reinterpret_cast<QRgb *>(img.scanLine(r));
        for (int c = 0; c < s.cols; ++c) {
            const size_t i = static_cast<size_t>(r) * static_cast<size_t>(s.cols) + static_cast<size_t>(c);
            const bool kept = s.mask[i] != 0;
            const bool flipped = prev && prev->mask.size() == s.mask.size() && (prev->mask[i] != 0) != kept;
            m_flipped += flipped ? 1 : 0;
            QColor color = kept ? kKept : kPruned;
            if (highlight && flipped)
                color = kept ? kBecameKept : kBecamePruned;
            line[c] = color.rgb();
        }
    }
    m_mask->setChartTitle(
        tr("Mask of %1 at step %2 (%3:%4)").arg(QString::fromStdString(s.name)).arg(m_snap->step).arg(s.n).arg(s.m));
    // Shrunk to the screen, a block with a flipped bit shows the flip colour, so sparse
    // flips stay visible in the overview.
    m_mask->setPriorityColors({kBecameKept.rgb(), kBecamePruned.rgb()});
    m_mask->setImage(img, tr("input"), tr("output"));
    m_mask->hideColorBar();
    QList<std::pair<QColor, QString>> legend{{kKept, tr("kept")}, {kPruned, tr("pruned")}};
    if (highlight) {
        legend.append({kBecameKept, tr("kept, pruned at step %1").arg(prevStep)});
        legend.append({kBecamePruned, tr("pruned, kept at step %1").arg(prevStep)});
    }
    m_mask->setLegendEntries(legend);
    auto snap = m_snap, before = m_prev;
    const int li = m_layerIndex;
    m_mask->setReadoutFunction([snap, before, li](int c, int r) {
        const auto &ls = snap->layers[static_cast<size_t>(li)];
        const size_t i = static_cast<size_t>(r) * static_cast<size_t>(ls.cols) + static_cast<size_t>(c);
        QString text = QStringLiteral("<b>out %1, in %2</b> (group %3)<br>%4")
                           .arg(r)
                           .arg(c)
                           .arg(ls.m > 0 ? c / ls.m : 0)
                           .arg(ls.mask[i] ? QStringLiteral("kept") : QStringLiteral("pruned"));
        if (before && li < static_cast<int>(before->layers.size()) &&
            before->layers[static_cast<size_t>(li)].mask.size() == ls.mask.size() &&
            before->layers[static_cast<size_t>(li)].mask[i] != ls.mask[i])
            text += QStringLiteral("<br>flipped since step %1").arg(before->step);
        return text;
    });
}

namespace {
// A run shown by the flip-count images and histogram, with its snapshot of the layer.
struct ShownRun {
    int id = -1;
    const Run *run = nullptr;
    std::shared_ptr<const nm::Snapshot> snap;
    const nm::LayerSnapshot *layer = nullptr; // null: no snapshot of the layer at or before the step
};

// The runs shown: the selected one, then the visible others that have the layer `name`.
QList<ShownRun> runsWithLayer(const RunStore &store, int selected, const std::string &name, long step)
{
    QList<ShownRun> shown;
    auto add = [&](int id) {
        const Run *run = store.run(id);
        if (!run || std::find(run->meta.sparseLayers.begin(), run->meta.sparseLayers.end(), name) ==
                        run->meta.sparseLayers.end())
            return;
        ShownRun x;
        x.id = id;
        x.run = run;
        x.snap = step >= 0 ? snapshotAtOrBefore(*run, step) : nullptr;
        x.layer = layerNamed(x.snap.get(), name);
        shown << x;
    };
    if (store.run(selected) && !name.empty()) {
        add(selected);
        for (int id : store.visibleRunIds())
            if (id != selected && !store.run(id)->snapshots.empty())
                add(id);
    }
    return shown;
}

// The top of the flip-count colour scale of the first two runs' counts (`byValue[i][v]`: how
// many weights of run i flipped v times): the 99.5th percentile, at least 2, so a few weights
// that flip very often do not wash out the rest. Counted by value, without sorting a layer.
int flipColourLimit(const std::vector<std::vector<long>> &byValue)
{
    std::vector<long> both;
    for (size_t i = 0; i < std::min<size_t>(2, byValue.size()); ++i) {
        both.resize(std::max(both.size(), byValue[i].size()), 0);
        for (size_t v = 0; v < byValue[i].size(); ++v)
            both[v] += byValue[i][v];
    }
    long total = 0;
    for (long c : both)
        total += c;
    if (total == 0)
        return 2;
    // The value at sorted position k, as nth_element would pick it.
    const auto k = std::min(total - 1, static_cast<long>(0.995 * static_cast<double>(total)));
    long seen = 0;
    size_t v = 0;
    while (v < both.size() && seen + both[v] <= k)
        seen += both[v++];
    return std::max<int>(2, static_cast<int>(v));
}

// One run's flip counts as an image: white for 0, viridis from 1 to `limit` (counts above it
// take the top colour; the readout gives them).
void showFlipImage(ImageChart *chart, const ShownRun &x, const std::string &name, long step, int limit, int ticks)
{
    const QString runName = x.run->meta.name;
    if (!x.layer || x.layer->flipCount.size() != x.layer->mask.size()) {
        chart->setChartTitle(x.layer ? LayerInspector::tr("%1: no flip counts in its file").arg(runName)
                                     : LayerInspector::tr("%1: no snapshot of %2 by step %3")
                                           .arg(runName, QString::fromStdString(name))
                                           .arg(step));
        chart->setImage(QImage(), QString(), QString());
        chart->hideColorBar();
        chart->setReadoutFunction(nullptr);
        chart->setTableFunction(nullptr);
        return;
    }
    const nm::LayerSnapshot &l = *x.layer;
    const auto &table = viridisTable();
    std::vector<QRgb> colour(static_cast<size_t>(limit) + 1);
    colour[0] = kNeverFlipped.rgb();
    for (int v = 1; v <= limit; ++v)
        colour[static_cast<size_t>(v)] =
            table[static_cast<size_t>(std::lround(static_cast<double>(v - 1) / (limit - 1) * 255.0))];
    QImage img(l.cols, l.rows, QImage::Format_RGB32);
    for (int row = 0; row < l.rows; ++row) {
        auto *line = reinterpret_cast<QRgb *>(img.scanLine(row));
        const uint16_t *counts = l.flipCount.data() + static_cast<size_t>(row) * static_cast<size_t>(l.cols);
        for (int c = 0; c < l.cols; ++c)
            line[c] = colour[std::min<size_t>(counts[c], static_cast<size_t>(limit))];
    }
    chart->setChartTitle(LayerInspector::tr("Flip counts of %1, %2, steps 1–%3 (white: 0)")
                             .arg(QString::fromStdString(name), runName)
                             .arg(x.snap->step));
    chart->setToolTip(LayerInspector::tr("How often each weight's mask bit changed since step 0 (rows: outputs, "
                                         "columns: inputs; M consecutive columns form a group)"));
    chart->setImage(img, LayerInspector::tr("input"), LayerInspector::tr("output"));
    chart->setColorBar(viridisStops(), 1, limit, LayerInspector::tr("flips"), ticks);
    chart->setLegendEntries({});
    auto snap = x.snap;
    const nm::LayerSnapshot *lp = x.layer;
    chart->setReadoutFunction([snap, lp](int c, int row) {
        const size_t k = static_cast<size_t>(row) * static_cast<size_t>(lp->cols) + static_cast<size_t>(c);
        return QStringLiteral("<b>out %1, in %2</b> (group %3)<br>mask bit changed %4× in steps 1–%5<br>now %6")
            .arg(row)
            .arg(c)
            .arg(lp->m > 0 ? c / lp->m : 0)
            .arg(lp->flipCount[k])
            .arg(snap->step)
            .arg(lp->mask[k] ? QStringLiteral("kept") : QStringLiteral("pruned"));
    });
    chart->setTableFunction([snap, lp](bool) {
        DataTable t;
        t.header << QStringLiteral("out") << QStringLiteral("in") << QStringLiteral("flip_count");
        for (int row = 0; row < lp->rows; ++row)
            for (int c = 0; c < lp->cols; ++c)
                t.rows.append({QString::number(row), QString::number(c),
                               QString::number(lp->flipCount[static_cast<size_t>(row) * static_cast<size_t>(lp->cols) +
                                                             static_cast<size_t>(c)])});
        return t;
    });
}

// The histogram of weights by flip count (0, 1, 2, …), one bar per shown run that has counts.
FlipHistogramData flipBars(const QList<ShownRun> &shown, const std::vector<std::vector<long>> &byValue)
{
    FlipHistogramData bars;
    std::vector<std::vector<long>> hist;
    size_t bins = 3;
    for (qsizetype i = 0; i < shown.size(); ++i) {
        const ShownRun &x = shown[i];
        if (x.layer && x.layer->flipCount.size() == x.layer->mask.size() && !x.layer->flipCount.empty()) {
            bars.runIds << x.id;
            hist.push_back(flipCountHistogram(byValue[static_cast<size_t>(i)]));
            bins = std::max(bins, hist.back().size());
        }
    }
    for (size_t b = 0; b < bins; ++b)
        bars.bins << flipCountBinLabel(static_cast<int>(b));
    for (auto &h : hist) {
        h.resize(bins, 0);
        QList<double> row;
        for (long v : h)
            row << static_cast<double>(v);
        bars.weights << row;
    }
    return bars;
}
} // namespace

void LayerInspector::drawFlipCounts(long step)
{
    const Run *r = m_store->run(runId());
    const std::string name = r && m_layerIndex < static_cast<int>(r->meta.sparseLayers.size())
                                 ? r->meta.sparseLayers[static_cast<size_t>(m_layerIndex)]
                                 : std::string();
    const QList<ShownRun> shown = runsWithLayer(*m_store, runId(), name, step);
    m_compareId = shown.size() > 1 ? shown[1].id : -1;
    m_flipCounts[1]->setVisible(m_compareId >= 0);

    // One colour scale for both images. Flip counts are small integers: counted by value, they
    // give the percentile and the histogram bins without sorting or copying a layer's counts.
    std::vector<std::vector<long>> byValue(static_cast<size_t>(shown.size()));
    for (qsizetype i = 0; i < shown.size(); ++i)
        if (shown[i].layer)
            byValue[static_cast<size_t>(i)] = countByValue(shown[i].layer->flipCount);
    int limit = flipColourLimit(byValue);
    // At most 5 whole-number ticks on the colour bar: 1…limit one by one, or in quarters of a
    // span rounded up to a multiple of 4.
    if (limit > 5)
        limit = (limit - 1 + 3) / 4 * 4 + 1;
    const int ticks = limit <= 5 ? limit : 5;
    for (int i = 0; i < 2; ++i) {
        if (i < shown.size()) {
            showFlipImage(m_flipCounts[i], shown[i], name, step, limit, ticks);
            continue;
        }
        m_flipCounts[i]->setChartTitle(tr("Flip counts"));
        m_flipCounts[i]->setImage(QImage(), QString(), QString());
        m_flipCounts[i]->setReadoutFunction(nullptr);
        m_flipCounts[i]->setTableFunction(nullptr);
    }

    const FlipHistogramData bars = flipBars(shown, byValue);
    m_histogram->display(
        bars,
        name.empty() ? tr("Flip counts per weight")
        : bars.runIds.isEmpty()
            ? tr("No flip counts of %1 in these runs' files").arg(QString::fromStdString(name))
            : tr("Weights of %1 by flip count, steps 1–%2").arg(QString::fromStdString(name)).arg(std::max(0L, step)));
}

namespace {
// Every Linear layer of a run as an HTML table: shape, N:M, parameters, GEMM paths.
QString layerTableHtml(const RunMeta &meta)
{
    QString html = QStringLiteral("<table cellspacing=0 cellpadding=2><tr><th align=left>%1</th><th>%2</th><th>%3</th>"
                                  "<th align=right>%4</th><th align=right>%5</th><th align=left>%6</th></tr>")
                       .arg(LayerInspector::tr("layer"), LayerInspector::tr("shape"), LayerInspector::tr("N:M"),
                            LayerInspector::tr("dense"), LayerInspector::tr("effective"), LayerInspector::tr("GEMMs"));
    for (const auto &l : meta.layers) {
        // Which products of the layer's N:M steps run on the compressed W̃ (--sparse-gemm),
        // without the speedups (the selected layer's paragraph has them).
        std::string gemm = nm::spgemm::describe(l.gemm, l.n, l.m);
        gemm = gemm.substr(0, gemm.find(" ("));
        html += QStringLiteral("<tr><td>%1</td><td>%2×%3</td><td align=center>%4</td><td align=right>%L5</td>"
                               "<td align=right>%L6</td><td>%7</td></tr>")
                    .arg(QString::fromStdString(l.name))
                    .arg(l.out)
                    .arg(l.in)
                    .arg(l.sparse ? QStringLiteral("%1:%2").arg(l.n).arg(l.m) : LayerInspector::tr("dense"))
                    .arg(l.denseParams)
                    .arg(l.effectiveParams)
                    .arg(gemm.empty() ? LayerInspector::tr("dense") : QString::fromStdString(gemm).toHtmlEscaped());
    }
    return html + QStringLiteral("</table>");
}
} // namespace

void LayerInspector::writeStats(const nm::LayerSnapshot *s, const nm::LayerSnapshot *prev)
{
    const Run *r = m_store->run(runId());
    if (!r) {
        m_stats->setHtml(tr("<p>No snapshots yet. Snapshots are taken at step 0, every <i>snapshot_every</i> steps "
                            "and at the end of a run.</p>"));
        return;
    }
    QString html = QStringLiteral("<h3>%1</h3>").arg(r->meta.name.toHtmlEscaped());
    html += tr("<p>%1<br>parameters: %L2 dense, %L3 effective at the target N:M (%4 %)</p>")
                .arg(r->meta.modelDescription.toHtmlEscaped())
                .arg(r->meta.parameterCount)
                .arg(r->meta.effectiveParameterCount)
                .arg(r->meta.parameterCount > 0 ? 100.0 * static_cast<double>(r->meta.effectiveParameterCount) /
                                                      static_cast<double>(r->meta.parameterCount)
                                                : 0.0,
                     0, 'f', 1);
    if (s) {
        long zeros = 0, kept = 0;
        for (size_t i = 0; i < s->forward.size(); ++i) {
            zeros += s->forward[i] == 0.0f ? 1 : 0;
            kept += s->mask[i] ? 1 : 0;
        }
        const double n = static_cast<double>(std::max<size_t>(1, s->forward.size()));
        html += tr("<p><b>%1</b> [%2 × %3] at step %4<br>mask %5:%6, kept %7 %<br>zeros in W̃ (sparsity) %8 %<br>"
                   "α %9, β %10</p>")
                    .arg(QString::fromStdString(s->name))
                    .arg(s->rows)
                    .arg(s->cols)
                    .arg(m_snap->step)
                    .arg(s->n)
                    .arg(s->m)
                    .arg(100.0 * static_cast<double>(kept) / n, 0, 'f', 1)
                    .arg(100.0 * static_cast<double>(zeros) / n, 0, 'f', 1)
                    .arg(s->alpha, 0, 'g', 3)
                    .arg(s->beta, 0, 'g', 4);
        // The GEMM paths of this layer at the snapshot's N:M (an SDGF frame has its own).
        for (const auto &l : r->meta.layers)
            if (l.name == s->name && l.sparse) {
                const std::string gemm = nm::spgemm::describe(l.gemm, s->n, s->m);
                html += tr("<p>GEMMs at %1:%2: %3</p>")
                            .arg(s->n)
                            .arg(s->m)
                            .arg(gemm.empty() ? tr("dense") : QString::fromStdString(gemm).toHtmlEscaped());
            }
        if (s->flipCount.size() == s->mask.size() && !s->flipCount.empty()) {
            double sum = 0;
            long never = 0;
            int most = 0;
            for (uint16_t c : s->flipCount) {
                sum += c;
                never += c == 0 ? 1 : 0;
                most = std::max<int>(most, c);
            }
            html += tr("<p>flip counts, steps 1–%1: %2 per weight on average, at most %L3; never flipped %4 %</p>")
                        .arg(m_snap->step)
                        .arg(sum / n, 0, 'g', 3)
                        .arg(most)
                        .arg(100.0 * static_cast<double>(never) / n, 0, 'f', 1);
        }
        if (prev)
            html += tr("<p>mask bits changed since step %1: %L2 (%3 % of the layer)</p>")
                        .arg(m_prev->step)
                        .arg(m_flipped)
                        .arg(100.0 * static_cast<double>(m_flipped) / n, 0, 'f', 2);
    }
    m_stats->setHtml(html + layerTableHtml(r->meta));
}

void LayerInspector::showEvent(QShowEvent *e)
{
    QWidget::showEvent(e);
    if (m_stale) {
        syncChoices();
        if (viewKey() != m_shownKey)
            showSelectionInStages(); // the page paints first, with what it showed before
        m_stale = false;
    }
}

} // namespace nmui
