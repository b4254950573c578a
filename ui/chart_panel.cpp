#include "chart_panel.h"

#include "run_store.h"

#include <QChart>
#include <QGraphicsLayout>
#include <QHBoxLayout>
#include <QLabel>
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

void ChartPanel::buildExportMenu(QToolButton *button)
{
    auto *menu = new QMenu(button);
    const std::pair<QString, QString> items[] = {
        {tr("PNG (1×)…"), QStringLiteral("png")},   {tr("PNG (2×)…"), QStringLiteral("png2x")},
        {tr("SVG…"), QStringLiteral("svg")},         {tr("CSV, visible range…"), QStringLiteral("csv-visible")},
        {tr("CSV, all data…"), QStringLiteral("csv-all")}, {tr("Copy image"), QStringLiteral("clipboard")},
    };
    for (const auto &[text, format] : items) {
        QAction *a = menu->addAction(text);
        const QString f = format;
        connect(a, &QAction::triggered, this, [this, f] { Q_EMIT exportRequested(this, f); });
    }
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

} // namespace nmui
