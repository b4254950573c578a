// Existing run files and the file system under a recording (see runfile/files.h).
#include "runfile/files.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

namespace nm {

namespace files {

namespace {

// A writer flushes at least every few seconds; a run still "Running" in a file nobody flushed
// for this long was left by a writer that died.
constexpr double kStaleWriterSeconds = 30.0;

} // namespace

bool pathExists(const std::string &path)
{
    std::error_code ec;
    return std::filesystem::symlink_status(path, ec).type() != std::filesystem::file_type::not_found;
}

std::string existsMessage(const std::string &path)
{
    return "run file '" + path +
           "' already exists and was left as it is; write to another file, or ask to "
           "overwrite it or to append the new runs to it";
}

int nextRunIndex(const std::string &path, double nowUnixSeconds)
{
    RunFileReader reader(path);
    const double age = nowUnixSeconds - reader.lastFlushTime();
    int next = 0;
    for (int i = 0; i < reader.runCount(); ++i) {
        const RunHeader &h = reader.run(i);
        if ((h.status == "Running" || h.status == "Pending") && !(age > kStaleWriterSeconds))
            throw RunFileError("cannot append to run file '" + path + "': its run '" + h.name +
                               "' is still being written (last flush " +
                               (std::isfinite(age) ? std::to_string(static_cast<long>(age)) + " s ago" : "never") +
                               "); wait until it ends, or write to another file");
        const std::string group = h.group.substr(h.group.find('/') + 1);
        next = std::max(next, std::atoi(group.c_str()) + 1);
    }
    return next;
}

void renameNoReplace(const std::string &from, const std::string &to)
{
    if (renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0)
        return;
    if (errno == EEXIST)
        throw RunFileExists(existsMessage(to));
    if (errno == EINVAL || errno == ENOSYS) {
        if (link(from.c_str(), to.c_str()) == 0) {
            unlink(from.c_str());
            return;
        }
        if (errno == EEXIST)
            throw RunFileExists(existsMessage(to));
    }
    throw RunFileError("cannot create run file '" + to + "': renaming '" + from + "' failed (" + std::strerror(errno) +
                       "; is the directory writable?)");
}

} // namespace files

std::string freshRunFilePath(const std::string &path)
{
    using files::pathExists;
    if (!pathExists(path))
        return path;
    const std::filesystem::path p(path);
    const std::string stem = (p.parent_path() / p.stem()).string(), ext = p.extension().string();
    for (int k = 2;; ++k)
        if (std::string candidate = stem + "-" + std::to_string(k) + ext; !pathExists(candidate))
            return candidate;
}

} // namespace nm
