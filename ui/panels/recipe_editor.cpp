#include "panels/recipe_editor.h"

#include "nmcore/sparsity.h"

#include <QComboBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QToolButton>
#include <QVBoxLayout>

namespace nmui {

namespace {
QString defaultText(const std::string &key)
{
    return configText(nm::defaultConfig(), key);
}
} // namespace

RecipeEditor::RecipeEditor(const QString &recipe, QWidget *parent) : QFrame(parent)
{
    setFrameShape(QFrame::StyledPanel);
    m_recipe = new QComboBox(this);
    m_recipe->setObjectName(QStringLiteral("recipe"));
    for (const auto &name : nm::recipeNames())
        m_recipe->addItem(QString::fromStdString(nm::recipeTitle(nm::parseRecipe(name))), QString::fromStdString(name));
    auto *defaults = new QToolButton(this);
    defaults->setText(tr("Defaults"));
    defaults->setToolTip(tr("Reset this recipe's hyperparameters to the authors' defaults"));
    m_remove = new QToolButton(this);
    m_remove->setText(QStringLiteral("✕"));
    m_remove->setToolTip(tr("Remove this recipe from the comparison"));
    auto *head = new QHBoxLayout;
    head->addWidget(m_recipe, 1);
    head->addWidget(defaults);
    head->addWidget(m_remove);
    m_form = new QFormLayout;
    m_form->setContentsMargins(12, 0, 0, 0);
    m_form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addLayout(head);
    layout->addLayout(m_form);
    connect(m_recipe, &QComboBox::currentIndexChanged, this, [this] {
        rebuild();
        Q_EMIT changed();
    });
    connect(defaults, &QToolButton::clicked, this, [this] {
        resetToDefaults();
        Q_EMIT changed();
    });
    connect(m_remove, &QToolButton::clicked, this, [this] { Q_EMIT removeRequested(this); });
    setRecipe(recipe);
    if (m_fields.empty())
        rebuild(); // setRecipe built the fields already unless the recipe was the first entry
}

std::vector<std::string> RecipeEditor::hyperparameters(const QString &recipe)
{
    const std::string r = recipe.toStdString();
    if (r == "srste")
        return {"lambda", "srste_decay"};
    if (r == "sste")
        return {"sste_beta"};
    if (r == "mdgf-linear" || r == "mdgf-exp")
        return {"mdgf_fraction", "mdgf_kappa", "mdgf_grad", "pgf_dense", "pgf_finetune"};
    if (r == "sdgf-stepwise" || r == "sdgf-geometric")
        return {"pgf_dense", "pgf_finetune"};
    if (r == "tsrste-df")
        return {"lambda", "tsrste_refresh", "tsrste_dense_tail"};
    if (r == "asp")
        return {"asp_prune_at"};
    return {};
}

QString RecipeEditor::recipe() const
{
    return m_recipe->currentData().toString();
}

void RecipeEditor::setRecipe(const QString &recipe)
{
    const int i = m_recipe->findData(recipe);
    if (i >= 0 && i != m_recipe->currentIndex())
        m_recipe->setCurrentIndex(i);
}

void RecipeEditor::rebuild()
{
    std::map<std::string, QString> keep;
    for (const auto &[key, f] : m_fields)
        keep[key] = f->text();
    while (m_form->rowCount() > 0)
        m_form->removeRow(0); // deletes the fields' widgets
    for (const auto &[key, f] : m_fields)
        delete f;
    m_fields.clear();
    for (const auto &key : hyperparameters(recipe())) {
        const nm::OptionInfo *info = findOptionInfo(key);
        if (!info)
            continue;
        auto *f = new ConfigField(*info, this);
        f->setText(keep.count(key) ? keep[key] : defaultText(key));
        connect(f, &ConfigField::edited, this, &RecipeEditor::changed);
        m_form->addRow(f->label(), f->widget());
        m_fields[key] = f;
    }
}

std::map<std::string, std::string> RecipeEditor::flags() const
{
    std::map<std::string, std::string> out{{"recipe", recipe().toStdString()}};
    for (const auto &[key, f] : m_fields)
        if (f->text() != defaultText(key))
            out[key] = f->text().toStdString();
    return out;
}

void RecipeEditor::setValue(const std::string &key, const QString &text)
{
    if (auto *f = field(key))
        f->setText(text);
}

void RecipeEditor::resetToDefaults()
{
    for (const auto &[key, f] : m_fields) {
        f->setText(defaultText(key));
        f->setError({});
    }
}

ConfigField *RecipeEditor::field(const std::string &key) const
{
    auto it = m_fields.find(key);
    return it == m_fields.end() ? nullptr : it->second;
}

bool RecipeEditor::validate(const QString &model)
{
    bool ok = true;
    for (const auto &[key, f] : m_fields) {
        f->setError(checkOption(key, f->text(), model));
        ok = ok && f->error().isEmpty();
    }
    return ok;
}

void RecipeEditor::setRemovable(bool on)
{
    m_remove->setEnabled(on);
}

} // namespace nmui
