// checkpoint.cpp — weights files and training checkpoints on top of tensor/io/safetensors.h.
#include "nn/checkpoint.h"

#include <charconv>
#include <cmath>

#include "tensor/error.h"
#include "tensor/io/safetensors.h"
#include "tensor/random.h"

namespace drift {
namespace nn {

namespace {

const std::string kModelPrefix = "model.";
const std::string kOptimizerPrefix = "optimizer.";
const std::string kEmaPrefix = "ema.";
const std::string kExtraPrefix = "extra.";
const std::string kVersionKey = "drift_checkpoint_version";

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// ---- numbers in metadata strings ------------------------------------------------------------

// The shortest decimal text that reads back to exactly `x` (std::to_chars' guarantee).
std::string format_number(double x) {
  char buffer[64];
  auto result = std::to_chars(buffer, buffer + sizeof(buffer), x);
  return std::string(buffer, result.ptr);
}

template <class T>
T parse_number(const std::string& text, const std::string& key, const std::string& path,
               const char* what) {
  T value{};
  const char* end = text.data() + text.size();
  auto result = std::from_chars(text.data(), end, value);
  DRIFT_CHECK(!text.empty() && result.ec == std::errc() && result.ptr == end,
              path << ": metadata '" << key << "' must be " << what << ", got '" << text << "'");
  return value;
}

const std::string& metadata_value(const SafetensorsData& data, const std::string& key,
                                  const std::string& path) {
  auto it = data.metadata.find(key);
  DRIFT_CHECK(it != data.metadata.end(), path << ": missing metadata '" << key << "'");
  return it->second;
}

// The "<prefix><key>" metadata entries as numbers, keyed without the prefix (`skip` excluded).
std::map<std::string, double> numbers_with_prefix(const SafetensorsData& data,
                                                  const std::string& prefix,
                                                  const std::string& skip,
                                                  const std::string& path) {
  std::map<std::string, double> out;
  for (const auto& [key, text] : data.metadata)
    if (starts_with(key, prefix) && key != skip)
      out[key.substr(prefix.size())] = parse_number<double>(text, key, path, "a number");
  return out;
}

// ---- tensors --------------------------------------------------------------------------------

NamedTensors with_prefix(const std::string& prefix, const NamedTensors& tensors) {
  NamedTensors out;
  for (const auto& [name, tensor] : tensors) out.emplace_back(prefix + name, tensor);
  return out;
}

}  // namespace

// ---- weights ----------------------------------------------------------------------------

void save_weights(const std::string& path, const Module& module,
                  const std::map<std::string, std::string>& settings) {
  std::map<std::string, std::string> metadata = {{"format", "pt"}};
  for (const auto& [key, value] : settings) metadata["setting." + key] = value;
  save_safetensors(path, module.state_dict(), metadata);
}

std::map<std::string, std::string> load_weights(const std::string& path, Module& module) {
  SafetensorsData data = load_safetensors(path);
  module.load_state_dict(data.tensors, path);
  std::map<std::string, std::string> settings;
  const std::string prefix = "setting.";
  for (const auto& [key, value] : data.metadata)
    if (key.rfind(prefix, 0) == 0) settings[key.substr(prefix.size())] = value;
  return settings;
}

// ---- checkpoints --------------------------------------------------------------------------

void save_checkpoint(const std::string& path, const Module& model, const Optimizer* optimizer,
                     const TrainingState& state, const EMA* ema) {
  DRIFT_CHECK(state.step >= 0, "save_checkpoint: " << path << ": negative step " << state.step);
  NamedTensors tensors = with_prefix(kModelPrefix, model.state_dict());
  std::map<std::string, std::string> metadata = {
      {"format", "pt"},
      {kVersionKey, std::to_string(kCheckpointVersion)},
      {"step", std::to_string(state.step)},
      {"rng.seed", std::to_string(default_generator().seed())},
      {"rng.offset", std::to_string(default_generator().offset())},
  };
  if (optimizer != nullptr) {
    OptimizerState saved = optimizer->state();
    for (auto& entry : with_prefix(kOptimizerPrefix, saved.tensors)) tensors.push_back(entry);
    metadata[kOptimizerPrefix + "type"] = saved.type;
    for (const auto& [key, value] : saved.scalars)
      metadata[kOptimizerPrefix + key] = format_number(value);
  }
  if (ema != nullptr) {
    EmaState saved = ema->state();
    for (auto& entry : with_prefix(kEmaPrefix, saved.shadow)) tensors.push_back(entry);
    for (const auto& [key, value] : saved.scalars)
      metadata[kEmaPrefix + key] = format_number(value);
  }
  for (const auto& [key, value] : state.extra) metadata[kExtraPrefix + key] = value;
  save_safetensors(path, tensors, metadata);
}

TrainingState load_checkpoint(const std::string& path, Module& model, Optimizer* optimizer,
                              EMA* ema, bool restore_rng) {
  // 1. The file's structure (truncation, header, offsets, dtypes) is checked while reading.
  SafetensorsData data = load_safetensors(path);

  // 2. Metadata: version, step, random generator; no unknown keys.
  const std::string& version = metadata_value(data, kVersionKey, path);
  DRIFT_CHECK(version == std::to_string(kCheckpointVersion),
              path << ": checkpoint format version '" << version << "' is not supported (this "
                   << "build reads version " << kCheckpointVersion << ")");
  TrainingState state;
  state.step =
      parse_number<int64_t>(metadata_value(data, "step", path), "step", path, "a whole number");
  DRIFT_CHECK(state.step >= 0, path << ": metadata 'step' is negative: " << state.step);
  const uint64_t rng_seed = parse_number<uint64_t>(metadata_value(data, "rng.seed", path),
                                                   "rng.seed", path, "a whole number");
  const uint64_t rng_offset = parse_number<uint64_t>(metadata_value(data, "rng.offset", path),
                                                     "rng.offset", path, "a whole number");
  for (const auto& [key, value] : data.metadata) {
    if (starts_with(key, kExtraPrefix)) {
      state.extra[key.substr(kExtraPrefix.size())] = value;
      continue;
    }
    const bool known = key == "format" || key == kVersionKey || key == "step" ||
                       key == "rng.seed" || key == "rng.offset" ||
                       starts_with(key, kOptimizerPrefix) || starts_with(key, kEmaPrefix);
    DRIFT_CHECK(known, path << ": unexpected metadata '" << key << "'");
  }

  // 3. Tensors, sorted by part; anything else is an error.
  NamedTensors model_tensors, optimizer_tensors, ema_tensors;
  for (const auto& [name, tensor] : data.tensors) {
    if (starts_with(name, kModelPrefix)) {
      model_tensors.emplace_back(name.substr(kModelPrefix.size()), tensor);
    } else if (starts_with(name, kOptimizerPrefix)) {
      optimizer_tensors.emplace_back(name.substr(kOptimizerPrefix.size()), tensor);
    } else if (starts_with(name, kEmaPrefix)) {
      ema_tensors.emplace_back(name.substr(kEmaPrefix.size()), tensor);
    } else {
      DRIFT_FAIL(path << ": unexpected tensor '" << name << "' (shape " << tensor.shape()
                      << "): checkpoint tensors are named model.*, optimizer.* or ema.*");
    }
  }

  // 4. Check every part before changing anything.
  OptimizerState optimizer_state;
  if (optimizer != nullptr) {
    auto type = data.metadata.find(kOptimizerPrefix + "type");
    DRIFT_CHECK(type != data.metadata.end(),
                path << ": the checkpoint has no optimizer state (missing metadata '"
                     << kOptimizerPrefix << "type'); load it with a null optimizer");
    optimizer_state.type = type->second;
    optimizer_state.tensors = optimizer_tensors;
    optimizer_state.scalars =
        numbers_with_prefix(data, kOptimizerPrefix, kOptimizerPrefix + "type", path);
    optimizer->check_state(optimizer_state, path, kOptimizerPrefix);
  }
  EmaState ema_state;
  if (ema != nullptr) {
    ema_state.shadow = ema_tensors;
    ema_state.scalars = numbers_with_prefix(data, kEmaPrefix, "", path);
    DRIFT_CHECK(!ema_state.scalars.empty() || !ema_tensors.empty(),
                path << ": the checkpoint has no EMA (no ema.* tensors or metadata); load it "
                     << "with a null EMA");
    ema->check_state(ema_state, path, kEmaPrefix);
  }
  model.check_state_dict(model_tensors, path, kModelPrefix);

  // 5. Apply.
  model.load_state_dict(model_tensors, path);
  if (optimizer != nullptr) optimizer->load_state(optimizer_state, path, kOptimizerPrefix);
  if (ema != nullptr) ema->load_state(ema_state, path, kEmaPrefix);
  if (restore_rng) default_generator().set_state(rng_seed, rng_offset);
  return state;
}

}  // namespace nn
}  // namespace drift
