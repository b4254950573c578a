#include "chart_export.h"

#include "chart_panel.h"

#include <QApplication>
#include <QClipboard>
#include <QDir>
#include <QGraphicsLayout>
#include <QGraphicsScene>
#include <QPainter>
#include <QSaveFile>
#include <QSvgGenerator>

namespace nmui {

namespace {

// The chart at `size` for the duration of an export; restores the on-screen size after.
class ExportSize {
public:
    ExportSize(ChartPanel *panel, QSize size) : m_chart(panel->chart())
    {
        m_old = m_chart->size();
        if (size.isValid() && size != m_old.toSize()) {
            m_chart->resize(size);
            if (QGraphicsLayout *l = m_chart->layout())
                l->activate(); // the plot area for the new size, now rather than on the next event
            panel->refresh(); // decimation and images for the export size
            m_changed = true;
        }
        // The axes' labels as the refreshed ranges print them: laid out before they changed, the
        // chart keeps the old label width and elides the new ones ("0.…").
        if (QGraphicsLayout *l = m_chart->layout()) {
            l->invalidate();
            l->activate();
        }
        panel->view()->hideCrosshair();
        m_panel = panel;
    }
    ~ExportSize()
    {
        if (m_changed) {
            m_chart->resize(m_old);
            if (QGraphicsLayout *l = m_chart->layout())
                l->activate();
            m_panel->refresh();
            if (QGraphicsLayout *l = m_chart->layout()) { // the labels of the restored ranges
                l->invalidate();
                l->activate();
            }
        }
    }
    QSizeF size() const { return m_chart->size(); }

private:
    QChart *m_chart;
    ChartPanel *m_panel = nullptr;
    QSizeF m_old;
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

} // namespace

QImage renderChart(ChartPanel *panel, double scale, QSize size)
{
    ExportSize guard(panel, size);
    const QSizeF logical = guard.size();
    QImage img((logical * scale).toSize(), QImage::Format_ARGB32_Premultiplied);
    img.setDevicePixelRatio(scale);
    img.fill(Qt::white);
    QPainter p(&img);
    renderScene(panel, p, logical);
    p.end();
    return img;
}

bool savePng(ChartPanel *panel, const QString &path, double scale, QString *error, QSize size)
{
    QImage img = renderChart(panel, scale, size);
    img.setDevicePixelRatio(1.0); // the file holds the physical pixels
    QSaveFile f(path);
    if (!f.open(QIODevice::WriteOnly) || !img.save(&f, "PNG") || !f.commit()) {
        setError(error, QObject::tr("cannot write %1: %2").arg(path, f.errorString()));
        return false;
    }
    return true;
}

bool saveSvg(ChartPanel *panel, const QString &path, QString *error, QSize size)
{
    ExportSize guard(panel, size);
    const QSizeF logical = guard.size();
    QSvgGenerator svg;
    svg.setFileName(path);
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
    if (!QFileInfo::exists(path)) {
        setError(error, QObject::tr("cannot write %1").arg(path));
        return false;
    }
    return true;
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

QStringList exportCharts(const QList<ChartPanel *> &charts, const QString &dir, QStringList *errors, QSize size)
{
    QStringList written;
    QDir().mkpath(dir);
    QStringList used;
    for (ChartPanel *c : charts) {
        QString base = c->slug();
        for (int n = 2; used.contains(base); ++n)
            base = c->slug() + QStringLiteral("-%1").arg(n);
        used << base;
        const QString stem = QDir(dir).filePath(base);
        QString error;
        auto record = [&](bool ok, const QString &file) {
            if (ok)
                written << file;
            else if (errors)
                *errors << error;
        };
        record(savePng(c, stem + QStringLiteral(".png"), 1.0, &error, size), stem + QStringLiteral(".png"));
        record(savePng(c, stem + QStringLiteral("@2x.png"), 2.0, &error, size), stem + QStringLiteral("@2x.png"));
        record(saveSvg(c, stem + QStringLiteral(".svg"), &error, size), stem + QStringLiteral(".svg"));
        record(saveCsv(c, stem + QStringLiteral(".csv"), false, &error), stem + QStringLiteral(".csv"));
    }
    return written;
}

} // namespace nmui
