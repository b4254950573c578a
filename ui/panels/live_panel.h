#pragma once
// Live settings: values that apply to every running run at its next step without a reset
// (TF Playground's rule: only what does not change the model's structure): the learning
// rate (the schedule's peak), SR-STE's λ and the logging interval. Checked like the
// experiment form; an invalid value is refused with the reason and nothing is applied.
#include "training/training_controller.h"

#include <QGroupBox>

class QLabel;
class QLineEdit;
class QSpinBox;

namespace nmui {

class LivePanel : public QGroupBox {
    Q_OBJECT
  public:
    explicit LivePanel(QWidget *parent = nullptr);
    ~LivePanel() override;

    void setValues(const TrainingController::Live &live);
    TrainingController::Live values() const { return m_live; }
    QLineEdit *lrEdit() const { return m_lr; }
    QLineEdit *lambdaEdit() const { return m_lambda; }
    QSpinBox *logEverySpin() const { return m_logEvery; }
    QString error() const;

  Q_SIGNALS:
    void applied(const nmui::TrainingController::Live &live);

  private:
    void apply();

    QLineEdit *m_lr, *m_lambda;
    QSpinBox *m_logEvery;
    QLabel *m_error;
    TrainingController::Live m_live;
};

} // namespace nmui
