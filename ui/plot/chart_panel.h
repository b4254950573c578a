#pragma once
// ChartPanel: the frame every chart lives in: a header (title, the chart's own controls, a
// "fit" button, the export menu), the PlotView, and the refresh policy: redraw on the
// RunStore's coalesced dataChanged() while visible, once on showing when something changed
// while hidden. Subclasses build their series in refresh() and describe their data in
// table() for CSV export.
#include "plot/plot_view.h"

#include <QWidget>

class QChart;
class QHBoxLayout;
class QLabel;
class QMenu;
class QToolButton;

namespace nmui {

class RunStore;

// Adds a "Figure size" submenu to `menu`: the presets with their sizes, one checked (the
// choice, kept in QSettings by setCurrentFigurePreset(), is shared by every chart's Export
// menu and File ▸ Export all).
QMenu *addFigureSizeMenu(QMenu *menu);

// A chart's data as a table (CSV export).
struct DataTable {
    QStringList header;
    QList<QList<QString>> rows;
};

// The formats of a chart's Export menu.
enum class ExportFormat { Png, Png2x, Svg, Pdf, CsvVisible, CsvAll, Clipboard };

class ChartPanel : public QWidget {
    Q_OBJECT
  public:
    ChartPanel(RunStore *store, const QString &title, QWidget *parent = nullptr);

    QString title() const { return m_title; }
    QChart *chart() const { return m_chart; }
    PlotView *view() const { return m_view; }
    RunStore *store() const { return m_store; }
    // A file-name-friendly identifier ("loss-train").
    QString slug() const;

    // The plotted data: the visible x range only, or everything.
    virtual DataTable table(bool visibleOnly) const = 0;
    // Rebuilds the series from the store (called at most once per frame).
    virtual void refresh() = 0;
    // Refreshes now if visible, else on the next show.
    void requestRefresh();
    // Off: the panel no longer follows the store by itself (a container drives it).
    void setAutoRefresh(bool on);

  Q_SIGNALS:
    void exportRequested(nmui::ChartPanel *panel, nmui::ExportFormat format);

  protected:
    QHBoxLayout *headerLayout() const { return m_header; }
    void showEvent(QShowEvent *e) override;
    void resizeEvent(QResizeEvent *e) override;
    void setTitleText(const QString &text);
    // Puts the legend of these entries below the plot while one row of them fits the panel's
    // width, else at its right, so run names are never cut short. Kept for resizes.
    void fitLegend(const QStringList &entries);

  private:
    void buildExportMenu(QToolButton *button);

    RunStore *m_store;
    QString m_title;
    QChart *m_chart;
    PlotView *m_view;
    QHBoxLayout *m_header;
    QLabel *m_titleLabel;
    QStringList m_legendEntries;
    bool m_stale = true;
};

} // namespace nmui
