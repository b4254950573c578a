#include "plot/flip_heatmap.h"

#include "plot/palette.h"
#include "plot/series_math.h"
#include "training/run_store.h"

#include <QCategoryAxis>
#include <QChart>
#include <QColorAxis>
#include <QGraphicsPixmapItem>
#include <QLineSeries>
#include <QLinearGradient>
#include <QValueAxis>
#include <limits>

#include <cmath>

namespace nmui {

namespace {
constexpr QRgb kNoData = 0xfff0f0f0;

double log10Safe(double v)
{
    return v > 0 ? std::log10(v) : std::numeric_limits<double>::quiet_NaN();
}
} // namespace

FlipHeatmap::FlipHeatmap(RunStore *store, QWidget *parent) : ChartPanel(store, tr("Mask flips"), parent)
{
    QChart *c = chart();
    c->legend()->hide();
    m_anchor = new QLineSeries;
    m_anchor->setPen(Qt::NoPen);
    c->addSeries(m_anchor);
    m_xAxis = new QValueAxis;
    m_xAxis->setTitleText(tr("step"));
    m_xAxis->setLabelFormat(QStringLiteral("%.0f"));
    m_xAxis->setGridLineVisible(false); // grid lines would draw over the image
    m_xAxis->setMinorGridLineVisible(false);
    m_yAxis = new QCategoryAxis;
    m_yAxis->setLabelsPosition(QCategoryAxis::AxisLabelsPositionCenter);
    m_yAxis->setGridLineVisible(false);
    m_yAxis->setTitleText(tr("layer"));
    m_colorAxis = new QColorAxis;
    m_colorAxis->setSize(14);
    m_colorAxis->setTickCount(5);
    c->addAxis(m_xAxis, Qt::AlignBottom);
    c->addAxis(m_yAxis, Qt::AlignLeft);
    c->addAxis(m_colorAxis, Qt::AlignRight);
    m_anchor->attachAxis(m_xAxis);
    m_anchor->attachAxis(m_yAxis);
    m_anchor->attachAxis(m_colorAxis);
    m_pixmap = new QGraphicsPixmapItem(c);
    m_pixmap->setZValue(-1);
    m_pixmap->setTransformationMode(Qt::FastTransformation);
    view()->setRubberBand(QChartView::HorizontalRubberBand);
    view()->setReadout([this](QPointF v) { return readout(v); });
    connect(c, &QChart::plotAreaChanged, this, [this] { placeImage(); });
    connect(view(), &PlotView::clicked, this, [this](QPointF v) {
        const int layer = m_bins.layers - 1 - static_cast<int>(std::floor(v.y()));
        if (layer >= 0 && layer < m_bins.layers)
            Q_EMIT layerClicked(layer);
    });
}

void FlipHeatmap::setRun(int runId)
{
    m_runA = runId;
    m_runB = -1;
    const Run *r = store()->run(runId);
    setTitleText(tr("Mask flips: %1").arg(r ? r->meta.name : QString()));
    requestRefresh();
}

void FlipHeatmap::setDifference(int runA, int runB)
{
    m_runA = runA;
    m_runB = runB;
    const Run *a = store()->run(runA), *b = store()->run(runB);
    setTitleText(tr("Mask flips: %1 − %2").arg(a ? a->meta.name : QString(), b ? b->meta.name : QString()));
    requestRefresh();
}

void FlipHeatmap::setLogScale(bool on)
{
    m_log = on;
    requestRefresh();
}

void FlipHeatmap::setColorRange(double lo, double hi)
{
    m_sharedLo = lo;
    m_sharedHi = hi;
}

QStringList FlipHeatmap::layerNames() const
{
    QStringList names;
    if (const Run *r = store()->run(m_runA))
        for (const auto &n : r->meta.sparseLayers)
            names << QString::fromStdString(n);
    return names;
}

void FlipHeatmap::binRun(int runId, double x0, double x1, Bins &out) const
{
    out.value.assign(static_cast<size_t>(out.layers) * static_cast<size_t>(out.columns), NAN);
    out.flips.assign(out.value.size(), 0.0);
    out.rows.assign(out.value.size(), 0);
    const Run *run = store()->run(runId);
    if (!run)
        return;
    const MetricTable &t = run->train;
    std::vector<double> sum(out.value.size(), 0.0);
    for (int l = 0; l < out.layers; ++l) {
        const auto *rate = t.column(layerColumn("flip_rate", l));
        const auto *flips = t.column(layerColumn("flips", l));
        if (!rate)
            continue;
        const auto begin = std::lower_bound(t.step.begin(), t.step.end(), x0);
        for (auto it = begin; it != t.step.end() && *it <= x1 + m_binWidth; ++it) {
            const size_t i = static_cast<size_t>(it - t.step.begin());
            const long bin = static_cast<long>(std::floor((*it - 1.0) / m_binWidth)) - out.firstBin;
            const float v = (*rate)[i];
            if (bin < 0 || bin >= out.columns || !std::isfinite(v))
                continue;
            const size_t k = static_cast<size_t>(l) * static_cast<size_t>(out.columns) + static_cast<size_t>(bin);
            sum[k] += static_cast<double>(v);
            out.flips[k] += flips ? static_cast<double>((*flips)[i]) : 0.0;
            ++out.rows[k];
        }
    }
    for (size_t k = 0; k < sum.size(); ++k)
        if (out.rows[k] > 0)
            out.value[k] = sum[k] / out.rows[k];
}

void FlipHeatmap::computeBins()
{
    const Run *a = store()->run(m_runA);
    const Run *b = m_runB >= 0 ? store()->run(m_runB) : nullptr;
    int layers = a ? a->sparseLayerCount() : 0;
    if (b)
        layers = std::min(layers, b->sparseLayerCount());
    double last = m_extent > 0 ? m_extent : (a ? static_cast<double>(a->meta.step) : 0.0);
    if (b && m_extent <= 0)
        last = std::max(last, static_cast<double>(b->meta.step));
    double x0 = 0, x1 = std::max(1.0, last);
    if (view()->userZoomed()) {
        const QPointF r = view()->xRange();
        x0 = std::max(0.0, r.x());
        x1 = std::max(x0 + 1, r.y());
    }
    const double span = (x1 - x0) / std::max(1, view()->plotColumns());
    m_binWidth = span > 1 ? std::exp2(std::ceil(std::log2(span))) : 1.0;
    Bins bins;
    bins.layers = layers;
    bins.firstBin = static_cast<long>(std::floor(x0 / m_binWidth));
    const long lastBin = std::max(bins.firstBin, static_cast<long>(std::ceil(x1 / m_binWidth)) - 1);
    bins.columns = static_cast<int>(lastBin - bins.firstBin + 1);
    const double bx0 = static_cast<double>(bins.firstBin) * m_binWidth;
    const double bx1 = static_cast<double>(lastBin + 1) * m_binWidth;
    binRun(m_runA, bx0, bx1, bins);
    if (b) {
        m_binsB = bins;
        binRun(m_runB, bx0, bx1, m_binsB);
        for (size_t k = 0; k < bins.value.size(); ++k)
            bins.value[k] -= m_binsB.value[k]; // NaN where either has no data
    }
    m_bins = std::move(bins);
    m_minPositive = NAN;
    m_max = NAN;
    for (double v : m_bins.value) {
        if (!std::isfinite(v))
            continue;
        const double mag = b ? std::abs(v) : v;
        if (!(mag <= m_max))
            m_max = mag;
        if (v > 0 && !(v >= m_minPositive))
            m_minPositive = v;
    }
}

QRgb FlipHeatmap::colorOf(double v) const
{
    if (!std::isfinite(v))
        return kNoData;
    double t;
    if (m_runB < 0 && m_log)
        t = v > 0 ? (std::log10(v) - m_lo) / (m_hi - m_lo) : 0.0;
    else
        t = (v - m_lo) / (m_hi - m_lo);
    const int i = std::clamp(static_cast<int>(std::lround(t * 255.0)), 0, 255);
    return m_runB >= 0 ? divergingTable()[static_cast<size_t>(i)] : viridisTable()[static_cast<size_t>(i)];
}

void FlipHeatmap::render()
{
    const bool diff = m_runB >= 0;
    const bool shared = std::isfinite(m_sharedHi);
    double hi = shared ? m_sharedHi : m_max;
    double lo = shared ? m_sharedLo : m_minPositive;
    if (!std::isfinite(hi) || hi <= 0)
        hi = 1e-3;
    if (diff) {
        m_lo = -hi;
        m_hi = hi;
    } else if (m_log) {
        m_hi = std::log10(hi);
        m_lo = std::isfinite(log10Safe(lo)) ? std::min(log10Safe(lo), m_hi - 1.0) : m_hi - 3.0;
    } else {
        m_lo = 0;
        m_hi = hi;
    }
    const int cols = std::max(1, m_bins.columns), layers = std::max(1, m_bins.layers);
    m_cells = QImage(cols, layers, QImage::Format_RGB32);
    m_cells.fill(kNoData);
    for (int l = 0; l < m_bins.layers; ++l) {
        auto *line = reinterpret_cast<QRgb *>(m_cells.scanLine(l));
        for (int c = 0; c < m_bins.columns; ++c)
            line[c] = colorOf(
                m_bins.value[static_cast<size_t>(l) * static_cast<size_t>(m_bins.columns) + static_cast<size_t>(c)]);
    }
    const double x0 = static_cast<double>(m_bins.firstBin) * m_binWidth;
    const double x1 = x0 + static_cast<double>(cols) * m_binWidth;
    m_anchor->replace({QPointF(x0, 0), QPointF(x1, layers)});
    m_xAxis->setTickAnchor(0);
    m_xAxis->setTickType(QValueAxis::TicksDynamic);
    view()->setXRange(x0, x1, plot::niceInterval(x1 - x0, std::max(2, view()->plotColumns() / 110)));
    m_yAxis->setRange(0, layers);
    const QStringList names = layerNames();
    for (const QString &label : m_yAxis->categoriesLabels())
        m_yAxis->remove(label);
    for (int l = m_bins.layers - 1; l >= 0; --l) // categories in increasing y: the last layer first
        m_yAxis->append(l < names.size() ? names[l] : QString::number(l), layers - l);
    m_yAxis->setStartValue(0);
    QLinearGradient g(0, 0, 0, 1);
    g.setStops(diff ? divergingStops() : viridisStops());
    m_colorAxis->setGradient(g);
    m_colorAxis->setRange(m_lo, m_hi);
    m_colorAxis->setTitleText(diff ? tr("Δ flip rate") : m_log ? tr("log₁₀ flip rate") : tr("flip rate"));
    placeImage();
}

void FlipHeatmap::placeImage()
{
    const QRectF area = chart()->plotArea();
    if (m_cells.isNull() || area.width() < 2 || area.height() < 2) {
        m_pixmap->setPixmap({});
        return;
    }
    // Scale to the plot area ourselves (nearest neighbour), so cell borders stay crisp and
    // every export path sees the same pixels.
    const QImage scaled = m_cells.scaled(area.size().toSize(), Qt::IgnoreAspectRatio, Qt::FastTransformation);
    m_pixmap->setPixmap(QPixmap::fromImage(scaled));
    m_pixmap->setPos(area.topLeft());
}

void FlipHeatmap::refresh()
{
    computeBins();
    render();
}

double FlipHeatmap::cellValue(int layer, int column) const
{
    if (layer < 0 || layer >= m_bins.layers || column < 0 || column >= m_bins.columns)
        return NAN;
    return m_bins.value[static_cast<size_t>(layer) * static_cast<size_t>(m_bins.columns) + static_cast<size_t>(column)];
}

QString FlipHeatmap::readout(QPointF value) const
{
    const int layer = m_bins.layers - 1 - static_cast<int>(std::floor(value.y()));
    const long col = static_cast<long>(std::floor(value.x() / m_binWidth)) - m_bins.firstBin;
    if (layer < 0 || layer >= m_bins.layers || col < 0 || col >= m_bins.columns)
        return {};
    const size_t k = static_cast<size_t>(layer) * static_cast<size_t>(m_bins.columns) + static_cast<size_t>(col);
    const double from = static_cast<double>(m_bins.firstBin + col) * m_binWidth + 1;
    const double to = from + m_binWidth - 1;
    const QStringList names = layerNames();
    QString html = QStringLiteral("<b>%1</b> &nbsp;steps %2–%3<br>")
                       .arg(layer < names.size() ? names[layer] : QString::number(layer))
                       .arg(from, 0, 'f', 0)
                       .arg(to, 0, 'f', 0);
    if (!std::isfinite(m_bins.value[k]))
        return html + tr("no data");
    if (m_runB >= 0) {
        const double b = m_binsB.value[k];
        return html + tr("Δ flip rate %1<br>A %2, B %3")
                          .arg(m_bins.value[k], 0, 'g', 3)
                          .arg(m_bins.value[k] + b, 0, 'g', 3)
                          .arg(b, 0, 'g', 3);
    }
    return html + tr("mean flip rate %1<br>flips %2 over %3 logged steps")
                      .arg(m_bins.value[k], 0, 'g', 3)
                      .arg(m_bins.flips[k], 0, 'f', 0)
                      .arg(m_bins.rows[k]);
}

DataTable FlipHeatmap::table(bool visibleOnly) const
{
    DataTable out;
    const QStringList names = layerNames();
    out.header << QStringLiteral("step_from") << QStringLiteral("step_to");
    for (int l = 0; l < m_bins.layers; ++l) {
        const QString n = l < names.size() ? names[l] : QString::number(l);
        if (m_runB >= 0)
            out.header << n + QStringLiteral(" flip_rate A-B");
        else
            out.header << n + QStringLiteral(" flip_rate") << n + QStringLiteral(" flips");
    }
    if (!visibleOnly && m_runB < 0) { // every logged step
        const Run *r = store()->run(m_runA);
        if (!r)
            return out;
        const MetricTable &t = r->train;
        for (size_t i = 0; i < t.size(); ++i) {
            QList<QString> row{QString::number(t.step[i], 'f', 0), QString::number(t.step[i], 'f', 0)};
            for (int l = 0; l < m_bins.layers; ++l) {
                const auto *rate = t.column(layerColumn("flip_rate", l));
                const auto *flips = t.column(layerColumn("flips", l));
                row << (rate ? QString::number((*rate)[i], 'g', 8) : QString())
                    << (flips ? QString::number((*flips)[i], 'f', 0) : QString());
            }
            out.rows.append(row);
        }
        return out;
    }
    for (int c = 0; c < m_bins.columns; ++c) { // the bins on screen
        const double from = static_cast<double>(m_bins.firstBin + c) * m_binWidth + 1;
        QList<QString> row{QString::number(from, 'f', 0), QString::number(from + m_binWidth - 1, 'f', 0)};
        for (int l = 0; l < m_bins.layers; ++l) {
            const size_t k = static_cast<size_t>(l) * static_cast<size_t>(m_bins.columns) + static_cast<size_t>(c);
            row << (std::isfinite(m_bins.value[k]) ? QString::number(m_bins.value[k], 'g', 8) : QString());
            if (m_runB < 0)
                row << QString::number(m_bins.flips[k], 'f', 0);
        }
        out.rows.append(row);
    }
    return out;
}

} // namespace nmui
