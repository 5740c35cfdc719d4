// test_trainer.cpp — the shared training loop (diffusion/training/trainer.h): each behaviour it
// promises, on a tiny MLP, by a test that fails when the behaviour is taken out.
#include <doctest/doctest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <filesystem>

#include "autograd/ops.h"
#include "diffusion/tools/data.h"
#include "diffusion/training/trainer.h"
#include "nn/checkpoint.h"
#include "tensor/io/safetensors.h"
#include "tests/helpers.h"
#include "tests/temp_dir.h"
#include "tests/tiny_mlp.h"

using namespace drift;
using namespace drift::diffusion;

namespace {

// One batch: random inputs (drawn from `generator`, or the global one), a fixed target.
Tensor batch_loss(test::TinyMLP& model, Generator* generator = nullptr) {
  Tensor x = randn({8, 4}, Device::cpu(), generator);
  return mse_loss(model.forward(x), full({8, 3}, 0.5f));
}

TrainingOptions quiet(int64_t iterations) {
  TrainingOptions o;
  o.iterations = iterations;
  o.lr = 1e-2;
  o.log_every = 1000;
  o.resume_command = "prog --resume";
  return o;
}

// Trains a fresh TinyMLP (seeded) with `options` in `dir`; returns its final weights.
nn::NamedTensors train(const std::string& dir, const TrainingOptions& options,
                       Generator* generator = nullptr, std::vector<double>* losses = nullptr) {
  test::TinyMLP model;
  Trainer trainer(model, options, dir, {{"model", "tiny"}}, "", generator);
  while (trainer.running()) trainer.step(batch_loss(model, generator));
  trainer.finish();
  if (losses) *losses = trainer.losses();
  return model.state_dict();
}

void check_same_weights(const nn::NamedTensors& a, const nn::NamedTensors& b) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) CHECK_CLOSE(a[i].second, b[i].second, 0.0, 0.0);
}

}  // namespace

TEST_CASE("Trainer: the loss falls and the checkpoint, losses.csv and curve are written") {
  test::TempDir dir("trainer_basic");
  manual_seed(1);
  std::vector<double> losses;
  train(dir.str(), quiet(60), nullptr, &losses);
  REQUIRE(losses.size() == 60);
  CHECK(losses.back() < 0.5 * losses.front());
  CHECK(std::filesystem::exists(dir.path("checkpoint.safetensors")));
  CHECK(std::filesystem::exists(dir.path("loss_history.svg")));
  CHECK(read_file(dir.path("losses.csv")).rfind("step,loss\n1,", 0) == 0);
}

TEST_CASE("Trainer: --resume continues bit for bit, with the global or the chapter's generator") {
  for (bool own_generator : {false, true}) {
    CAPTURE(own_generator);
    test::TempDir whole("trainer_whole"), parts("trainer_parts");
    Generator g1(7), g2(7);
    manual_seed(3);
    std::vector<double> straight, resumed;
    nn::NamedTensors expected =
        train(whole.str(), quiet(10), own_generator ? &g1 : nullptr, &straight);
    manual_seed(3);
    train(parts.str(), quiet(4), own_generator ? &g2 : nullptr);
    // A new process would start from a different generator state: scramble it.
    manual_seed(999);
    g2.manual_seed(12345);
    TrainingOptions more = quiet(10);
    more.resume = true;
    nn::NamedTensors got = train(parts.str(), more, own_generator ? &g2 : nullptr, &resumed);
    check_same_weights(got, expected);
    CHECK(resumed == straight);  // the history is continued, not restarted
  }
}

TEST_CASE("Trainer: --resume refuses other settings and a missing checkpoint, changing nothing") {
  test::TempDir dir("trainer_refuse");
  manual_seed(2);
  train(dir.str(), quiet(3));
  const std::string before = read_file(dir.path("checkpoint.safetensors"));
  TrainingOptions other = quiet(6);
  other.resume = true;
  other.lr = 5e-3;
  test::TinyMLP model;
  CHECK_THROWS_WITH_AS(Trainer(model, other, dir.str(), {{"model", "tiny"}}),
                       doctest::Contains("trained with --lr 0.01"), Error);
  other.lr = 1e-2;
  CHECK_THROWS_WITH_AS(Trainer(model, other, dir.str(), {{"model", "bigger"}}),
                       doctest::Contains("--model tiny"), Error);
  CHECK(read_file(dir.path("checkpoint.safetensors")) == before);
  test::TempDir empty("trainer_empty");
  CHECK_THROWS_WITH_AS(Trainer(model, other, empty.str(), {}),
                       doctest::Contains("no checkpoint to continue"), Error);
  CHECK(std::filesystem::is_empty(empty.str()));
}

TEST_CASE("Trainer: --minutes stops the training when the budget is spent, and saves") {
  test::TempDir dir("trainer_minutes");
  test::TinyMLP model;
  TrainingOptions o = quiet(1000000);
  o.minutes = 0.2 / 60.0;  // 0.2 s
  Trainer trainer(model, o, dir.str(), {});
  while (trainer.running()) trainer.step(batch_loss(model));
  trainer.finish();
  CHECK(trainer.stop_reason() == "time budget");
  CHECK(trainer.completed() > 0);
  CHECK(trainer.completed() < o.iterations);
  nn::TrainingState state = nn::load_checkpoint(dir.path("checkpoint.safetensors"), model,
                                                nullptr, nullptr, false);
  CHECK(state.step == trainer.completed());
}

TEST_CASE("Trainer: gradient clipping bounds the global gradient norm") {
  test::TempDir dir("trainer_clip");
  test::TinyMLP model;
  TrainingOptions o = quiet(1);
  o.grad_clip = 1e-3;
  Trainer trainer(model, o, dir.str(), {});
  // A loss with a large gradient, so that clipping has work to do.
  trainer.step(batch_loss(model) * 1000.0f);
  double norm_sq = 0;
  for (const Tensor& p : model.parameters())
    for (float g : p.grad().to_vector()) norm_sq += static_cast<double>(g) * g;
  CHECK(std::sqrt(norm_sq) == doctest::Approx(1e-3).epsilon(1e-3));
}

TEST_CASE("Trainer: linear warm-up of the learning rate, then the base rate") {
  test::TempDir dir("trainer_warmup");
  test::TinyMLP model;
  const nn::NamedTensors before = model.state_dict();
  TrainingOptions o = quiet(6);
  o.warmup = 4;
  Trainer trainer(model, o, dir.str(), {});
  trainer.step(batch_loss(model));  // the first update has lr 0 (nn::LinearWarmup)
  CHECK(trainer.optimizer().lr() == 0.0);
  for (size_t i = 0; i < before.size(); ++i)
    CHECK_CLOSE(model.state_dict()[i].second, before[i].second, 0.0, 0.0);
  trainer.step(batch_loss(model));
  CHECK(trainer.optimizer().lr() == doctest::Approx(1e-2 * 1 / 4));
  CHECK(trainer.lr_at(3) == doctest::Approx(1e-2 * 3 / 4));
  CHECK(trainer.lr_at(4) == 1e-2);
  while (trainer.running()) trainer.step(batch_loss(model));
  CHECK(trainer.optimizer().lr() == 1e-2);
}

TEST_CASE("Trainer: EMA weights for the periodic samples and after finish()") {
  test::TempDir dir("trainer_ema");
  test::TinyMLP model;
  TrainingOptions o = quiet(4);
  o.ema_decay = 0.5;
  o.sample_every = 2;
  Trainer trainer(model, o, dir.str(), {});
  int sampled = 0;
  trainer.set_sampler([&] {
    // Inside, the model holds the EMA's shadow, not the training weights.
    const nn::NamedTensors& shadow = trainer.ema()->shadow();
    CHECK_CLOSE(model.state_dict()[0].second, shadow[0].second, 0.0, 0.0);
    ++sampled;
    return full({3, 4, 4}, 0.5f);
  });
  while (trainer.running()) {
    trainer.step(batch_loss(model));
    // Outside, the training weights are back (they differ from the average).
    CHECK(model.state_dict()[0].second.to_vector() != trainer.ema()->shadow()[0].second.to_vector());
  }
  trainer.finish();
  CHECK(sampled == 2);
  CHECK(std::filesystem::exists(dir.path("samples_000002.png")));
  CHECK(std::filesystem::exists(dir.path("samples_000004.png")));
  CHECK_CLOSE(model.state_dict()[0].second, trainer.ema()->shadow()[0].second, 0.0, 0.0);
}

TEST_CASE("Trainer: a NaN loss stops the run naming the step; the last checkpoint stays") {
  test::TempDir dir("trainer_nan");
  test::TinyMLP model;
  TrainingOptions o = quiet(10);
  o.checkpoint_every = 2;
  Trainer trainer(model, o, dir.str(), {});
  auto run = [&] {
    while (trainer.running()) {
      Tensor loss = batch_loss(model);
      if (trainer.completed() == 4) loss = loss * std::nanf("");
      trainer.step(loss);
    }
  };
  CHECK_THROWS_WITH_AS(run(), doctest::Contains("the loss became nan at step 5"), Error);
  nn::TrainingState state = nn::load_checkpoint(dir.path("checkpoint.safetensors"), model,
                                                nullptr, nullptr, false);
  CHECK(state.step == 4);
}

TEST_CASE("Trainer: Ctrl-C finishes the step, saves, and says how to resume") {
  test::TempDir dir("trainer_sigint");
  test::TinyMLP model;
  Trainer trainer(model, quiet(100), dir.str(), {});
  while (trainer.running()) {
    trainer.step(batch_loss(model));
    if (trainer.completed() == 3) std::raise(SIGINT);  // handled: the loop notices it
  }
  try {
    trainer.finish();
    FAIL("finish() should throw Interrupted");
  } catch (const Interrupted& e) {
    CHECK(e.signal() == SIGINT);
    CHECK(std::string(e.what()).find("resume with: prog --resume") != std::string::npos);
  }
  nn::TrainingState state = nn::load_checkpoint(dir.path("checkpoint.safetensors"), model,
                                                nullptr, nullptr, false);
  CHECK(state.step == 3);
}

TEST_CASE("Trainer: a full disk or an unwritable folder is one clear error; the old file stays") {
  // An output "folder" that is a file: the first save fails, naming the folder.
  test::TempDir dir("trainer_unwritable");
  const std::string file = dir.write("not_a_folder", "x");
  {
    test::TinyMLP model;
    Trainer trainer(model, quiet(2), file, {});
    while (trainer.running()) trainer.step(batch_loss(model));
    CHECK_THROWS_WITH_AS(trainer.finish(), doctest::Contains("cannot save the checkpoint"), Error);
  }
  // A full disk, without root: in a child process, a file-size limit (RLIMIT_FSIZE) makes
  // every write past 200 bytes fail with EFBIG once the first checkpoint is on disk.
  const std::string out = dir.mkdir("full");
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int code = 0;
    try {
      std::signal(SIGXFSZ, SIG_IGN);  // report EFBIG instead of killing the process
      test::TinyMLP model;
      TrainingOptions o = quiet(4);
      o.checkpoint_every = 2;
      Trainer trainer(model, o, out, {});
      while (trainer.running()) {
        trainer.step(batch_loss(model));
        if (trainer.completed() == 2) {
          rlimit limit{200, RLIM_INFINITY};
          setrlimit(RLIMIT_FSIZE, &limit);
        }
      }
      trainer.finish();
      code = 10;  // the failed save went unnoticed
    } catch (const Error& e) {
      const std::string message = e.what();
      code = message.find("the previous checkpoint (step 2) is intact") != std::string::npos ? 0
                                                                                            : 11;
    }
    _exit(code);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  test::TinyMLP model;
  nn::TrainingState state = nn::load_checkpoint(out + "/checkpoint.safetensors", model, nullptr,
                                                nullptr, false);
  CHECK(state.step == 2);
  CHECK(!std::filesystem::exists(out + "/checkpoint.safetensors.tmp"));
}
