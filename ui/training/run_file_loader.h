#pragma once
// Reads run files (nmcore/runfile.h) into the RunStore. Every run of a file becomes a run
// of the store with its series and per-layer series at once (what the first page draws); its
// snapshots, most of a large file, follow from a background thread, one at a time, so a file
// of a gigabyte opens as fast as its series read. A file that is still being written is
// followed: its new rows appear about once a second until its runs end.
#include <QObject>
#include <QStringList>
#include <QTimer>

#include <map>
#include <memory>

namespace nm {
class RunFileReader;
}

namespace nmui {

class RunStore;

class RunFileLoader : public QObject {
    Q_OBJECT
  public:
    explicit RunFileLoader(RunStore *store, QObject *parent = nullptr);
    ~RunFileLoader() override;

    // Adds the file's runs to the store; their ids, or empty with *error set.
    QList<int> open(const QString &path, QString *error = nullptr);
    void close(const QString &path);
    QStringList files() const;
    bool isFollowing() const { return m_poll.isActive(); }
    // Reads what a followed file gained since the last look (the timer calls this).
    void poll();
    // Snapshots still to read from the open files (0 when every file is read).
    int snapshotsPending() const;

  Q_SIGNALS:
    void fileUpdated(const QString &path);
    // A snapshot arrived (snapshotsPending() says how many are left), or a file's snapshots
    // could not be read (message names the file and the problem; its series stay).
    void snapshotsProgress();
    void snapshotsFailed(const QString &path, const QString &message);

  private:
    struct Source;
    void load(Source &s, int index, int id, bool snapshots);
    void readSnapshotsInBackground(Source &s, const QString &path);

    RunStore *m_store;
    std::map<QString, std::unique_ptr<Source>> m_sources;
    QTimer m_poll;
};

} // namespace nmui
