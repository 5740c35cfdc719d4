// temp_dir.h — a fresh temporary folder per test, removed afterwards.
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>

namespace drift::test {

class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    static std::atomic<int> counter{0};
    root_ =
        std::filesystem::temp_directory_path() /
        ("drift-test-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string str() const { return root_.string(); }
  std::string path(const std::string& relative) const { return (root_ / relative).string(); }
  // Creates relative's parent folders and writes `contents` to it; returns the path.
  std::string write(const std::string& relative, const std::string& contents = "x") const {
    std::filesystem::path p = root_ / relative;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << contents;
    return p.string();
  }
  std::string mkdir(const std::string& relative) const {
    std::filesystem::create_directories(root_ / relative);
    return (root_ / relative).string();
  }

 private:
  std::filesystem::path root_;
};

}  // namespace drift::test
