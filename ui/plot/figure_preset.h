#pragma once
// Figure sizes for exports meant for papers and slides: a physical size, the text size and
// the line width. Exporting with one lays the chart out at exactly that size (PDF and SVG in
// points, PNG at kFigureDpi), with every font of the chart (title, axis titles, tick labels,
// legend) at fontPt and the runs' lines at lineWidthPt, for the export only. The default,
// "screen", exports the chart as it is shown.
#include <QList>
#include <QSizeF>
#include <QString>

#include <optional>

namespace nmui {

struct FigurePreset {
    QString name;       // "one-column", "8.5x5.5cm"; "screen": as shown
    QString title;      // "One column"
    double widthCm = 0; // 0: the chart's on-screen size
    double heightCm = 0;
    double fontPt = 0;      // every text of the chart
    double lineWidthPt = 0; // a run's line (fainter curves keep their proportion to it)

    bool isScreen() const { return widthCm <= 0 || heightCm <= 0; }
    QSizeF sizePt() const { return {widthCm / 2.54 * 72.0, heightCm / 2.54 * 72.0}; }
    // "One column: 8.5 × 5.3 cm, 8 pt text" (menus, messages).
    QString describe() const;
};

// The resolution of PNG exports with a figure size (the "2×" PNG has twice as many).
constexpr double kFigureDpi = 300.0;

// "screen" first, then the built-in sizes.
QList<FigurePreset> figurePresets();
// A built-in preset by name, or a custom size: "8.5x5.5cm", "85x55mm", "3.3x2in" (custom sizes
// get 8 pt text up to 12 cm wide, 9 pt above, and 1 pt lines). nullopt with *error naming the
// valid ones.
std::optional<FigurePreset> parseFigurePreset(const QString &spec, QString *error = nullptr);
// "one-column, two-column, neurips, slide, or WIDTHxHEIGHT in cm, mm or in (8.5x5.5cm, 3.3x2in)".
QString figurePresetChoices();

// The figure size chosen in the GUI (QSettings "export/figure"; "screen" when unset or unknown).
FigurePreset currentFigurePreset();
void setCurrentFigurePreset(const QString &name);

} // namespace nmui
