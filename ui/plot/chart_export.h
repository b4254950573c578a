#pragma once
// Exports of a chart as the user sees it (title, legend, axis titles included): PNG at 1×
// or 2× (rendered from the scene, so it needs no window on screen), SVG and PDF with the text
// kept as text and the lines as vectors, CSV of the plotted data (the visible range or all of
// it), the image on the clipboard, and every chart of the window into one folder. Every file
// is written atomically (QSaveFile): an interrupted export never leaves half a file.
//
// With a FigurePreset the chart is laid out at the preset's physical size, with its fonts and
// line widths, for the export only: PDF and SVG at that size in points, PNG at kFigureDpi.
// The chart on screen is put back as it was.
#include "plot/figure_preset.h"

#include <QImage>
#include <QSize>
#include <QString>
#include <QStringList>

namespace nmui {

class ChartPanel;
struct DataTable;

// Renders the chart at `scale` × its on-screen size (or `size` when given).
QImage renderChart(ChartPanel *panel, double scale = 1.0, QSize size = {});
bool savePng(ChartPanel *panel, const QString &path, double scale, QString *error = nullptr, QSize size = {});
bool saveSvg(ChartPanel *panel, const QString &path, QString *error = nullptr, QSize size = {});
bool savePdf(ChartPanel *panel, const QString &path, QString *error = nullptr, QSize size = {});

// The same at a figure size (the screen preset: as shown). PNG at `dpi`; its file says so.
QImage renderFigure(ChartPanel *panel, const FigurePreset &figure, double dpi = kFigureDpi);
bool savePng(ChartPanel *panel, const QString &path, const FigurePreset &figure, double dpi = kFigureDpi,
             QString *error = nullptr);
bool saveSvg(ChartPanel *panel, const QString &path, const FigurePreset &figure, QString *error = nullptr);
bool savePdf(ChartPanel *panel, const QString &path, const FigurePreset &figure, QString *error = nullptr);
bool saveCsv(ChartPanel *panel, const QString &path, bool visibleOnly, QString *error = nullptr);
bool writeCsv(const DataTable &table, const QString &path, QString *error = nullptr);
void copyToClipboard(ChartPanel *panel);

// Writes <slug>.png, <slug>@2x.png, <slug>.svg, <slug>.pdf and <slug>.csv for every chart
// into `dir`, at `size` (or on-screen) or, unless it is the screen preset, at `figure`'s size
// (the PNGs at kFigureDpi and twice that); returns the files written (and the reasons for
// any that failed in *errors).
QStringList exportCharts(const QList<ChartPanel *> &charts, const QString &dir, QStringList *errors = nullptr,
                         QSize size = {}, const FigurePreset &figure = {});

} // namespace nmui
