#include "plot/figure_style.h"

#include "plot/series_math.h"

#include <QAbstractAxis>
#include <QAreaSeries>
#include <QChart>
#include <QColorAxis>
#include <QFontMetricsF>
#include <QGraphicsLineItem>
#include <QGraphicsRectItem>
#include <QGraphicsSimpleTextItem>
#include <QLegend>
#include <QLegendMarker>
#include <QValueAxis>
#include <QXYSeries>

#include <cmath>

namespace nmui {

namespace {

// A run's line is this wide on screen (MetricChart); a figure's lineWidthPt replaces it, and
// every other pen keeps its proportion to it.
constexpr double kScreenLineWidth = 2.0;

QFont sized(QFont f, double pointSize)
{
    f.setPointSizeF(pointSize);
    return f;
}

QPen seriesPen(QAbstractSeries *s)
{
    if (auto *xy = qobject_cast<QXYSeries *>(s))
        return xy->pen();
    if (auto *area = qobject_cast<QAreaSeries *>(s))
        return area->pen();
    return Qt::NoPen;
}

void setSeriesPen(QAbstractSeries *s, const QPen &pen)
{
    if (auto *xy = qobject_cast<QXYSeries *>(s))
        xy->setPen(pen);
    else if (auto *area = qobject_cast<QAreaSeries *>(s))
        area->setPen(pen);
}

// `text` on two lines no wider than `width` (HTML, which chart and axis titles accept), broken
// at the space nearest its middle; empty when it fits already or two lines would not fit either.
QString wrapped(const QString &text, const QFont &font, double width)
{
    const QFontMetricsF fm(font);
    if (fm.horizontalAdvance(text) <= width || text.contains('<'))
        return {};
    qsizetype best = -1;
    for (qsizetype i = text.indexOf(' '); i >= 0; i = text.indexOf(' ', i + 1))
        if (best < 0 || std::abs(i - text.size() / 2) < std::abs(best - text.size() / 2))
            best = i;
    if (best < 0)
        return {};
    const QString first = text.left(best), second = text.mid(best + 1);
    if (std::max(fm.horizontalAdvance(first), fm.horizontalAdvance(second)) > width)
        return {};
    return first.toHtmlEscaped() + QStringLiteral("<br>") + second.toHtmlEscaped();
}

struct LegendEntry {
    QString label;
    QPen line;    // a line key (the series' pen) ...
    QBrush brush; // ... or a square of this colour
};

QList<LegendEntry> legendEntries(QChart *chart)
{
    QList<LegendEntry> entries;
    for (QLegendMarker *m : chart->legend()->markers()) {
        if (!m->isVisible() || m->label().isEmpty())
            continue;
        QAbstractSeries *s = m->series();
        const bool line = qobject_cast<QXYSeries *>(s) && s->type() != QAbstractSeries::SeriesTypeScatter &&
                          seriesPen(s).style() != Qt::NoPen;
        entries.append({m->label(), line ? seriesPen(s) : QPen(Qt::NoPen), m->brush()});
    }
    return entries;
}

// Columns of a legend of `entries`: as many as fit unelided, but at most `maxRows` rows (the
// labels are then elided in the middle, keeping a curve's " · pruned" and the like).
struct LegendGrid {
    QList<double> columns; // widths
    int rows = 1;
};

LegendGrid legendGrid(const QList<LegendEntry> &entries, const QFontMetricsF &fm, double avail, double key,
                      double spacing, int maxRows)
{
    const auto n = static_cast<int>(entries.size());
    auto widths = [&](int cols) {
        QList<double> w(cols, 0.0);
        for (int i = 0; i < n; ++i)
            w[i % cols] = std::max(w[i % cols], key + fm.horizontalAdvance(entries[i].label));
        return w;
    };
    auto total = [&](const QList<double> &w) {
        double t = spacing * static_cast<double>(w.size() - 1);
        for (double x : w)
            t += x;
        return t;
    };
    int cols = n;
    while (cols > 1 && total(widths(cols)) > avail)
        --cols;
    if ((n + cols - 1) / cols > maxRows)
        cols = std::min(n, (n + maxRows - 1) / maxRows);
    LegendGrid g{widths(cols), (n + cols - 1) / cols};
    if (total(g.columns) > avail) { // equal columns, the labels elided to fit
        const double w = (avail - spacing * (cols - 1)) / cols;
        for (double &c : g.columns)
            c = std::min(c, w);
    }
    return g;
}

} // namespace

FigureStyle::FigureStyle(QChart *chart, const FigurePreset &figure, double unitsPerPt)
    : m_chart(chart), m_figure(figure), m_unitsPerPt(unitsPerPt)
{
}

FigureStyle::~FigureStyle()
{
    delete m_legend;
}

QPen FigureStyle::figurePen(QPen pen) const
{
    const double scale = m_figure.lineWidthPt * m_unitsPerPt / kScreenLineWidth;
    pen.setWidthF((pen.widthF() > 0 ? pen.widthF() : 1.0) * scale);
    return pen;
}

void FigureStyle::applyFonts()
{
    const double pt = m_figure.fontPt;
    m_fonts = true;
    m_titleFont = m_chart->titleFont();
    m_legendFont = m_chart->legend()->font();
    m_chart->setTitleFont(sized(m_titleFont, pt));
    m_chart->legend()->setFont(sized(m_legendFont, pt));
    for (QAbstractAxis *a : m_chart->axes()) {
        m_axes.append({a, a->titleFont(), a->labelsFont(), a->titleText()});
        a->setTitleFont(sized(a->titleFont(), pt));
        a->setLabelsFont(sized(a->labelsFont(), pt));
        if (auto *bar = qobject_cast<QColorAxis *>(a)) { // a narrower bar leaves its labels room
            m_colorBars.append({bar, bar->size()});
            bar->setSize(std::min(bar->size(), 0.5 * pt * m_unitsPerPt));
        }
    }
    // Our labels keep their size relative to the legend's.
    const double scale = m_legendFont.pointSizeF() > 0 ? pt / m_legendFont.pointSizeF() : 1.0;
    for (QGraphicsItem *item : m_chart->childItems())
        if (auto *text = dynamic_cast<QGraphicsSimpleTextItem *>(item)) {
            m_texts.append({text, text->font()});
            text->setFont(sized(text->font(), text->font().pointSizeF() * scale));
        }
}

void FigureStyle::replaceLegend()
{
    QLegend *legend = m_chart->legend();
    const QList<LegendEntry> entries = legendEntries(m_chart);
    // A legend below the plot, or at its right (where a line chart puts names that do not fit
    // in one row on screen): at a figure size, rows that wrap below the plot serve both.
    if (!legend->isVisible() || (legend->alignment() != Qt::AlignBottom && legend->alignment() != Qt::AlignRight))
        return;
    m_legendReplaced = true;
    m_legendVisible = legend->isVisible();
    m_margins = m_chart->margins();
    legend->setVisible(false); // and with no entry to show, the room it keeps goes to the plot
    if (entries.isEmpty())
        return;

    const QFontMetricsF fm(legend->font());
    const double em = fm.height(), key = 2.0 * em, gap = 0.4 * em, spacing = 1.2 * em, rowHeight = 1.15 * em;
    const double avail = m_chart->size().width() - m_margins.left() - m_margins.right();
    const LegendGrid grid = legendGrid(entries, fm, avail, key + gap, spacing,
                                       std::max(1, static_cast<int>(0.4 * m_chart->size().height() / rowHeight)));
    const double height = 0.4 * em + rowHeight * grid.rows;
    m_chart->setMargins(m_margins + QMargins(0, 0, 0, static_cast<int>(std::ceil(height))));

    auto *box = new QGraphicsRectItem(m_chart);
    box->setPen(Qt::NoPen);
    box->setZValue(10);
    m_legend = box;
    const double top = m_chart->size().height() - m_margins.bottom() - height + 0.4 * em;
    double total = spacing * static_cast<double>(grid.columns.size() - 1);
    for (double w : grid.columns)
        total += w;
    for (int i = 0; i < entries.size(); ++i) {
        const LegendEntry &e = entries[i];
        const int col = static_cast<int>(i % grid.columns.size());
        double x = m_margins.left() + (avail - total) / 2;
        for (int c = 0; c < col; ++c)
            x += grid.columns[c] + spacing;
        const qsizetype row = i / grid.columns.size(); // the entry's row of the grid
        const double y = top + rowHeight * static_cast<double>(row), mid = y + rowHeight / 2;
        if (e.line.style() != Qt::NoPen) {
            auto *line = new QGraphicsLineItem(x, mid, x + key, mid, box);
            line->setPen(figurePen(e.line));
        } else {
            auto *square = new QGraphicsRectItem(x + key / 2 - 0.35 * em, mid - 0.35 * em, 0.7 * em, 0.7 * em, box);
            square->setPen(Qt::NoPen);
            square->setBrush(e.brush);
        }
        const double room = grid.columns[col] - key - gap;
        auto *text = new QGraphicsSimpleTextItem(fm.elidedText(e.label, Qt::ElideMiddle, room + 0.5), box);
        text->setFont(legend->font());
        text->setBrush(legend->labelColor());
        text->setPos(x + key + gap, y + (rowHeight - fm.height()) / 2);
    }
}

bool FigureStyle::fitTitles()
{
    bool changed = false;
    const QMargins m = m_chart->margins();
    const QString title =
        wrapped(m_chart->title(), m_chart->titleFont(), m_chart->size().width() - m.left() - m.right());
    if (!title.isEmpty()) {
        m_title = m_chart->title();
        m_chart->setTitle(title);
        changed = true;
    }
    const QRectF plot = m_chart->plotArea();
    for (const AxisStyle &a : m_axes) {
        if (!a.axis || !a.axis->isVisible() || !a.axis->isTitleVisible())
            continue;
        const double room = a.axis->orientation() == Qt::Horizontal ? plot.width() : plot.height();
        const QString text = wrapped(a.axis->titleText(), a.axis->titleFont(), room);
        if (!text.isEmpty()) {
            a.axis->setTitleText(text);
            changed = true;
        }
    }
    return changed;
}

// Qt Charts gives the axes on one side at most 40 % of the width shared by every vertical axis,
// and a colour bar needs its labels, title, bar and about 16.5 units of padding (measured: less
// elides "-5.82" at 8 pt in 8.5 cm). Where its labels (formatted as Qt Charts does, with one
// decimal more than the step's) would not fit, they get a smaller font, down to 5 pt.
bool FigureStyle::fitColorBars()
{
    int vertical = 0;
    for (QAbstractAxis *a : m_chart->axes())
        vertical += a->isVisible() && a->orientation() == Qt::Vertical;
    const QMargins m = m_chart->margins();
    const double cap = 0.4 * (m_chart->size().width() - m.left() - m.right()) / std::max(1, vertical);
    bool changed = false;
    for (const auto &[bar, size] : m_colorBars) {
        if (!bar || bar->tickCount() < 2 || !(bar->max() > bar->min()))
            continue;
        const double step = (bar->max() - bar->min()) / (bar->tickCount() - 1);
        const int decimals = std::max(0, -static_cast<int>(std::floor(std::log10(step)))) + 1;
        QFont font = bar->labelsFont();
        const QFontMetricsF fm(font);
        const double labels = std::max(fm.horizontalAdvance(QString::number(bar->min(), 'f', decimals)),
                                       fm.horizontalAdvance(QString::number(bar->max(), 'f', decimals)));
        const double title = bar->titleText().isEmpty() ? 0.0 : QFontMetricsF(bar->titleFont()).height();
        const double room = cap - title - bar->size() - 16.5;
        if (labels <= room || room <= 0)
            continue;
        font.setPointSizeF(std::max(5.0, font.pointSizeF() * room / labels));
        bar->setLabelsFont(font);
        changed = true;
    }
    return changed;
}

bool FigureStyle::thinTicks()
{
    bool changed = fitColorBars();
    const QRectF plot = m_chart->plotArea();
    for (QAbstractAxis *a : m_chart->axes()) {
        auto *v = qobject_cast<QValueAxis *>(a);
        if (!v || v->tickType() != QValueAxis::TicksDynamic || v->tickInterval() <= 0 || !v->labelsVisible())
            continue;
        const QFontMetricsF fm(v->labelsFont());
        const double span = v->max() - v->min(), interval = v->tickInterval();
        double room = 1.6 * fm.height(); // a label's height and a gap, on a vertical axis
        if (v->orientation() == Qt::Horizontal) {
            const int decimals = std::max(0, static_cast<int>(std::ceil(-std::log10(interval) - 1e-9)));
            room = fm.horizontalAdvance(QStringLiteral("0")) * 2 +
                   std::max(fm.horizontalAdvance(QString::number(v->min(), 'f', decimals)),
                            fm.horizontalAdvance(QString::number(v->max(), 'f', decimals)));
        }
        const double length = v->orientation() == Qt::Horizontal ? plot.width() : plot.height();
        const int fit = std::max(2, static_cast<int>(length / room));
        double next = interval;
        if (span / interval > fit) { // a nice interval near span / fit can still be too fine
            for (int target = fit; target >= 1 && span / next > fit; --target)
                next = std::max(next, plot::niceInterval(span, target));
        } else if (span / interval < 2.5 && fit >= 3) { // one or two labels: as many as fit
            const double denser = plot::niceInterval(span, fit);
            next = span / denser <= fit ? denser : interval;
        }
        if (next == interval)
            continue;
        m_intervals.append({v, interval});
        v->setTickInterval(next);
        changed = true;
    }
    return changed;
}

void FigureStyle::applyPens()
{
    if (m_legendReplaced)
        m_chart->legend()->setVisible(false); // a refresh may have shown it again
    const double scale = m_figure.lineWidthPt * m_unitsPerPt / kScreenLineWidth;
    for (QAbstractSeries *s : m_chart->series()) {
        const QPen pen = seriesPen(s);
        auto *xy = qobject_cast<QXYSeries *>(s);
        m_pens.append({s, pen, xy ? xy->markerSize() : 0.0});
        if (pen.style() != Qt::NoPen)
            setSeriesPen(s, figurePen(pen));
        if (xy) // points shrink with the lines
            xy->setMarkerSize(xy->markerSize() * scale);
    }
}

void FigureStyle::restore()
{
    for (const auto &[axis, interval] : m_intervals)
        if (axis)
            axis->setTickInterval(interval);
    m_intervals.clear();
    for (const SeriesPen &p : m_pens)
        if (p.series) {
            setSeriesPen(p.series, p.pen);
            if (auto *xy = qobject_cast<QXYSeries *>(p.series))
                xy->setMarkerSize(p.markerSize);
        }
    m_pens.clear();
    if (m_legendReplaced) {
        delete m_legend;
        m_legend = nullptr;
        m_chart->setMargins(m_margins);
        m_chart->legend()->setVisible(m_legendVisible);
        m_legendReplaced = false;
    }
    if (!m_title.isNull())
        m_chart->setTitle(m_title);
    if (!m_fonts)
        return;
    m_fonts = false;
    m_chart->setTitleFont(m_titleFont);
    m_chart->legend()->setFont(m_legendFont);
    for (const AxisStyle &a : m_axes)
        if (a.axis) {
            a.axis->setTitleFont(a.title);
            a.axis->setLabelsFont(a.labels);
            a.axis->setTitleText(a.titleText);
        }
    for (const auto &[bar, size] : m_colorBars)
        if (bar)
            bar->setSize(size);
    const QList<QGraphicsItem *> items = m_chart->childItems(); // a refresh may have deleted some
    for (const auto &[text, font] : m_texts)
        if (items.contains(text))
            text->setFont(font);
}

} // namespace nmui
