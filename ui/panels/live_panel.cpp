#include "panels/live_panel.h"

#include "panels/config_field.h"

#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QSpinBox>

namespace nmui {

LivePanel::LivePanel(QWidget *parent) : QGroupBox(tr("Live settings (apply at the next step)"), parent)
{
    m_lr = new QLineEdit(this);
    m_lr->setObjectName(QStringLiteral("live_lr"));
    m_lr->setToolTip(tr("Peak learning rate of every run's schedule; the warm-up and cosine decay keep their shape"));
    m_lambda = new QLineEdit(this);
    m_lambda->setObjectName(QStringLiteral("live_lambda"));
    m_lambda->setToolTip(tr("SR-STE decay λ (SR-STE and T-SR-STE runs; the others ignore it)"));
    m_logEvery = new QSpinBox(this);
    m_logEvery->setRange(1, 1000);
    m_logEvery->setToolTip(tr("Record one point per k steps: means over the k steps, flips summed"));
    m_error = new QLabel(this);
    m_error->setStyleSheet(QStringLiteral("color: #b2182b;"));
    // No word wrap inside a form row: see ConfigField.
    m_error->setVisible(false);
    auto *form = new QFormLayout(this);
    form->addRow(tr("learning rate"), m_lr);
    form->addRow(tr("SR-STE λ"), m_lambda);
    form->addRow(tr("log every"), m_logEvery);
    form->addRow(m_error);
    connect(m_lr, &QLineEdit::editingFinished, this, &LivePanel::apply);
    connect(m_lambda, &QLineEdit::editingFinished, this, &LivePanel::apply);
    connect(m_logEvery, &QSpinBox::editingFinished, this, &LivePanel::apply);
    setValues(m_live);
}

void LivePanel::setValues(const TrainingController::Live &live)
{
    m_live = live;
    m_lr->setText(QString::number(live.lr, 'g', 6));
    m_lambda->setText(QString::number(live.lambda, 'g', 6));
    m_logEvery->setValue(live.logEvery);
    m_error->setVisible(false);
}

LivePanel::~LivePanel()
{
    // See ~ExperimentPanel: a focused editor reports editingFinished while QWidget's
    // destructor runs, after this panel's members are gone.
    for (QObject *editor :
         {static_cast<QObject *>(m_lr), static_cast<QObject *>(m_lambda), static_cast<QObject *>(m_logEvery)})
        disconnect(editor, nullptr, this, nullptr);
}

QString LivePanel::error() const
{
    return m_error->isHidden() ? QString() : m_error->text();
}

void LivePanel::apply()
{
    // The same checks as the run options "lr" and "lambda".
    QString why = checkOption("lr", m_lr->text().trimmed(), QStringLiteral("mlp"));
    if (why.isEmpty())
        why = checkOption("lambda", m_lambda->text().trimmed(), QStringLiteral("mlp"));
    m_error->setText(why);
    m_error->setVisible(!why.isEmpty());
    if (!why.isEmpty())
        return;
    TrainingController::Live next;
    next.lr = m_lr->text().toDouble();
    next.lambda = m_lambda->text().toDouble();
    next.logEvery = m_logEvery->value();
    if (next.lr == m_live.lr && next.lambda == m_live.lambda && next.logEvery == m_live.logEvery)
        return;
    m_live = next;
    Q_EMIT applied(m_live);
}

} // namespace nmui
