#include "experiment_panel.h"

#include "recipe_editor.h"

#include "nmcore/error.h"
#include "nmcore/sparsity.h"

#include <QFormLayout>
#include <QGroupBox>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QRegularExpression>
#include <QScrollArea>
#include <QToolButton>
#include <QVBoxLayout>

#include <set>

namespace nmui {

namespace {

const std::vector<std::string> kModelKeys = {"model",      "mlp_hidden", "gpt_layers", "gpt_heads", "gpt_width",
                                             "context",    "vit_layers", "vit_heads",  "vit_width", "vit_patch",
                                             "vit_pool",   "data",       "data_dir",   "text_file", "val_count"};
const std::vector<std::string> kSparsityKeys = {"nm", "sparse_layers", "keep_indivisible_dense", "mvue", "fp8"};
const std::vector<std::string> kTrainingKeys = {"steps",    "batch",        "optimizer",   "lr",
                                                "min_lr_ratio", "warmup",   "momentum",    "nesterov",
                                                "beta1",    "beta2",        "weight_decay", "grad_clip",
                                                "eval_every", "snapshot_every"};
const std::vector<std::string> kAdvancedKeys = {"eps",         "eval_batches", "threads",          "diagnostics",
                                                "noise_window", "sad_every",   "continuity_every"};

} // namespace

QString panelDefault(const std::string &key, const QString &model)
{
    // The GUI makes every layer sparse by default so the heatmaps show a row per layer.
    if (key == "sparse_layers" && model == QStringLiteral("mlp"))
        return QStringLiteral("all");
    return configText(nm::defaultConfig(model.toStdString()), key);
}

ExperimentPanel::ExperimentPanel(QWidget *parent) : QWidget(parent)
{
    auto *content = new QWidget;
    auto *layout = new QVBoxLayout(content);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addWidget(buildGroup(tr("Model and data"), kModelKeys));
    layout->addWidget(buildGroup(tr("Sparsity"), kSparsityKeys));
    layout->addWidget(buildRecipes());
    layout->addWidget(buildGroup(tr("Training"), kTrainingKeys));
    auto *advanced = buildGroup(tr("Diagnostics and threads"), kAdvancedKeys);
    layout->addWidget(advanced);
    m_summary = new QLabel(content);
    m_summary->setWordWrap(true);
    layout->addWidget(m_summary);
    layout->addStretch(1);
    auto *scroll = new QScrollArea(this);
    scroll->setWidgetResizable(true);
    scroll->setWidget(content);
    scroll->setFrameShape(QFrame::NoFrame);
    auto *outer = new QVBoxLayout(this);
    outer->setContentsMargins(0, 0, 0, 0);
    outer->addWidget(scroll);
    setDefaultComparison();
}

ExperimentPanel::~ExperimentPanel()
{
    // QWidget's destructor takes the focus from a child line edit, which then reports
    // editingFinished; by then this panel's members are gone. Stop listening first (by
    // receiver: a wildcard disconnect would also cut Qt's accessibility cache off).
    for (auto &[key, f] : m_fields)
        disconnect(f, nullptr, this, nullptr);
    for (RecipeEditor *r : m_recipes)
        disconnect(r, nullptr, this, nullptr);
    disconnect(m_seeds, nullptr, this, nullptr);
}

QWidget *ExperimentPanel::buildGroup(const QString &title, const std::vector<std::string> &keys)
{
    auto *box = new QGroupBox(title, this);
    auto *form = new QFormLayout(box);
    form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
    for (const auto &key : keys) {
        const nm::OptionInfo *info = findOptionInfo(key);
        if (!info)
            continue;
        auto *f = new ConfigField(*info, box);
        m_fields[key] = f;
        form->addRow(f->label(), f->widget());
        connect(f, &ConfigField::edited, this, [this, f] { onEdited(f); });
    }
    return box;
}

QWidget *ExperimentPanel::buildRecipes()
{
    auto *box = new QGroupBox(tr("Recipes to compare"), this);
    auto *layout = new QVBoxLayout(box);
    m_recipeLayout = new QVBoxLayout;
    layout->addLayout(m_recipeLayout);
    auto *add = new QToolButton(box);
    add->setText(tr("Add recipe"));
    add->setPopupMode(QToolButton::InstantPopup);
    auto *menu = new QMenu(add);
    for (const auto &name : nm::recipeNames()) {
        const QString n = QString::fromStdString(name);
        menu->addAction(QString::fromStdString(nm::recipeTitle(nm::parseRecipe(name))), this,
                        [this, n] { addRecipe(n); });
    }
    add->setMenu(menu);
    m_addButton = add;
    auto *seedRow = new QFormLayout;
    m_seeds = new QLineEdit(box);
    m_seeds->setObjectName(QStringLiteral("seeds"));
    m_seeds->setToolTip(tr("One run per recipe and seed: 1, or 1,2,3, or 1-3. Runs of one recipe with several "
                           "seeds are drawn as a mean line with a min–max band."));
    m_seedError = new QLabel(box);
    m_seedError->setStyleSheet(QStringLiteral("color: #b2182b;"));
    // No word wrap inside a form row: see ConfigField.
    m_seedError->setVisible(false);
    auto *seedBox = new QWidget(box);
    auto *seedLayout = new QVBoxLayout(seedBox);
    seedLayout->setContentsMargins(0, 0, 0, 0);
    seedLayout->setSpacing(1);
    seedLayout->addWidget(m_seeds);
    seedLayout->addWidget(m_seedError);
    seedRow->addRow(tr("seeds"), seedBox);
    connect(m_seeds, &QLineEdit::editingFinished, this, &ExperimentPanel::revalidate);
    layout->addWidget(add, 0, Qt::AlignLeft);
    layout->addLayout(seedRow);
    return box;
}

RecipeEditor *ExperimentPanel::addRecipe(const QString &recipe)
{
    auto *e = new RecipeEditor(recipe, this);
    m_recipes.append(e);
    m_recipeLayout->addWidget(e);
    connect(e, &RecipeEditor::changed, this, &ExperimentPanel::revalidate);
    connect(e, &RecipeEditor::removeRequested, this, &ExperimentPanel::removeRecipe);
    for (RecipeEditor *r : m_recipes)
        r->setRemovable(m_recipes.size() > 1);
    revalidate();
    return e;
}

void ExperimentPanel::removeRecipe(RecipeEditor *editor)
{
    if (m_recipes.size() <= 1 || !m_recipes.removeOne(editor))
        return; // a comparison needs at least one run
    editor->deleteLater();
    for (RecipeEditor *r : m_recipes)
        r->setRemovable(m_recipes.size() > 1);
    revalidate();
}

void ExperimentPanel::setDefaultComparison()
{
    m_loading = true;
    m_model = QStringLiteral("mlp");
    for (auto &[key, f] : m_fields) {
        f->setText(panelDefault(key, m_model));
        f->setError({});
    }
    while (!m_recipes.isEmpty())
        delete m_recipes.takeLast();
    for (const char *r : {"ste", "srste", "sste"})
        addRecipe(QString::fromLatin1(r));
    m_seeds->setText(QStringLiteral("1"));
    m_loading = false;
    updateVisibility();
    revalidate();
}

void ExperimentPanel::showConfigs(const std::vector<nm::RunConfig> &configs)
{
    if (configs.empty())
        return;
    m_loading = true;
    const nm::RunConfig &first = configs.front();
    m_model = QString::fromStdString(first.model);
    for (auto &[key, f] : m_fields) {
        f->setText(configText(first, key));
        f->setError({});
    }
    while (!m_recipes.isEmpty())
        delete m_recipes.takeLast();
    std::set<std::string> seen;
    QStringList seeds;
    for (const auto &c : configs) {
        if (!seeds.contains(QString::number(c.seed)))
            seeds << QString::number(c.seed);
        std::string key = c.recipe;
        for (const auto &h : RecipeEditor::hyperparameters(QString::fromStdString(c.recipe)))
            key += "|" + configText(c, h).toStdString();
        if (!seen.insert(key).second)
            continue;
        RecipeEditor *e = addRecipe(QString::fromStdString(c.recipe));
        for (const auto &h : RecipeEditor::hyperparameters(QString::fromStdString(c.recipe)))
            e->setValue(h, configText(c, h));
    }
    m_seeds->setText(seeds.join(','));
    m_loading = false;
    updateVisibility();
    revalidate();
}

ConfigField *ExperimentPanel::field(const std::string &key) const
{
    auto it = m_fields.find(key);
    return it == m_fields.end() ? nullptr : it->second;
}

void ExperimentPanel::setValue(const std::string &key, const QString &text)
{
    if (ConfigField *f = field(key)) {
        f->setText(text);
        onEdited(f);
    }
}

void ExperimentPanel::setSeeds(const QString &text)
{
    m_seeds->setText(text);
    revalidate();
}

void ExperimentPanel::onEdited(ConfigField *f)
{
    if (f->key() == "model" && f->text() != m_model) {
        const QString old = m_model;
        m_model = f->text();
        onModelChanged(old);
    }
    updateVisibility();
    revalidate();
}

void ExperimentPanel::onModelChanged(const QString &oldModel)
{
    // Fields still at the old model's defaults move to the new model's defaults.
    for (auto &[key, f] : m_fields)
        if (key != "model" && f->text() == panelDefault(key, oldModel))
            f->setText(panelDefault(key, m_model));
}

void ExperimentPanel::updateVisibility()
{
    const bool gpt = m_model == QStringLiteral("gpt");
    const QString source = field("data")->text(), opt = field("optimizer")->text();
    auto show = [&](const char *key, bool on) {
        if (ConfigField *f = field(key)) {
            f->widget()->setVisible(on);
            if (auto *form = qobject_cast<QFormLayout *>(f->widget()->parentWidget()->layout()))
                if (QWidget *label = form->labelForField(f->widget()))
                    label->setVisible(on);
        }
    };
    const bool vit = m_model == QStringLiteral("vit");
    show("mlp_hidden", !gpt && !vit);
    for (const char *k : {"gpt_layers", "gpt_heads", "gpt_width", "context", "eval_batches"})
        show(k, gpt);
    for (const char *k : {"vit_layers", "vit_heads", "vit_width", "vit_patch", "vit_pool"})
        show(k, vit);
    show("data_dir", source == QStringLiteral("fashion-mnist"));
    show("text_file", source == QStringLiteral("text"));
    show("val_count", source == QStringLiteral("fashion-mnist"));
    show("momentum", opt == QStringLiteral("sgd"));
    show("nesterov", opt == QStringLiteral("sgd"));
    for (const char *k : {"beta1", "beta2", "eps"})
        show(k, opt == QStringLiteral("adamw"));
}

std::map<std::string, std::string> ExperimentPanel::baseFlags() const
{
    // Only what differs from the model's defaults, so option rules that depend on whether a
    // value was given (a default warm-up shrinks for short runs) work as on the command line.
    std::map<std::string, std::string> flags{{"model", m_model.toStdString()}};
    for (const auto &[key, f] : m_fields)
        if (key != "model" && f->text() != configText(nm::defaultConfig(m_model.toStdString()), key))
            flags[key] = f->text().toStdString();
    return flags;
}

std::vector<uint64_t> ExperimentPanel::parseSeeds(QString *error) const
{
    std::vector<uint64_t> seeds;
    const QString text = m_seeds->text().trimmed();
    static const QRegularExpression item(QStringLiteral("^\\s*(\\d{1,15})\\s*(?:-\\s*(\\d{1,15})\\s*)?$"));
    for (const QString &part : text.split(',', Qt::SkipEmptyParts)) {
        const auto m = item.match(part);
        if (!m.hasMatch()) {
            *error = tr("seeds: expected numbers such as 1, 1,2,3 or 1-3; got '%1'").arg(part.trimmed());
            return {};
        }
        const uint64_t a = m.captured(1).toULongLong(), b = m.captured(2).isEmpty() ? a : m.captured(2).toULongLong();
        if (b < a || b - a >= 64) {
            *error = tr("seeds: the range %1 must be ascending and hold at most 64 seeds").arg(part.trimmed());
            return {};
        }
        for (uint64_t s = a; s <= b; ++s)
            if (std::find(seeds.begin(), seeds.end(), s) == seeds.end())
                seeds.push_back(s);
    }
    if (seeds.empty())
        *error = tr("seeds: give at least one seed");
    return seeds;
}

void ExperimentPanel::attributeError(const std::string &message, RecipeEditor *recipe)
{
    const std::string key = keyOfMessage(message);
    ConfigField *f = recipe ? recipe->field(key) : nullptr;
    if (!f)
        f = field(key);
    if (f && f->error().isEmpty())
        f->setError(QString::fromStdString(message));
    else if (!f)
        m_summary->setText(QStringLiteral("<span style='color:#b2182b'>%1</span>")
                               .arg(QString::fromStdString(message).toHtmlEscaped()));
}

void ExperimentPanel::revalidate()
{
    if (m_loading)
        return;
    m_summary->clear();
    bool ok = true;
    for (auto &[key, f] : m_fields) {
        f->setError(checkOption(key, f->text(), m_model));
        ok = ok && f->error().isEmpty();
    }
    for (RecipeEditor *r : m_recipes)
        ok = r->validate(m_model) && ok;
    QString seedError;
    const std::vector<uint64_t> seeds = parseSeeds(&seedError);
    m_seedError->setText(seedError);
    m_seedError->setVisible(!seedError.isEmpty());
    ok = ok && seedError.isEmpty();
    std::vector<nm::RunConfig> runs;
    std::map<QString, int> titles;
    for (RecipeEditor *r : m_recipes) {
        if (!ok)
            break;
        auto flags = baseFlags();
        for (const auto &[k, v] : r->flags())
            flags[k] = v;
        QString title = QString::fromStdString(nm::recipeTitle(nm::parseRecipe(r->recipe().toStdString())));
        if (const int n = ++titles[title]; n > 1)
            title += QStringLiteral(" %1").arg(n);
        for (uint64_t seed : seeds) {
            flags["seed"] = std::to_string(seed);
            flags["name"] = (seeds.size() > 1 ? title + QStringLiteral(" s%1").arg(seed) : title).toStdString();
            try {
                runs.push_back(nm::parseConfig("", "the form", flags));
            } catch (const nm::ConfigError &e) {
                attributeError(e.what(), r);
                ok = false;
                break;
            }
        }
    }
    m_valid = ok;
    std::string outcome = ok ? "valid" : "invalid";
    if (ok) {
        m_lastValid = runs;
        m_summary->setText(tr("%n run(s) of %1 steps", "", static_cast<int>(runs.size()))
                               .arg(runs.empty() ? 0 : runs.front().steps));
        for (const auto &r : runs)
            outcome += '\n' + nm::configToJson(r);
    }
    if (outcome == m_announced)
        return;
    m_announced = std::move(outcome);
    Q_EMIT changed();
}

std::vector<nm::RunConfig> ExperimentPanel::configs()
{
    revalidate();
    return m_valid ? m_lastValid : std::vector<nm::RunConfig>{};
}

QString ExperimentPanel::firstError() const
{
    for (const auto &[key, f] : m_fields)
        if (!f->error().isEmpty())
            return f->error();
    for (RecipeEditor *r : m_recipes)
        for (const auto &key : RecipeEditor::hyperparameters(r->recipe()))
            if (ConfigField *f = r->field(key); f && !f->error().isEmpty())
                return f->error();
    if (!m_seedError->isHidden())
        return m_seedError->text();
    return m_valid ? QString() : m_summary->text();
}

void ExperimentPanel::setLocked(bool locked)
{
    for (auto &[key, f] : m_fields)
        f->setEnabled(!locked);
    for (RecipeEditor *r : m_recipes)
        r->setEnabled(!locked);
    m_seeds->setEnabled(!locked);
    m_addButton->setEnabled(!locked);
}

QVariantMap ExperimentPanel::state() const
{
    QVariantMap s;
    for (const auto &[key, f] : m_fields)
        s[QString::fromStdString(key)] = f->text();
    QVariantList recipes;
    for (RecipeEditor *r : m_recipes) {
        QVariantMap m;
        for (const auto &[k, v] : r->flags())
            m[QString::fromStdString(k)] = QString::fromStdString(v);
        recipes << m;
    }
    s[QStringLiteral("_recipes")] = recipes;
    s[QStringLiteral("_seeds")] = m_seeds->text();
    return s;
}

void ExperimentPanel::restoreState(const QVariantMap &s)
{
    if (s.isEmpty())
        return;
    m_loading = true;
    m_model = s.value(QStringLiteral("model"), QStringLiteral("mlp")).toString();
    for (auto &[key, f] : m_fields)
        f->setText(s.value(QString::fromStdString(key), panelDefault(key, m_model)).toString());
    const QVariantList recipes = s.value(QStringLiteral("_recipes")).toList();
    if (!recipes.isEmpty()) {
        while (!m_recipes.isEmpty())
            delete m_recipes.takeLast();
        for (const QVariant &v : recipes) {
            const QVariantMap m = v.toMap();
            RecipeEditor *e = addRecipe(m.value(QStringLiteral("recipe"), QStringLiteral("ste")).toString());
            for (auto it = m.begin(); it != m.end(); ++it)
                if (it.key() != QStringLiteral("recipe"))
                    e->setValue(it.key().toStdString(), it.value().toString());
        }
    }
    m_seeds->setText(s.value(QStringLiteral("_seeds"), QStringLiteral("1")).toString());
    m_loading = false;
    updateVisibility();
    revalidate();
}

} // namespace nmui
