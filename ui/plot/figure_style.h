#pragma once
// FigureStyle: a chart dressed for a figure export and put back afterwards. It sets every
// font of the chart (title, axis titles, tick labels, legend, our own labels) to the figure's
// size and the series' pens to its line width; it replaces Qt's one-row legend, which elides
// the names once they do not fit side by side, by one that wraps onto further rows under the
// chart; it narrows colour bars so their tick labels fit the space Qt Charts allows a side
// axis (40 % of the width, shared); it breaks a title that would be elided onto two lines; and
// it spaces the ticks of value axes so their labels fit. Used by the exports (chart_export.cpp)
// in this order: applyFonts, replaceLegend, fitTitles, (refresh), applyPens, thinTicks;
// restore puts everything back.
#include "plot/figure_preset.h"

#include <QFont>
#include <QList>
#include <QMargins>
#include <QPen>
#include <QPointer>
#include <QString>

class QAbstractAxis;
class QAbstractSeries;
class QChart;
class QColorAxis;
class QGraphicsItem;
class QGraphicsSimpleTextItem;
class QValueAxis;

namespace nmui {

class FigureStyle {
  public:
    // `unitsPerPt`: scene units per point (the scene's resolution / 72).
    FigureStyle(QChart *chart, const FigurePreset &figure, double unitsPerPt);
    ~FigureStyle();
    FigureStyle(const FigureStyle &) = delete;
    FigureStyle &operator=(const FigureStyle &) = delete;

    void applyFonts();
    // Hides Qt's legend (when it is shown at the bottom) and draws the entries in rows under
    // the chart, in space reserved by the chart's bottom margin.
    void replaceLegend();
    // Titles wider than the room they get are broken onto lines that fit; true if any was.
    bool fitTitles();
    // After the last refresh: as many ticks on value axes as their labels fit (fewer where
    // Qt Charts would elide them to "…", more where a short axis got one or two); true if any
    // changed.
    bool thinTicks();
    // After the last refresh (which sets some pens, and may show Qt's legend again).
    void applyPens();
    void restore();

  private:
    struct AxisStyle {
        QPointer<QAbstractAxis> axis;
        QFont title, labels;
        QString titleText;
    };
    struct SeriesPen {
        QPointer<QAbstractSeries> series;
        QPen pen;
        qreal markerSize;
    };
    QPen figurePen(QPen pen) const;
    bool fitColorBars();

    QChart *m_chart;
    FigurePreset m_figure;
    double m_unitsPerPt;
    bool m_fonts = false;
    QFont m_titleFont, m_legendFont;
    QString m_title;
    QList<AxisStyle> m_axes;
    QList<std::pair<QPointer<QColorAxis>, qreal>> m_colorBars;
    QList<std::pair<QGraphicsSimpleTextItem *, QFont>> m_texts; // labels of our own (markers)
    QList<SeriesPen> m_pens;
    QList<std::pair<QPointer<QValueAxis>, qreal>> m_intervals;
    bool m_legendReplaced = false, m_legendVisible = false;
    QMargins m_margins;
    QGraphicsItem *m_legend = nullptr; // ours
};

} // namespace nmui
