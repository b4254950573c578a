#pragma once
// Exports of a chart as the user sees it (title, legend, axis titles included): PNG at 1×
// or 2× (rendered from the scene, so it needs no window on screen), SVG with the text kept
// as text, CSV of the plotted data (the visible range or all of it, written atomically),
// the image on the clipboard, and every chart of the window into one folder.
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
bool saveCsv(ChartPanel *panel, const QString &path, bool visibleOnly, QString *error = nullptr);
bool writeCsv(const DataTable &table, const QString &path, QString *error = nullptr);
void copyToClipboard(ChartPanel *panel);

// Writes <slug>.png, <slug>@2x.png, <slug>.svg and <slug>.csv for every chart into `dir`;
// returns the files written (and the reasons for any that failed in *errors).
QStringList exportCharts(const QList<ChartPanel *> &charts, const QString &dir, QStringList *errors = nullptr,
                         QSize size = {});

} // namespace nmui
