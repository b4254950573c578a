#pragma once
// ExperimentPanel: sets up a comparison: model and data, N:M and which layers are sparse,
// the recipes to compare (add/remove, each with its hyperparameters at the authors'
// defaults), seeds, steps, optimiser and schedule. Every field is checked as it is edited,
// with the option table's rules (the same as nmtrain's); an invalid value is refused at the
// field with the reason, and the experiment keeps its last valid form until it is fixed.
#include "config_field.h"

#include <QWidget>

#include <map>
#include <vector>

class QLabel;
class QLineEdit;
class QVBoxLayout;

namespace nmui {

class RecipeEditor;

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
    void onEdited(ConfigField *f);
    void onModelChanged(const QString &oldModel);
    void updateVisibility();
    std::map<std::string, std::string> baseFlags() const;
    std::vector<uint64_t> parseSeeds(QString *error) const;
    void revalidate();
    void attributeError(const std::string &message, RecipeEditor *recipe);

    std::map<std::string, ConfigField *> m_fields;
    QList<RecipeEditor *> m_recipes;
    QVBoxLayout *m_recipeLayout = nullptr;
    QLineEdit *m_seeds = nullptr;
    QLabel *m_seedError = nullptr;
    QLabel *m_summary = nullptr;
    QWidget *m_addButton = nullptr;
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
