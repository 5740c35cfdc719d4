// error.h — the one exception type of the library.
//
// Every check on user input (shapes, devices, indices, files) throws drift::Error with a
// message that names the operation and the values involved, e.g.
//   "add: shapes [2, 3] and [4] cannot be broadcast (devices cpu, cpu)".
// Executables catch it in main(), print the message on one line and exit non-zero.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace drift {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace drift

// DRIFT_CHECK(condition, message-stream): throw drift::Error when `condition` is false.
// The message is built with <<, so it can mention shapes and devices directly:
//   DRIFT_CHECK(a.device() == b.device(), "add: devices " << a.device() << " and " << b.device());
#define DRIFT_CHECK(condition, message)          \
  do {                                           \
    if (!(condition)) {                          \
      std::ostringstream drift_check_stream_;    \
      drift_check_stream_ << message;            \
      throw ::drift::Error(drift_check_stream_.str()); \
    }                                            \
  } while (0)

#define DRIFT_FAIL(message)                    \
  do {                                         \
    std::ostringstream drift_check_stream_;    \
    drift_check_stream_ << message;            \
    throw ::drift::Error(drift_check_stream_.str()); \
  } while (0)
