// test_checkpoint.cpp — weights files and training checkpoints: round trips, a file written by
// Python, bit-exact resumption of a run, every kind of bad file rejected with a message
// naming the file and the tensor or key, and crash safety of saving.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>

#include "nn/checkpoint.h"
#include "nn/lr_schedule.h"
#include "tensor/error.h"
#include "tensor/io/safetensors.h"
#include "tests/helpers.h"
#include "tests/tiny_mlp.h"

using namespace drift;

namespace {

std::string temp_path(const std::string& name) {
  return std::string("/tmp/drift_test_") + std::to_string(::getpid()) + "_" + name;
}

bool file_exists(const std::string& path) {
  struct stat info;
  return ::stat(path.c_str(), &info) == 0;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// The file with its JSON header replaced by edit(header) (the length prefix is recomputed).
std::string edit_header(const std::string& file,
                        const std::function<std::string(std::string)>& edit) {
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i)
    n |= static_cast<uint64_t>(static_cast<unsigned char>(file[i])) << (8 * i);
  std::string header = edit(file.substr(8, n));
  std::string out;
  uint64_t m = header.size();
  for (int i = 0; i < 8; ++i) out += static_cast<char>((m >> (8 * i)) & 0xFF);
  return out + header + file.substr(8 + n);
}

std::string replace_once(std::string text, const std::string& from, const std::string& to) {
  size_t at = text.find(from);
  REQUIRE_MESSAGE(at != std::string::npos, "'" << from << "' not in the header");
  return text.replace(at, from.size(), to);
}

bool same_values(const nn::Module& a, const nn::Module& b) {
  nn::NamedTensors sa = a.state_dict(), sb = b.state_dict();
  if (sa.size() != sb.size()) return false;
  for (size_t i = 0; i < sa.size(); ++i)
    if (sa[i].first != sb[i].first || sa[i].second.to_vector() != sb[i].second.to_vector())
      return false;
  return true;
}

// ---- the resumable training run ------------------------------------------------------------

using MakeOptimizer = std::function<std::unique_ptr<nn::Optimizer>(std::vector<Tensor>, bool)>;

// One run: a model, an optimizer, an EMA, a cosine schedule with warm-up, gradient clipping
// and fresh noise from the global generator every step (like a diffusion training loop).
struct Run {
  test::TinyMLP model;
  std::unique_ptr<nn::Optimizer> optimizer;
  std::unique_ptr<nn::EMA> ema;
  nn::CosineDecay schedule{0.05f, 10, 0.005f, 2};
  std::vector<float> losses;

  // `fresh` builds everything with other weights and settings, as a new process would before
  // loading a checkpoint that overrides them.
  Run(const MakeOptimizer& make, bool fresh) {
    if (!fresh) test::load_fixture_init(model);
    optimizer = make(model.parameters(), fresh);
    ema = std::make_unique<nn::EMA>(model, fresh ? 0.5 : 0.8, /*warmup=*/!fresh);
  }

  void train(int64_t from, int64_t to) {
    const SafetensorsData& fx = test::fixture("optim");
    for (int64_t step = from; step < to; ++step) {
      optimizer->set_lr(schedule.lr_at(step));
      optimizer->zero_grad();
      Tensor noise = randn(fx.at("x").shape());  // drawn from drift's global generator
      Tensor loss = mse_loss(model.forward(fx.at("x") + noise * 0.3f), fx.at("target"));
      loss.backward();
      nn::clip_grad_norm_(model.parameters(), 0.5);
      optimizer->step();
      ema->update(model);
      losses.push_back(loss.item());
    }
  }
};

std::vector<std::pair<const char*, MakeOptimizer>> resumable_optimizers() {
  using P = std::vector<Tensor>;
  return {
      {"SGD",
       [](P p, bool fresh) { return std::make_unique<nn::SGD>(p, 0.1, fresh ? 0.5 : 0.9, 1e-3); }},
      {"Adam",
       [](P p, bool fresh) {
         return std::make_unique<nn::Adam>(p, 1e-3, nn::AdamBetas{fresh ? 0.5 : 0.9, 0.99}, 1e-8,
                                           fresh ? 0.0 : 1e-2);
       }},
      {"AdamW",
       [](P p, bool fresh) {
         return std::make_unique<nn::AdamW>(p, 1e-3, nn::AdamBetas{}, 1e-8, fresh ? 0.5 : 0.05);
       }},
  };
}

// A small finished checkpoint to corrupt.
std::string make_checkpoint(const std::string& name) {
  manual_seed(5);
  Run run(resumable_optimizers()[1].second, false);
  run.train(0, 2);
  std::string path = temp_path(name);
  nn::save_checkpoint(path, run.model, run.optimizer.get(), {2, {{"note", "hello"}}},
                      run.ema.get());
  return path;
}

}  // namespace

TEST_CASE("weights round trip under the module's own names") {
  test::TinyMLP a, b;
  std::string path = temp_path("weights.safetensors");
  nn::save_weights(path, a);
  SafetensorsData file = load_safetensors(path);
  REQUIRE(file.tensors.size() == 4);
  CHECK(file.tensors[0].first == "first.weight");
  CHECK(file.tensors[3].first == "second.bias");
  CHECK(file.metadata.at("format") == "pt");
  CHECK_FALSE(same_values(a, b));
  nn::load_weights(path, b);
  CHECK(same_values(a, b));
  CHECK_FALSE(file_exists(path + ".tmp"));
  std::remove(path.c_str());
}

TEST_CASE("a weights file from our Python writer (a PyTorch state dict) loads into the model") {
  test::TinyMLP model;
  nn::load_weights(std::string(DRIFT_FIXTURE_DIR) + "/tiny_mlp.safetensors", model);
  const SafetensorsData& fx = test::fixture("optim");
  CHECK(model.first->weight.to_vector() == fx.at("init.first.weight").to_vector());
  CHECK_CLOSE(model.forward(fx.at("x")), fx.at("forward.y"), 1e-6, 1e-5);
}

TEST_CASE("load_weights rejects a file that does not fit the model") {
  test::TinyMLP model, reference;
  Tensor before = model.first->weight.clone();
  std::string path = temp_path("misfit.safetensors");
  auto reject = [&](const nn::NamedTensors& tensors, const std::string& expected) {
    save_safetensors(path, tensors);
    CHECK_THROWS_WITH_AS(nn::load_weights(path, model),
                         doctest::Contains((path + ": " + expected).c_str()), Error);
    CHECK(model.first->weight.to_vector() == before.to_vector());  // nothing was loaded
  };
  nn::NamedTensors state = reference.state_dict();
  nn::NamedTensors missing(state.begin() + 1, state.end());
  reject(missing, "missing tensor 'first.weight' (the model's has shape [6, 4])");
  nn::NamedTensors extra = state;
  extra.emplace_back("third.weight", zeros({2}));
  reject(extra, "unexpected tensor 'third.weight' (shape [2]): the model has no such parameter");
  nn::NamedTensors wrong = state;
  wrong[1].second = zeros({7});
  reject(wrong, "tensor 'first.bias' has shape [7] but the model expects [6]");
  std::remove(path.c_str());
}

TEST_CASE("a run resumed from a checkpoint is bit-identical to an uninterrupted run") {
  for (const auto& [name, make] : resumable_optimizers()) {
    SUBCASE(name) {
      manual_seed(2024);
      Run straight(make, false);
      straight.train(0, 10);

      manual_seed(2024);
      Run first_half(make, false);
      first_half.train(0, 5);
      std::string path = temp_path(std::string("resume_") + name + ".safetensors");
      nn::save_checkpoint(path, first_half.model, first_half.optimizer.get(), {5, {}},
                          first_half.ema.get());

      manual_seed(77);  // a fresh process: other seed, other weights, other settings
      Run resumed(make, true);
      randn({13});
      nn::TrainingState state =
          nn::load_checkpoint(path, resumed.model, resumed.optimizer.get(), resumed.ema.get());
      CHECK(state.step == 5);
      CHECK(same_values(resumed.model, first_half.model));
      CHECK(default_generator().seed() == 2024);
      resumed.train(state.step, 10);

      CHECK(same_values(resumed.model, straight.model));
      for (size_t i = 0; i < 4; ++i)
        CHECK(resumed.ema->shadow()[i].second.to_vector() ==
              straight.ema->shadow()[i].second.to_vector());
      REQUIRE(straight.losses.size() == 10);
      for (size_t i = 0; i < 5; ++i) CHECK(resumed.losses[i] == straight.losses[i + 5]);
      CHECK(resumed.optimizer->step_count() == 10);
      CHECK(resumed.optimizer->lr() == straight.optimizer->lr());
      std::remove(path.c_str());
    }
  }
}

TEST_CASE("checkpoint contents: prefixes, metadata and optional parts") {
  std::string path = make_checkpoint("contents.safetensors");
  SafetensorsData file = load_safetensors(path);
  CHECK(file.find("model.first.weight") != nullptr);
  CHECK(file.find("optimizer.0.exp_avg") != nullptr);
  CHECK(file.find("optimizer.3.exp_avg_sq") != nullptr);
  CHECK(file.find("ema.second.bias") != nullptr);
  CHECK(file.tensors.size() == 4 + 8 + 4);
  CHECK(file.metadata.at("drift_checkpoint_version") == "1");
  CHECK(file.metadata.at("step") == "2");
  CHECK(file.metadata.at("rng.seed") == "5");
  CHECK(file.metadata.at("optimizer.type") == "Adam");
  CHECK(file.metadata.at("optimizer.lr") != "");
  CHECK(file.metadata.at("optimizer.eps") == "1e-08");  // shortest exact form
  CHECK(file.metadata.at("optimizer.0.step") == "2");
  CHECK(file.metadata.at("ema.num_updates") == "2");
  CHECK(file.metadata.at("extra.note") == "hello");

  // Model only: the optimizer and EMA parts are skipped, the RNG can be left alone.
  test::TinyMLP model;
  manual_seed(99);
  nn::TrainingState state =
      nn::load_checkpoint(path, model, nullptr, nullptr, /*restore_rng=*/false);
  CHECK(state.step == 2);
  CHECK(state.extra.at("note") == "hello");
  CHECK(default_generator().seed() == 99);
  CHECK(model.first->weight.to_vector() == file.at("model.first.weight").to_vector());

  // A checkpoint saved without optimizer and EMA cannot restore them.
  std::string bare = temp_path("bare.safetensors");
  nn::save_checkpoint(bare, model, nullptr, {0, {}});
  nn::Adam adam(model.parameters());
  nn::EMA ema(model);
  CHECK_THROWS_WITH_AS(
      nn::load_checkpoint(bare, model, &adam),
      doctest::Contains((bare + ": the checkpoint has no optimizer state").c_str()), Error);
  CHECK_THROWS_WITH_AS(nn::load_checkpoint(bare, model, nullptr, &ema),
                       doctest::Contains((bare + ": the checkpoint has no EMA").c_str()), Error);
  nn::SGD sgd(model.parameters(), 0.1);
  CHECK_THROWS_WITH_AS(
      nn::load_checkpoint(path, model, &sgd),
      doctest::Contains((path + ": the state is of a Adam optimizer, not SGD").c_str()), Error);
  std::remove(path.c_str());
  std::remove(bare.c_str());
}

TEST_CASE("corrupt or mismatched checkpoints are rejected, naming the file and the entry") {
  const std::string good_path = make_checkpoint("good.safetensors");
  const std::string good = read_bytes(good_path);
  const std::string path = temp_path("bad.safetensors");

  // A model, optimizer and EMA with known values, and the RNG, that a failed load must not touch.
  manual_seed(31);
  Run target(resumable_optimizers()[1].second, true);
  const nn::NamedTensors before = target.model.state_dict();
  std::vector<std::vector<float>> before_values;
  for (const auto& entry : before) before_values.push_back(entry.second.to_vector());

  const uint64_t rng_offset = default_generator().offset();

  auto reject_bytes = [&](const std::string& bytes, const std::string& expected) {
    write_bytes(path, bytes);
    std::string message = "(no error)";
    try {
      nn::load_checkpoint(path, target.model, target.optimizer.get(), target.ema.get());
    } catch (const Error& e) {
      message = e.what();
    }
    INFO("message: " << message);
    CHECK(message.rfind(path, 0) == 0);  // starts with the file's name
    CHECK(message.find(expected) != std::string::npos);
    nn::NamedTensors now = target.model.state_dict();
    for (size_t i = 0; i < now.size(); ++i) CHECK(now[i].second.to_vector() == before_values[i]);
    CHECK(target.optimizer->step_count() == 0);
    CHECK(target.ema->num_updates() == 0);
    CHECK(default_generator().seed() == 31);
    CHECK(default_generator().offset() == rng_offset);
  };
  auto reject_header = [&](const std::function<std::string(std::string)>& edit,
                           const std::string& expected) {
    reject_bytes(edit_header(good, edit), expected);
  };
  // Re-saves the file's tensors and metadata after `edit` changes them.
  auto reject_resaved = [&](const std::function<void(SafetensorsData&)>& edit,
                            const std::string& expected) {
    SafetensorsData data = load_safetensors(good_path);
    edit(data);
    save_safetensors(path, data.tensors, data.metadata);
    reject_bytes(read_bytes(path), expected);
  };

  SUBCASE("structure of the file") {
    reject_bytes(good.substr(0, 5), "not a safetensors file");
    // Truncated in the data section: the last tensor's bytes are missing.
    reject_bytes(good.substr(0, good.size() - 10), "tensor 'ema.second.bias': data_offsets [");
    reject_bytes(good.substr(0, good.size() - 10), "lie outside the data section");
    {
      std::string f = good;
      f[5] = static_cast<char>(0x7F);  // a header length far beyond the file
      reject_bytes(f, "runs past the end of the file");
    }
    reject_header(
        [](std::string h) {
          return replace_once(h, "\"data_offsets\":[0,", "\"data_offsets\":[100000,");
        },
        "tensor 'model.first.weight': data_offsets [100000, 96] lie outside the data section");
    reject_header([](std::string h) { return h.substr(0, h.size() / 2); }, "invalid JSON");
  }
  SUBCASE("dtype") {
    // The header says I64 where a float tensor is needed.
    reject_header(
        [](std::string h) {
          return replace_once(h, "\"model.first.bias\":{\"dtype\":\"F32\"",
                              "\"model.first.bias\":{\"dtype\":\"I64\"");
        },
        "tensor 'model.first.bias': dtype I64 is not supported");
  }
  SUBCASE("shapes") {
    reject_header(
        [](std::string h) {
          return replace_once(h, "\"model.first.bias\":{\"dtype\":\"F32\",\"shape\":[6]",
                              "\"model.first.bias\":{\"dtype\":\"F32\",\"shape\":[2,3]");
        },
        "tensor 'model.first.bias' has shape [2, 3] but the model expects [6]");
    reject_resaved(
        [](SafetensorsData& d) {
          for (auto& [name, t] : d.tensors)
            if (name == "optimizer.1.exp_avg") t = zeros({3});
        },
        "tensor 'optimizer.1.exp_avg' has shape [3] but parameter 1 has shape [6]");
    reject_resaved(
        [](SafetensorsData& d) {
          for (auto& [name, t] : d.tensors)
            if (name == "ema.second.weight") t = zeros({3});
        },
        "tensor 'ema.second.weight' has shape [3] but the parameter has shape [3, 6]");
  }
  SUBCASE("missing and extra tensors") {
    auto drop = [](const std::string& victim) {
      return [victim](SafetensorsData& d) {
        nn::NamedTensors kept;
        for (auto& entry : d.tensors)
          if (entry.first != victim) kept.push_back(entry);
        d.tensors = kept;
      };
    };
    reject_resaved(drop("model.second.weight"), "missing tensor 'model.second.weight'");
    reject_resaved(drop("optimizer.2.exp_avg_sq"), "missing tensor 'optimizer.2.exp_avg_sq'");
    reject_resaved(drop("ema.first.bias"), "missing tensor 'ema.first.bias'");
    reject_resaved([](SafetensorsData& d) { d.tensors.emplace_back("model.extra", zeros({1})); },
                   "unexpected tensor 'model.extra'");
    reject_resaved(
        [](SafetensorsData& d) { d.tensors.emplace_back("optimizer.9.exp_avg", zeros({1})); },
        "unexpected tensor 'optimizer.9.exp_avg'");
    reject_resaved([](SafetensorsData& d) { d.tensors.emplace_back("stray", zeros({1})); },
                   "unexpected tensor 'stray'");
  }
  SUBCASE("metadata") {
    auto set = [](const std::string& key, const std::string& value) {
      return [key, value](SafetensorsData& d) { d.metadata[key] = value; };
    };
    auto erase = [](const std::string& key) {
      return [key](SafetensorsData& d) { d.metadata.erase(key); };
    };
    reject_resaved([](SafetensorsData& d) { d.metadata.clear(); },
                   "missing metadata 'drift_checkpoint_version'");
    reject_resaved(set("drift_checkpoint_version", "2"),
                   "checkpoint format version '2' is not supported");
    reject_resaved(erase("step"), "missing metadata 'step'");
    reject_resaved(set("step", "five"), "metadata 'step' must be a whole number, got 'five'");
    reject_resaved(set("step", "-3"), "metadata 'step' is negative");
    reject_resaved(erase("rng.offset"), "missing metadata 'rng.offset'");
    reject_resaved(set("rng.seed", "12x"), "metadata 'rng.seed' must be a whole number, got '12x'");
    reject_resaved(set("optimizer.lr", "fast"),
                   "metadata 'optimizer.lr' must be a number, got 'fast'");
    reject_resaved(erase("optimizer.beta2"), "missing value 'optimizer.beta2'");
    reject_resaved(erase("optimizer.type"), "the checkpoint has no optimizer state");
    reject_resaved(set("optimizer.step", "2.5"), "value 'optimizer.step' must be a whole number");
    reject_resaved(set("ema.decay", "7"), "invalid EMA decay 7");
    reject_resaved(erase("ema.num_updates"), "missing value 'ema.num_updates'");
    reject_resaved(set("mystery", "1"), "unexpected metadata 'mystery'");
  }
  SUBCASE("missing file") {
    CHECK_THROWS_WITH_AS(nn::load_checkpoint("/nonexistent/run.safetensors", target.model, nullptr),
                         doctest::Contains("/nonexistent/run.safetensors: cannot open"), Error);
  }
  // The untouched file still loads.
  nn::load_checkpoint(good_path, target.model, target.optimizer.get(), target.ema.get());
  CHECK(target.optimizer->step_count() == 2);
  std::remove(path.c_str());
  std::remove(good_path.c_str());
}

TEST_CASE("a failed save leaves the previous checkpoint intact and no temporary file") {
  const std::string path = make_checkpoint("crash.safetensors");
  const std::string previous = read_bytes(path);
  test::TinyMLP model;
  nn::Adam adam(model.parameters());

  SUBCASE("the disk fills up in the middle of the write") {
    // Limit this process's file size to 256 bytes: write() fails with EFBIG part-way through
    // the temporary file, like a full disk. (SIGXFSZ is ignored so write returns an error.)
    struct rlimit old_limit;
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &old_limit) == 0);
    struct rlimit small = old_limit;
    small.rlim_cur = 256;
    auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
    bool threw = false;
    std::string message;
    try {
      nn::save_checkpoint(path, model, &adam, {9, {}});
    } catch (const Error& e) {
      threw = true;
      message = e.what();
    }
    ::setrlimit(RLIMIT_FSIZE, &old_limit);
    ::signal(SIGXFSZ, old_handler);
    CHECK(threw);
    CHECK(message.find("writing '" + path + ".tmp' failed") != std::string::npos);
  }
  SUBCASE("the temporary file cannot be created") {
    REQUIRE(::mkdir((path + ".tmp").c_str(), 0755) == 0);  // its name is taken by a directory
    CHECK_THROWS_WITH_AS(nn::save_checkpoint(path, model, &adam, {9, {}}),
                         doctest::Contains(("cannot create '" + path + ".tmp'").c_str()), Error);
    ::rmdir((path + ".tmp").c_str());
  }
  SUBCASE("a tensor cannot be saved") {
    CHECK_THROWS_WITH_AS(save_safetensors(path, {{"x", Tensor()}}),
                         doctest::Contains("tensor 'x' is undefined"), Error);
  }
  CHECK_FALSE(file_exists(path + ".tmp"));
  CHECK(read_bytes(path) == previous);
  test::TinyMLP reloaded;
  CHECK(nn::load_checkpoint(path, reloaded, nullptr).step == 2);
  std::remove(path.c_str());
}
