#include "panels/experiment_panel.h"

#include "panels/recipe_editor.h"

#include "nmcore/error.h"
#include "nmcore/sparsity.h"

#include <QComboBox>
#include <QCompleter>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QRegularExpression>
#include <QScrollArea>
#include <QSpinBox>
#include <QStackedWidget>
#include <QToolButton>
#include <QVBoxLayout>

#include <cmath>
#include <set>

namespace nmui {

namespace {

const std::vector<std::string> kModelKeys = {"model",    "mlp_hidden", "gpt_layers", "gpt_heads", "gpt_width",
                                             "context",  "vit_layers", "vit_heads",  "vit_width", "vit_patch",
                                             "vit_pool", "data",       "data_dir",   "text_file", "val_count"};
const std::vector<std::string> kSparsityKeys = {"nm", "sparse_layers", "keep_indivisible_dense", "mvue", "fp8"};
const std::vector<std::string> kTrainingKeys = {
    "steps",    "batch", "optimizer", "lr",           "min_lr_ratio", "warmup",     "momentum",
    "nesterov", "beta1", "beta2",     "weight_decay", "grad_clip",    "eval_every", "snapshot_every"};
const std::vector<std::string> kAdvancedKeys = {"eps",          "eval_batches", "threads",         "diagnostics",
                                                "noise_window", "sad_every",    "continuity_every"};

const QString kErrorStyle = QStringLiteral("color: #b2182b;");
// Every run trains on its own thread and draws its own curves.
constexpr int kMaxSweepRuns = 1000;

QString plural(qsizetype n, const char *one, const char *many)
{
    return QStringLiteral("%1 %2").arg(n).arg(QString::fromLatin1(n == 1 ? one : many));
}

} // namespace

QStringList sweepRange(double from, double to, int count, bool log, bool integer, QString *error)
{
    if (count < 1) {
        *error = QObject::tr("a range needs at least one value");
        return {};
    }
    if (!std::isfinite(from) || !std::isfinite(to)) {
        *error = QObject::tr("a range needs finite ends");
        return {};
    }
    if (log && (from <= 0 || to <= 0)) {
        *error = QObject::tr("log spacing needs both ends above 0 (from %1, to %2)").arg(from).arg(to);
        return {};
    }
    QStringList values;
    for (int i = 0; i < count; ++i) {
        const double t = count == 1 ? 0.0 : static_cast<double>(i) / (count - 1);
        const double v = i == 0           ? from
                         : i == count - 1 ? to
                         : log            ? std::exp(std::log(from) + (std::log(to) - std::log(from)) * t)
                                          : from + (to - from) * t;
        // (a whole number beyond 2^53 stays as written; the option's range refuses it)
        values << (integer && std::fabs(v) < 9e15 ? QString::number(std::llround(v)) : QString::number(v, 'g', 6));
    }
    return values;
}

// ---- SweepRow ------------------------------------------------------------------------------

// The range editor of a sweep row: from – to, the number of values, linear or log spacing.
QWidget *SweepRow::buildRange()
{
    auto *range = new QWidget(this);
    auto *rangeLayout = new QHBoxLayout(range);
    rangeLayout->setContentsMargins(0, 0, 0, 0);
    rangeLayout->setSpacing(3);
    m_from = new QLineEdit(range);
    m_from->setObjectName(QStringLiteral("sweep_from"));
    m_from->setPlaceholderText(tr("from"));
    m_to = new QLineEdit(range);
    m_to->setObjectName(QStringLiteral("sweep_to"));
    m_to->setPlaceholderText(tr("to"));
    m_count = new QSpinBox(range);
    m_count->setObjectName(QStringLiteral("sweep_count"));
    m_count->setRange(1, 1000);
    m_count->setValue(3);
    m_count->setToolTip(tr("Number of values, both ends included"));
    m_spacing = new QComboBox(range);
    m_spacing->setObjectName(QStringLiteral("sweep_spacing"));
    m_spacing->addItem(tr("linear"));
    m_spacing->addItem(tr("log"));
    m_spacing->setToolTip(tr("Evenly spaced values, or evenly spaced in log (1e-4, 1e-3, 1e-2)"));
    rangeLayout->addWidget(m_from, 1);
    rangeLayout->addWidget(new QLabel(QStringLiteral("–"), range));
    rangeLayout->addWidget(m_to, 1);
    rangeLayout->addWidget(m_count);
    rangeLayout->addWidget(m_spacing);
    return range;
}

SweepRow::SweepRow(std::function<QString(const QString &)> current, QWidget *parent)
    : QFrame(parent), m_current(std::move(current))
{
    setFrameShape(QFrame::StyledPanel);
    m_key = new QComboBox(this);
    m_key->setObjectName(QStringLiteral("sweep_key"));
    m_key->setEditable(true);
    m_key->setInsertPolicy(QComboBox::NoInsert);
    m_key->setMaxVisibleItems(20);
    for (const std::string &k : nm::sweepKeys())
        m_key->addItem(QString::fromStdString(k));
    m_key->completer()->setCompletionMode(QCompleter::PopupCompletion);
    m_key->completer()->setFilterMode(Qt::MatchContains);
    m_key->setToolTip(tr("The swept option: any option of nmtrain's --sweep (every option but recipe, seed and "
                         "name). Its values replace the form's value in every run."));
    m_mode = new QComboBox(this);
    m_mode->setObjectName(QStringLiteral("sweep_mode"));
    m_mode->addItem(tr("list"));
    m_mode->addItem(tr("range"));
    m_mode->setToolTip(tr("The values as a list, or a range from–to with a number of values"));
    m_remove = new QToolButton(this);
    m_remove->setText(QStringLiteral("✕"));
    m_remove->setToolTip(tr("Remove this option from the sweep"));
    auto *head = new QHBoxLayout;
    head->addWidget(m_key, 1);
    head->addWidget(m_mode);
    head->addWidget(m_remove);

    m_values = new QLineEdit(this);
    m_values->setObjectName(QStringLiteral("sweep_values"));
    m_values->setPlaceholderText(QStringLiteral("2e-4, 6e-4"));
    m_values->setToolTip(tr("The values, comma separated (2e-4, 6e-4; 2:4, 1:8), or separated by | when values "
                            "hold commas (128,128 | 256,256), as nmtrain --sweep KEY=LIST takes them"));
    QWidget *range = buildRange();
    m_stack = new QStackedWidget(this);
    m_stack->addWidget(m_values);
    m_stack->addWidget(range);
    m_stack->setSizePolicy(QSizePolicy::Preferred, QSizePolicy::Fixed);

    m_preview = new QLabel(this);
    m_preview->setWordWrap(true);
    m_preview->setStyleSheet(QStringLiteral("color: palette(mid);"));
    m_preview->setVisible(false);
    m_errorLabel = new QLabel(this);
    m_errorLabel->setWordWrap(true);
    m_errorLabel->setStyleSheet(kErrorStyle);
    m_errorLabel->setVisible(false);

    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->setSpacing(3);
    layout->addLayout(head);
    layout->addWidget(m_stack);
    layout->addWidget(m_preview);
    layout->addWidget(m_errorLabel);

    connect(m_key, &QComboBox::currentTextChanged, this, &SweepRow::onKeyChanged);
    connect(m_mode, &QComboBox::currentIndexChanged, this, [this](int i) {
        m_stack->setCurrentIndex(i);
        if (i == 1 && m_from->text().isEmpty() && m_to->text().isEmpty())
            m_from->setText(m_current(key()));
        updatePreview();
        Q_EMIT edited();
    });
    for (QLineEdit *e : {m_values, m_from, m_to})
        connect(e, &QLineEdit::textChanged, this, [this] {
            updatePreview();
            Q_EMIT edited();
        });
    connect(m_count, &QSpinBox::valueChanged, this, [this] {
        updatePreview();
        Q_EMIT edited();
    });
    connect(m_spacing, &QComboBox::currentIndexChanged, this, [this] {
        updatePreview();
        Q_EMIT edited();
    });
    connect(m_remove, &QToolButton::clicked, this, [this] { Q_EMIT removeRequested(this); });
    m_lastKey = key();
}

QString SweepRow::key() const
{
    return m_key->currentText().trimmed();
}

bool SweepRow::isRange() const
{
    return m_mode->currentIndex() == 1;
}

void SweepRow::onKeyChanged()
{
    // A list still at the previous option's form value follows the new option.
    if (m_values->text().trimmed() == m_current(m_lastKey).trimmed())
        m_values->setText(m_current(key()));
    m_lastKey = key();
    updatePreview();
    Q_EMIT edited();
}

void SweepRow::setList(const QString &key, const QString &values)
{
    const QSignalBlocker b1(m_key), b2(m_mode), b3(m_values);
    m_key->setCurrentText(key);
    m_lastKey = this->key();
    m_mode->setCurrentIndex(0);
    m_stack->setCurrentIndex(0);
    m_values->setText(values);
    updatePreview();
}

void SweepRow::setRange(const QString &key, const QString &from, const QString &to, int count, bool log)
{
    const QSignalBlocker b1(m_key), b2(m_mode), b3(m_from), b4(m_to), b5(m_count), b6(m_spacing);
    m_key->setCurrentText(key);
    m_lastKey = this->key();
    m_mode->setCurrentIndex(1);
    m_stack->setCurrentIndex(1);
    m_from->setText(from);
    m_to->setText(to);
    m_count->setValue(count);
    m_spacing->setCurrentIndex(log ? 1 : 0);
    updatePreview();
}

QStringList SweepRow::rangeValues(QString *error) const
{
    const std::string k = nm::canonicalKey(key().toStdString());
    const nm::OptionInfo *info = findOptionInfo(k);
    if (info && info->type != nm::OptionType::Int && info->type != nm::OptionType::Float) {
        *error = tr("sweep %1: a range needs a number option; list %1's values instead").arg(QString::fromStdString(k));
        return {};
    }
    bool okFrom = false, okTo = false;
    const double from = m_from->text().trimmed().toDouble(&okFrom), to = m_to->text().trimmed().toDouble(&okTo);
    if (!okFrom || !okTo) {
        *error = tr("sweep %1: the range's %2 is not a number: '%3'")
                     .arg(key(), okFrom ? tr("end") : tr("start"), (okFrom ? m_to : m_from)->text().trimmed());
        return {};
    }
    QString why;
    QStringList values = sweepRange(from, to, m_count->value(), m_spacing->currentIndex() == 1,
                                    info && info->type == nm::OptionType::Int, &why);
    if (!why.isEmpty())
        *error = tr("sweep %1: %2").arg(key(), why);
    return values;
}

std::optional<nm::SweepAxis> SweepRow::axis(QString *error) const
{
    QString list = m_values->text();
    if (isRange()) {
        QString why;
        const QStringList values = rangeValues(&why);
        if (!why.isEmpty()) {
            // An unknown option is the core's message, not the range's.
            if (!findOptionInfo(nm::canonicalKey(key().toStdString()))) {
                try {
                    nm::parseSweep(key().toStdString() + "=0");
                } catch (const nm::ConfigError &e) {
                    why = QString::fromStdString(e.what());
                }
            }
            *error = why;
            return std::nullopt;
        }
        list = values.join(',');
    }
    try {
        return nm::parseSweep(key().toStdString() + "=" + list.toStdString());
    } catch (const nm::ConfigError &e) {
        *error = QString::fromStdString(e.what());
        return std::nullopt;
    }
}

void SweepRow::updatePreview()
{
    QString why;
    const QStringList values = isRange() ? rangeValues(&why) : QStringList();
    m_preview->setText(why.isEmpty() ? values.join(QStringLiteral(", ")) : QString());
    m_preview->setVisible(isRange() && why.isEmpty());
}

void SweepRow::setError(const QString &message)
{
    m_error = message;
    m_errorLabel->setText(message);
    m_errorLabel->setVisible(!message.isEmpty());
}

void SweepRow::setLocked(bool locked)
{
    for (QWidget *w : std::initializer_list<QWidget *>{m_key, m_mode, m_stack, m_remove})
        w->setEnabled(!locked);
}

QVariantMap SweepRow::state() const
{
    return {
        {QStringLiteral("key"), key()},
        {QStringLiteral("mode"), isRange() ? QStringLiteral("range") : QStringLiteral("list")},
        {QStringLiteral("values"), m_values->text()},
        {QStringLiteral("from"), m_from->text()},
        {QStringLiteral("to"), m_to->text()},
        {QStringLiteral("count"), m_count->value()},
        {QStringLiteral("spacing"), m_spacing->currentIndex() == 1 ? QStringLiteral("log") : QStringLiteral("linear")}};
}

void SweepRow::restoreState(const QVariantMap &s)
{
    const QString k = s.value(QStringLiteral("key"), QStringLiteral("lr")).toString();
    {
        const QSignalBlocker b(m_values);
        m_values->setText(s.value(QStringLiteral("values")).toString());
    }
    setRange(k, s.value(QStringLiteral("from")).toString(), s.value(QStringLiteral("to")).toString(),
             s.value(QStringLiteral("count"), 3).toInt(),
             s.value(QStringLiteral("spacing")).toString() == QStringLiteral("log"));
    if (s.value(QStringLiteral("mode")).toString() != QStringLiteral("range")) {
        const QSignalBlocker b(m_mode);
        m_mode->setCurrentIndex(0);
        m_stack->setCurrentIndex(0);
        updatePreview();
    }
}

// ---- ExperimentPanel -----------------------------------------------------------------------

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
    layout->addWidget(buildSweep());
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
    for (SweepRow *r : m_sweepRows)
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

QWidget *ExperimentPanel::buildSweep()
{
    auto *box = new QGroupBox(tr("Sweep"), this);
    box->setToolTip(tr("As nmtrain --sweep: one run per point of the grid of the swept values (the first row "
                       "outermost), for every recipe and seed. A swept value replaces the form's value."));
    auto *layout = new QVBoxLayout(box);
    m_sweepLayout = new QVBoxLayout;
    m_sweepLayout->setSpacing(4);
    layout->addLayout(m_sweepLayout);
    auto *add = new QToolButton(box);
    add->setText(tr("Add swept option"));
    add->setToolTip(tr("Sweep one more option: the grid grows by its number of values"));
    connect(add, &QToolButton::clicked, this, [this] { addSweepRow(); });
    m_addSweepButton = add;
    layout->addWidget(add, 0, Qt::AlignLeft);
    m_sweepError = new QLabel(box);
    m_sweepError->setWordWrap(true);
    m_sweepError->setStyleSheet(kErrorStyle);
    m_sweepError->setVisible(false);
    layout->addWidget(m_sweepError);
    m_runCount = new QLabel(box);
    m_runCount->setObjectName(QStringLiteral("run_count"));
    m_runCount->setWordWrap(true);
    layout->addWidget(m_runCount);
    return box;
}

QString ExperimentPanel::currentValue(const QString &key) const
{
    const std::string k = nm::canonicalKey(key.trimmed().toStdString());
    if (k.empty())
        return {};
    if (ConfigField *f = field(k))
        return f->text();
    for (RecipeEditor *r : m_recipes)
        if (ConfigField *f = r->field(k))
            return f->text();
    return panelDefault(k, m_model);
}

SweepRow *ExperimentPanel::appendSweepRow()
{
    auto *row = new SweepRow([this](const QString &k) { return currentValue(k); }, this);
    m_sweepRows.append(row);
    m_sweepLayout->addWidget(row);
    connect(row, &SweepRow::edited, this, &ExperimentPanel::revalidate);
    connect(row, &SweepRow::removeRequested, this, &ExperimentPanel::removeSweepRow);
    return row;
}

SweepRow *ExperimentPanel::addSweepRow()
{
    // lr, or the first option in --help order that no row sweeps yet, at the form's value.
    std::set<std::string> used;
    for (SweepRow *r : m_sweepRows)
        used.insert(nm::canonicalKey(r->key().toStdString()));
    std::string key = "lr";
    if (used.count(key))
        for (const std::string &k : nm::sweepKeys())
            if (!used.count(k)) {
                key = k;
                break;
            }
    SweepRow *row = appendSweepRow();
    row->setList(QString::fromStdString(key), currentValue(QString::fromStdString(key)));
    revalidate();
    return row;
}

void ExperimentPanel::removeSweepRow(SweepRow *row)
{
    if (!m_sweepRows.removeOne(row))
        return;
    disconnect(row, nullptr, this, nullptr);
    row->hide();
    row->deleteLater();
    revalidate();
}

void ExperimentPanel::clearSweepRows()
{
    while (!m_sweepRows.isEmpty())
        delete m_sweepRows.takeLast();
}

QString ExperimentPanel::runCountText() const
{
    return m_runCount->text();
}

void ExperimentPanel::updateRunCount(const std::vector<nm::SweepAxis> *axes, bool sweepOk, size_t seeds, bool seedsOk)
{
    const QString recipes = plural(m_recipes.size(), "recipe", "recipes");
    const QString seedText = seedsOk ? plural(static_cast<qsizetype>(seeds), "seed", "seeds") : tr("? seeds");
    size_t points = 1;
    for (const nm::SweepAxis &a : *axes)
        points *= a.values.size();
    QString text;
    if (m_sweepRows.isEmpty())
        text = tr("No sweep: %1 × %2").arg(recipes, seedText);
    else
        text = tr("%1 × %2 × %3")
                   .arg(recipes,
                        sweepOk ? plural(static_cast<qsizetype>(points), "sweep point", "sweep points")
                                : tr("? sweep points"),
                        seedText);
    if (sweepOk && seedsOk)
        text +=
            tr(" = <b>%1</b>").arg(plural(static_cast<qsizetype>(points * seeds) * m_recipes.size(), "run", "runs"));
    m_runCount->setText(text);
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
    clearSweepRows();
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
    m_model = QString::fromStdString(nm::choiceName(first.model));
    for (auto &[key, f] : m_fields) {
        f->setText(configText(first, key));
        f->setError({});
    }
    while (!m_recipes.isEmpty())
        delete m_recipes.takeLast();
    // The sweep: a row per swept option of the first run, its values in the order the runs
    // have them (a value with a comma makes the list '|'-separated, as --sweep takes it).
    clearSweepRows();
    std::set<std::string> swept;
    for (const auto &[key, value] : first.sweep) {
        if (!swept.insert(key).second)
            continue;
        QStringList values;
        for (const auto &c : configs)
            for (const auto &[k, v] : c.sweep)
                if (k == key && !values.contains(QString::fromStdString(v)))
                    values << QString::fromStdString(v);
        const bool commas = std::any_of(values.begin(), values.end(), [](const QString &v) { return v.contains(','); });
        appendSweepRow()->setList(QString::fromStdString(key),
                                  values.join(commas ? QStringLiteral(" | ") : QStringLiteral(", ")));
    }
    std::set<std::string> seen;
    QStringList seeds;
    for (const auto &c : configs) {
        if (!seeds.contains(QString::number(c.seed)))
            seeds << QString::number(c.seed);
        std::string key = c.recipe;
        for (const auto &h : RecipeEditor::hyperparameters(QString::fromStdString(c.recipe)))
            if (!swept.count(h)) // a swept hyperparameter is the sweep's, not another recipe
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

// The sweep rows, each read by the core's parseSweep; their values are checked when the grid
// is expanded (sweepRuns), with the message nmtrain gives, on the row of the option.
bool ExperimentPanel::readSweepRows(std::vector<nm::SweepAxis> &axes)
{
    bool sweepOk = true;
    std::set<std::string> sweptKeys;
    m_sweepError->clear();
    m_sweepError->setVisible(false);
    for (SweepRow *row : m_sweepRows) {
        QString why;
        std::optional<nm::SweepAxis> a = row->axis(&why);
        if (a && !sweptKeys.insert(a->key).second) {
            try {
                nm::sweepGrid({*a, *a}); // the core's message for an option swept twice
            } catch (const nm::ConfigError &e) {
                why = QString::fromStdString(e.what());
            }
            a.reset();
        }
        row->setError(why);
        if (a)
            axes.push_back(std::move(*a));
        else
            sweepOk = false;
    }
    return sweepOk;
}

// The grid as nmtrain --sweep expands it (points outermost, then recipes, then seeds; names
// "<recipe>_KEY=V_s<seed>"), one group per recipe of the form with its hyperparameters. A
// recipe that is in the form twice gets " 2" after its runs' names. False after showing why not.
bool ExperimentPanel::sweepRuns(const std::vector<nm::SweepAxis> &axes, const std::vector<uint64_t> &seeds,
                                std::vector<nm::RunConfig> &runs)
{
    double planned = static_cast<double>(m_recipes.size()) * static_cast<double>(seeds.size());
    for (const nm::SweepAxis &a : axes)
        planned *= static_cast<double>(a.values.size());
    if (planned > kMaxSweepRuns) {
        m_sweepError->setText(tr("The sweep gives %1 runs; the GUI trains at most %2 at once (nmtrain --sweep has "
                                 "no limit)")
                                  .arg(planned, 0, 'g', 12)
                                  .arg(kMaxSweepRuns));
        m_sweepError->setVisible(true);
        return false;
    }
    std::vector<nm::SweepGroup> groups;
    std::vector<int> copy;
    std::map<std::string, int> seen;
    for (RecipeEditor *r : m_recipes) {
        auto flags = baseFlags();
        for (const auto &[k, v] : r->flags())
            flags[k] = v;
        groups.push_back({flags, {r->recipe().toStdString()}});
        copy.push_back(++seen[r->recipe().toStdString()]);
    }
    try {
        runs = nm::expandSweep("", "the form", groups, axes, seeds);
        for (size_t i = 0; i < runs.size(); ++i)
            if (const int n = copy[(i / seeds.size()) % groups.size()]; n > 1)
                runs[i].name += " " + std::to_string(n);
        return true;
    } catch (const nm::ConfigError &e) {
        showSweepError(e.what());
        return false;
    }
}

// A sweep point's error lands on the row of the option it names, else under the rows.
void ExperimentPanel::showSweepError(const std::string &msg)
{
    const std::string prefix = "--sweep (at ";
    const auto close = msg.find("): ");
    if (msg.rfind(prefix, 0) != 0 || close == std::string::npos) {
        attributeError(msg, nullptr);
        return;
    }
    const std::string key = keyOfMessage(msg.substr(close + 3));
    SweepRow *row = nullptr;
    for (SweepRow *r : m_sweepRows)
        if (nm::canonicalKey(r->key().toStdString()) == key)
            row = r;
    if (row) {
        row->setError(QString::fromStdString(msg));
    } else {
        m_sweepError->setText(QString::fromStdString(msg));
        m_sweepError->setVisible(true);
    }
}

// Without a sweep: one run per recipe of the form and seed, named by the recipe's title (" 2"
// for a recipe that is in the form twice) and the seed. False after showing why not.
bool ExperimentPanel::formRuns(const std::vector<uint64_t> &seeds, std::vector<nm::RunConfig> &runs)
{
    std::map<QString, int> titles;
    for (RecipeEditor *r : m_recipes) {
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
                return false;
            }
        }
    }
    return true;
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
    std::vector<nm::SweepAxis> axes;
    const bool sweepOk = readSweepRows(axes);
    updateRunCount(&axes, sweepOk, seeds.size(), seedError.isEmpty());
    ok = ok && sweepOk;
    std::vector<nm::RunConfig> runs;
    if (ok)
        ok = m_sweepRows.isEmpty() ? formRuns(seeds, runs) : sweepRuns(axes, seeds, runs);
    m_valid = ok;
    std::string outcome = ok ? "valid" : "invalid";
    if (ok) {
        m_lastValid = runs;
        m_summary->setText(
            tr("%n run(s) of %1 steps", "", static_cast<int>(runs.size())).arg(runs.empty() ? 0 : runs.front().steps));
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
    for (SweepRow *r : m_sweepRows)
        if (!r->error().isEmpty())
            return r->error();
    if (!m_sweepError->text().isEmpty())
        return m_sweepError->text();
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
    for (SweepRow *r : m_sweepRows)
        r->setLocked(locked);
    m_addSweepButton->setEnabled(!locked);
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
    QVariantList sweep;
    for (SweepRow *r : m_sweepRows)
        sweep << r->state();
    s[QStringLiteral("_sweep")] = sweep;
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
    clearSweepRows();
    for (const QVariant &v : s.value(QStringLiteral("_sweep")).toList()) {
        appendSweepRow()->restoreState(v.toMap());
    }
    m_loading = false;
    updateVisibility();
    revalidate();
}

} // namespace nmui
