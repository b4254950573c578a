#include "panels/runs_table.h"

#include "training/run_store.h"

#include <QColorDialog>
#include <QFileInfo>
#include <QHeaderView>
#include <QLineEdit>
#include <QMenu>
#include <QPainter>
#include <QPixmap>
#include <QRegularExpression>
#include <QSortFilterProxyModel>
#include <QTableView>
#include <QVBoxLayout>

#include <cmath>
#include <utility>

namespace nmui {

namespace {
QIcon swatch(const QColor &c)
{
    QPixmap p(14, 14);
    p.fill(Qt::transparent);
    QPainter painter(&p);
    painter.setPen(c.darker(130));
    painter.setBrush(c);
    painter.drawRoundedRect(QRectF(0.5, 0.5, 13, 13), 3, 3);
    return QIcon(p);
}
} // namespace

RunsModel::RunsModel(RunStore *store, QObject *parent) : QAbstractTableModel(parent), m_store(store)
{
    connect(store, &RunStore::runAdded, this, &RunsModel::rebuild);
    connect(store, &RunStore::runRemoved, this, &RunsModel::rebuild);
    connect(store, &RunStore::runsReset, this, &RunsModel::rebuild);
    connect(store, &RunStore::runMetaChanged, this, &RunsModel::rowChanged);
    m_rowTimer.setSingleShot(true);
    connect(&m_rowTimer, &QTimer::timeout, this, &RunsModel::emitPending);
    m_sinceEmit.start();
    rebuild();
}

namespace {
constexpr int kRowUpdateMs = 250;
}

void RunsModel::rowChanged(int id)
{
    if (!m_pending.contains(id))
        m_pending.append(id);
    if (m_rowTimer.isActive())
        return;
    const qint64 since = m_sinceEmit.elapsed();
    if (since >= kRowUpdateMs)
        emitPending();
    else
        m_rowTimer.start(static_cast<int>(kRowUpdateMs - since));
}

void RunsModel::emitPending()
{
    const QList<int> ids = std::exchange(m_pending, {});
    m_sinceEmit.restart();
    for (int id : ids) {
        const int row = static_cast<int>(m_ids.indexOf(id));
        if (row >= 0)
            Q_EMIT dataChanged(index(row, 0), index(row, ColumnCount - 1));
    }
}

void RunsModel::rebuild()
{
    beginResetModel();
    m_ids = m_store->runIds();
    endResetModel();
}

int RunsModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : static_cast<int>(m_ids.size());
}

int RunsModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

int RunsModel::runAt(int row) const
{
    return row >= 0 && row < m_ids.size() ? m_ids[row] : -1;
}

QVariant RunsModel::headerData(int section, Qt::Orientation o, int role) const
{
    if (o != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    static const char *names[] = {"Run",  "Recipe",       "N:M",      "Seed",  "Status",
                                  "Step", "Best val acc", "Test acc", "Source"};
    return tr(names[section]);
}

Qt::ItemFlags RunsModel::flags(const QModelIndex &index) const
{
    Qt::ItemFlags f = QAbstractTableModel::flags(index);
    if (index.column() == Name)
        f |= Qt::ItemIsUserCheckable;
    return f;
}

QVariant RunsModel::data(const QModelIndex &index, int role) const
{
    const Run *r = m_store->run(runAt(index.row()));
    if (!r)
        return {};
    const RunMeta &m = r->meta;
    const int col = index.column();
    if (role == Qt::CheckStateRole && col == Name)
        return m.visible ? Qt::Checked : Qt::Unchecked;
    if (role == Qt::DecorationRole && col == Name)
        return swatch(m.color);
    if (role == Qt::ToolTipRole) {
        if (!m.error.isEmpty())
            return m.error;
        if (m.parentId >= 0)
            if (const Run *p = m_store->run(m.parentId))
                return tr("forked from %1 at step %2").arg(p->meta.name).arg(m.forkStep);
        return m.modelDescription;
    }
    if (role == Qt::ForegroundRole && col == Status && (m.state == RunState::Failed || m.state == RunState::Diverged))
        return QColor(0xb2182b);
    if (role == Qt::TextAlignmentRole && (col == Step || col == BestVal || col == Test || col == Seed))
        return QVariant(Qt::AlignRight | Qt::AlignVCenter);
    if (role != Qt::DisplayRole && role != Qt::EditRole)
        return {};
    auto pct = [](float v) {
        return std::isfinite(v) ? QStringLiteral("%1 %").arg(100.0 * static_cast<double>(v), 0, 'f', 2) : QString();
    };
    switch (col) {
    case Name:
        return m.name;
    case Recipe:
        return m.recipeTitle;
    case Nm:
        return QString::fromStdString(m.config.nm);
    case Seed:
        return QString::number(m.config.seed);
    case Status:
        return stateName(m.state);
    case Step:
        return QStringLiteral("%1 / %2").arg(m.step).arg(m.config.steps);
    case BestVal:
        return pct(m.bestValAccuracy);
    case Test:
        return m.hasSummary ? pct(m.summary.testAccuracy) : QString();
    case Source:
        return m.source.isEmpty() ? tr("live") : QFileInfo(m.source).fileName();
    }
    return {};
}

bool RunsModel::setData(const QModelIndex &index, const QVariant &value, int role)
{
    if (role != Qt::CheckStateRole || index.column() != Name)
        return false;
    m_store->setVisible(runAt(index.row()), value.toInt() == Qt::Checked);
    return true;
}

RunsTable::RunsTable(RunStore *store, QWidget *parent) : QWidget(parent), m_store(store)
{
    m_model = new RunsModel(store, this);
    m_proxy = new QSortFilterProxyModel(this);
    m_proxy->setSourceModel(m_model);
    m_proxy->setFilterKeyColumn(-1);
    m_proxy->setFilterCaseSensitivity(Qt::CaseInsensitive);
    m_filter = new QLineEdit(this);
    m_filter->setPlaceholderText(tr("Filter runs (regular expression)"));
    m_filter->setClearButtonEnabled(true);
    connect(m_filter, &QLineEdit::textChanged, this, [this](const QString &t) {
        m_proxy->setFilterRegularExpression(QRegularExpression(t, QRegularExpression::CaseInsensitiveOption));
    });
    m_view = new QTableView(this);
    m_view->setModel(m_proxy);
    m_view->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_view->setContextMenuPolicy(Qt::CustomContextMenu);
    m_view->verticalHeader()->hide();
    m_view->horizontalHeader()->setStretchLastSection(true);
    m_view->horizontalHeader()->setSectionResizeMode(QHeaderView::Interactive);
    m_fit = new QTimer(this);
    m_fit->setSingleShot(true);
    m_fit->setInterval(1000);
    connect(m_fit, &QTimer::timeout, this, &RunsTable::fitColumns);
    auto fitNow = [this] {
        m_fit->stop();
        fitColumns();
    };
    connect(m_model, &QAbstractItemModel::rowsInserted, this, fitNow);
    connect(m_model, &QAbstractItemModel::rowsRemoved, this, fitNow);
    connect(m_model, &QAbstractItemModel::modelReset, this, fitNow);
    connect(m_model, &QAbstractItemModel::dataChanged, this, [this] {
        if (!m_fit->isActive())
            m_fit->start();
    });
    m_view->setAlternatingRowColors(true);
    m_view->setWordWrap(false);
    connect(m_view, &QTableView::customContextMenuRequested, this, &RunsTable::contextMenu);
    connect(m_view, &QTableView::doubleClicked, this, [this](const QModelIndex &i) {
        if (i.column() == RunsModel::Name)
            pickColor(m_model->runAt(m_proxy->mapToSource(i).row()));
    });
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(2, 2, 2, 2);
    layout->addWidget(m_filter);
    layout->addWidget(m_view);
}

QList<int> RunsTable::selectedRuns() const
{
    QList<int> ids;
    for (const QModelIndex &i : m_view->selectionModel()->selectedRows())
        ids << m_model->runAt(m_proxy->mapToSource(i).row());
    return ids;
}

void RunsTable::pickColor(int runId)
{
    const Run *r = m_store->run(runId);
    if (!r)
        return;
    const QColor c = QColorDialog::getColor(r->meta.color, this, tr("Colour of %1").arg(r->meta.name));
    if (c.isValid())
        m_store->setColor(runId, c);
}

void RunsTable::fitColumns()
{
    QHeaderView *h = m_view->horizontalHeader();
    for (int c = 0; c + 1 < m_proxy->columnCount(); ++c) { // the last one stretches
        const int before = h->sectionSize(c);
        m_view->resizeColumnToContents(c);
        if (h->sectionSize(c) < before)
            h->resizeSection(c, before);
    }
}

void RunsTable::contextMenu(const QPoint &pos)
{
    const QModelIndex index = m_view->indexAt(pos);
    const int id = index.isValid() ? m_model->runAt(m_proxy->mapToSource(index).row()) : -1;
    QMenu menu(this);
    menu.setToolTipsVisible(true);
    if (id >= 0) {
        const Run *run = m_store->run(id);
        const bool here = run && run->meta.trainedWith.isEmpty(); // PyTorch runs continue in PyTorch
        QAction *fork = menu.addAction(tr("Fork from this run…"), this, [this, id] { Q_EMIT forkRequested(id); });
        QAction *resume = menu.addAction(tr("Resume this run…"), this, [this, id] { Q_EMIT resumeRequested(id); });
        for (QAction *a : {fork, resume}) {
            a->setEnabled(here);
            if (!here)
                a->setToolTip(tr("Trained in PyTorch (%1)").arg(run ? run->meta.trainedWith : QString()));
        }
        menu.addAction(tr("Inspect layers"), this, [this, id] { Q_EMIT inspectRequested(id); });
        menu.addAction(tr("Colour…"), this, [this, id] { pickColor(id); });
        menu.addAction(tr("Show only this run"), this, [this, id] {
            for (int other : m_store->runIds())
                m_store->setVisible(other, other == id);
        });
        if (run && !run->meta.source.isEmpty())
            menu.addAction(tr("Remove from view"), this, [this, id] { m_store->removeRun(id); });
        menu.addSeparator();
    }
    menu.addAction(tr("Show all runs"), this, [this] {
        for (int other : m_store->runIds())
            m_store->setVisible(other, true);
    });
    menu.exec(m_view->viewport()->mapToGlobal(pos));
}

} // namespace nmui
