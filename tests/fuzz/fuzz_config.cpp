// Fuzzes the option table: JSON config text and command-line flags through nm::parseConfig.
//
// Input layout: the JSON text, then optionally a NUL byte and up to eight flag lines
// "key=value" separated by '\n' (a line without '=' is a flag with an empty value, as
// `--nesterov` alone). Only nm::Error may leave parseConfig; a config it accepts must survive
// configToJson and parse back to the same JSON (the run files store it that way).
#include "nmcore/config.h"
#include "nmcore/error.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <string>

namespace {

[[noreturn]] void bug(const char *what, const char *detail)
{
    std::fprintf(stderr, "fuzz_config: %s: %s\n", what, detail);
    std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const std::string input(reinterpret_cast<const char *>(data), size);
    const size_t nul = input.find('\0');
    const std::string jsonText = input.substr(0, nul);
    std::map<std::string, std::string> flags;
    if (nul != std::string::npos) {
        size_t pos = nul + 1;
        for (int i = 0; i < 8 && pos <= input.size(); ++i) {
            size_t end = input.find('\n', pos);
            if (end == std::string::npos)
                end = input.size();
            const std::string line = input.substr(pos, end - pos);
            const size_t eq = line.find('=');
            if (!line.empty())
                flags[line.substr(0, eq)] = eq == std::string::npos ? std::string() : line.substr(eq + 1);
            pos = end + 1;
        }
    }

    nm::RunConfig config;
    try {
        config = nm::parseConfig(jsonText, "fuzz.json", flags);
    } catch (const nm::Error &) {
        return 0; // a rejected config: expected
    } catch (const std::exception &e) {
        bug("non-nm exception out of parseConfig", e.what());
    }

    // An accepted config is stored with every run as JSON and read back from run files.
    std::string stored;
    try {
        stored = nm::configToJson(config);
    } catch (const std::exception &e) {
        bug("configToJson threw on an accepted config", e.what());
    }
    try {
        const nm::RunConfig again = nm::parseConfig(stored, "stored config", {});
        if (nm::configToJson(again) != stored)
            bug("stored config does not round-trip", stored.c_str());
    } catch (const std::exception &e) {
        bug("the stored JSON of an accepted config does not parse back", e.what());
    }
    return 0;
}
