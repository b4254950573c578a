#pragma once
// RecipeEditor: one recipe of the comparison: which recipe, and the hyperparameters that
// recipe reads, each starting at the authors' default (the option table's default) with a
// button to return to those defaults.
#include "panels/config_field.h"

#include <QFrame>

#include <map>
#include <vector>

class QComboBox;
class QFormLayout;
class QToolButton;

namespace nmui {

class RecipeEditor : public QFrame {
    Q_OBJECT
  public:
    explicit RecipeEditor(const QString &recipe, QWidget *parent = nullptr);

    QString recipe() const;
    void setRecipe(const QString &recipe);
    // The hyperparameters this recipe reads (option keys).
    static std::vector<std::string> hyperparameters(const QString &recipe);
    // Flags that differ from the defaults, plus the recipe itself.
    std::map<std::string, std::string> flags() const;
    void setValue(const std::string &key, const QString &text);
    void resetToDefaults();
    ConfigField *field(const std::string &key) const;
    // Checks each field alone; returns false when one is invalid (the field says why).
    bool validate(const QString &model);
    void setRemovable(bool on);

  Q_SIGNALS:
    void changed();
    void removeRequested(nmui::RecipeEditor *editor);

  private:
    void rebuild();

    QComboBox *m_recipe;
    QToolButton *m_remove;
    QFormLayout *m_form;
    std::map<std::string, ConfigField *> m_fields;
};

} // namespace nmui
