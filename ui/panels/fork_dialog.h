#pragma once
// Fork: continue a run from step k with another recipe (W&B's fork_from), so two recipes
// share a prefix and differ only from k on. A running or paused run forks at its current
// step; a run read from a file starts from its checkpoint at k; otherwise its first k steps
// are replayed. Resume: the same dialog with the run's own recipe and settings, from its last
// checkpoint (file runs) or its last step, to its configured length (or more).
#include <QDialog>

class QComboBox;
class QLabel;
class QLineEdit;
class QSpinBox;

namespace nmui {

class RecipeEditor;
class RunStore;
class TrainingController;

class ForkDialog : public QDialog {
    Q_OBJECT
  public:
    enum class Mode { Fork, Resume };
    ForkDialog(RunStore *store, TrainingController *controller, int runId, QWidget *parent = nullptr,
               Mode mode = Mode::Fork);
    int forkedRun() const { return m_forked; }
    // Fills the form and forks (tests): returns the new run id or -1 (error() says why).
    int forkNow();
    QString error() const;
    QString note() const;
    RecipeEditor *recipe() const { return m_recipe; }
    QSpinBox *stepSpin() const { return m_step; }
    QLineEdit *stepsEdit() const { return m_steps; }

  private:
    void parentChanged();
    void stepChanged();

    RunStore *m_store;
    TrainingController *m_controller;
    Mode m_mode;
    QComboBox *m_parent;
    QSpinBox *m_step;
    QLineEdit *m_steps, *m_name;
    RecipeEditor *m_recipe;
    QLabel *m_error, *m_note;
    int m_forked = -1;
};

} // namespace nmui
