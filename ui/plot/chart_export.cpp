#include "plot/chart_export.h"

#include "plot/chart_panel.h"
#include "plot/figure_style.h"

#include <QApplication>
#include <QClipboard>
#include <QDir>
#include <QGraphicsLayout>
#include <QGraphicsScene>
#include <QPainter>
#include <QPdfWriter>
#include <QSaveFile>
#include <QScreen>
#include <QSvgGenerator>

#include <memory>

namespace nmui {

namespace {

// Scene units per inch. Qt Charts measures its text at the screen's logical resolution, so a
// chart laid out in these units, and drawn on a device of this resolution, has its fonts at
// their point sizes: a figure is laid out at its size in inches × sceneDpi().
int sceneDpi()
{
    const QScreen *screen = QGuiApplication::primaryScreen();
    const int dpi = screen ? qRound(screen->logicalDotsPerInchY()) : 96;
    return dpi > 0 ? dpi : 96;
}

// The chart at `size` (or at the figure's size, with its fonts and pens) for the duration of
// an export; restores the on-screen chart after.
class ExportLayout {
  public:
    ExportLayout(ChartPanel *panel, QSize size, const FigurePreset &figure = {})
        : m_panel(panel), m_chart(panel->chart()), m_old(m_chart->size())
    {
        if (!figure.isScreen()) {
            layOutFigure(figure);
        } else if (size.isValid() && size != m_old.toSize()) {
            m_chart->resize(size);
            activate();       // the plot area for the new size, now rather than on the next event
            panel->refresh(); // decimation and images for the export size
            m_changed = true;
        }
        // The axes' labels as the refreshed ranges print them: laid out before they changed, the
        // chart keeps the old label width and elides the new ones ("0.…").
        relayout();
        panel->view()->hideCrosshair();
    }
    ~ExportLayout()
    {
        if (m_changed) {
            if (m_style)
                m_style->restore();
            m_chart->resize(m_old);
            activate();
            m_panel->refresh();
            relayout(); // the labels of the restored ranges
        }
    }
    ExportLayout(const ExportLayout &) = delete;
    ExportLayout &operator=(const ExportLayout &) = delete;
    QSizeF size() const { return m_chart->size(); }

  private:
    void layOutFigure(const FigurePreset &figure)
    {
        const double unitsPerPt = sceneDpi() / 72.0;
        m_changed = true;
        m_style = std::make_unique<FigureStyle>(m_chart, figure, unitsPerPt);
        m_chart->resize(figure.sizePt() * unitsPerPt);
        m_style->applyFonts();
        activate();
        m_panel->refresh(); // the series, names and ranges at this size
        m_style->replaceLegend();
        relayout();
        if (m_style->fitTitles())
            relayout();
        m_panel->refresh(); // for the final plot area
        m_style->applyPens();
        relayout();
        if (m_style->thinTicks())
            relayout();
    }
    void activate()
    {
        if (QGraphicsLayout *l = m_chart->layout())
            l->activate();
    }
    void relayout()
    {
        if (QGraphicsLayout *l = m_chart->layout()) {
            l->invalidate();
            l->activate();
        }
    }

    ChartPanel *m_panel;
    QChart *m_chart;
    QSizeF m_old;
    std::unique_ptr<FigureStyle> m_style;
    bool m_changed = false;
};

void renderScene(ChartPanel *panel, QPainter &p, const QSizeF &size)
{
    QGraphicsScene *scene = panel->chart()->scene();
    const QRectF source(panel->chart()->pos(), size);
    p.setRenderHint(QPainter::Antialiasing);
    p.setRenderHint(QPainter::TextAntialiasing);
    scene->render(&p, QRectF(QPointF(0, 0), size), source);
}

QString csvCell(const QString &s)
{
    if (!s.contains(',') && !s.contains('"') && !s.contains('\n'))
        return s;
    QString q = s;
    q.replace('"', QStringLiteral("\"\""));
    return '"' + q + '"';
}

void setError(QString *error, const QString &text)
{
    if (error)
        *error = text;
}

QImage renderImage(ChartPanel *panel, const ExportLayout &layout, double scale)
{
    const QSizeF logical = layout.size();
    QImage img((logical * scale).toSize(), QImage::Format_ARGB32_Premultiplied);
    img.setDevicePixelRatio(scale);
    img.fill(Qt::white);
    QPainter p(&img);
    renderScene(panel, p, logical);
    p.end();
    return img;
}

bool writePng(QImage img, const QString &path, QString *error)
{
    img.setDevicePixelRatio(1.0); // the file holds the physical pixels
    QSaveFile f(path);
    if (!f.open(QIODevice::WriteOnly) || !img.save(&f, "PNG") || !f.commit()) {
        setError(error, QObject::tr("cannot write %1: %2").arg(path, f.errorString()));
        return false;
    }
    return true;
}

bool writeSvg(ChartPanel *panel, const ExportLayout &layout, const QString &path, QString *error)
{
    const QSizeF logical = layout.size();
    QSaveFile f(path);
    if (!f.open(QIODevice::WriteOnly)) {
        setError(error, QObject::tr("cannot write %1: %2").arg(path, f.errorString()));
        return false;
    }
    QSvgGenerator svg;
    svg.setOutputDevice(&f);
    // Its width and height in mm follow from the resolution, and so do its font sizes: at the
    // scene's, the text has the size the chart was laid out for.
    svg.setResolution(sceneDpi());
    svg.setSize(logical.toSize());
    svg.setViewBox(QRectF(QPointF(0, 0), logical));
    svg.setTitle(panel->title());
    svg.setDescription(QObject::tr("nmstudio chart"));
    QPainter p;
    if (!p.begin(&svg)) {
        setError(error, QObject::tr("cannot write %1").arg(path));
        return false;
    }
    p.fillRect(QRectF(QPointF(0, 0), logical), Qt::white);
    renderScene(panel, p, logical);
    p.end();
    if (!f.commit()) {
        setError(error, QObject::tr("cannot write %1: %2").arg(path, f.errorString()));
        return false;
    }
    return true;
}

// One page exactly the chart's size (no margins), drawn at the scene's resolution, so the
// page is the laid-out size in points, the text stays text and the lines vectors.
bool writePdf(ChartPanel *panel, const ExportLayout &layout, const QString &path, QString *error)
{
    const QSizeF logical = layout.size();
    const int dpi = sceneDpi();
    QSaveFile f(path);
    if (!f.open(QIODevice::WriteOnly)) {
        setError(error, QObject::tr("cannot write %1: %2").arg(path, f.errorString()));
        return false;
    }
    {
        QPdfWriter pdf(&f);
        pdf.setResolution(dpi);
        pdf.setTitle(panel->title());
        pdf.setCreator(QStringLiteral("nmstudio"));
        const QPageSize page(logical * 72.0 / dpi, QPageSize::Point, QString(), QPageSize::ExactMatch);
        pdf.setPageLayout(QPageLayout(page, QPageLayout::Portrait, QMarginsF(), QPageLayout::Point));
        QPainter p;
        if (!p.begin(&pdf)) {
            setError(error, QObject::tr("cannot write %1").arg(path));
            return false;
        }
        p.fillRect(QRectF(QPointF(0, 0), logical), Qt::white);
        renderScene(panel, p, logical);
        p.end();
    }
    if (!f.commit()) {
        setError(error, QObject::tr("cannot write %1: %2").arg(path, f.errorString()));
        return false;
    }
    return true;
}

} // namespace

QImage renderChart(ChartPanel *panel, double scale, QSize size)
{
    ExportLayout layout(panel, size);
    return renderImage(panel, layout, scale);
}

QImage renderFigure(ChartPanel *panel, const FigurePreset &figure, double dpi)
{
    ExportLayout layout(panel, {}, figure);
    QImage img = renderImage(panel, layout, dpi / sceneDpi()); // the screen: sceneDpi() is 1×
    if (!figure.isScreen()) { // after painting: the painter sizes text by the image's resolution
        img.setDotsPerMeterX(qRound(dpi / 0.0254));
        img.setDotsPerMeterY(qRound(dpi / 0.0254));
    }
    return img;
}

bool savePng(ChartPanel *panel, const QString &path, double scale, QString *error, QSize size)
{
    return writePng(renderChart(panel, scale, size), path, error);
}

bool savePng(ChartPanel *panel, const QString &path, const FigurePreset &figure, double dpi, QString *error)
{
    return writePng(renderFigure(panel, figure, dpi), path, error);
}

bool saveSvg(ChartPanel *panel, const QString &path, QString *error, QSize size)
{
    ExportLayout layout(panel, size);
    return writeSvg(panel, layout, path, error);
}

bool saveSvg(ChartPanel *panel, const QString &path, const FigurePreset &figure, QString *error)
{
    ExportLayout layout(panel, {}, figure);
    return writeSvg(panel, layout, path, error);
}

bool savePdf(ChartPanel *panel, const QString &path, QString *error, QSize size)
{
    ExportLayout layout(panel, size);
    return writePdf(panel, layout, path, error);
}

bool savePdf(ChartPanel *panel, const QString &path, const FigurePreset &figure, QString *error)
{
    ExportLayout layout(panel, {}, figure);
    return writePdf(panel, layout, path, error);
}

bool writeCsv(const DataTable &table, const QString &path, QString *error)
{
    QSaveFile f(path); // an interrupted export never leaves half a file
    if (!f.open(QIODevice::WriteOnly | QIODevice::Text)) {
        setError(error, QObject::tr("cannot write %1: %2").arg(path, f.errorString()));
        return false;
    }
    QStringList header;
    for (const QString &h : table.header)
        header << csvCell(h);
    f.write(header.join(',').toUtf8() + '\n');
    for (const auto &row : table.rows) {
        QStringList cells;
        for (const QString &c : row)
            cells << csvCell(c);
        f.write(cells.join(',').toUtf8() + '\n');
    }
    if (!f.commit()) {
        setError(error, QObject::tr("cannot write %1: %2").arg(path, f.errorString()));
        return false;
    }
    return true;
}

bool saveCsv(ChartPanel *panel, const QString &path, bool visibleOnly, QString *error)
{
    return writeCsv(panel->table(visibleOnly), path, error);
}

void copyToClipboard(ChartPanel *panel)
{
    const double dpr = panel->devicePixelRatioF();
    QApplication::clipboard()->setImage(renderChart(panel, dpr));
}

QStringList exportCharts(const QList<ChartPanel *> &charts, const QString &dir, QStringList *errors, QSize size,
                         const FigurePreset &figure)
{
    QStringList written;
    QDir().mkpath(dir);
    QStringList used;
    const bool screen = figure.isScreen();
    for (ChartPanel *c : charts) {
        QString base = c->slug();
        for (int n = 2; used.contains(base); ++n)
            base = c->slug() + QStringLiteral("-%1").arg(n);
        used << base;
        const QString stem = QDir(dir).filePath(base);
        QString error;
        auto record = [&](bool ok, const QString &suffix) {
            if (ok)
                written << stem + suffix;
            else if (errors)
                *errors << error;
        };
        const QString png = stem + QStringLiteral(".png"), png2 = stem + QStringLiteral("@2x.png");
        record(screen ? savePng(c, png, 1.0, &error, size) : savePng(c, png, figure, kFigureDpi, &error),
               QStringLiteral(".png"));
        record(screen ? savePng(c, png2, 2.0, &error, size) : savePng(c, png2, figure, 2 * kFigureDpi, &error),
               QStringLiteral("@2x.png"));
        const QString svg = stem + QStringLiteral(".svg"), pdf = stem + QStringLiteral(".pdf");
        record(screen ? saveSvg(c, svg, &error, size) : saveSvg(c, svg, figure, &error), QStringLiteral(".svg"));
        record(screen ? savePdf(c, pdf, &error, size) : savePdf(c, pdf, figure, &error), QStringLiteral(".pdf"));
        record(saveCsv(c, stem + QStringLiteral(".csv"), false, &error), QStringLiteral(".csv"));
    }
    return written;
}

} // namespace nmui
