#include "panels/chart_pages.h"

#include "panels/heatmap_panel.h"
#include "panels/layer_inspector.h"
#include "plot/metric_chart.h"
#include "plot/scatter_chart.h"
#include "plot/step_values.h"
#include "plot/summary_chart.h"
#include "training/run_store.h"
#include "training/schedule_plan.h"

#include "nmcore/error.h"

#include <QGridLayout>
#include <QHeaderView>
#include <QSplitter>
#include <QTableWidget>

#include <set>

namespace nmui {

namespace {

using Derive = std::function<void(const Run &, int, std::vector<double> &, std::vector<float> &)>;

// A schedule computed ahead of time from the run's config (dashed).
CurveSpec planned(const QString &label, std::vector<float> PlannedSchedule::*member)
{
    CurveSpec s;
    s.label = label;
    s.style = Qt::DashLine;
    s.smoothable = false;
    s.legend = false; // the page says what dashed lines are
    s.derive = [member](const Run &r, int, std::vector<double> &steps, std::vector<float> &values) {
        try {
            PlannedSchedule p = planSchedule(r.meta.config);
            steps = std::move(p.step);
            values = std::move(p.*member);
        } catch (const nm::Error &) {
            steps.clear();
            values.clear();
        }
    };
    return s;
}

// N/M of the mask in use each step (1 in dense phases, where M is logged as 0).
CurveSpec loggedDensity()
{
    CurveSpec s;
    s.smoothable = false;
    s.derive = [](const Run &r, int layer, std::vector<double> &steps, std::vector<float> &values) {
        const auto *n = r.train.column(layerColumn("n", layer));
        const auto *m = r.train.column(layerColumn("m", layer));
        steps.clear();
        values.clear();
        if (!n || !m)
            return;
        steps = r.train.step;
        values.resize(steps.size());
        for (size_t i = 0; i < steps.size(); ++i)
            values[i] = (*m)[i] > 0 ? (*n)[i] / (*m)[i] : 1.0f;
    };
    return s;
}

QList<Marker> phaseMarkers(RunStore *store, const QList<int> &runs)
{
    QList<Marker> out;
    std::set<std::pair<long, QString>> seen;
    for (int id : runs) {
        const Run *r = store->run(id);
        try {
            for (const PhaseMark &m : planSchedule(r->meta.config, 2).marks)
                if (seen.insert({m.step, m.label}).second)
                    out.append({static_cast<double>(m.step), m.label, r->meta.color});
        } catch (const nm::Error &) {
        }
    }
    return out;
}

} // namespace

ChartPages::ChartPages(RunStore *store, ChartSettings *settings, QWidget *parent)
    : QTabWidget(parent), m_store(store), m_settings(settings)
{
    setDocumentMode(true);
    addTab(lossPage(), tr("Loss && accuracy"));
    m_heatmaps = new HeatmapPanel(store, settings, this);
    connect(m_heatmaps, &HeatmapPanel::exportRequested, this, &ChartPages::exportRequested);
    addTab(m_heatmaps, tr("Mask flips"));
    addTab(gradientPage(), tr("Gradient noise"));
    addTab(schedulePage(), tr("Schedules"));
    addTab(continuityPage(), tr("Continuity"));
    m_inspector = new LayerInspector(store, this);
    connect(m_inspector, &LayerInspector::exportRequested, this, &ChartPages::exportRequested);
    addTab(m_inspector, tr("Layer inspector"));
    addTab(summaryPage(), tr("Summary"));
}

QWidget *ChartPages::summaryPage()
{
    auto *split = new QSplitter(Qt::Vertical, this);
    m_summary = new SummaryChart(m_store, split);
    track(m_summary, 6);
    auto *groups = new QTableWidget(split);
    groups->setObjectName(QStringLiteral("summaryGroups"));
    groups->setEditTriggers(QAbstractItemView::NoEditTriggers);
    groups->verticalHeader()->hide();
    groups->setSortingEnabled(false);
    connect(m_summary, &SummaryChart::groupsChanged, groups, [this, groups] {
        const DataTable t = m_summary->table(false);
        groups->setColumnCount(static_cast<int>(t.header.size()));
        groups->setHorizontalHeaderLabels(t.header);
        groups->setRowCount(static_cast<int>(t.rows.size()));
        for (qsizetype r = 0; r < t.rows.size(); ++r)
            for (qsizetype c = 0; c < t.rows[r].size(); ++c)
                groups->setItem(static_cast<int>(r), static_cast<int>(c), new QTableWidgetItem(t.rows[r][c]));
        groups->resizeColumnsToContents();
    });
    split->addWidget(m_summary);
    split->addWidget(groups);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 1);
    return split;
}

void ChartPages::track(ChartPanel *panel, int page)
{
    m_panels.append({panel, page});
    connect(panel, &ChartPanel::exportRequested, this, &ChartPages::exportRequested);
    if (auto *m = qobject_cast<MetricChart *>(panel)) {
        connect(m->view(), &PlotView::zoomChanged, this, [this, m] { linkZoom(m, false); });
        connect(m->view(), &PlotView::zoomWasReset, this, [this, m] { linkZoom(m, true); });
    }
}

void ChartPages::linkZoom(MetricChart *source, bool reset)
{
    if (m_linking || !m_settings->linkX())
        return;
    m_linking = true;
    int page = -1;
    for (const auto &[panel, p] : m_panels)
        if (panel == source)
            page = p;
    const QPointF r = source->view()->xRange();
    for (const auto &[panel, p] : m_panels) {
        auto *m = qobject_cast<MetricChart *>(panel);
        if (!m || m == source || p != page || m->mode() != source->mode())
            continue;
        if (reset)
            m->view()->resetZoom();
        else
            m->view()->zoomToX(r.x(), r.y());
        m->requestRefresh();
    }
    m_linking = false;
}

QWidget *ChartPages::lossPage()
{
    auto *page = new QWidget(this);
    auto *grid = new QGridLayout(page);
    grid->setContentsMargins(2, 2, 2, 2);
    auto make = [&](const QString &title, const QString &y, TableKind t, const char *col, bool train) {
        CurveSpec s = columnCurve(t, col, QString(), Qt::SolidLine, train);
        s.points = !train;
        auto *c = new MetricChart(m_store, m_settings, title, y, {s}, page);
        c->addLogToggle();
        track(c, 0);
        return c;
    };
    m_trainLoss = make(tr("Training loss"), tr("loss"), TableKind::Train, "loss", true);
    m_valLoss = make(tr("Validation loss"), tr("loss"), TableKind::Validation, "loss", false);
    m_trainAcc = make(tr("Training accuracy"), tr("accuracy"), TableKind::Train, "accuracy", true);
    m_valAcc = make(tr("Validation accuracy"), tr("accuracy"), TableKind::Validation, "accuracy", false);
    grid->addWidget(m_trainLoss, 0, 0);
    grid->addWidget(m_valLoss, 0, 1);
    grid->addWidget(m_trainAcc, 1, 0);
    grid->addWidget(m_valAcc, 1, 1);
    auto *split = new QSplitter(Qt::Vertical, this);
    split->addWidget(page);
    m_stepValues = new StepValuesTable(split);
    for (MetricChart *c : {m_trainLoss, m_valLoss, m_trainAcc, m_valAcc})
        m_stepValues->follow(c);
    split->addWidget(m_stepValues);
    split->setStretchFactor(0, 6);
    split->setStretchFactor(1, 1);
    split->setSizes({800, 110});
    return split;
}

QWidget *ChartPages::gradientPage()
{
    auto *split = new QSplitter(Qt::Vertical, this);
    m_noise = new MetricChart(m_store, m_settings, tr("Gradient noise (CV of ‖G‖ over the noise window)"),
                              tr("coefficient of variation"),
                              {columnCurve(TableKind::Train, "grad_noise_kept/{layer}", tr("kept")),
                               columnCurve(TableKind::Train, "grad_noise_pruned/{layer}", tr("pruned"), Qt::DashLine)},
                              split);
    m_noise->addLayerPicker();
    m_noise->addLogToggle();
    auto *norms =
        new MetricChart(m_store, m_settings, tr("Gradient norm, kept vs pruned weights"), tr("‖G‖"),
                        {columnCurve(TableKind::Train, "grad_norm_kept/{layer}", tr("kept")),
                         columnCurve(TableKind::Train, "grad_norm_pruned/{layer}", tr("pruned"), Qt::DashLine)},
                        split);
    norms->addLayerPicker();
    norms->addLogToggle();
    track(m_noise, 2);
    track(norms, 2);
    split->addWidget(m_noise);
    split->addWidget(norms);
    return split;
}

QWidget *ChartPages::schedulePage()
{
    auto *page = new QWidget(this);
    auto *grid = new QGridLayout(page);
    grid->setContentsMargins(2, 2, 2, 2);
    auto markers = [this](const QList<int> &runs) { return phaseMarkers(m_store, runs); };
    auto make = [&](const QString &title, const QString &y, QList<CurveSpec> specs, int row, int col) {
        auto *c = new MetricChart(m_store, m_settings, title, y, std::move(specs), page);
        c->setStepAxisOnly(true);
        c->setMarkers(markers);
        track(c, 3);
        grid->addWidget(c, row, col);
        return c;
    };
    m_alpha = make(tr("α: weight on pruned positions in W̃ (dashed: planned)"), tr("α"),
                   {columnCurve(TableKind::Train, "alpha/{layer}", QString(), Qt::SolidLine, false),
                    planned(tr("planned"), &PlannedSchedule::alpha)},
                   0, 0);
    m_alpha->addLayerPicker();
    m_alpha->setYRangeHint(0, 1);
    auto *density = make(tr("Mask density N/M (dashed: planned)"), tr("N / M"),
                         {loggedDensity(), planned(tr("planned"), &PlannedSchedule::density)}, 0, 1);
    density->addLayerPicker();
    density->setYRangeHint(0, 1);
    auto *lr = make(tr("Learning rate (dashed: planned)"), tr("learning rate"),
                    {columnCurve(TableKind::Train, "lr", QString(), Qt::SolidLine, false),
                     planned(tr("planned"), &PlannedSchedule::lr)},
                    1, 0);
    lr->addLogToggle();
    auto *lambda = make(tr("SR-STE decay λ (dashed: planned)"), tr("λ"),
                        {columnCurve(TableKind::Train, "lambda/{layer}", QString(), Qt::SolidLine, false),
                         planned(tr("planned"), &PlannedSchedule::lambda)},
                        1, 1);
    lambda->addLayerPicker();
    auto *beta = make(tr("S-STE scale β"), tr("β"),
                      {columnCurve(TableKind::Train, "beta/{layer}", QString(), Qt::SolidLine, false)}, 2, 0);
    beta->addLayerPicker();
    auto *sparsity = make(tr("Sparsity of W̃ (fraction of zeros)"), tr("sparsity"),
                          {columnCurve(TableKind::Train, "sparsity/{layer}", QString(), Qt::SolidLine, false)}, 2, 1);
    sparsity->addLayerPicker();
    sparsity->setYRangeHint(0, 1);
    return page;
}

QWidget *ChartPages::continuityPage()
{
    auto *page = new QWidget(this);
    auto *grid = new QGridLayout(page);
    grid->setContentsMargins(2, 2, 2, 2);
    m_continuity =
        new ScatterChart(m_store, tr("Continuity: ΔF₁ (masks move) vs ΔF₂ (mask frozen)"), TableKind::Continuity, "dF2",
                         "dF1", tr("ΔF₂, mask frozen at m(W_t)"), tr("ΔF₁, weights and masks move"), page);
    m_descent = new ScatterChart(m_store, tr("Descent: predicted vs actual"), TableKind::Continuity, "aod_predicted",
                                 "aod_actual", tr("predicted −⟨∇F, ΔW̃⟩"), tr("actual decrease of F"), page);
    auto *overTime = new MetricChart(
        m_store, m_settings, tr("Actual and predicted descent per measured step"), tr("descent"),
        {columnCurve(TableKind::Continuity, "aod_actual", tr("actual"), Qt::SolidLine, false),
         columnCurve(TableKind::Continuity, "aod_predicted", tr("predicted"), Qt::DashLine, false),
         columnCurve(TableKind::Continuity, "aod_predicted_ste", tr("straight-through"), Qt::DotLine, false)},
        page);
    track(m_continuity, 4);
    track(m_descent, 4);
    track(overTime, 4);
    grid->addWidget(m_continuity, 0, 0);
    grid->addWidget(m_descent, 0, 1);
    grid->addWidget(overTime, 1, 0, 1, 2);
    return page;
}

QList<ChartPanel *> ChartPages::charts() const
{
    QList<ChartPanel *> list;
    for (int p = 0; p < count(); ++p)
        list += chartsOnPage(p);
    return list;
}

QList<ChartPanel *> ChartPages::chartsOnPage(int page) const
{
    if (widget(page) == m_heatmaps)
        return m_heatmaps->charts();
    if (widget(page) == m_inspector)
        return m_inspector->charts();
    QList<ChartPanel *> list;
    for (const auto &[panel, p] : m_panels)
        if (p == page)
            list << panel;
    return list;
}

void ChartPages::refreshAll()
{
    m_heatmaps->refresh();
    for (const auto &[panel, p] : m_panels)
        panel->refresh();
    m_inspector->refresh();
}

} // namespace nmui
