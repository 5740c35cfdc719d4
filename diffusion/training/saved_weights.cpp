// saved_weights.cpp — see saved_weights.h.
#include "diffusion/training/saved_weights.h"

#include <cstdio>
#include <filesystem>
#include <utility>

#include "nn/checkpoint.h"
#include "tensor/error.h"

namespace drift {
namespace diffusion {

std::string beside_output_dir(const std::string& out_dir, const std::string& relative) {
  std::filesystem::path dir(out_dir);
  if (!dir.has_filename()) dir = dir.parent_path();  // "out/03_sampling/"
  return (dir.parent_path() / relative).string();
}

void load_trained_weights(const std::string& path, nn::Module& model, const RunSettings& expected) {
  DRIFT_CHECK(std::filesystem::exists(path), "no such weights file: '" << path << "'");
  const RunSettings trained_with = nn::load_weights(path, model);
  for (const auto& [key, value] : expected) {
    auto it = trained_with.find(key);
    if (it == trained_with.end()) {
      std::printf("    WARNING: %s does not record its --%s; make sure it is %s\n", path.c_str(),
                  key.c_str(), value.c_str());
      continue;
    }
    DRIFT_CHECK(it->second == value, path << " was trained with --" << key << " " << it->second
                                          << " but this run uses --" << key << " " << value
                                          << ": give the same flags");
  }
}

WeightsFlag::WeightsFlag(Cli& cli, const std::string& what, std::string default_relative)
    : given_(cli.add_string("weights", "",
                            what + " (default: " + default_relative + " beside --out)")),
      default_relative_(std::move(default_relative)) {}

void WeightsFlag::check() const {
  if (!given_.empty() && !std::filesystem::exists(given_))
    DRIFT_FAIL("--weights: no such file: '" << given_ << "'");
}

std::string WeightsFlag::path(const std::string& out_dir) const {
  return given_.empty() ? beside_output_dir(out_dir, default_relative_) : given_;
}

}  // namespace diffusion
}  // namespace drift
