#include "plot/figure_preset.h"
#include "settings_keys.h"

#include <QCoreApplication>
#include <QRegularExpression>
#include <QSettings>
#include <QStringList>

namespace nmui {

namespace {

QString tr(const char *text)
{
    return QCoreApplication::translate("FigurePreset", text);
}

// Outside these a "size" is a typo (a figure of 1 mm or of 2 m).
constexpr double kMinCm = 2.0, kMaxCm = 100.0;

} // namespace

QString FigurePreset::describe() const
{
    if (isScreen())
        return title;
    return tr("%1: %2 × %3 cm, %4 pt text")
        .arg(title, QString::number(widthCm, 'g', 3), QString::number(heightCm, 'g', 3),
             QString::number(fontPt, 'g', 3));
}

QList<FigurePreset> figurePresets()
{
    // Widths of the common templates: a column of a two-column paper is 3.3–3.5 in (ACM 3.33,
    // IEEE 3.5); the full text width of one is about 7 in (ACM 7.0, IEEE 7.16); NeurIPS and
    // ICLR are single-column, 5.5 in wide. Heights: 0.62 × the width (the golden ratio) for a
    // column and a single-column page, about half the width for a figure across both columns,
    // 16:9 for a slide.
    return {
        {QStringLiteral("screen"), tr("Screen size (as shown)"), 0, 0, 0, 0},
        {QStringLiteral("one-column"), tr("One column"), 8.5, 5.3, 8, 1},
        {QStringLiteral("two-column"), tr("Two columns"), 17.5, 8.0, 9, 1},
        {QStringLiteral("neurips"), tr("NeurIPS/ICLR text width"), 14.0, 8.6, 9, 1},
        {QStringLiteral("slide"), tr("Slide"), 24.0, 13.5, 14, 2},
    };
}

QString figurePresetChoices()
{
    QStringList names;
    for (const FigurePreset &p : figurePresets())
        if (!p.isScreen())
            names << p.name;
    return tr("%1, or WIDTHxHEIGHT in cm, mm or in (8.5x5.5cm, 3.3x2in)").arg(names.join(QStringLiteral(", ")));
}

std::optional<FigurePreset> parseFigurePreset(const QString &spec, QString *error)
{
    const QString s = spec.trimmed().toLower();
    for (const FigurePreset &p : figurePresets())
        if (p.name == s)
            return p;
    static const QRegularExpression size(
        QStringLiteral("^(\\d+(?:\\.\\d+)?)\\s*[x×]\\s*(\\d+(?:\\.\\d+)?)\\s*(cm|mm|in)$"));
    const QRegularExpressionMatch m = size.match(s);
    if (!m.hasMatch()) {
        if (error)
            *error = tr("unknown figure size '%1'; use %2").arg(spec, figurePresetChoices());
        return std::nullopt;
    }
    const QString unit = m.captured(3);
    const double toCm = unit == QStringLiteral("in") ? 2.54 : unit == QStringLiteral("mm") ? 0.1 : 1.0;
    FigurePreset p;
    p.name = s;
    p.title = tr("Custom");
    p.widthCm = m.captured(1).toDouble() * toCm;
    p.heightCm = m.captured(2).toDouble() * toCm;
    if (p.widthCm < kMinCm || p.widthCm > kMaxCm || p.heightCm < kMinCm || p.heightCm > kMaxCm) {
        if (error)
            *error = tr("figure size '%1' is out of range; width and height must be %2–%3 cm")
                         .arg(spec)
                         .arg(kMinCm)
                         .arg(kMaxCm);
        return std::nullopt;
    }
    p.fontPt = p.widthCm <= 12.0 ? 8 : 9;
    p.lineWidthPt = 1;
    return p;
}

FigurePreset currentFigurePreset()
{
    const QString name = QSettings().value(settings::kFigure, QStringLiteral("screen")).toString();
    return parseFigurePreset(name).value_or(figurePresets().first());
}

void setCurrentFigurePreset(const QString &name)
{
    QSettings().setValue(settings::kFigure, name);
}

} // namespace nmui
