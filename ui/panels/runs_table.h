#pragma once
// The runs table (left dock): visibility, colour swatch (double-click to recolour), name,
// recipe, N:M, seed, status, step, best validation accuracy, test accuracy, source; a regex
// filter; a context menu to fork, inspect, show only one run or remove runs read from files.
#include <QAbstractTableModel>
#include <QElapsedTimer>
#include <QTimer>
#include <QWidget>

class QLineEdit;
class QSortFilterProxyModel;
class QTableView;

namespace nmui {

class RunStore;

class RunsModel : public QAbstractTableModel {
    Q_OBJECT
  public:
    enum Column { Name, Recipe, Nm, Seed, Status, Step, BestVal, Test, Source, ColumnCount };
    explicit RunsModel(RunStore *store, QObject *parent = nullptr);

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role) const override;
    QVariant headerData(int section, Qt::Orientation o, int role) const override;
    Qt::ItemFlags flags(const QModelIndex &index) const override;
    bool setData(const QModelIndex &index, const QVariant &value, int role) override;
    int runAt(int row) const;

  private:
    void rebuild();
    // Row updates: the first after a quiet spell at once (a click on a checkbox), the rest
    // (step counts while runs train, many per second) together at most every kRowUpdateMs.
    void rowChanged(int id);
    void emitPending();
    RunStore *m_store;
    QList<int> m_ids;
    QList<int> m_pending; // run ids
    QTimer m_rowTimer;
    QElapsedTimer m_sinceEmit;
};

class RunsTable : public QWidget {
    Q_OBJECT
  public:
    explicit RunsTable(RunStore *store, QWidget *parent = nullptr);
    QTableView *view() const { return m_view; }
    RunsModel *model() const { return m_model; }
    QList<int> selectedRuns() const;

  Q_SIGNALS:
    void forkRequested(int runId);
    void resumeRequested(int runId);
    void inspectRequested(int runId);

  private:
    void contextMenu(const QPoint &pos);
    void pickColor(int runId);
    // Widens columns whose contents grew (never narrower than the user made them). Measuring
    // every cell is not free, so live updates (the step counts) do it at most once a second;
    // new rows, removed rows and a reset do it at once.
    void fitColumns();

    RunStore *m_store;
    RunsModel *m_model;
    QSortFilterProxyModel *m_proxy;
    QTableView *m_view;
    QLineEdit *m_filter;
    QTimer *m_fit;
};

} // namespace nmui
