#pragma once
// nmstudio without a window: train an experiment to the end and write every chart (PNG 1×
// and 2×, SVG, PDF, CSV) into a folder, printing progress lines; and render every page of the
// main window to PNG (the README's screenshots). Both need a QApplication; on a machine
// without a display nmstudio creates it on the offscreen platform.
#include "plot/figure_preset.h"

#include "nmcore/config.h"

#include <QString>
#include <QStringList>
#include <QTextStream>

#include <vector>

namespace nmui {

class MainWindow;

// Registers the icon and other resources compiled into the library (call once, after
// QApplication exists).
void initResources();

// The first-start comparison: STE, SR-STE and S-STE at 2:4 on the Fashion-MNIST MLP.
std::vector<nm::RunConfig> defaultComparison();

// Every run of `configs` shortened to `steps` (warm-up, evaluation and snapshot intervals
// shrink with it; steps >= 1), as nmstudio --steps does.
void shortenRuns(std::vector<nm::RunConfig> &configs, long steps);

// Options of every run of `configs` changed as KEY=VALUE settings say (nmstudio --set; keys as
// nmtrain spells them); the runs keep their names. Throws nm::ConfigError naming the bad
// setting; `configs` is unchanged then.
void applySettings(std::vector<nm::RunConfig> &configs, const QStringList &settings);

// Trains `configs` to completion, recording them into `outDir`/comparison.h5, and exports
// every chart into `outDir` (at 1000×620, or at `figure`'s size); 0 on success.
int runHeadless(const std::vector<nm::RunConfig> &configs, const QString &outDir, QTextStream &out,
                const FigurePreset &figure = {});

// Reads run files and exports every chart into `outDir` (nmstudio --export DIR FILE.h5
// [--preset NAME]).
int exportRunFiles(const QStringList &files, const QString &outDir, QTextStream &out, const FigurePreset &figure = {});

// Trains `configs` in a window (on whatever platform is active), then saves a PNG of every
// page of the window into `outDir`.
// With run files, shows them (and trains nothing) instead of the comparison.
int renderScreenshots(const std::vector<nm::RunConfig> &configs, const QString &outDir, QTextStream &out,
                      const QStringList &files = {});

// Runs the window's event loop until its experiment has finished (or `timeoutMs`).
bool trainToEnd(MainWindow &window, int timeoutMs, QTextStream *progress);

} // namespace nmui
