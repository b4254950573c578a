#pragma once
// ConfigField: an editor for one run option, built from the option table (nmcore/config.h):
// a combo box for choices, a check box for booleans, a line edit otherwise, with the
// option's help as tooltip and an error line underneath. Values travel as text exactly as
// the command line takes them, so the GUI and nmtrain accept and refuse the same input.
#include "nmcore/config.h"

#include <QObject>
#include <QString>

#include <map>
#include <string>

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QWidget;

namespace nmui {

class ConfigField : public QObject {
    Q_OBJECT
  public:
    ConfigField(const nm::OptionInfo &info, QWidget *parent);

    const std::string &key() const { return m_info.key; }
    const nm::OptionInfo &info() const { return m_info; }
    // The editor with its error line beneath, for a form row.
    QWidget *widget() const { return m_box; }
    QString label() const;

    QString text() const;
    void setText(const QString &text);
    // Empty clears the error.
    void setError(const QString &message);
    QString error() const { return m_error; }
    void setEnabled(bool on);

  Q_SIGNALS:
    void edited(); // by the user: after editing finished, a toggle or a choice

  private:
    nm::OptionInfo m_info;
    QWidget *m_box;
    QLineEdit *m_line = nullptr;
    QComboBox *m_combo = nullptr;
    QCheckBox *m_check = nullptr;
    QLabel *m_errorLabel;
    QString m_error;
};

// The option's value in a config as command-line text ("0.05", "256,256", "true").
QString configText(const nm::RunConfig &config, const std::string &key);
const nm::OptionInfo *findOptionInfo(const std::string &key);

// Checks one option's text alone (type, range, choices) for a model; the reason or empty.
QString checkOption(const std::string &key, const QString &text, const QString &model);

// The option a ConfigError message is about ("lr: 200 is out of range…" → "lr"); empty if none.
std::string keyOfMessage(const std::string &message);

} // namespace nmui
