// harness.h — what every fuzz harness in tests/fuzz/ shares.
//
// A harness is a plain function `int fuzz_xxx(const uint8_t* data, size_t size)` that feeds the
// bytes to one parser. It is compiled twice:
//   * into fuzz_xxx, a libFuzzer executable (clang, -DDRIFT_FUZZ=ON, scripts/fuzz.sh), where
//     DRIFT_FUZZ_TARGET becomes LLVMFuzzerTestOneInput;
//   * into test_fuzz_corpus (every build, g++ too), where DRIFT_FUZZ_TARGET registers the
//     function under its name and tests/test_fuzz_corpus.cpp runs it over every file of
//     tests/fuzz/corpus/<name>/.
//
// The outcomes:
//   * the parser returns, or throws drift::Error (a corrupt input rejected with a message):
//     correct; `rejected_or_parsed` swallows exactly that exception;
//   * anything else is a finding: a crash, an ASan or UBSan report, a timeout, a huge
//     allocation (libFuzzer reports those), another exception type (std::bad_alloc,
//     std::length_error, ...: it escapes the harness), or a broken promise the harness checks
//     itself (`expect`, which throws Finding).
//
// How to add a harness: write tests/fuzz/fuzz_<name>.cpp ending in
// DRIFT_FUZZ_TARGET(<name>, fuzz_<name>), list it in DRIFT_FUZZ_HARNESSES (tests/CMakeLists.txt),
// give it seed files in tests/fuzz/corpus/<name>/ (tests/fuzz/make_corpus.cpp) and a -max_len
// in scripts/fuzz.sh.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "tensor/error.h"

namespace drift {
namespace fuzz {

// A promise the harness checks that the code under test broke.
class Finding : public std::logic_error {
 public:
  explicit Finding(const std::string& why) : std::logic_error(why) {}
};

// A literal message costs nothing until it is needed; a built one costs its allocation every
// time, so checks made per pixel or per value build theirs only on failure:
//   if (!ok) throw Finding("frame " + std::to_string(f) + " changed");
inline void expect(bool condition, const char* what) {
  if (!condition) throw Finding(what);
}
inline void expect(bool condition, const std::string& what) {
  if (!condition) throw Finding(what);
}

// Runs `parse`; a drift::Error it throws is the input rejected, a correct outcome.
template <class Parse>
void rejected_or_parsed(Parse&& parse) {
  try {
    parse();
  } catch (const drift::Error&) {
  }
}

inline std::string bytes_of(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

// ---- registration (for the corpus replay) -----------------------------------------------------

using Harness = int (*)(const uint8_t* data, size_t size);

struct Registered {
  std::string name;
  Harness run;
};

inline std::vector<Registered>& registry() {
  static std::vector<Registered> harnesses;
  return harnesses;
}

struct Registration {
  Registration(const char* name, Harness run) { registry().push_back({name, run}); }
};

}  // namespace fuzz
}  // namespace drift

#if defined(DRIFT_FUZZ_MAIN)
#define DRIFT_FUZZ_TARGET(name, function)                                   \
  extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) { \
    return function(data, size);                                            \
  }
#else
#define DRIFT_FUZZ_TARGET(name, function) \
  static const ::drift::fuzz::Registration drift_fuzz_registration_##name(#name, function);
#endif
