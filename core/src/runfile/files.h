#pragma once
// The run-file writer's dealings with the file system (internal to core/src/runfile/):
// existing files (refuse, append, never replace by accident) and whether recording can go on
// (room left on the disk and under ulimit -f, the file still where it was).
#include "nmcore/runfile.h"

#include "runfile/h5.h"

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

namespace nm {

namespace files {

bool pathExists(const std::string &path); // anything at the path, a dangling link included
std::string existsMessage(const std::string &path);
// The index the first appended run gets: one past the file's last. Throws RunFileError when
// the file is not a run file of this version or another program is still writing it (its
// last flush less than a stale writer's interval before `nowUnixSeconds`).
int nextRunIndex(const std::string &path, double nowUnixSeconds);
// Moves `from` to `to` unless something exists at `to` (atomically, where the file system
// can: renameat2's RENAME_NOREPLACE, else a hard link, which also fails on an existing name).
// Throws RunFileExists when something does.
void renameNoReplace(const std::string &from, const std::string &to);

} // namespace files

// Whether the file still takes writes; shared by the writer and its runs, read and changed
// under h5::lock(). Recording stops (the runs train on) when the disk or the file-size limit
// leaves too little room, when the file is removed or replaced, or when a write fails; the
// unfinished runs are then marked Stopped at their last flushed step, so what was flushed
// stays readable and says where it ends.
class RecordingHealth {
  public:
    std::string path;
    std::function<void(const std::string &)> onFailure;
    std::function<void()> markStopped; // every unfinished run: Stopped, then a flush

    bool failed() const { return m_failed.load(std::memory_order_acquire); }
    std::string failure() const
    {
        auto guard = h5::lock();
        return m_message;
    }
    // Remembers which file `path` names now (after the rename), to notice a removal.
    void identify()
    {
        struct stat st {};
        if (::stat(path.c_str(), &st) == 0) {
            m_dev = st.st_dev;
            m_ino = st.st_ino;
            m_identified = true;
        }
    }
    // Whether `bytes` more can be written with room left to close the file; else why not.
    bool roomFor(uint64_t bytes, std::string *why) const
    {
        struct stat st {};
        if (::stat(path.c_str(), &st) != 0 || (m_identified && (st.st_dev != m_dev || st.st_ino != m_ino))) {
            *why = "the file was removed or replaced (or its folder was)";
            return false;
        }
        const uint64_t need = 2 * bytes + kCloseMargin;
        const std::string dir = std::filesystem::path(path).parent_path().string();
        struct statvfs fs {};
        if (::statvfs(dir.empty() ? "." : dir.c_str(), &fs) == 0) {
            const uint64_t avail = fs.f_bavail * fs.f_frsize;
            if (avail < need) {
                *why = "the disk is full (" + std::to_string(avail / 1024) + " KiB free, " +
                       std::to_string(need / 1024) + " KiB needed)";
                return false;
            }
        }
        struct rlimit lim {};
        if (getrlimit(RLIMIT_FSIZE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY &&
            static_cast<uint64_t>(st.st_size) + need > lim.rlim_cur) {
            *why = "the file-size limit (ulimit -f, " + std::to_string(lim.rlim_cur / 1024) + " KiB) is reached";
            return false;
        }
        return true;
    }
    // Stops recording for good: marks the runs Stopped where it still can, tells onFailure once.
    void fail(std::string reason)
    {
        auto guard = h5::lock();
        if (failed())
            return;
        m_failed.store(true, std::memory_order_release);
        if (std::string room; !roomFor(0, &room))
            reason = room; // the cause behind HDF5's "write failed"
        struct stat st {};
        const bool there = ::stat(path.c_str(), &st) == 0 && st.st_dev == m_dev && st.st_ino == m_ino;
        m_message = "recording to '" + path + "' stopped: " + reason + "; the runs go on" +
                    (there ? ", and the file keeps every step flushed before" : "");
        try {
            if (markStopped)
                markStopped();
        } catch (const std::exception &) {
            // The file may take no more writes at all; what was flushed stays as it is.
        }
        if (onFailure)
            onFailure(m_message);
    }

  private:
    static constexpr uint64_t kCloseMargin = 256 << 10; // statuses, summaries, metadata
    std::atomic<bool> m_failed{false};
    std::string m_message;
    dev_t m_dev = 0;
    ino_t m_ino = 0;
    bool m_identified = false;
};

} // namespace nm
