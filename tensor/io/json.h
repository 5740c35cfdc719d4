// json.h — a small JSON reader, enough for safetensors headers and config files.
// Numbers keep their text so 64-bit integers (byte offsets) are read exactly.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace drift {
namespace json {

struct Value {
  enum class Kind { Null, Bool, Number, String, Array, Object };
  Kind kind = Kind::Null;
  bool boolean = false;
  std::string text;  // the string's value, or the number's digits as written
  std::vector<Value> array;
  std::vector<std::pair<std::string, Value>> object;  // in file order

  bool is_object() const { return kind == Kind::Object; }
  bool is_array() const { return kind == Kind::Array; }
  bool is_string() const { return kind == Kind::String; }
  bool is_number() const { return kind == Kind::Number; }
  const Value* find(const std::string& key) const;  // object member or nullptr
  // The number as a non-negative integer; false if it is not one (or does not fit).
  bool as_uint64(uint64_t& out) const;
  double as_double() const;
};

// Parses a complete JSON document; throws drift::Error("<what>: ... at byte N") on bad input.
Value parse(const std::string& text, const std::string& what);

// Quotes and escapes a string for writing JSON.
std::string quote(const std::string& s);

}  // namespace json
}  // namespace drift
