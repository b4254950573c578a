#include "plot/chart_panel.h"

#include <QFontMetricsF>

#include <QLegend>

#include "plot/figure_preset.h"
#include "training/run_store.h"

#include <QActionGroup>
#include <QChart>
#include <QFontMetricsF>
#include <QGraphicsLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLegend>
#include <QMenu>
#include <QRegularExpression>
#include <QToolButton>
#include <QVBoxLayout>

namespace nmui {

ChartPanel::ChartPanel(RunStore *store, const QString &title, QWidget *parent)
    : QWidget(parent), m_store(store), m_title(title), m_chart(new QChart)
{
    m_chart->setAnimationOptions(QChart::NoAnimation);
    m_chart->setTitle(title);
    QFont tf = m_chart->titleFont();
    tf.setBold(true);
    m_chart->setTitleFont(tf);
    m_chart->legend()->setAlignment(Qt::AlignBottom);
    m_chart->setMargins(QMargins(6, 4, 6, 4));
    m_chart->layout()->setContentsMargins(0, 0, 0, 0);
    m_chart->setBackgroundRoundness(0);
    m_view = new PlotView(m_chart, this);
    m_view->setMinimumSize(260, 180);

    m_header = new QHBoxLayout;
    m_header->setContentsMargins(4, 0, 4, 0);
    m_header->setSpacing(6);
    m_titleLabel = new QLabel(title, this);
    m_titleLabel->setVisible(false); // the chart shows its title; the label is for narrow layouts
    m_header->addWidget(m_titleLabel);
    m_header->addStretch(1);
    auto *fit = new QToolButton(this);
    fit->setText(tr("Fit"));
    fit->setToolTip(tr("Reset the zoom (double-click, right-click or Home on the chart does the same)"));
    connect(fit, &QToolButton::clicked, m_view, &PlotView::resetZoom);
    auto *exportButton = new QToolButton(this);
    exportButton->setText(tr("Export"));
    exportButton->setPopupMode(QToolButton::InstantPopup);
    buildExportMenu(exportButton);
    m_header->addWidget(fit);
    m_header->addWidget(exportButton);

    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 2, 0, 0);
    layout->setSpacing(0);
    layout->addLayout(m_header);
    layout->addWidget(m_view, 1);

    connect(store, &RunStore::dataChanged, this, &ChartPanel::requestRefresh);
    connect(m_view, &PlotView::zoomChanged, this, &ChartPanel::requestRefresh);
    connect(m_view, &PlotView::zoomWasReset, this, &ChartPanel::requestRefresh);
}

QString ChartPanel::slug() const
{
    QString s = m_title.toLower();
    s.remove(QRegularExpression(QStringLiteral("\\([^)]*\\)"))); // "(dashed: planned)" and the like
    s.replace(QRegularExpression(QStringLiteral("[^a-z0-9]+")), QStringLiteral("-"));
    while (s.endsWith('-'))
        s.chop(1);
    while (s.startsWith('-'))
        s.remove(0, 1);
    return s.isEmpty() ? QStringLiteral("chart") : s;
}

void ChartPanel::setTitleText(const QString &text)
{
    m_title = text;
    m_chart->setTitle(text);
    m_titleLabel->setText(text);
}

QMenu *addFigureSizeMenu(QMenu *menu)
{
    QMenu *sizes = menu->addMenu(QObject::tr("Figure size"));
    sizes->setToolTip(QObject::tr("The size, text and line width of PNG, SVG and PDF exports"));
    sizes->setToolTipsVisible(true);
    auto *group = new QActionGroup(sizes);
    for (const FigurePreset &p : figurePresets()) {
        QAction *a = sizes->addAction(p.describe());
        a->setCheckable(true);
        a->setData(p.name);
        group->addAction(a);
        const QString name = p.name;
        QObject::connect(a, &QAction::triggered, sizes, [name] { setCurrentFigurePreset(name); });
    }
    // Another menu may have changed the choice.
    QObject::connect(sizes, &QMenu::aboutToShow, sizes, [sizes] {
        const QString current = currentFigurePreset().name;
        for (QAction *a : sizes->actions())
            a->setChecked(a->data().toString() == current);
    });
    return sizes;
}

void ChartPanel::buildExportMenu(QToolButton *button)
{
    auto *menu = new QMenu(button);
    const std::pair<QString, ExportFormat> items[] = {
        {tr("PNG (1×)…"), ExportFormat::Png},
        {tr("PNG (2×)…"), ExportFormat::Png2x},
        {tr("SVG…"), ExportFormat::Svg},
        {tr("PDF…"), ExportFormat::Pdf},
        {tr("CSV, visible range…"), ExportFormat::CsvVisible},
        {tr("CSV, all data…"), ExportFormat::CsvAll},
        {tr("Copy image"), ExportFormat::Clipboard},
    };
    QAction *png1 = nullptr, *png2 = nullptr;
    for (const auto &[text, format] : items) {
        QAction *a = menu->addAction(text);
        const ExportFormat f = format;
        connect(a, &QAction::triggered, this, [this, f] { Q_EMIT exportRequested(this, f); });
        if (f == ExportFormat::Png)
            png1 = a;
        else if (f == ExportFormat::Png2x)
            png2 = a;
    }
    menu->addSeparator();
    addFigureSizeMenu(menu);
    // At a figure size the PNGs have a resolution rather than a multiple of the screen's.
    connect(menu, &QMenu::aboutToShow, this, [png1, png2] {
        const bool screen = currentFigurePreset().isScreen();
        png1->setText(screen ? tr("PNG (1×)…") : tr("PNG (%1 dpi)…").arg(kFigureDpi));
        png2->setText(screen ? tr("PNG (2×)…") : tr("PNG (%1 dpi)…").arg(2 * kFigureDpi));
    });
    button->setMenu(menu);
}

void ChartPanel::setAutoRefresh(bool on)
{
    if (on)
        connect(m_store, &RunStore::dataChanged, this, &ChartPanel::requestRefresh, Qt::UniqueConnection);
    else
        disconnect(m_store, &RunStore::dataChanged, this, &ChartPanel::requestRefresh);
}

void ChartPanel::requestRefresh()
{
    if (!isVisible()) {
        m_stale = true;
        return;
    }
    m_stale = false;
    refresh();
}

void ChartPanel::showEvent(QShowEvent *e)
{
    QWidget::showEvent(e);
    if (m_stale) {
        m_stale = false;
        refresh();
    }
}

void ChartPanel::fitLegend(const QStringList &entries)
{
    m_legendEntries = entries;
    QLegend *legend = chart()->legend();
    const QFontMetricsF fm(legend->font());
    double need = 0;
    for (const QString &e : entries)
        need += fm.horizontalAdvance(e) + 3.5 * fm.height(); // marker, gaps
    const Qt::Alignment want = need > 0.92 * width() ? Qt::AlignRight : Qt::AlignBottom;
    if (legend->alignment() != want)
        legend->setAlignment(want);
}

void ChartPanel::resizeEvent(QResizeEvent *e)
{
    QWidget::resizeEvent(e);
    if (!m_legendEntries.isEmpty())
        fitLegend(m_legendEntries);
}

} // namespace nmui
