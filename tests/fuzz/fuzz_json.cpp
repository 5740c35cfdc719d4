// fuzz_json.cpp — json::parse (tensor/io/json.h) on arbitrary text.
//
// A document the parser accepts is walked to the bottom (every number read as an integer and
// as a double), and every string in it, keys included, must come back unchanged from
// parse(quote(s)): the writer and the reader agree on escapes.
#include <string>

#include "tensor/io/json.h"
#include "tests/fuzz/harness.h"

namespace {

using drift::json::Value;

void check_string(const std::string& s) {
  Value back;
  try {
    back = drift::json::parse(drift::json::quote(s), "fuzz (quoted)");
  } catch (const drift::Error& e) {  // what quote() writes must parse
    throw drift::fuzz::Finding(std::string("parse(quote(s)) failed: ") + e.what());
  }
  if (!back.is_string() || back.text != s)
    throw drift::fuzz::Finding("parse(quote(s)) != s for a string of " + std::to_string(s.size()) +
                               " bytes");
}

void walk(const Value& v) {
  if (v.is_number()) {
    uint64_t n = 0;
    if (v.as_uint64(n) && std::to_string(n) != v.text && v.text[0] != '0')
      throw drift::fuzz::Finding("as_uint64 misread " + v.text);
    volatile double d = v.as_double();
    (void)d;
  }
  if (v.is_string()) check_string(v.text);
  for (const Value& item : v.array) walk(item);
  for (const auto& [key, member] : v.object) {
    check_string(key);
    drift::fuzz::expect(v.find(key) != nullptr, "find misses the key it holds");
    walk(member);
  }
}

int fuzz_json(const uint8_t* data, size_t size) {
  drift::fuzz::rejected_or_parsed(
      [&] { walk(drift::json::parse(drift::fuzz::bytes_of(data, size), "fuzz")); });
  return 0;
}

}  // namespace

DRIFT_FUZZ_TARGET(json, fuzz_json)
