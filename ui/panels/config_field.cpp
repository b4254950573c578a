#include "panels/config_field.h"

#include "nmcore/error.h"

#include <QCheckBox>
#include <QComboBox>
#include <QLabel>
#include <QLineEdit>
#include <QVBoxLayout>

#include <nlohmann/json.hpp>

namespace nmui {

const nm::OptionInfo *findOptionInfo(const std::string &key)
{
    for (const auto &o : nm::configOptions())
        if (o.key == key)
            return &o;
    return nullptr;
}

QString configText(const nm::RunConfig &config, const std::string &key)
{
    const auto j = nlohmann::json::parse(nm::configToJson(config));
    if (!j.contains(key))
        return {};
    const auto &v = j.at(key);
    if (v.is_string())
        return QString::fromStdString(v.get<std::string>());
    if (v.is_array()) {
        QStringList parts;
        for (const auto &e : v)
            parts << QString::fromStdString(e.dump());
        return parts.join(',');
    }
    if (v.is_number_float()) // shortest text that reads back as the same double
        return QString::number(v.get<double>(), 'g', 15).replace(QStringLiteral("e-0"), QStringLiteral("e-"));
    return QString::fromStdString(v.dump());
}

QString checkOption(const std::string &key, const QString &text, const QString &model)
{
    std::map<std::string, std::string> flags{{key, text.toStdString()}};
    if (key != "model")
        flags["model"] = model.toStdString();
    // An option that depends on another one is checked with a value that permits it.
    if (key == "data")
        flags["model"] = text == QStringLiteral("text") ? "gpt"
                         : text == QStringLiteral("fashion-mnist") && model != QStringLiteral("vit")
                             ? "mlp"
                             : model.toStdString();
    try {
        nm::parseConfig("", "the form", flags);
    } catch (const nm::ConfigError &e) {
        const std::string msg = e.what();
        if (keyOfMessage(msg) == key)
            return QString::fromStdString(msg);
    } catch (const std::exception &e) {
        return QString::fromStdString(e.what());
    }
    return {};
}

std::string keyOfMessage(const std::string &message)
{
    std::string best;
    for (const auto &o : nm::configOptions()) {
        const std::string &k = o.key;
        if (message.size() > k.size() && message.compare(0, k.size(), k) == 0 &&
            (message[k.size()] == ':' || message[k.size()] == ' ') && k.size() > best.size())
            best = k;
    }
    return best;
}

ConfigField::ConfigField(const nm::OptionInfo &info, QWidget *parent) : QObject(parent), m_info(info)
{
    m_box = new QWidget(parent);
    auto *layout = new QVBoxLayout(m_box);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(1);
    QWidget *editor = nullptr;
    if (info.type == nm::OptionType::Choice) {
        m_combo = new QComboBox(m_box);
        for (const auto &c : info.choices)
            m_combo->addItem(QString::fromStdString(c));
        connect(m_combo, &QComboBox::activated, this, &ConfigField::edited);
        editor = m_combo;
    } else if (info.type == nm::OptionType::Bool) {
        m_check = new QCheckBox(m_box);
        connect(m_check, &QCheckBox::clicked, this, &ConfigField::edited);
        editor = m_check;
    } else {
        m_line = new QLineEdit(m_box);
        m_line->setPlaceholderText(QString::fromStdString(info.defaultText));
        connect(m_line, &QLineEdit::editingFinished, this, &ConfigField::edited);
        editor = m_line;
    }
    editor->setObjectName(QString::fromStdString(info.key));
    editor->setToolTip(QStringLiteral("<b>%1</b><br>%2<br><i>default: %3</i>")
                           .arg(QString::fromStdString(info.key), QString::fromStdString(info.help).toHtmlEscaped(),
                                QString::fromStdString(info.defaultText.empty() ? "empty" : info.defaultText)));
    layout->addWidget(editor);
    m_errorLabel = new QLabel(m_box);
    // No word wrap: a height-for-width label in a QFormLayout row that gets hidden makes Qt
    // 6.4's QFormLayout write outside its layout arrays (heap corruption, seen under valgrind).
    m_errorLabel->setStyleSheet(QStringLiteral("color: #b2182b;"));
    m_errorLabel->setVisible(false);
    layout->addWidget(m_errorLabel);
}

QString ConfigField::label() const
{
    QString s = QString::fromStdString(m_info.key);
    s.replace('_', ' ');
    return s;
}

QString ConfigField::text() const
{
    if (m_combo)
        return m_combo->currentText();
    if (m_check)
        return m_check->isChecked() ? QStringLiteral("true") : QStringLiteral("false");
    return m_line->text().trimmed();
}

void ConfigField::setText(const QString &text)
{
    if (m_combo)
        m_combo->setCurrentIndex(std::max(0, m_combo->findText(text)));
    else if (m_check)
        m_check->setChecked(text == QStringLiteral("true"));
    else
        m_line->setText(text);
}

void ConfigField::setError(const QString &message)
{
    m_error = message;
    m_errorLabel->setText(message);
    m_errorLabel->setVisible(!message.isEmpty());
    if (m_line)
        m_line->setStyleSheet(message.isEmpty() ? QString() : QStringLiteral("border: 1px solid #b2182b;"));
}

void ConfigField::setEnabled(bool on)
{
    m_box->setEnabled(on);
}

} // namespace nmui
