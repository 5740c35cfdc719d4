// test_data.cpp — data finding (the search order and the error listing every folder tried),
// gzip + IDX reading (hand-built files, corrupt bytes, and the real Fashion-MNIST test set
// when ../shared/data has it), parse_mnist from bytes.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>

#include "diffusion/tools/data.h"
#include "tensor/error.h"
#include "tests/helpers.h"
#include "tests/temp_dir.h"

using namespace drift;
using namespace drift::diffusion;

namespace {

// gzip bytes for `payload`, deflated as one "stored" (uncompressed) block — simple enough to
// build by hand, and a valid stream for any inflater. `name` sets the optional FNAME field.
std::string gzip_stored(const std::string& payload, const std::string& name = "") {
  REQUIRE(payload.size() < 65536);
  std::string out = {'\x1f', '\x8b', '\x08', static_cast<char>(name.empty() ? 0 : 0x08), 0, 0, 0,
                     0,      0,      '\x03'};
  if (!name.empty()) out += name + '\0';
  const uint16_t len = static_cast<uint16_t>(payload.size()), nlen = static_cast<uint16_t>(~len);
  out += '\x01';  // BFINAL = 1, BTYPE = 00 (stored)
  out += static_cast<char>(len & 0xFF);
  out += static_cast<char>(len >> 8);
  out += static_cast<char>(nlen & 0xFF);
  out += static_cast<char>(nlen >> 8);
  out += payload;
  auto le32 = [&](uint32_t v) {
    for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
  };
  le32(crc32(payload));
  le32(static_cast<uint32_t>(payload.size()));
  return out;
}

// IDX bytes of unsigned bytes with the given dimensions, values 0, 1, 2, ...
std::string idx_bytes(const std::vector<uint32_t>& dims, int extra = 0, int type = 0x08) {
  std::string out = {0, 0, static_cast<char>(type), static_cast<char>(dims.size())};
  size_t count = 1;
  for (uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((d >> shift) & 0xFF);
    count *= d;
  }
  for (size_t i = 0; i < count + static_cast<size_t>(std::max(extra, 0)); ++i)
    out += static_cast<char>(i % 251);
  if (extra < 0) out.resize(out.size() + static_cast<size_t>(extra));
  return out;
}

// The layout of the search: every rule has a copy of the mandrill.
struct SearchLayout {
  test::TempDir dir{"data-search"};
  DataSearch search;
  std::map<std::string, std::string> folder;  // rule -> its mandrill folder
  SearchLayout() {
    folder["--data"] = dir.mkdir("flag/mandrill");
    folder["DRIFT_DATA"] = dir.mkdir("env/mandrill");
    folder["project data/"] = dir.mkdir("work/project/data/mandrill");
    folder["../shared/data"] = dir.mkdir("work/shared/data/mandrill");
    folder["system"] = dir.mkdir("system/mandrill");
    for (const auto& [rule, path] : folder)
      dir.write(std::filesystem::path(path).lexically_relative(dir.str()).string() + "/baboon.jpg");
    search.flag_dir = dir.path("flag");
    search.env_dir = dir.path("env");
    search.project_roots = {dir.path("work/project")};
    search.system_dirs = {dir.path("system")};
  }
  void remove(const std::string& rule) { std::filesystem::remove_all(folder[rule]); }
};

}  // namespace

TEST_CASE("data finding order: flag > env > data/ > ../shared/data > system") {
  SearchLayout layout;
  for (const char* rule : {"--data", "DRIFT_DATA", "project data/", "../shared/data", "system"}) {
    DataLocation found = find_mandrill(layout.search);
    INFO("expected the " << rule << " copy, got " << found.path << " (" << found.origin << ")");
    CHECK(found.origin == rule);
    CHECK(found.path ==
          (std::filesystem::path(layout.folder[rule]).lexically_normal() / "baboon.jpg").string());
    layout.remove(rule);  // next round: the next rule in line
  }
  // Nothing left anywhere: one error naming every folder tried and the command to run.
  try {
    find_mandrill(layout.search);
    FAIL("expected an error");
  } catch (const Error& e) {
    std::string message = e.what();
    INFO(message);
    CHECK(message.find("cannot find the mandrill data (baboon.jpg)") != std::string::npos);
    for (const auto& [rule, path] : layout.folder) {
      CHECK(message.find(std::filesystem::path(path).lexically_normal().string()) !=
            std::string::npos);
      CHECK(message.find(rule) != std::string::npos);
    }
    CHECK(message.find("scripts/fetch-data.sh mandrill") != std::string::npos);
    CHECK(message.find('\n') == std::string::npos);  // one line
  }
}

TEST_CASE("data finding: --data may name the data set folder itself; typos are caught") {
  test::TempDir dir("data-flag");
  DataSearch search;
  search.flag_dir = dir.mkdir("fashion");
  for (const std::string& f : mnist_files()) dir.write("fashion/" + f);
  DataLocation found = find_dataset("fashion-mnist", search);
  CHECK(found.path == dir.path("fashion"));
  CHECK(found.origin == "--data");
  search.flag_dir = dir.path("no-such-folder");
  CHECK_THROWS_WITH_AS(
      find_dataset("fashion-mnist", search),
      doctest::Contains(("--data '" + dir.path("no-such-folder") + "' is not a folder").c_str()),
      Error);
  // A folder with only some of the files is skipped, and the error says what it lacks.
  DataSearch partial;
  partial.system_dirs = {dir.str()};
  dir.write("mnist/train-images-idx3-ubyte.gz");
  CHECK_THROWS_WITH_AS(find_dataset("mnist", partial),
                       doctest::Contains("lacks train-labels-idx1-ubyte.gz"), Error);
  CHECK_THROWS_WITH_AS(find_dataset("cifar", partial),
                       doctest::Contains("unknown data set 'cifar'"), Error);
}

TEST_CASE("data finding defaults: DRIFT_DATA and the project's own folders") {
  test::TempDir dir("data-env");
  ::setenv("DRIFT_DATA", dir.str().c_str(), 1);
  DataSearch search = DataSearch::defaults("");
  ::unsetenv("DRIFT_DATA");
  CHECK(search.env_dir == dir.str());
  CHECK(search.flag_dir.empty());
  REQUIRE(!search.project_roots.empty());  // the source tree this test was built from
  CHECK(std::filesystem::exists(std::filesystem::path(search.project_roots[0]) / "diffusion" /
                                "tools" / "data.h"));
  CHECK(search.system_dirs.at(0) == "/usr/share/datasets");
}

TEST_CASE("crc32 and gunzip of hand-built gzip bytes") {
  CHECK(crc32("123456789") == 0xCBF43926u);
  CHECK(crc32("") == 0u);
  std::string payload = "diffusion models, one step at a time";
  CHECK(gunzip(gzip_stored(payload), "plain") == payload);
  CHECK(gunzip(gzip_stored(payload, "file.idx"), "with FNAME") == payload);
}

TEST_CASE("gunzip: the trailer's length bounds what is inflated") {
  // Inflating into a buffer of the trailer's length: a stream that runs past it stops there,
  // and a trailer that claims more than deflate can make of the file is refused up front (a
  // small file cannot make gunzip allocate gigabytes).
  const std::string payload(100, 'x');
  auto claiming = [&](uint32_t n) {
    std::string gz = gzip_stored(payload);
    for (int i = 0; i < 4; ++i) gz[gz.size() - 4 + i] = static_cast<char>((n >> (8 * i)) & 0xFF);
    return gz;
  };
  CHECK(gunzip(claiming(100), "exact") == payload);
  CHECK_THROWS_WITH_AS(gunzip(claiming(50), "short"),
                       doctest::Contains("inflates to more than the 50 bytes its trailer says"),
                       Error);
  CHECK_THROWS_WITH_AS(gunzip(claiming(150), "long"),
                       doctest::Contains("inflates to 100 bytes but its trailer says 150"), Error);
  CHECK_THROWS_WITH_AS(gunzip(claiming(1000000), "lie"),
                       doctest::Contains("more than deflate can make of 105 compressed bytes"),
                       Error);
  CHECK_THROWS_WITH_AS(gunzip(claiming((1u << 30) + 1), "huge"),
                       doctest::Contains("more than gunzip accepts"), Error);
}

TEST_CASE("IDX: parsing and clear errors for corrupt bytes") {
  IdxArray a = parse_idx(idx_bytes({2, 3, 4}), "ok");
  CHECK(a.dims == std::vector<int64_t>{2, 3, 4});
  REQUIRE(a.values.size() == 24);
  CHECK(a.values[23] == 23);
  CHECK_THROWS_WITH_AS(parse_idx(std::string("\x01\0\x08\x01", 4), "m"),
                       doctest::Contains("bad magic number"), Error);
  CHECK_THROWS_WITH_AS(parse_idx(idx_bytes({2, 3}, 0, 0x0D), "f"), doctest::Contains("type 0xd"),
                       Error);
  CHECK_THROWS_WITH_AS(parse_idx(std::string("\0\0\x08\0", 4), "z"),
                       doctest::Contains("claims 0 dimensions"), Error);
  CHECK_THROWS_WITH_AS(parse_idx(idx_bytes({10, 28, 28}, -5), "short"),
                       doctest::Contains("truncated"), Error);
  CHECK_THROWS_WITH_AS(parse_idx(idx_bytes({10}, 3), "long"), doctest::Contains("trailing garbage"),
                       Error);
  CHECK_THROWS_WITH_AS(parse_idx(idx_bytes({10, 28, 28}).substr(0, 9), "header"),
                       doctest::Contains("truncated inside its header"), Error);

  test::TempDir dir("idx");
  // A gzip'd IDX file and a plain one read the same.
  std::string gz = dir.write("images.gz", gzip_stored(idx_bytes({3, 4, 5})));
  std::string raw = dir.write("images.idx", idx_bytes({3, 4, 5}));
  CHECK(read_idx(gz).values == read_idx(raw).values);
  // Corrupt gzip: a flipped payload byte fails the CRC; a cut file fails the length check;
  // a broken header is named.
  std::string bytes = gzip_stored(idx_bytes({3, 4, 5}));
  std::string flipped = bytes;
  flipped[30] = static_cast<char>(flipped[30] ^ 0x40);
  CHECK_THROWS_WITH_AS(read_idx(dir.write("flipped.gz", flipped)), doctest::Contains("CRC-32"),
                       Error);
  CHECK_THROWS_WITH_AS(read_idx(dir.write("cut.gz", bytes.substr(0, bytes.size() - 20))),
                       doctest::Contains("cut.gz"), Error);
  std::string bad_method = bytes;
  bad_method[2] = 7;
  CHECK_THROWS_WITH_AS(gunzip(bad_method, "m"), doctest::Contains("compression method 7"), Error);
  CHECK_THROWS_WITH_AS(gunzip(bytes.substr(0, 12), "tiny"), doctest::Contains("too short"), Error);
  CHECK_THROWS_WITH_AS(read_idx(dir.path("absent.gz")), doctest::Contains("no such file"), Error);
  // A corrupt deflate stream (an invalid block type) is reported by the inflater.
  std::string bad_block = bytes;
  bad_block[10] = '\x07';  // BFINAL = 1, BTYPE = 11: reserved
  CHECK_THROWS_WITH_AS(gunzip(bad_block, "block"), doctest::Contains("corrupt compressed data"),
                       Error);
}

TEST_CASE("parse_mnist: images and labels from bytes, gzip'd or not, paired and checked") {
  const std::string images = idx_bytes({4, 2, 3});  // pixel values 0..23
  const std::string labels = idx_bytes({4});        // labels 0, 1, 2, 3
  MnistSplit split = parse_mnist(images, "img", labels, "lab");
  CHECK(split.images.shape() == Shape{4, 1, 2, 3});
  CHECK(split.labels.to_vector() == std::vector<float>{0, 1, 2, 3});
  CHECK(split.images.at({3, 0, 1, 2}) == doctest::Approx(23 / 255.0));
  MnistSplit gz = parse_mnist(gzip_stored(images), "img.gz", gzip_stored(labels), "lab.gz", 2);
  CHECK(gz.images.shape() == Shape{2, 1, 2, 3});
  CHECK(gz.labels.to_vector() == std::vector<float>{0, 1});
  CHECK(decode_idx(gzip_stored(images), "gz").values == decode_idx(images, "raw").values);
  // The pairing checks of load_mnist, each naming the source.
  CHECK_THROWS_WITH_AS(parse_mnist(images, "img", idx_bytes({3}), "lab"),
                       doctest::Contains("4 images in 'img' but 3 labels in 'lab'"), Error);
  CHECK_THROWS_WITH_AS(parse_mnist(idx_bytes({4, 6}), "img", labels, "lab"),
                       doctest::Contains("'img' should be [N, H, W]"), Error);
  CHECK_THROWS_WITH_AS(parse_mnist(images, "img", idx_bytes({4, 1}), "lab"),
                       doctest::Contains("'lab' should be [N]"), Error);
  std::string eleven = idx_bytes({4});
  eleven.back() = 11;
  CHECK_THROWS_WITH_AS(parse_mnist(images, "img", eleven, "lab"),
                       doctest::Contains("label 11 of example 3 in 'lab' is not a class 0..9"),
                       Error);
  CHECK_THROWS_WITH_AS(parse_mnist(gzip_stored(images).substr(0, 30), "cut.gz", labels, "lab"),
                       doctest::Contains("cut.gz"), Error);
}

TEST_CASE("the real Fashion-MNIST test set (from ../shared/data when present)") {
  DataLocation found;
  try {
    found = find_dataset("fashion-mnist", DataSearch::defaults(""));
  } catch (const Error& e) {
    std::cout << "[skipped] Fashion-MNIST not found: " << e.what() << "\n";
    MESSAGE("skipped: Fashion-MNIST not found");
    return;
  }
  MnistSplit test_split = load_mnist(found.path, "test");
  CHECK(test_split.images.shape() == Shape{10000, 1, 28, 28});
  CHECK(test_split.labels.shape() == Shape{10000});
  std::vector<float> labels = test_split.labels.to_vector();
  std::vector<int> per_class(10, 0);
  for (float l : labels) {
    REQUIRE(l >= 0.0f);
    REQUIRE(l <= 9.0f);
    REQUIRE(std::floor(l) == l);
    per_class[static_cast<size_t>(l)]++;
  }
  for (int c = 0; c < 10; ++c) CHECK(per_class[static_cast<size_t>(c)] == 1000);  // balanced
  std::vector<float> pixels = test_split.images.to_vector();
  float lo = 1, hi = 0;
  for (float p : pixels) lo = std::min(lo, p), hi = std::max(hi, p);
  CHECK(lo == 0.0f);
  CHECK(hi == 1.0f);
  CHECK(load_mnist(found.path, "test", 16).images.shape() == Shape{16, 1, 28, 28});

  // The real compressed labels file with one byte of its deflate data flipped, or cut short,
  // is rejected with the file named.
  test::TempDir dir("real-idx");
  std::string bytes = read_file(found.path + "/t10k-labels-idx1-ubyte.gz");
  std::string flipped = bytes;
  flipped[bytes.size() / 2] = static_cast<char>(flipped[bytes.size() / 2] ^ 0x10);
  CHECK_THROWS_AS(read_idx(dir.write("flipped.gz", flipped)), Error);
  CHECK_THROWS_WITH_AS(read_idx(dir.write("cut.gz", bytes.substr(0, bytes.size() / 2))),
                       doctest::Contains("cut.gz"), Error);
  CHECK_THROWS_WITH_AS(load_mnist(found.path, "validation"), doctest::Contains("'train' or 'test'"),
                       Error);
}
