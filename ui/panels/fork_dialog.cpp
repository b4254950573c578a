#include "panels/fork_dialog.h"

#include "panels/config_field.h"
#include "panels/recipe_editor.h"
#include "training/training_controller.h"

#include "nmcore/error.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>

namespace nmui {

ForkDialog::ForkDialog(RunStore *store, TrainingController *controller, int runId, QWidget *parent, Mode mode)
    : QDialog(parent), m_store(store), m_controller(controller), m_mode(mode)
{
    setWindowTitle(mode == Mode::Resume ? tr("Resume a run") : tr("Fork a run"));
    m_parent = new QComboBox(this);
    for (int id : store->runIds())
        m_parent->addItem(store->run(id)->meta.name, id);
    m_parent->setCurrentIndex(std::max(0, m_parent->findData(runId)));
    m_step = new QSpinBox(this);
    m_step->setObjectName(QStringLiteral("fork_step"));
    m_steps = new QLineEdit(this);
    m_steps->setObjectName(QStringLiteral("fork_steps"));
    m_name = new QLineEdit(this);
    m_name->setPlaceholderText(tr("automatic"));
    m_recipe = new RecipeEditor(QStringLiteral("sste"), this);
    m_recipe->setRemovable(false);
    m_note = new QLabel(this);
    m_note->setWordWrap(true);
    m_error = new QLabel(this);
    m_error->setWordWrap(true);
    m_error->setStyleSheet(QStringLiteral("color: #b2182b;"));
    auto *form = new QFormLayout;
    form->addRow(tr("Run"), m_parent);
    form->addRow(tr("At step"), m_step);
    form->addRow(tr("Continue with"), m_recipe);
    form->addRow(tr("Total steps"), m_steps);
    form->addRow(tr("Name"), m_name);
    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    buttons->button(QDialogButtonBox::Ok)->setText(mode == Mode::Resume ? tr("Resume") : tr("Fork"));
    auto *layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(m_note);
    layout->addWidget(m_error);
    layout->addWidget(buttons);
    connect(m_parent, &QComboBox::currentIndexChanged, this, &ForkDialog::parentChanged);
    connect(m_step, &QSpinBox::valueChanged, this, &ForkDialog::stepChanged);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(buttons, &QDialogButtonBox::accepted, this, [this] {
        if (forkNow() > 0)
            accept();
    });
    parentChanged();
}

void ForkDialog::parentChanged()
{
    const Run *r = m_store->run(m_parent->currentData().toInt());
    if (!r)
        return;
    m_step->setRange(r->meta.state == RunState::Ready ? 0 : 1, static_cast<int>(std::max<long>(1, r->meta.step)));
    m_step->setValue(static_cast<int>(r->meta.step));
    m_steps->setText(QString::number(r->meta.config.steps));
    if (!r->meta.checkpointSteps.empty()) // a file run: start at its last checkpoint, exactly
        m_step->setValue(static_cast<int>(std::min(r->meta.step, r->meta.checkpointSteps.back())));
    if (m_mode == Mode::Resume) {
        // The run's own recipe and settings; to its configured length, or twice it once reached.
        const nm::RunConfig &c = r->meta.config;
        m_recipe->setRecipe(QString::fromStdString(c.recipe));
        for (const auto &key : RecipeEditor::hyperparameters(m_recipe->recipe()))
            m_recipe->setValue(key, configText(c, key));
        m_steps->setText(QString::number(c.steps > m_step->value() ? c.steps : 2 * c.steps));
    }
    stepChanged();
}

void ForkDialog::stepChanged()
{
    m_note->setText(m_controller->forkNote(m_parent->currentData().toInt(), m_step->value()));
}

QString ForkDialog::error() const
{
    return m_error->text();
}

QString ForkDialog::note() const
{
    return m_note->text();
}

int ForkDialog::forkNow()
{
    m_error->clear();
    const int parent = m_parent->currentData().toInt();
    const Run *r = m_store->run(parent);
    if (!r)
        return -1;
    if (!m_recipe->validate(QString::fromStdString(nm::choiceName(r->meta.config.model)))) {
        m_error->setText(tr("Fix the recipe's settings first."));
        return -1;
    }
    // The parent's config with the new recipe, its hyperparameters and the total step count.
    std::map<std::string, std::string> flags;
    nm::RunConfig child;
    try {
        flags["steps"] = m_steps->text().trimmed().toStdString();
        for (const auto &o : nm::configOptions())
            if (o.key != "steps" && o.key != "name")
                flags[o.key] = configText(r->meta.config, o.key).toStdString();
        for (const auto &[k, v] : m_recipe->flags())
            flags[k] = v;
        for (const auto &key : RecipeEditor::hyperparameters(m_recipe->recipe()))
            if (ConfigField *f = m_recipe->field(key))
                flags[key] = f->text().toStdString();
        flags["warmup"] = std::to_string(r->meta.config.warmup);
        child = nm::parseConfig("", "the fork form", flags);
        child.name = m_name->text().trimmed().toStdString();
        if (child.name.empty() && m_mode == Mode::Resume)
            child.name = r->meta.name.toStdString() + "@" + std::to_string(m_step->value());
    } catch (const nm::ConfigError &e) {
        m_error->setText(QString::fromStdString(e.what()));
        return -1;
    }
    const bool current = !isFinished(r->meta.state) && m_step->value() == r->meta.step;
    QString why;
    m_forked = m_controller->fork(parent, current ? -1 : m_step->value(), child, &why);
    if (m_forked < 0)
        m_error->setText(why);
    return m_forked;
}

} // namespace nmui
