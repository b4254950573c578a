#pragma once
// MainWindow: wires the pieces together and owns nothing clever. Left: the experiment form
// with the live settings, and the runs table. Centre: the chart pages. Toolbar: start,
// pause, step, stop, reset, fork and the shared chart settings. Status bar: state, step,
// steps/s, elapsed time. Window layout, chart settings, the form and recent files persist
// in QSettings.
#include "plot/chart_panel.h"
#include "plot/chart_settings.h"
#include "plot/figure_preset.h"
#include "training/training_controller.h"

#include <QMainWindow>

#include <functional>

class QAction;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QMenu;
class QSlider;
class QTimer;

namespace nmui {

class ChartPages;
class ChartPanel;
class ExperimentPanel;
class LivePanel;
class RunFileLoader;
class RunStore;
class RunsTable;

class MainWindow : public QMainWindow {
    Q_OBJECT
  public:
    explicit MainWindow(QWidget *parent = nullptr);
    ~MainWindow() override;

    RunStore *store() const { return m_store; }
    TrainingController *controller() const { return m_controller; }
    ExperimentPanel *experiment() const { return m_experiment; }
    LivePanel *livePanel() const { return m_live; }
    ChartPages *pages() const { return m_pages; }
    ChartSettings *chartSettings() const { return m_settings; }
    RunsTable *runsTable() const { return m_runs; }
    RunFileLoader *loader() const { return m_loader; }

    // Opens a run file (finished or still being written); false with *error when it cannot.
    // Its series are in the store on return; its snapshots follow (waitForSnapshots).
    bool openRunFile(const QString &path, QString *error = nullptr);
    // Runs the event loop until every open file's snapshots are in the store (exports,
    // screenshots, tests); false after timeoutMs.
    bool waitForSnapshots(int timeoutMs = 120000);
    QStringList recentFiles() const;
    // The run files shipped with nmstudio (sample_runs/*.h5), wherever they are installed.
    static QStringList sampleFiles();
    // The sample experiment shown on first start: STE vs SR-STE vs S-STE at 2:4 on the MLP.
    static QString defaultSampleFile();
    // Record the runs of each start into a run file in `folder` (empty: do not record).
    void setRecordFolder(const QString &folder);
    QString recordFolder() const { return m_recordFolder; }
    bool showSampleAtStart() const;
    QLabel *statusStep() const { return m_statusStep; }
    QLabel *statusMessage() const { return m_statusMessage; }

    // File dialogs go through this, so tests and headless runs can answer them.
    using AskPath = std::function<QString(const QString &caption, const QString &suggested, const QString &filter)>;
    void setAskPath(AskPath ask) { m_askPath = std::move(ask); }
    // Yes/no questions (closing while runs train) go through this too; true means go on.
    using Confirm = std::function<bool(const QString &title, const QString &text, const QString &yes)>;
    void setConfirm(Confirm confirm) { m_confirm = std::move(confirm); }

    // Exports one chart ("png", "png2x", "svg", "pdf", "csv-visible", "csv-all", "clipboard") at
    // the figure size chosen in the Export menus (currentFigurePreset()).
    bool exportChart(ChartPanel *panel, ExportFormat format);
    // Every chart of every page into `dir` (PNG 1×/2×, SVG, PDF, CSV) at `size` or, unless it
    // is the screen preset, at `figure`'s size; the files written.
    QStringList exportAll(const QString &dir, QStringList *errors = nullptr, QSize size = {},
                          const FigurePreset &figure = {});

    // Takes the form's experiment into the controller (while idle).
    void applyExperiment();
    // Restores window layout and settings; without saved settings, the default comparison.
    void restoreSettings();
    void saveSettings() const;

  protected:
    void closeEvent(QCloseEvent *e) override;

  private:
    void buildActions();
    void buildToolbars();
    void buildDocks();
    void buildStatusBar();
    void buildMenus();
    void onStateChanged(TrainingController::State s);
    // What the window does on its panels' and controller's signals, and on its actions.
    void onExperimentChanged();
    void onRunFailed(int id, const QString &why);
    void applyLiveSettings(const TrainingController::Live &live);
    void onNotice(const QString &message);
    void onRecordingStopped(const QString &message);
    void onSnapshotsProgress();
    void onSnapshotsFailed(const QString &path, const QString &why);
    void inspectRun(int id);
    void pauseOrStart();
    void stepOnce();
    void resetExperiment();
    void forkSelected();
    void exportAllDialog();
    void syncViewControls();
    void newComparison();
    void showMouseAndKeys();
    void showAbout();
    void updateStatus();
    void startOrRestart();
    void forkDialog(int runId);
    void resumeDialog(int runId);
    void showMessage(const QString &text, bool error = false);
    void addRecent(const QString &path);
    void fillRecentMenu();
    void openDialog();
    QString askPath(const QString &caption, const QString &suggested, const QString &filter);
    bool confirm(const QString &title, const QString &text, const QString &yes);

    RunStore *m_store;
    TrainingController *m_controller;
    ChartSettings *m_settings;
    ChartPages *m_pages;
    ExperimentPanel *m_experiment;
    LivePanel *m_live;
    RunsTable *m_runs;
    RunFileLoader *m_loader;
    AskPath m_askPath;
    Confirm m_confirm;
    QString m_recordFolder;
    // A warning of the current experiment (recording stopped, a fork replayed on another
    // kernel): the "Finished" message keeps it; a new start or a reset clears it.
    QString m_warning, m_warningDetail;
    QMenu *m_recentMenu = nullptr;

    QAction *m_start, *m_pause, *m_step, *m_stop, *m_reset, *m_fork, *m_exportAll, *m_follow, *m_group, *m_record,
        *m_sampleAtStart;
    QAction *m_linkX = nullptr;
    QAction *m_bandCi = nullptr, *m_bandMinMax = nullptr; // the band of seed groups (Group seeds ▾)
    QSlider *m_smoothSlider;
    QDoubleSpinBox *m_smoothSpin;
    QComboBox *m_xMode;
    QLabel *m_statusState, *m_statusStep, *m_statusRate, *m_statusElapsed, *m_statusMessage;
    QTimer *m_statusTimer, *m_applyTimer;
    bool m_experimentDirty = false;
};

} // namespace nmui
