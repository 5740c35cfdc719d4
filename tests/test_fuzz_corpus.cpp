// test_fuzz_corpus.cpp — the fuzz harnesses (tests/fuzz/) replayed over their committed seed
// corpora (tests/fuzz/corpus/<harness>/), in every build and with any compiler: the same
// function libFuzzer calls, on every file, so a harness that stops compiling or a reader that
// starts crashing on a known file fails here and not only under `make fuzz`.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "diffusion/tools/data.h"  // read_file
#include "tests/fuzz/harness.h"

namespace fs = std::filesystem;

namespace {

const fs::path corpus_root = DRIFT_FUZZ_CORPUS_DIR;

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_regular_file()) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

TEST_CASE("fuzz corpora: one folder per harness, one harness per folder") {
  std::set<std::string> harnesses, folders;
  for (const auto& h : drift::fuzz::registry()) {
    CHECK_MESSAGE(harnesses.insert(h.name).second, "harness " << h.name << " registered twice");
  }
  for (const auto& entry : fs::directory_iterator(corpus_root))
    if (entry.is_directory()) folders.insert(entry.path().filename().string());
  CHECK(harnesses.size() >= 6);
  CHECK(harnesses == folders);
}

TEST_CASE("fuzz corpora: every harness runs cleanly over every committed file") {
  for (const auto& harness : drift::fuzz::registry()) {
    SUBCASE(harness.name.c_str()) {
      const fs::path dir = corpus_root / harness.name;
      REQUIRE(fs::is_directory(dir));
      const std::vector<fs::path> files = files_in(dir);
      CHECK(files.size() >= 3);
      for (const fs::path& file : files) {
        CAPTURE(file.string());
        const std::string bytes = drift::diffusion::read_file(file.string());
        CHECK_NOTHROW(harness.run(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
      }
    }
  }
}
