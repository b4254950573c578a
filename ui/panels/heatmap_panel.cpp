#include "panels/heatmap_panel.h"

#include "plot/flip_heatmap.h"
#include "plot/metric_chart.h"
#include "training/run_store.h"

#include <QCheckBox>
#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QScrollArea>
#include <QSplitter>
#include <QVBoxLayout>

#include <cmath>

namespace nmui {

HeatmapPanel::HeatmapPanel(RunStore *store, ChartSettings *settings, QWidget *parent) : QWidget(parent), m_store(store)
{
    auto *controls = new QHBoxLayout;
    controls->addWidget(new QLabel(tr("Colour scale:"), this));
    m_scale = new QComboBox(this);
    m_scale->addItems({tr("linear"), tr("log")});
    m_scale->setCurrentIndex(1); // flip rates are heavy-tailed: a log scale shows every layer
    controls->addWidget(m_scale);
    m_shared = new QCheckBox(tr("one scale for all runs"), this);
    m_shared->setChecked(true);
    m_shared->setToolTip(tr("Side-by-side heatmaps use the same colour limits, so equal colours mean equal rates"));
    controls->addWidget(m_shared);
    controls->addSpacing(16);
    m_diffBox = new QCheckBox(tr("difference"), this);
    m_runA = new QComboBox(this);
    m_runB = new QComboBox(this);
    controls->addWidget(m_diffBox);
    controls->addWidget(m_runA);
    controls->addWidget(new QLabel(QStringLiteral("−"), this));
    controls->addWidget(m_runB);
    controls->addStretch(1);

    auto *mapsHost = new QWidget;
    m_mapsLayout = new QVBoxLayout(mapsHost);
    m_mapsLayout->setContentsMargins(0, 0, 0, 0);
    m_diff = makeMap();
    m_diff->setVisible(false);
    m_mapsLayout->addWidget(m_diff);
    m_mapsLayout->addStretch(1);
    auto *scroll = new QScrollArea(this);
    scroll->setWidgetResizable(true);
    scroll->setWidget(mapsHost);
    scroll->setFrameShape(QFrame::NoFrame);

    m_line = new MetricChart(store, settings, tr("Flip rate per step"), tr("flip rate"),
                             {columnCurve(TableKind::Train, "flip_rate/{layer}")}, this);
    m_line->addLayerPicker();
    m_line->addLogToggle();
    connect(m_line, &ChartPanel::exportRequested, this, &HeatmapPanel::exportRequested);

    auto *split = new QSplitter(Qt::Vertical, this);
    split->addWidget(scroll);
    split->addWidget(m_line);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 1);
    split->setSizes({720, 220});
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addLayout(controls);
    layout->addWidget(split, 1);

    connect(store, &RunStore::dataChanged, this, [this] {
        if (isVisible())
            refresh();
        else
            m_stale = true;
    });
    connect(m_scale, &QComboBox::currentIndexChanged, this, [this](int i) { setLogScale(i == 1); });
    connect(m_shared, &QCheckBox::toggled, this, &HeatmapPanel::setSharedScale);
    auto diffChanged = [this] {
        setDifference(m_diffBox->isChecked(), m_runA->currentData().toInt(), m_runB->currentData().toInt());
    };
    connect(m_diffBox, &QCheckBox::toggled, this, diffChanged);
    connect(m_runA, &QComboBox::currentIndexChanged, this, diffChanged);
    connect(m_runB, &QComboBox::currentIndexChanged, this, diffChanged);
}

FlipHeatmap *HeatmapPanel::makeMap()
{
    auto *map = new FlipHeatmap(m_store);
    map->setAutoRefresh(false);
    map->setLogScale(m_scale->currentIndex() == 1);
    connect(map, &ChartPanel::exportRequested, this, &HeatmapPanel::exportRequested);
    connect(map, &FlipHeatmap::layerClicked, this, [this](int layer) { m_line->setLayer(layer); });
    connect(map->view(), &PlotView::zoomChanged, this, [this, map] { linkZoom(map, false); });
    connect(map->view(), &PlotView::zoomWasReset, this, [this, map] { linkZoom(map, true); });
    return map;
}

QList<ChartPanel *> HeatmapPanel::charts() const
{
    QList<ChartPanel *> list;
    for (const auto &[id, map] : m_maps)
        list << map;
    if (m_diff->isVisible() || m_diffBox->isChecked())
        list << m_diff;
    list << m_line;
    return list;
}

FlipHeatmap *HeatmapPanel::heatmapFor(int runId) const
{
    auto it = m_maps.find(runId);
    return it == m_maps.end() ? nullptr : it->second;
}

void HeatmapPanel::setLogScale(bool on)
{
    if (m_scale->currentIndex() != (on ? 1 : 0))
        m_scale->setCurrentIndex(on ? 1 : 0);
    for (auto &[id, map] : m_maps)
        map->setLogScale(on);
    refresh();
}

void HeatmapPanel::setSharedScale(bool on)
{
    if (m_shared->isChecked() != on)
        m_shared->setChecked(on);
    refresh();
}

void HeatmapPanel::setDifference(bool on, int a, int b)
{
    const QSignalBlocker blockA(m_runA), blockB(m_runB), blockBox(m_diffBox);
    m_diffBox->setChecked(on);
    if (a >= 0 && m_runA->findData(a) >= 0)
        m_runA->setCurrentIndex(m_runA->findData(a));
    if (b >= 0 && m_runB->findData(b) >= 0)
        m_runB->setCurrentIndex(m_runB->findData(b));
    const int ra = m_runA->currentData().toInt(), rb = m_runB->currentData().toInt();
    const bool show = on && ra > 0 && rb > 0 && ra != rb;
    if (show)
        m_diff->setDifference(ra, rb);
    m_diff->setVisible(show);
    refresh();
}

void HeatmapPanel::syncRunChoices()
{
    for (QComboBox *box : {m_runA, m_runB}) {
        const int current = box->currentData().toInt();
        const QSignalBlocker block(box);
        box->clear();
        for (int id : m_store->runIds())
            box->addItem(m_store->run(id)->meta.name, id);
        const int i = box->findData(current);
        box->setCurrentIndex(i >= 0 ? i : (box == m_runB && box->count() > 1 ? 1 : 0));
    }
}

void HeatmapPanel::syncMaps()
{
    const QList<int> visible = m_store->visibleRunIds();
    for (auto it = m_maps.begin(); it != m_maps.end();) {
        if (visible.contains(it->first)) {
            ++it;
            continue;
        }
        delete it->second;
        it = m_maps.erase(it);
    }
    int index = 0;
    for (int id : visible) {
        FlipHeatmap *&map = m_maps[id];
        if (!map) {
            map = makeMap();
            map->setRun(id);
        }
        const Run *r = m_store->run(id);
        map->setMinimumHeight(112 + 22 * std::max(1, r->sparseLayerCount()));
        m_mapsLayout->insertWidget(index++, map);
    }
}

void HeatmapPanel::linkZoom(FlipHeatmap *source, bool reset)
{
    if (m_linking)
        return;
    m_linking = true;
    const QPointF r = source->view()->xRange();
    QList<FlipHeatmap *> all{m_diff};
    for (auto &[id, map] : m_maps)
        all << map;
    for (FlipHeatmap *map : all)
        if (map != source) {
            if (reset)
                map->view()->resetZoom();
            else
                map->view()->zoomToX(r.x(), r.y());
        }
    m_linking = false;
    refresh();
}

void HeatmapPanel::refresh()
{
    m_stale = false;
    syncRunChoices();
    syncMaps();
    double extent = 0;
    for (int id : m_store->visibleRunIds())
        extent = std::max(extent, static_cast<double>(m_store->run(id)->meta.step));
    double lo = NAN, hi = NAN;
    for (auto &[id, map] : m_maps) {
        map->setStepExtent(extent);
        map->computeBins();
        const auto [mlo, mhi] = map->dataRange();
        if (!(mlo >= lo))
            lo = std::isfinite(mlo) ? mlo : lo;
        if (!(mhi <= hi))
            hi = std::isfinite(mhi) ? mhi : hi;
    }
    for (auto &[id, map] : m_maps) {
        if (m_shared->isChecked())
            map->setColorRange(lo, hi);
        else
            map->setColorRange(NAN, NAN);
        map->render();
    }
    if (m_diff->isVisible()) {
        m_diff->setStepExtent(extent);
        m_diff->computeBins();
        m_diff->render();
    }
}

void HeatmapPanel::showEvent(QShowEvent *e)
{
    QWidget::showEvent(e);
    if (m_stale)
        refresh();
}

} // namespace nmui
