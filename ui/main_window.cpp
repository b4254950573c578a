#include "main_window.h"
#include "settings_keys.h"

#include "panels/chart_pages.h"
#include "panels/experiment_panel.h"
#include "panels/fork_dialog.h"
#include "panels/layer_inspector.h"
#include "panels/live_panel.h"
#include "panels/runs_table.h"
#include "plot/chart_export.h"
#include "plot/chart_panel.h"
#include "training/run_file_loader.h"
#include "training/run_store.h"

#include "nmcore/platform.h"
#include "nmcore/runfile.h"

#include <QAction>
#include <QActionGroup>
#include <QApplication>
#include <QCloseEvent>
#include <QComboBox>
#include <QDateTime>
#include <QDir>
#include <QDockWidget>
#include <QDoubleSpinBox>
#include <QElapsedTimer>
#include <QFileDialog>
#include <QFileInfo>
#include <QLabel>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QPushButton>
#include <QSettings>
#include <QSlider>
#include <QStandardPaths>
#include <QStatusBar>
#include <QStyle>
#include <QTableView>
#include <QThread>
#include <QTimer>
#include <QToolBar>
#include <QToolButton>
#include <QVBoxLayout>

namespace nmui {

namespace {
constexpr int kStateVersion = 1; // bump when the dock layout changes

QString formatElapsed(double seconds)
{
    const long s = static_cast<long>(seconds);
    return QStringLiteral("%1:%2:%3")
        .arg(s / 3600)
        .arg((s / 60) % 60, 2, 10, QLatin1Char('0'))
        .arg(s % 60, 2, 10, QLatin1Char('0'));
}
} // namespace

MainWindow::MainWindow(QWidget *parent)
    : QMainWindow(parent), m_store(new RunStore(this)), m_controller(new TrainingController(m_store, this)),
      m_settings(new ChartSettings(this)), m_loader(new RunFileLoader(m_store, this))
{
    setWindowTitle(QStringLiteral("nmstudio"));
    setObjectName(QStringLiteral("nmstudio"));
    m_pages = new ChartPages(m_store, m_settings, this);
    setCentralWidget(m_pages);
    buildActions();
    buildDocks();
    buildToolbars();
    buildMenus();
    buildStatusBar();

    m_applyTimer = new QTimer(this);
    m_applyTimer->setSingleShot(true);
    m_applyTimer->setInterval(150);
    connect(m_applyTimer, &QTimer::timeout, this, &MainWindow::applyExperiment);
    connect(m_experiment, &ExperimentPanel::changed, this, &MainWindow::onExperimentChanged);
    connect(m_controller, &TrainingController::stateChanged, this, &MainWindow::onStateChanged);
    connect(m_controller, &TrainingController::progressChanged, this, &MainWindow::updateStatus);
    connect(m_controller, &TrainingController::runFailed, this, &MainWindow::onRunFailed);
    connect(m_live, &LivePanel::applied, this, &MainWindow::applyLiveSettings);
    connect(m_pages, &ChartPages::exportRequested, this, &MainWindow::exportChart);
    connect(m_runs, &RunsTable::forkRequested, this, &MainWindow::forkDialog);
    connect(m_runs, &RunsTable::resumeRequested, this, &MainWindow::resumeDialog);
    connect(m_controller, &TrainingController::recordingFailed, this,
            [this](const QString &why) { showMessage(tr("Not recording: %1").arg(why), true); });
    connect(m_controller, &TrainingController::notice, this, &MainWindow::onNotice);
    connect(m_controller, &TrainingController::recordingStopped, this, &MainWindow::onRecordingStopped);
    connect(m_loader, &RunFileLoader::snapshotsProgress, this, &MainWindow::onSnapshotsProgress);
    connect(m_loader, &RunFileLoader::snapshotsFailed, this, &MainWindow::onSnapshotsFailed);
    connect(m_runs, &RunsTable::inspectRequested, this, &MainWindow::inspectRun);
    applyExperiment();
    onStateChanged(m_controller->state());
}

MainWindow::~MainWindow() = default;

void MainWindow::buildActions()
{
    QStyle *s = style();
    m_start = new QAction(s->standardIcon(QStyle::SP_MediaPlay), tr("Start"), this);
    m_start->setToolTip(tr("Start the comparison (Space)"));
    m_pause = new QAction(s->standardIcon(QStyle::SP_MediaPause), tr("Pause"), this);
    m_pause->setCheckable(true);
    m_pause->setToolTip(tr("Pause or resume every run (Space)"));
    m_step = new QAction(s->standardIcon(QStyle::SP_MediaSkipForward), tr("Step"), this);
    m_step->setShortcut(QKeySequence(Qt::Key_Period));
    m_step->setToolTip(tr("One step of every run, then pause (.)"));
    m_stop = new QAction(s->standardIcon(QStyle::SP_MediaStop), tr("Stop"), this);
    m_stop->setToolTip(tr("Stop every run after its current step; results are kept"));
    m_reset = new QAction(s->standardIcon(QStyle::SP_BrowserReload), tr("Reset"), this);
    m_reset->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_R));
    m_reset->setToolTip(tr("Stop and clear the runs so the experiment can start again (Ctrl+R)"));
    m_fork = new QAction(tr("Fork…"), this);
    m_fork->setToolTip(tr("Continue a run from step k with another recipe"));
    m_record = new QAction(tr("Record runs to run files"), this);
    m_record->setCheckable(true);
    m_record->setChecked(true);
    m_record->setToolTip(tr("Each start writes its runs to an HDF5 run file that nmstudio, h5py or HDFView can open"));
    m_exportAll = new QAction(tr("Export all charts…"), this);
    m_exportAll->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_E));
    auto *space = new QAction(this);
    space->setShortcut(QKeySequence(Qt::Key_Space));
    addAction(space);
    connect(space, &QAction::triggered, this, &MainWindow::pauseOrStart);
    connect(m_start, &QAction::triggered, this, &MainWindow::startOrRestart);
    connect(m_pause, &QAction::triggered, this,
            [this](bool on) { on ? m_controller->pause() : m_controller->resume(); });
    connect(m_step, &QAction::triggered, this, &MainWindow::stepOnce);
    connect(m_stop, &QAction::triggered, m_controller, &TrainingController::stop);
    connect(m_reset, &QAction::triggered, this, &MainWindow::resetExperiment);
    connect(m_fork, &QAction::triggered, this, &MainWindow::forkSelected);
    connect(m_exportAll, &QAction::triggered, this, &MainWindow::exportAllDialog);
}

void MainWindow::buildToolbars()
{
    auto *run = addToolBar(tr("Training"));
    run->setObjectName(QStringLiteral("trainingToolbar"));
    run->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    run->addActions({m_start, m_pause, m_step, m_stop, m_reset});
    run->addSeparator();
    run->addAction(m_fork);

    auto *view = addToolBar(tr("Charts"));
    view->setObjectName(QStringLiteral("chartToolbar"));
    view->addWidget(new QLabel(tr(" Smoothing "), view));
    m_smoothSlider = new QSlider(Qt::Horizontal, view);
    m_smoothSlider->setRange(0, 999);
    m_smoothSlider->setFixedWidth(120);
    m_smoothSpin = new QDoubleSpinBox(view);
    m_smoothSpin->setRange(0.0, 0.999);
    m_smoothSpin->setDecimals(3);
    m_smoothSpin->setSingleStep(0.05);
    m_smoothSlider->setToolTip(tr("Exponential moving average, debiased (TensorBoard's); the raw curve stays faded "
                                  "underneath"));
    view->addWidget(m_smoothSlider);
    view->addWidget(m_smoothSpin);
    connect(m_smoothSlider, &QSlider::valueChanged, this, [this](int v) { m_settings->setSmoothing(v / 1000.0); });
    connect(m_smoothSpin, &QDoubleSpinBox::valueChanged, this, [this](double v) { m_settings->setSmoothing(v); });
    connect(m_settings, &ChartSettings::changed, this, &MainWindow::syncViewControls);
    view->addSeparator();
    view->addWidget(new QLabel(tr(" x axis "), view));
    m_xMode = new QComboBox(view);
    m_xMode->addItems({tr("step"), tr("training time"), tr("wall time"), tr("training FLOPs")});
    m_xMode->setToolTip(tr("Training time counts step times only (pauses excluded); wall time includes pauses; "
                           "training FLOPs are the theoretical count so far (sparse products at N/M of dense; "
                           "runs recorded without it are not drawn)"));
    connect(m_xMode, &QComboBox::currentIndexChanged, this,
            [this](int i) { m_settings->setXMode(static_cast<XAxisMode>(i)); });
    view->addWidget(m_xMode);
    m_linkX = view->addAction(tr("Link x"));
    m_linkX->setCheckable(true);
    m_linkX->setToolTip(tr("Zooming or panning one line chart of a page does the same to the page's other line "
                           "charts"));
    connect(m_linkX, &QAction::toggled, m_settings, &ChartSettings::setLinkX);
    m_follow = view->addAction(tr("Follow latest"));
    m_follow->setCheckable(true);
    m_follow->setToolTip(tr("While zoomed, slide the window along with the newest step"));
    connect(m_follow, &QAction::toggled, m_settings, &ChartSettings::setFollowLatest);
    m_group = new QAction(tr("Group seeds"), view);
    m_group->setCheckable(true);
    m_group->setToolTip(tr("Draw runs that differ only in seed as their mean with a band: the 95 % confidence "
                           "interval of the mean (Student t over the seeds) or min–max (the arrow chooses)"));
    connect(m_group, &QAction::toggled, m_settings, &ChartSettings::setGroupSeeds);
    auto *bandMenu = new QMenu(view);
    auto *bands = new QActionGroup(bandMenu);
    m_bandCi = bandMenu->addAction(tr("Band: 95 % confidence interval of the mean (Student t)"));
    m_bandMinMax = bandMenu->addAction(tr("Band: min–max over the seeds"));
    for (QAction *a : {m_bandCi, m_bandMinMax}) {
        a->setCheckable(true);
        bands->addAction(a);
    }
    connect(m_bandCi, &QAction::triggered, this, [this] { m_settings->setSeedBand(SeedBand::Ci95); });
    connect(m_bandMinMax, &QAction::triggered, this, [this] { m_settings->setSeedBand(SeedBand::MinMax); });
    auto *groupButton = new QToolButton(view);
    groupButton->setObjectName(QStringLiteral("groupSeedsButton"));
    groupButton->setDefaultAction(m_group);
    groupButton->setMenu(bandMenu);
    groupButton->setPopupMode(QToolButton::MenuButtonPopup);
    groupButton->setAutoRaise(true);
    view->addWidget(groupButton);
    Q_EMIT m_settings->changed(); // sync the widgets with the defaults
}

void MainWindow::buildDocks()
{
    auto *left = new QWidget;
    auto *layout = new QVBoxLayout(left);
    layout->setContentsMargins(0, 0, 0, 0);
    m_live = new LivePanel(left);
    m_experiment = new ExperimentPanel(left);
    layout->addWidget(m_live);
    layout->addWidget(m_experiment, 1);
    auto *expDock = new QDockWidget(tr("Experiment"), this);
    expDock->setObjectName(QStringLiteral("experimentDock"));
    expDock->setWidget(left);
    addDockWidget(Qt::LeftDockWidgetArea, expDock);

    m_runs = new RunsTable(m_store);
    auto *runsDock = new QDockWidget(tr("Runs"), this);
    runsDock->setObjectName(QStringLiteral("runsDock"));
    runsDock->setWidget(m_runs);
    addDockWidget(Qt::BottomDockWidgetArea, runsDock);
    resizeDocks({expDock}, {360}, Qt::Horizontal);
    resizeDocks({runsDock}, {170}, Qt::Vertical);
}

void MainWindow::buildMenus()
{
    QMenu *file = menuBar()->addMenu(tr("&File"));
    file->addAction(tr("&Open run file…"), QKeySequence::Open, this, &MainWindow::openDialog);
    m_recentMenu = file->addMenu(tr("Open &recent"));
    connect(m_recentMenu, &QMenu::aboutToShow, this, &MainWindow::fillRecentMenu);
    QMenu *samples = file->addMenu(tr("Open &sample runs"));
    for (const QString &f : sampleFiles())
        samples->addAction(QFileInfo(f).completeBaseName(), this, [this, f] { openRunFile(f); });
    if (samples->isEmpty())
        samples->addAction(tr("(none installed)"))->setEnabled(false);
    file->addAction(tr("Close run files"), this, [this] {
        for (const QString &f : m_loader->files())
            m_loader->close(f);
    });
    file->addSeparator();
    file->addAction(m_record);
    file->addAction(tr("Recording folder…"), this, [this] {
        const QString dir = QFileDialog::getExistingDirectory(this, tr("Record run files into"), m_recordFolder);
        if (!dir.isEmpty())
            setRecordFolder(dir);
    });
    file->addSeparator();
    file->addAction(tr("New comparison (defaults)"), this, &MainWindow::newComparison);
    file->addSeparator();
    file->addAction(m_exportAll);
    addFigureSizeMenu(file);
    file->addSeparator();
    file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);
    QMenu *run = menuBar()->addMenu(tr("&Run"));
    run->addActions({m_start, m_pause, m_step, m_stop, m_reset});
    run->addSeparator();
    run->addAction(m_fork);
    QMenu *view = menuBar()->addMenu(tr("&View"));
    for (QDockWidget *d : findChildren<QDockWidget *>())
        view->addAction(d->toggleViewAction());
    view->addSeparator();
    view->addActions({m_follow, m_group});
    view->addSeparator();
    m_sampleAtStart = view->addAction(tr("Show the sample experiment at start"));
    m_sampleAtStart->setCheckable(true);
    m_sampleAtStart->setChecked(QSettings().value(settings::kShowSample, true).toBool());
    connect(m_sampleAtStart, &QAction::toggled, this, [](bool on) { QSettings().setValue(settings::kShowSample, on); });
    QMenu *help = menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("Mouse and keys"), this, &MainWindow::showMouseAndKeys);
    help->addAction(tr("About nmstudio"), this, &MainWindow::showAbout);
}

void MainWindow::buildStatusBar()
{
    m_statusState = new QLabel(this);
    m_statusStep = new QLabel(this);
    m_statusRate = new QLabel(this);
    m_statusElapsed = new QLabel(this);
    m_statusMessage = new QLabel(this);
    for (QLabel *l : {m_statusState, m_statusStep, m_statusRate, m_statusElapsed})
        l->setMinimumWidth(90);
    statusBar()->addWidget(m_statusState);
    statusBar()->addWidget(m_statusStep);
    statusBar()->addWidget(m_statusRate);
    statusBar()->addWidget(m_statusElapsed);
    statusBar()->addWidget(m_statusMessage, 1);
    m_statusTimer = new QTimer(this);
    m_statusTimer->setInterval(250);
    connect(m_statusTimer, &QTimer::timeout, this, &MainWindow::updateStatus);
    updateStatus();
}

void MainWindow::showMessage(const QString &text, bool error)
{
    m_statusMessage->setText(text);
    m_statusMessage->setToolTip(text);
    m_statusMessage->setStyleSheet(error ? QStringLiteral("color: #b2182b;") : QString());
}

void MainWindow::updateStatus()
{
    const auto p = m_controller->progress();
    static const char *states[] = {"Ready", "Running", "Paused", "Finished"};
    m_statusState->setText(tr(states[static_cast<int>(m_controller->state())]));
    m_statusStep->setText(tr("step %1 / %2").arg(p.step).arg(p.total));
    m_statusRate->setText(tr("%1 steps/s").arg(p.stepsPerSecond, 0, 'f', 0));
    m_statusElapsed->setText(tr("elapsed %1").arg(formatElapsed(p.elapsed)));
}

void MainWindow::onStateChanged(TrainingController::State s)
{
    using S = TrainingController::State;
    const bool active = s == S::Running || s == S::Paused;
    m_start->setEnabled(!active && m_experiment->isValid());
    m_start->setText(s == S::Finished ? tr("Restart") : tr("Start"));
    m_pause->setEnabled(active);
    m_pause->setChecked(s == S::Paused);
    m_stop->setEnabled(active);
    m_reset->setEnabled(s != S::Idle);
    m_experiment->setLocked(active);
    if (s == S::Running)
        m_statusTimer->start();
    else
        m_statusTimer->stop();
    if (s == S::Finished && !m_warning.isEmpty()) {
        showMessage(tr("Finished. %1").arg(m_warning), true);
        m_statusMessage->setToolTip(m_warningDetail);
    } else if (s == S::Finished) {
        showMessage(tr("Finished. Export the charts (Ctrl+E), fork a run, or change the experiment and restart."));
    }
    updateStatus();
}

void MainWindow::applyExperiment()
{
    if (m_controller->isActive() || m_controller->state() == TrainingController::State::Finished)
        return; // applied on the next start, so finished results stay on screen until then
    const auto configs = m_experiment->configs();
    if (configs.empty()) {
        showMessage(m_experiment->firstError(), true);
        return;
    }
    try {
        m_controller->setExperiment(configs);
        m_experimentDirty = false;
        TrainingController::Live live = m_live->values();
        live.lr = configs.front().lr;
        live.lambda = configs.front().lambda;
        m_live->setValues(live);
        m_controller->setLiveSettings(live);
        showMessage(tr("Ready: %n run(s). Press Start.", "", static_cast<int>(configs.size())));
    } catch (const std::exception &e) {
        showMessage(QString::fromUtf8(e.what()), true);
    }
}

void MainWindow::startOrRestart()
{
    if (!m_experiment->isValid()) {
        showMessage(m_experiment->firstError(), true);
        return;
    }
    m_warning.clear();
    m_warningDetail.clear();
    if (m_controller->state() == TrainingController::State::Finished) {
        m_controller->reset();
        applyExperiment();
    } else if (m_experimentDirty) {
        applyExperiment();
    }
    QString path;
    if (m_record->isChecked() && !m_recordFolder.isEmpty()) {
        QDir().mkpath(m_recordFolder);
        // A fresh name: two starts in one second, or a file put there by hand, are never replaced.
        path = QString::fromStdString(nm::freshRunFilePath(
            QDir(m_recordFolder)
                .filePath(QStringLiteral("experiment-%1.h5")
                              .arg(QDateTime::currentDateTime().toString(QStringLiteral("yyyyMMdd-HHmmss"))))
                .toStdString()));
    }
    m_controller->setRecordPath(path);
    m_controller->start();
    if (!path.isEmpty()) {
        showMessage(tr("Recording to %1").arg(path));
        addRecent(path);
    }
}

void MainWindow::setRecordFolder(const QString &folder)
{
    m_recordFolder = folder;
    m_record->setChecked(!folder.isEmpty());
}

bool MainWindow::openRunFile(const QString &path, QString *error)
{
    QString why;
    const QList<int> ids = m_loader->open(path, &why);
    if (ids.isEmpty()) {
        if (why.isEmpty())
            why = tr("%1 holds no runs").arg(path);
        showMessage(why, true);
        if (error)
            *error = why;
        return false;
    }
    addRecent(QFileInfo(path).absoluteFilePath());
    showMessage(tr("Opened %1: %n run(s)", "", static_cast<int>(ids.size())).arg(QFileInfo(path).fileName()));
    return true;
}

bool MainWindow::waitForSnapshots(int timeoutMs)
{
    QElapsedTimer t;
    t.start();
    while (m_loader->snapshotsPending() > 0) {
        if (t.elapsed() > timeoutMs)
            return false;
        QCoreApplication::processEvents(QEventLoop::AllEvents, 50);
        QThread::msleep(2);
    }
    QCoreApplication::processEvents();
    return true;
}

void MainWindow::openDialog()
{
    QSettings s;
    const QStringList files = QFileDialog::getOpenFileNames(
        this, tr("Open run files"), s.value(settings::kOpenDir, QDir::homePath()).toString(), tr("Run files (*.h5)"));
    for (const QString &f : files) {
        s.setValue(settings::kOpenDir, QFileInfo(f).absolutePath());
        QString why;
        if (!openRunFile(f, &why))
            QMessageBox::warning(this, tr("Cannot open run file"), why);
    }
}

bool MainWindow::showSampleAtStart() const
{
    return m_sampleAtStart->isChecked();
}

QStringList MainWindow::recentFiles() const
{
    return QSettings().value(settings::kRecentFiles).toStringList();
}

void MainWindow::addRecent(const QString &path)
{
    QStringList list = recentFiles();
    list.removeAll(path);
    list.prepend(path);
    while (list.size() > 10)
        list.removeLast();
    QSettings().setValue(settings::kRecentFiles, list);
}

void MainWindow::fillRecentMenu()
{
    m_recentMenu->clear();
    for (const QString &f : recentFiles())
        m_recentMenu
            ->addAction(QFileInfo(f).fileName() + QStringLiteral("  —  ") + QFileInfo(f).absolutePath(), this,
                        [this, f] { openRunFile(f); })
            ->setEnabled(QFileInfo::exists(f));
    if (m_recentMenu->isEmpty())
        m_recentMenu->addAction(tr("(none)"))->setEnabled(false);
}

QStringList MainWindow::sampleFiles()
{
    const QStringList dirs = {
        QCoreApplication::applicationDirPath() + QStringLiteral("/../share/nmstudio/sample_runs"),
        QStringLiteral(NMSTUDIO_SAMPLE_DIR),
    };
    for (const QString &d : dirs) {
        const QDir dir(d);
        const QStringList files = dir.entryList({QStringLiteral("*.h5")}, QDir::Files, QDir::Name);
        if (!files.isEmpty()) {
            QStringList out;
            for (const QString &f : files)
                out << dir.absoluteFilePath(f);
            return out;
        }
    }
    return {};
}

QString MainWindow::defaultSampleFile()
{
    const QStringList files = sampleFiles();
    for (const QString &f : files)
        if (QFileInfo(f).fileName() == QStringLiteral("mlp_2to4_ste_srste_sste.h5"))
            return f;
    return files.isEmpty() ? QString() : files.first();
}

void MainWindow::forkDialog(int runId)
{
    if (runId < 0)
        return;
    ForkDialog dialog(m_store, m_controller, runId, this);
    if (dialog.exec() == QDialog::Accepted && dialog.forkedRun() > 0)
        showMessage(tr("Forked into %1").arg(m_store->run(dialog.forkedRun())->meta.name));
}

void MainWindow::resumeDialog(int runId)
{
    if (runId < 0)
        return;
    ForkDialog dialog(m_store, m_controller, runId, this, ForkDialog::Mode::Resume);
    if (dialog.exec() == QDialog::Accepted && dialog.forkedRun() > 0)
        showMessage(tr("Resumed as %1").arg(m_store->run(dialog.forkedRun())->meta.name));
}

bool MainWindow::confirm(const QString &title, const QString &text, const QString &yes)
{
    if (m_confirm)
        return m_confirm(title, text, yes);
    QMessageBox box(QMessageBox::Question, title, text, QMessageBox::Cancel, this);
    QPushButton *go = box.addButton(yes, QMessageBox::AcceptRole);
    box.setDefaultButton(QMessageBox::Cancel);
    box.exec();
    return box.clickedButton() == go;
}

QString MainWindow::askPath(const QString &caption, const QString &suggested, const QString &filter)
{
    if (m_askPath)
        return m_askPath(caption, suggested, filter);
    QSettings s;
    const QString dir = s.value(settings::kExportDir, QDir::homePath()).toString();
    QString path = QFileDialog::getSaveFileName(this, caption, QDir(dir).filePath(suggested), filter);
    if (!path.isEmpty())
        s.setValue(settings::kExportDir, QFileInfo(path).absolutePath());
    return path;
}

bool MainWindow::exportChart(ChartPanel *panel, ExportFormat format)
{
    if (format == ExportFormat::Clipboard) {
        copyToClipboard(panel);
        showMessage(tr("Copied %1 to the clipboard").arg(panel->title()));
        return true;
    }
    const bool csv = format == ExportFormat::CsvVisible || format == ExportFormat::CsvAll;
    const bool png = format == ExportFormat::Png || format == ExportFormat::Png2x;
    const QString ext = csv                           ? QStringLiteral("csv")
                        : png                         ? QStringLiteral("png")
                        : format == ExportFormat::Svg ? QStringLiteral("svg")
                                                      : QStringLiteral("pdf");
    const QString suggested = panel->slug() + (format == ExportFormat::Png2x ? QStringLiteral("@2x.") : ".") + ext;
    const QString path =
        askPath(tr("Export %1").arg(panel->title()), suggested, tr("%1 files (*.%2)").arg(ext.toUpper(), ext));
    if (path.isEmpty())
        return false;
    const FigurePreset figure = currentFigurePreset();
    const bool screen = figure.isScreen();
    const double times = format == ExportFormat::Png2x ? 2.0 : 1.0;
    QString error;
    bool ok = false;
    if (csv)
        ok = saveCsv(panel, path, format == ExportFormat::CsvVisible, &error);
    else if (format == ExportFormat::Svg)
        ok = screen ? saveSvg(panel, path, &error) : saveSvg(panel, path, figure, &error);
    else if (format == ExportFormat::Pdf)
        ok = screen ? savePdf(panel, path, &error) : savePdf(panel, path, figure, &error);
    else
        ok = screen ? savePng(panel, path, times, &error) : savePng(panel, path, figure, times * kFigureDpi, &error);
    const QString size = csv || screen ? QString() : QStringLiteral(" (%1)").arg(figure.describe());
    showMessage(ok ? tr("Wrote %1").arg(path) + size : error, !ok);
    return ok;
}

QStringList MainWindow::exportAll(const QString &dir, QStringList *errors, QSize size, const FigurePreset &figure)
{
    m_pages->refreshAll();
    return exportCharts(m_pages->charts(), dir, errors, size, figure);
}

void MainWindow::restoreSettings()
{
    QSettings s;
    if (s.contains(settings::kGeometry))
        restoreGeometry(s.value(settings::kGeometry).toByteArray());
    else
        resize(1500, 940);
    restoreState(s.value(settings::kState).toByteArray(), kStateVersion);
    m_settings->setSmoothing(s.value(settings::kSmoothing, m_settings->smoothing()).toDouble());
    m_settings->setXMode(static_cast<XAxisMode>(std::clamp(s.value(settings::kXMode, 0).toInt(), 0, 3)));
    m_settings->setGroupSeeds(s.value(settings::kGroupSeeds, true).toBool());
    m_settings->setSeedBand(s.value(settings::kSeedBand, QStringLiteral("ci95")).toString() == QStringLiteral("minmax")
                                ? SeedBand::MinMax
                                : SeedBand::Ci95);
    m_settings->setFollowLatest(s.value(settings::kFollow, false).toBool());
    m_settings->setLinkX(s.value(settings::kLinkX, true).toBool());
    m_pages->setCurrentIndex(s.value(settings::kPage, 0).toInt());
    const QVariantMap form = s.value(settings::kExperimentForm).toMap();
    if (!form.isEmpty())
        m_experiment->restoreState(form); // otherwise the default comparison stays
    setRecordFolder(s.value(settings::kRecordFolder,
                            QStandardPaths::writableLocation(QStandardPaths::AppDataLocation) + QStringLiteral("/runs"))
                        .toString());
    m_record->setChecked(s.value(settings::kRecordOn, true).toBool());
    applyExperiment();
}

void MainWindow::saveSettings() const
{
    QSettings s;
    s.setValue(settings::kGeometry, saveGeometry());
    s.setValue(settings::kState, saveState(kStateVersion));
    s.setValue(settings::kPage, m_pages->currentIndex());
    s.setValue(settings::kSmoothing, m_settings->smoothing());
    s.setValue(settings::kXMode, static_cast<int>(m_settings->xMode()));
    s.setValue(settings::kGroupSeeds, m_settings->groupSeeds());
    s.setValue(settings::kSeedBand,
               m_settings->seedBand() == SeedBand::MinMax ? QStringLiteral("minmax") : QStringLiteral("ci95"));
    s.setValue(settings::kFollow, m_settings->followLatest());
    s.setValue(settings::kLinkX, m_settings->linkX());
    s.setValue(settings::kExperimentForm, m_experiment->state());
    s.setValue(settings::kRecordFolder, m_recordFolder);
    s.setValue(settings::kRecordOn, m_record->isChecked());
    s.setValue(settings::kStarted, true);
}

void MainWindow::closeEvent(QCloseEvent *e)
{
    if (m_controller->isActive()) {
        const QString file = m_controller->recordedPath();
        const QString text =
            file.isEmpty() ? tr("Runs are still training and are not recorded to a run file: closing stops them "
                                "and their results are lost.")
                           : tr("Runs are still training. Closing stops them; the run file keeps every step so far, "
                                "with the runs marked Stopped:\n\n%1")
                                 .arg(QDir::toNativeSeparators(file));
        if (!confirm(tr("Stop training and close?"), text, tr("Stop and close"))) {
            e->ignore();
            return;
        }
    }
    saveSettings();
    m_controller->shutdown(); // stop and join the training threads; the run file closes
    QMainWindow::closeEvent(e);
}

void MainWindow::onExperimentChanged()
{
    m_experimentDirty = true;
    m_start->setEnabled(m_experiment->isValid() && !m_controller->isActive());
    m_applyTimer->start();
}

void MainWindow::onRunFailed(int id, const QString &why)
{
    const Run *r = m_store->run(id);
    showMessage(tr("%1 failed: %2").arg(r ? r->meta.name : QString(), why), true);
}

void MainWindow::applyLiveSettings(const TrainingController::Live &live)
{
    m_controller->setLiveSettings(live);
    showMessage(tr("Live settings apply from the next step: lr %1, λ %2, one point per %n step(s)", "", live.logEvery)
                    .arg(live.lr)
                    .arg(live.lambda));
}

void MainWindow::onNotice(const QString &message)
{
    m_warning = m_warningDetail = message;
    showMessage(message, true);
}

void MainWindow::onRecordingStopped(const QString &message)
{
    // "recording to 'FILE' stopped: CAUSE; the runs go on…": the cause fits the status bar,
    // the whole message (with the file) is its tooltip.
    const qsizetype at = message.indexOf(QStringLiteral(" stopped: "));
    m_warning = at < 0 ? message : tr("Recording stopped: %1").arg(message.mid(at + 10));
    m_warningDetail = message;
    showMessage(m_warning, true);
    m_statusMessage->setToolTip(message);
}

void MainWindow::onSnapshotsProgress()
{
    const int left = m_loader->snapshotsPending();
    showMessage(left > 0 ? tr("Reading snapshots: %n left", "", left) : tr("Snapshots read"));
}

void MainWindow::onSnapshotsFailed(const QString &path, const QString &why)
{
    showMessage(tr("Snapshots of %1 could not be read (its series are shown): %2").arg(QFileInfo(path).fileName(), why),
                true);
}

void MainWindow::inspectRun(int id)
{
    m_pages->setCurrentWidget(m_pages->inspector());
    m_pages->inspector()->select(id, 0, 1L << 40);
}

void MainWindow::pauseOrStart()
{
    if (m_controller->isActive())
        m_controller->togglePause();
    else if (m_start->isEnabled())
        startOrRestart();
}

void MainWindow::stepOnce()
{
    if (m_controller->state() == TrainingController::State::Finished || !m_controller->isActive())
        applyExperiment();
    m_controller->stepOnce();
}

void MainWindow::resetExperiment()
{
    m_warning.clear();
    m_warningDetail.clear();
    m_controller->reset();
    applyExperiment();
}

void MainWindow::forkSelected()
{
    const QList<int> sel = m_runs->selectedRuns();
    forkDialog(sel.isEmpty() ? (m_store->runIds().isEmpty() ? -1 : m_store->runIds().first()) : sel.first());
}

void MainWindow::exportAllDialog()
{
    const QString dir = QFileDialog::getExistingDirectory(
        this, tr("Export every chart to"), QSettings().value(settings::kExportDir, QDir::homePath()).toString());
    if (dir.isEmpty())
        return;
    QSettings().setValue(settings::kExportDir, dir);
    QStringList errors;
    const QStringList files = exportAll(dir, &errors, {}, currentFigurePreset());
    showMessage(errors.isEmpty() ? tr("Wrote %n file(s) to %1", "", static_cast<int>(files.size())).arg(dir)
                                 : errors.join("; "),
                !errors.isEmpty());
}

void MainWindow::syncViewControls()
{
    const QSignalBlocker a(m_smoothSlider), b(m_smoothSpin);
    m_smoothSlider->setValue(static_cast<int>(std::lround(m_settings->smoothing() * 1000)));
    m_smoothSpin->setValue(m_settings->smoothing());
    m_follow->setChecked(m_settings->followLatest());
    m_linkX->setChecked(m_settings->linkX());
    m_group->setChecked(m_settings->groupSeeds());
    m_bandCi->setChecked(m_settings->seedBand() == SeedBand::Ci95);
    m_bandMinMax->setChecked(m_settings->seedBand() == SeedBand::MinMax);
    m_xMode->setCurrentIndex(static_cast<int>(m_settings->xMode()));
}

void MainWindow::newComparison()
{
    if (m_controller->isActive())
        m_controller->reset();
    m_experiment->setDefaultComparison();
    applyExperiment();
}

void MainWindow::showMouseAndKeys()
{
    QMessageBox::information(
        this, tr("Mouse and keys"),
        tr("<p><b>Charts</b>: drag to zoom; double-click, right-click or Home to reset; Ctrl+wheel zooms at the "
           "cursor; middle-drag or the arrow keys pan; hover for every run's value at that step. Live updates "
           "never reset a zoom; <i>Follow latest</i> slides a zoomed window along.</p>"
           "<p><b>Training</b>: Space start/pause, <b>.</b> one step, Ctrl+R reset, Ctrl+E export all charts.</p>"
           "<p><b>Runs table</b>: the check box shows or hides a run everywhere; double-click its name to change "
           "its colour; right-click to fork or inspect.</p>"));
}

void MainWindow::showAbout()
{
    QMessageBox::about(this, tr("About nmstudio"),
                       tr("<p><b>nmstudio %1</b></p><p>Trains small networks with N:M structured-sparse training "
                          "recipes side by side and plots what they do to masks, gradients and losses.</p>"
                          "<p>Qt %2, Qt Charts (GPL-3).</p>")
                           .arg(QString::fromLatin1(nm::version()), QString::fromLatin1(qVersion())));
}

} // namespace nmui
