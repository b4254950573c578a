#pragma once
// ExperimentPanel: sets up a comparison: model and data, N:M and which layers are sparse,
// the recipes to compare (add/remove, each with its hyperparameters at the authors'
// defaults), seeds, a sweep (nmtrain --sweep: one row per swept option), steps, optimiser
// and schedule. Every field is checked as it is edited, with the option table's rules (the
// same as nmtrain's); an invalid value is refused at the field with the reason, and the
// experiment keeps its last valid form until it is fixed.
#include "panels/config_field.h"

#include "nmcore/experiment.h"

#include <QFrame>
#include <QWidget>

#include <functional>
#include <map>
#include <optional>
#include <vector>

class QComboBox;
class QLabel;
class QLineEdit;
class QSpinBox;
class QStackedWidget;
class QToolButton;
class QVBoxLayout;

namespace nmui {

class RecipeEditor;

// `count` values from `from` to `to` (both included), evenly spaced or (log) evenly spaced in
// log, as option text ("0.0001", "0.001"); rounded to whole numbers for an integer option.
// Empty with *error set for a count below 1 or log spacing over a value ≤ 0.
QStringList sweepRange(double from, double to, int count, bool log, bool integer, QString *error);

// One row of the Sweep section: a swept option (any option nmtrain's --sweep takes) and its
// values, as a list ("2e-4, 6e-4"; '|' between values that hold commas, as in --sweep) or a
// range (from, to, count, linear or log spacing).
class SweepRow : public QFrame {
    Q_OBJECT
  public:
    // `current` gives an option's value in the form, which a new key's list starts from.
    explicit SweepRow(std::function<QString(const QString &key)> current, QWidget *parent = nullptr);

    QString key() const;
    bool isRange() const;
    void setList(const QString &key, const QString &values);
    void setRange(const QString &key, const QString &from, const QString &to, int count, bool log);
    // The axis as nm::parseSweep reads it (values not checked yet); nullopt with *error set
    // (the core's message, or the range's problem) when the row is invalid.
    std::optional<nm::SweepAxis> axis(QString *error) const;
    void setError(const QString &message); // empty clears it
    QString error() const { return m_error; }
    void setLocked(bool locked);
    // The row as text (QSettings) and back.
    QVariantMap state() const;
    void restoreState(const QVariantMap &state);

    QComboBox *keyBox() const { return m_key; }
    QComboBox *modeBox() const { return m_mode; }
    QLineEdit *valuesEdit() const { return m_values; }
    QLineEdit *fromEdit() const { return m_from; }
    QLineEdit *toEdit() const { return m_to; }
    QSpinBox *countBox() const { return m_count; }
    QComboBox *spacingBox() const { return m_spacing; }
    QToolButton *removeButton() const { return m_remove; }

  Q_SIGNALS:
    void edited(); // any change by the user
    void removeRequested(nmui::SweepRow *row);

  private:
    QStringList rangeValues(QString *error) const;
    void onKeyChanged();
    void updatePreview();
    QWidget *buildRange();

    std::function<QString(const QString &)> m_current;
    QComboBox *m_key, *m_mode, *m_spacing;
    QStackedWidget *m_stack;
    QLineEdit *m_values, *m_from, *m_to;
    QSpinBox *m_count;
    QToolButton *m_remove;
    QLabel *m_preview, *m_errorLabel;
    QString m_error, m_lastKey;
};

class ExperimentPanel : public QWidget {
    Q_OBJECT
  public:
    explicit ExperimentPanel(QWidget *parent = nullptr);
    ~ExperimentPanel() override;

    // STE, SR-STE and S-STE at 2:4 on the Fashion-MNIST MLP (every layer sparse), one seed.
    void setDefaultComparison();
    // Shows an existing experiment's settings (the first config's, with every run's recipe).
    void showConfigs(const std::vector<nm::RunConfig> &configs);

    // Validates everything; the runs (recipe × seed), or empty with errors at the fields.
    std::vector<nm::RunConfig> configs();
    bool isValid() const { return m_valid; }
    QString firstError() const;

    ConfigField *field(const std::string &key) const;
    void setValue(const std::string &key, const QString &text); // as if typed (validates)
    QList<RecipeEditor *> recipes() const { return m_recipes; }
    RecipeEditor *addRecipe(const QString &recipe);
    void removeRecipe(RecipeEditor *editor);
    void setSeeds(const QString &text);
    QLineEdit *seedsEdit() const { return m_seeds; }
    // The Sweep section's rows, in axis order (the first outermost, as nmtrain's --sweep).
    QList<SweepRow *> sweepRows() const { return m_sweepRows; }
    SweepRow *addSweepRow(); // a row for lr with the form's value
    void removeSweepRow(SweepRow *row);
    // "3 recipes × 4 sweep points × 2 seeds = 24 runs", as the Sweep section shows it.
    QString runCountText() const;
    // Structural settings are locked while an experiment trains.
    void setLocked(bool locked);

    // The form as text (QSettings), and back.
    QVariantMap state() const;
    void restoreState(const QVariantMap &state);

  Q_SIGNALS:
    void changed(); // after every edit; check isValid()

  private:
    QWidget *buildGroup(const QString &title, const std::vector<std::string> &keys);
    QWidget *buildRecipes();
    QWidget *buildSweep();
    SweepRow *appendSweepRow(); // connected, no value set, not validated
    void clearSweepRows();
    QString currentValue(const QString &key) const;
    void updateRunCount(const std::vector<nm::SweepAxis> *axes, bool sweepOk, size_t seeds, bool seedsOk);
    void onEdited(ConfigField *f);
    void onModelChanged(const QString &oldModel);
    void updateVisibility();
    std::map<std::string, std::string> baseFlags() const;
    std::vector<uint64_t> parseSeeds(QString *error) const;
    void revalidate();
    void attributeError(const std::string &message, RecipeEditor *recipe);
    bool readSweepRows(std::vector<nm::SweepAxis> &axes);
    bool sweepRuns(const std::vector<nm::SweepAxis> &axes, const std::vector<uint64_t> &seeds,
                   std::vector<nm::RunConfig> &runs);
    void showSweepError(const std::string &message);
    bool formRuns(const std::vector<uint64_t> &seeds, std::vector<nm::RunConfig> &runs);

    std::map<std::string, ConfigField *> m_fields;
    QList<RecipeEditor *> m_recipes;
    QVBoxLayout *m_recipeLayout = nullptr;
    QLineEdit *m_seeds = nullptr;
    QLabel *m_seedError = nullptr;
    QLabel *m_summary = nullptr;
    QWidget *m_addButton = nullptr;
    QList<SweepRow *> m_sweepRows;
    QVBoxLayout *m_sweepLayout = nullptr;
    QWidget *m_addSweepButton = nullptr;
    QLabel *m_runCount = nullptr;
    QLabel *m_sweepError = nullptr; // a sweep point's error that names no row's option
    QString m_model = QStringLiteral("mlp");
    bool m_valid = true;
    bool m_loading = false;
    std::vector<nm::RunConfig> m_lastValid;
    // What the last changed() announced: validity and the runs' configs. configs() revalidates,
    // and listeners that call it on changed() must not be told again when nothing changed.
    std::string m_announced;
};

// Text of the run-option defaults the panel starts from for a model (GUI defaults applied).
QString panelDefault(const std::string &key, const QString &model);

} // namespace nmui
