#pragma once
// One project error type. Core code throws these at API boundaries (config, shapes, I/O);
// programs catch them in main() and the GUI in its controller. Never thrown out of an
// OpenMP region.
#include <stdexcept>
#include <string>

namespace nm {

class Error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Invalid configuration: names the field and what is allowed.
class ConfigError : public Error {
  public:
    using Error::Error;
};

// Missing or unreadable data (datasets, corpora, run files).
class DataError : public Error {
  public:
    using Error::Error;
};

} // namespace nm
