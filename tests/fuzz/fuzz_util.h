#pragma once
// Helpers shared by the harnesses: a per-process scratch file in /dev/shm (tmpfs, so the
// readers see a real path without touching the disk).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

namespace nmfuzz {

// A path in /dev/shm (or $TMPDIR when /dev/shm is missing) unique to this process:
// "/dev/shm/nmfuzz-PID" + suffix.
inline std::string scratchPath(const std::string &suffix)
{
    const char *dir =
        access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp");
    return std::string(dir) + "/nmfuzz-" + std::to_string(getpid()) + suffix;
}

// Owns a scratch path and removes the file when the process ends through exit(); libFuzzer's
// own ending (-max_total_time, -runs) uses _Exit, after which run.sh removes it.
struct Scratch {
    std::string path;
    explicit Scratch(const std::string &suffix) : path(scratchPath(suffix)) {}
    ~Scratch() { unlink(path.c_str()); }
    Scratch(const Scratch &) = delete;
    Scratch &operator=(const Scratch &) = delete;
};

inline bool writeFile(const std::string &path, const void *data, size_t size)
{
    FILE *f = std::fopen(path.c_str(), "wb");
    if (!f)
        return false;
    const bool ok = size == 0 || std::fwrite(data, 1, size, f) == size;
    return std::fclose(f) == 0 && ok;
}

[[noreturn]] inline void bug(const char *harness, const char *what, const char *detail)
{
    std::fprintf(stderr, "%s: %s: %s\n", harness, what, detail);
    std::abort();
}

} // namespace nmfuzz
