// test_safetensors.cpp — the checkpoint format: round trips, files written by our Python writer
// (tests/fixtures/fixturelib.py, to the specification; not the safetensors library), and
// every kind of corrupt file rejected with a message naming the problem.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "tensor/error.h"
#include "tensor/io/json.h"
#include "tests/helpers.h"

using namespace drift;

namespace {

std::string temp_path(const std::string& name) {
  return std::string("/tmp/drift_test_") + std::to_string(::getpid()) + "_" + name;
}

std::string header_file(const std::string& header, const std::string& data) {
  std::string out;
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out += static_cast<char>((n >> (8 * i)) & 0xFF);
  return out + header + data;
}

}  // namespace

TEST_CASE("safetensors round trip keeps names, shapes, values and metadata") {
  std::string path = temp_path("roundtrip.safetensors");
  Tensor a = randn({2, 3}), b = arange(5), s = scalar_tensor(4.0f);
  save_safetensors(path, {{"layer.weight", a}, {"layer.bias", b}, {"step", s}},
                   {{"format", "pt"}, {"note", "quote \" and \\ survive"}});
  SafetensorsData d = load_safetensors(path);
  REQUIRE(d.tensors.size() == 3);
  CHECK(d.tensors[0].first == "layer.weight");
  CHECK(d.at("layer.weight").to_vector() == a.to_vector());
  CHECK(d.at("layer.bias").shape() == Shape{5});
  CHECK(d.at("step").ndim() == 0);
  CHECK(d.metadata.at("note") == "quote \" and \\ survive");
  CHECK(d.find("missing") == nullptr);
  std::remove(path.c_str());
}

TEST_CASE("a safetensors file from our Python writer loads (F32, F16, BF16, F64)") {
  const SafetensorsData& d = test::fixture("python_written");
  CHECK(d.metadata.at("writer") == "tests/fixtures/generate.py");
  std::vector<float> expected = {0.0f, 1.0f, -2.5f, 65504.0f, 1.0f / 3.0f, 6.103515625e-05f};
  CHECK_CLOSE(d.at("f32"), from_vector(expected, {2, 3}), 0.0, 0.0);
  CHECK_CLOSE(d.at("f16"), from_vector(expected, {2, 3}), 0.0, 1e-3);
  CHECK_CLOSE(d.at("bf16"),
              from_vector({0.0f, 1.0f, -2.5f, 65536.0f, 0.333984375f, 6.103515625e-05f}, {2, 3}),
              0.0, 0.0);
  CHECK_CLOSE(d.at("f64"), from_vector(expected, {2, 3}), 0.0, 0.0);
}

TEST_CASE("corrupt safetensors files are rejected with a clear message") {
  const std::string ok_data(24, '\0');  // six float zeros
  auto reject = [](const std::string& bytes, const std::string& expected) {
    CHECK_THROWS_WITH_AS(parse_safetensors(bytes, "bad.safetensors"),
                         doctest::Contains(expected.c_str()), Error);
  };
  reject("abc", "not a safetensors file");
  reject(header_file("{}", "").substr(0, 6), "not a safetensors file");
  {
    std::string f =
        header_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,24]}}", ok_data);
    f[0] = static_cast<char>(0xFF);  // header length far beyond the file
    reject(f, "runs past the end of the file");
  }
  reject(header_file("[1,2]", ""), "not a JSON object");
  reject(header_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,24]", ok_data),
         "invalid JSON");
  reject(header_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,48]}}", ok_data),
         "lie outside the data section");
  reject(header_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[5],\"data_offsets\":[0,24]}}", ok_data),
         "needs 20 bytes");
  reject(header_file("{\"w\":{\"dtype\":\"I8\",\"shape\":[24],\"data_offsets\":[0,24]}}", ok_data),
         "dtype I8 is not supported");
  reject(header_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,24]},"
                     "\"b\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,24]}}",
                     ok_data),
         "overlap or hole");
  reject(header_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[5],\"data_offsets\":[0,20]}}", ok_data),
         "bytes after the last tensor");
  reject(header_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[-6],\"data_offsets\":[0,24]}}", ok_data),
         "non-negative integers");
  // A shape whose element count wraps around 2^64 to 0, with an empty span: must not load
  // as a tensor claiming 2^64 elements over no bytes.
  reject(header_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],"
                     "\"data_offsets\":[0,0]},\"z\":{\"dtype\":\"F32\",\"shape\":[6],"
                     "\"data_offsets\":[0,24]}}",
                     ok_data),
         "has more elements than the data section");
  reject(header_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[1099511627775,1099511627775,"
                     "16],\"data_offsets\":[0,0]}}",
                     ""),
         "has more elements than the data section");
  CHECK_THROWS_WITH_AS(load_safetensors("/nonexistent/x.safetensors"),
                       doctest::Contains("/nonexistent/x.safetensors: cannot open"), Error);
}

TEST_CASE("saving is atomic: no temporary file is left and the old file survives a failure") {
  std::string path = temp_path("atomic.safetensors");
  save_safetensors(path, {{"x", ones({3})}});
  std::ifstream tmp(path + ".tmp");
  CHECK_FALSE(tmp.good());
  // A save into a missing directory fails cleanly.
  CHECK_THROWS_WITH_AS(save_safetensors("/nonexistent/dir/x.safetensors", {{"x", ones({1})}}),
                       doctest::Contains("cannot create"), Error);
  CHECK(load_safetensors(path).at("x").to_vector() == std::vector<float>(3, 1.0f));
  std::remove(path.c_str());
}

TEST_CASE("json reader") {
  json::Value v =
      json::parse("{\"a\": [1, 2.5, \"x\\n\"], \"b\": {\"c\": true, \"d\": null}}", "t");
  REQUIRE(v.is_object());
  CHECK(v.find("a")->array.size() == 3);
  uint64_t one = 0;
  CHECK(v.find("a")->array[0].as_uint64(one));
  CHECK(one == 1);
  CHECK(v.find("a")->array[1].as_double() == 2.5);
  CHECK(v.find("a")->array[2].text == "x\n");
  CHECK(v.find("b")->find("c")->boolean);
  CHECK_THROWS_WITH_AS(json::parse("{\"a\": }", "cfg"), doctest::Contains("cfg: invalid JSON"),
                       Error);
  // \u takes exactly four hex digits (it once went through strtoul, which took these)
  CHECK(json::parse("\"\\u0041\\u00e9\"", "t").text == "A\xC3\xA9");
  for (const char* bad : {"\"\\u-001\"", "\"\\u 12f\"", "\"\\u0x1F\"", "\"\\u12\""})
    CHECK_THROWS_WITH_AS(json::parse(bad, "t"), doctest::Contains("escape"), Error);
}
