// test_chapters.cpp — smoke runs of the chapter executables (chapters 1, 2 and 3) with tiny
// sizes: they finish, write valid PNG, SVG and safetensors files, resume exactly, and fail
// with one clear line on bad input.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "diffusion/tools/data.h"
#include "diffusion/tools/image.h"
#include "tensor/error.h"
#include "tests/helpers.h"
#include "tests/temp_dir.h"
#include "tests/xml_check.h"

using namespace drift;
using namespace drift::diffusion;

namespace {

struct RunResult {
  int status = -1;
  std::string out, err;
};

// Runs `command` through the shell with stdout and stderr captured into `dir`.
RunResult run(const test::TempDir& dir, const std::string& command) {
  const std::string out = dir.path("stdout.txt"), err = dir.path("stderr.txt");
  int raw = std::system((command + " > '" + out + "' 2> '" + err + "'").c_str());
  RunResult r;
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  r.out = read_file(out);
  r.err = read_file(err);
  return r;
}

int lines(const std::string& text) {
  int n = 0;
  for (char c : text) n += c == '\n';
  return n;
}

const std::string chapter1 = DRIFT_CHAPTER01;

// The flags of a tiny run: a 32x32 picture, few steps, small plots.
const std::string tiny =
    " --size 32 --tile 0 --steps 6 --steps-a 2 --draws 4 --schedule-steps 50 --seed 3";

void check_chapter1_outputs(const std::string& out_dir) {
  // (a) 2 steps: x_0..x_2 in one row; (b)-(d) 6 steps: x_0..x_6 in rows of 5.
  struct Grid {
    const char* file;
    int64_t height, width;
  } grids[] = {{"a_scale_and_add_noise.png", 36, 3 * 34 + 2},
               {"b_fixed_beta.png", 2 * 34 + 2, 5 * 34 + 2},
               {"c_linear_schedule_iterated.png", 2 * 34 + 2, 5 * 34 + 2},
               {"d_closed_form.png", 2 * 34 + 2, 5 * 34 + 2},
               {"overview.png", 4 * 34 + 2, 5 * 34 + 2}};  // (a)-(d), five stages each
  for (const Grid& g : grids) {
    INFO(g.file);
    Tensor picture = load_image(out_dir + "/" + g.file);  // decodes: a valid PNG
    CHECK(picture.shape() == Shape{3, g.height, g.width});
  }
  for (const char* svg : {"schedules.svg", "signal_and_noise.svg"}) {
    INFO(svg);
    std::string text = read_file(out_dir + "/" + svg);
    CHECK(test::xml_problem(text) == "");
    CHECK(text.find("class=\"series\"") != std::string::npos);
  }
  std::string schedules = read_file(out_dir + "/schedules.svg");
  for (const char* name : {"linear", "cosine", "quadratic", "sigmoid"})
    CHECK(schedules.find(std::string("<title>") + name + "</title>") != std::string::npos);
}

}  // namespace

TEST_CASE("chapter 1 smoke run on a small synthetic picture") {
  test::TempDir dir("chapter1");
  // A 40x30 colour gradient (not square: the chapter crops it), so the test needs no data set.
  std::vector<float> values(3 * 30 * 40);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 30; ++y)
      for (int x = 0; x < 40; ++x)
        values[(c * 30 + y) * 40 + x] = (c == 0 ? x / 39.0f : c == 1 ? y / 29.0f : 0.5f);
  const std::string picture = dir.path("gradient.png");
  save_png(picture, from_vector(values, Shape{3, 30, 40}));
  const std::string out = dir.path("out");
  RunResult r = run(dir, chapter1 + tiny + " --image '" + picture + "' --out '" + out + "'");
  INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err);
  REQUIRE(r.status == 0);
  CHECK(r.out.find("PASS") != std::string::npos);
  CHECK(r.out.find(out + "/d_closed_form.png") != std::string::npos);  // says where outputs went
  check_chapter1_outputs(out);
}

TEST_CASE("chapter 1 smoke run on the mandrill (when the data is present)") {
  try {
    find_mandrill(DataSearch::defaults(""));
  } catch (const Error& e) {
    std::cout << "[skipped] chapter 1 on the mandrill: " << e.what() << "\n";
    MESSAGE("skipped: the mandrill was not found");
    return;
  }
  test::TempDir dir("chapter1-mandrill");
  const std::string out = dir.path("out");
  RunResult r = run(dir, chapter1 + tiny + " --out '" + out + "'");
  INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err);
  REQUIRE(r.status == 0);
  CHECK(r.out.find("baboon.jpg") != std::string::npos);
  check_chapter1_outputs(out);
}

TEST_CASE("chapter 1: help, usage mistakes and errors") {
  test::TempDir dir("chapter1-errors");
  RunResult help = run(dir, chapter1 + " --help");
  CHECK(help.status == 0);
  CHECK(help.out.find("usage: 01_forward_process") != std::string::npos);
  CHECK(help.out.find("--beta-end X") != std::string::npos);
  CHECK(help.out.find("[default: 0.6]") != std::string::npos);

  RunResult unknown = run(dir, chapter1 + " --stpes 3");
  CHECK(unknown.status == 2);
  CHECK(unknown.err.find("unknown flag --stpes") != std::string::npos);
  CHECK(lines(unknown.err) == 1);  // one line and a pointer to --help, not the whole usage
  CHECK(unknown.err.find("--help") != std::string::npos);

  RunResult bad_value = run(dir, chapter1 + " --beta 1.5");
  CHECK(bad_value.status == 2);
  CHECK(bad_value.err.find("--beta must be at most 0.999") != std::string::npos);

  RunResult missing = run(
      dir, chapter1 + " --image '" + dir.path("nope.jpg") + "' --out '" + dir.path("out") + "'");
  CHECK(missing.status == 1);
  CHECK(lines(missing.err) == 1);
  CHECK(missing.err.find("no such file: '" + dir.path("nope.jpg") + "'") != std::string::npos);

  if (!cuda_available()) {
    RunResult cuda = run(dir, chapter1 + " --device cuda");
    INFO(cuda.err);
    CHECK(cuda.status == 1);
    CHECK(lines(cuda.err) == 1);
    CHECK(cuda.err.find("01_forward_process: error: device: 'cuda' was asked for") !=
          std::string::npos);
  }
}

// ---- chapters 2 and 3
// ------------------------------------------------------------------------------

namespace {

const std::string chapter2 = DRIFT_CHAPTER02;
const std::string chapter3 = DRIFT_CHAPTER03;

// A small colour picture (a gradient) so the tests need no data set; returns its path.
std::string gradient_picture(const test::TempDir& dir, int64_t width, int64_t height) {
  std::vector<float> values(static_cast<size_t>(3 * width * height));
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < height; ++y)
      for (int64_t x = 0; x < width; ++x)
        values[static_cast<size_t>((c * height + y) * width + x)] = c == 0   ? x / float(width - 1)
                                                                    : c == 1 ? y / float(height - 1)
                                                                             : 0.5f;
  const std::string path = dir.path("gradient.png");
  save_png(path, from_vector(values, Shape{3, height, width}));
  return path;
}

// Chapter 2 on a 16x16 picture: `iterations` in all, a checkpoint every 3.
std::string tiny_training(const std::string& picture, const std::string& out, int iterations) {
  return chapter2 + " --image '" + picture + "' --size 16 --iterations " +
         std::to_string(iterations) + " --log-every 2 --checkpoint-every 3 --seed 4" + " --out '" +
         out + "'";
}

void check_svg(const std::string& path, int series) {
  INFO(path);
  std::string text = read_file(path);
  CHECK(test::xml_problem(text) == "");
  int found = 0;
  for (size_t p = text.find("class=\"series\""); p != std::string::npos;
       p = text.find("class=\"series\"", p + 1))
    ++found;
  CHECK(found == series);
}

void check_png(const std::string& path, const Shape& shape) {
  INFO(path);
  REQUIRE(std::filesystem::exists(path));
  CHECK(load_image(path).shape() == shape);  // decodes: a valid PNG
}

}  // namespace

TEST_CASE("chapter 2 smoke run: trains, writes weights, checkpoint, losses and plots") {
  test::TempDir dir("chapter2");
  const std::string out = dir.path("02_reverse_training");
  RunResult r = run(dir, tiny_training(gradient_picture(dir, 20, 16), out, 6));
  INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err);
  REQUIRE(r.status == 0);
  for (const char* line : {"step      1  loss", "step      3  loss", "step      6  loss"})
    CHECK(r.out.find(line) != std::string::npos);  // the loss every 2 iterations and at the end
  CHECK(r.err.find("training 6/6 [100%]") != std::string::npos);  // the progress line
  for (const char* file : {"toy_model.safetensors", "checkpoint.safetensors", "losses.csv",
                           "loss_history.svg", "loss_by_timestep.svg", "denoising.png"})
    CHECK(r.out.find(out + "/" + file) != std::string::npos);  // says where each output went

  SafetensorsData weights = load_safetensors(out + "/toy_model.safetensors");
  REQUIRE(weights.tensors.size() == 6);
  CHECK(weights.at("conv1.weight").shape() == Shape{16, 3, 3, 3});
  CHECK(weights.at("conv2.weight").shape() == Shape{3, 16, 3, 3});
  CHECK(weights.at("linear.weight").shape() == Shape{16, 1});
  SafetensorsData checkpoint = load_safetensors(out + "/checkpoint.safetensors");
  CHECK(checkpoint.metadata.at("step") == "6");
  CHECK(checkpoint.metadata.at("extra.lr") == "0.001");
  CHECK(checkpoint.find("optimizer.0.exp_avg") != nullptr);
  CHECK(lines(read_file(out + "/losses.csv")) == 7);  // the header and 6 losses
  check_svg(out + "/loss_history.svg", 2);            // the raw loss and its moving average
  check_svg(out + "/loss_by_timestep.svg", 1);        // the trained model's loss at each t
  // The page a student opens: well-formed, showing only files that exist; and the index above.
  const std::string page = read_file(out + "/index.html");
  CHECK(test::xml_problem(page) == "");
  for (const char* file : {"loss_history.svg", "loss_by_timestep.svg", "denoising.png"})
    CHECK(page.find(std::string("src=\"") + file + "\"") != std::string::npos);
  CHECK(read_file(dir.path("index.html")).find("02_reverse_training/index.html") !=
        std::string::npos);
  CHECK(weights.metadata.at("setting.steps") == "24");  // the schedule travels with the weights
  // x_t at 5 timesteps over the x_0 each implies: 2 rows of 5 full-size (16 px) tiles.
  check_png(out + "/denoising.png", Shape{3, 2 * 18 + 2, 5 * 18 + 2});
}

TEST_CASE("chapter 2: --resume continues exactly (6 iterations = 3 + resume + 3)") {
  test::TempDir dir("chapter2-resume");
  const std::string picture = gradient_picture(dir, 16, 16);
  const std::string whole = dir.path("whole"), split = dir.path("split");
  RunResult a = run(dir, tiny_training(picture, whole, 6));
  REQUIRE(a.status == 0);
  RunResult first = run(dir, tiny_training(picture, split, 3));
  REQUIRE(first.status == 0);
  CHECK(load_safetensors(split + "/checkpoint.safetensors").metadata.at("step") == "3");
  RunResult second = run(dir, tiny_training(picture, split, 6) + " --resume");
  INFO("stdout:\n" << second.out << "\nstderr:\n" << second.err);
  REQUIRE(second.status == 0);
  CHECK(second.out.find("resuming from " + split + "/checkpoint.safetensors at step 3") !=
        std::string::npos);

  SafetensorsData expected = load_safetensors(whole + "/toy_model.safetensors");
  SafetensorsData resumed = load_safetensors(split + "/toy_model.safetensors");
  REQUIRE(resumed.tensors.size() == expected.tensors.size());
  for (const auto& [name, tensor] : expected.tensors) {
    INFO(name);
    CHECK(max(abs(resumed.at(name) - tensor)).item() == 0.0f);  // bit for bit
  }
  CHECK(read_file(split + "/losses.csv") == read_file(whole + "/losses.csv"));
  // A differently seeded fresh run does differ: the comparison can fail.
  RunResult other = run(dir, tiny_training(picture, dir.path("other"), 6) + " --seed 5");
  REQUIRE(other.status == 0);
  CHECK(max(abs(load_safetensors(dir.path("other") + "/toy_model.safetensors").at("conv1.weight") -
                expected.at("conv1.weight")))
            .item() > 0.0f);

  RunResult changed = run(dir, tiny_training(picture, split, 8) + " --resume --lr 0.01");
  CHECK(changed.status == 1);
  CHECK(lines(changed.err) == 1);
  CHECK(changed.err.find("it was trained with --lr 0.001, this run has --lr 0.01") !=
        std::string::npos);
  // A damaged loss history does not stop a resume: the plot misses those losses, and says so.
  test::TempDir damaged_dir("chapter2-damaged");
  const std::string damaged = damaged_dir.path("run");
  REQUIRE(run(dir, tiny_training(picture, damaged, 3)).status == 0);
  damaged_dir.write("run/losses.csv", "iteration,loss\n0,garbage\n");
  RunResult patched = run(dir, tiny_training(picture, damaged, 6) + " --resume");
  CHECK(patched.status == 0);
  CHECK(patched.out.find("holds only 0 of the 3 earlier losses") != std::string::npos);
  CHECK(lines(read_file(damaged + "/losses.csv")) == 7);  // 3 gaps (nan) and 3 new losses

  RunResult nothing = run(dir, tiny_training(picture, dir.path("empty"), 6) + " --resume");
  CHECK(nothing.status == 1);
  CHECK(lines(nothing.err) == 1);
  CHECK(nothing.err.find("--resume: no checkpoint to continue") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir.path("empty")));  // a failed --resume creates nothing
}

TEST_CASE("chapter 2: SIGTERM or Ctrl-C mid-run saves the checkpoint and prints how to resume") {
  test::TempDir dir("chapter2-signal");
  const std::string picture = gradient_picture(dir, 16, 16);
  for (const char* signal : {"TERM", "INT"}) {
    CAPTURE(signal);
    const std::string out = dir.path(std::string("run_") + signal);
    // The chapter runs in the background; once its first log line is out, it gets the signal.
    const std::string log = dir.path("child.txt");
    const std::string script = tiny_training(picture, out, 100000000) + " > '" + log +
                               "' 2>&1 & pid=$!; for i in $(seq 300); do grep -q 'step      1' '" +
                               log + "' 2>/dev/null && break; sleep 0.1; done; kill -" + signal +
                               " $pid; wait $pid; echo $?";
    RunResult r = run(dir, "sh '" + dir.write("signal.sh", script + "\n") + "'");
    const std::string child = read_file(log);
    INFO("child output:\n" << child);
    CHECK(r.out == (std::string(signal) == "TERM" ? "143\n" : "130\n"));
    CHECK(child.find("stopped: SIG") != std::string::npos);
    CHECK(child.find("resume with: ") != std::string::npos);
    CHECK(child.find("--resume") != std::string::npos);
    SafetensorsData checkpoint = load_safetensors(out + "/checkpoint.safetensors");
    CHECK(std::stoll(checkpoint.metadata.at("step")) >= 1);
  }
}

TEST_CASE("chapter 2: help, usage mistakes and errors") {
  test::TempDir dir("chapter2-errors");
  RunResult help = run(dir, chapter2 + " --help");
  CHECK(help.status == 0);
  CHECK(help.out.find("usage: 02_reverse_training") != std::string::npos);
  CHECK(help.out.find("--iterations N") != std::string::npos);
  CHECK(help.out.find("[default: 1000]") != std::string::npos);
  CHECK(help.out.find("--resume") != std::string::npos);

  RunResult zero = run(dir, chapter2 + " --iterations 0");
  CHECK(zero.status == 2);
  CHECK(zero.err.find("--iterations must be at least 1") != std::string::npos);
  RunResult unknown = run(dir, chapter2 + " --iteration 5");
  CHECK(unknown.status == 2);
  CHECK(unknown.err.find("unknown flag --iteration") != std::string::npos);
  RunResult schedule = run(dir, chapter2 + " --schedule cosin");
  CHECK(schedule.status == 2);
  CHECK(schedule.err.find("--schedule") != std::string::npos);

  RunResult missing = run(
      dir, chapter2 + " --image '" + dir.path("nope.png") + "' --out '" + dir.path("out") + "'");
  CHECK(missing.status == 1);
  CHECK(lines(missing.err) == 1);
  CHECK(missing.err.find("nope.png") != std::string::npos);
  if (!cuda_available()) {
    RunResult cuda = run(dir, chapter2 + " --device cuda --out '" + dir.path("out") + "'");
    CHECK(cuda.status == 1);
    CHECK(lines(cuda.err) == 1);
    CHECK(cuda.err.find("02_reverse_training: error: device: 'cuda' was asked for") !=
          std::string::npos);
  }
}

TEST_CASE("chapter 3 (a) samples with chapter 2's weights (or says it has none)") {
  test::TempDir dir("chapter3a");
  const std::string picture = gradient_picture(dir, 16, 16);
  REQUIRE(run(dir, tiny_training(picture, dir.path("02_reverse_training"), 3)).status == 0);
  // (a) reads the picture chapter 2 trained on (--image) for the oracle and the head start.
  const std::string chapter3 = ::chapter3 + " --image '" + picture + "'";
  // By default (a) takes 02_reverse_training/toy_model.safetensors beside its --out folder.
  const std::string out = dir.path("03_sampling");
  RunResult r = run(dir, chapter3 + " --parts a --size 16 --seed 2 --out '" + out + "'");
  INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err);
  REQUIRE(r.status == 0);
  CHECK(r.out.find("TRAINED weights from " + dir.path("02_reverse_training") +
                   "/toy_model.safetensors") != std::string::npos);
  CHECK(r.out.find("std of x_t: x_24 ") != std::string::npos);
  // Untrained (the tutorial's picture), the oracle, trained, and the head starts.
  for (const char* name : {"a_untrained", "a_oracle", "a_trained"}) {
    check_png(out + "/" + name + ".png", Shape{3, 16, 16});
    check_png(out + "/" + name + "_steps.png", Shape{3, 20, 7 * 18 + 2});  // x_24, ..., x_0
  }
  CHECK(r.out.find(out + "/a_trained_steps.png (trained model: columns x_24, x_20, x_16, x_12, "
                         "x_8, x_4, x_0)") != std::string::npos);
  // The oracle knows the picture: its sample is the picture, exactly.
  CHECK(r.out.find("oracle noise predictor: x_0") != std::string::npos);
  CHECK(r.out.find("distance to the training picture (RMS, pixels in [0, 1]): mean 0.000, "
                   "worst 0.000; 1 of 1") != std::string::npos);
  check_png(out + "/a_head_start.png", Shape{3, 2 * 18 + 2, 6 * 18 + 2});  // L = 4, ..., 24
  CHECK(r.out.find("L = 24: RMS distance of x_0 to the picture") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(out + "/b_samples.png"));  // only part (a) ran
  // Weights trained on another schedule are refused: sampling would undo the wrong noise.
  RunResult other = run(dir, chapter3 + " --parts a --size 16 --steps 12 --out '" + out + "'");
  CHECK(other.status == 1);
  CHECK(lines(other.err) == 1);
  CHECK(other.err.find("was trained with --steps 24 but this run uses --steps 12") !=
        std::string::npos);

  // The same with a trailing slash on --out.
  RunResult slash = run(dir, chapter3 + " --parts a --size 16 --seed 2 --out '" + out + "/'");
  CHECK(slash.status == 0);
  CHECK(slash.out.find("TRAINED weights from " + dir.path("02_reverse_training")) !=
        std::string::npos);

  // Given explicitly, from anywhere.
  RunResult given =
      run(dir, chapter3 + " --parts a --size 16 --out '" + dir.path("elsewhere/x") +
                   "' --weights '" + dir.path("02_reverse_training") + "/toy_model.safetensors'");
  CHECK(given.status == 0);
  CHECK(given.out.find("TRAINED weights") != std::string::npos);
  // No weights beside the output folder: an untrained model, and it says so.
  RunResult untrained =
      run(dir, chapter3 + " --parts a --size 16 --out '" + dir.path("fresh/03_sampling") + "'");
  CHECK(untrained.status == 0);
  CHECK(untrained.err.find("03_sampling: warning: UNTRAINED model") != std::string::npos);
  CHECK(untrained.out.find("WARNING: UNTRAINED model: no weights at " + dir.path("fresh") +
                           "/02_reverse_training/toy_model.safetensors") != std::string::npos);
  CHECK(std::filesystem::exists(dir.path("fresh/03_sampling/a_untrained.png")));
  CHECK_FALSE(std::filesystem::exists(dir.path("fresh/03_sampling/a_trained.png")));
  // Weights of another shape: a clear error naming the file and the tensor.
  RunResult wrong =
      run(dir, chapter3 + " --parts a --size 16 --hidden 8 --out '" + out + "' --weights '" +
                   dir.path("02_reverse_training") + "/toy_model.safetensors'");
  CHECK(wrong.status == 1);
  CHECK(lines(wrong.err) == 1);
  CHECK(wrong.err.find("toy_model.safetensors") != std::string::npos);
}

TEST_CASE("chapter 3 (b) and (c) smoke run: overfit, sample, strips and grids") {
  test::TempDir dir("chapter3bc");
  const std::string out = dir.path("out");
  RunResult r = run(dir, chapter3 +
                             " --parts bc --seed 1 --b-iterations 30 --samples 2 --scale 2"
                             " --c-iterations 3 --c-batch 4 --c-steps 20 --c-strip-every 5"
                             " --out '" +
                             out + "'");
  INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err);
  REQUIRE(r.status == 0);
  CHECK(r.out.find("ToyModel(image_channels=1, hidden_channels=16, kernel_size=5)") !=
        std::string::npos);
  CHECK(r.out.find("TinyUNet(image_channels=1, T=20, time_dim=16, channels=16/32/64)") !=
        std::string::npos);  // the summary
  CHECK(r.out.find("total trainable parameters") != std::string::npos);
  CHECK(r.out.find("distance to the training picture") != std::string::npos);
  // Where the model's noise estimates are wrong, by position in the picture.
  CHECK(r.out.find("by position, squared error of eps_hat: corners ") != std::string::npos);
  // (b): 8x8 grey pictures upscaled 2x = 16 px tiles.
  check_png(out + "/b_target.png", Shape{1, 16, 16});
  check_png(out + "/b_samples.png", Shape{1, 20, 2 * 18 + 2});        // 2 samples in a row
  check_png(out + "/b_steps.png", Shape{1, 2 * 18 + 2, 7 * 18 + 2});  // 2 samples x 7 levels
  check_svg(out + "/b_loss_history.svg", 2);
  // (c): the tutorial's grey square (the default picture), T = 20, levels 20, 15, 10, 5, 0.
  check_png(out + "/c_target.png", Shape{1, 16, 16});
  check_png(out + "/c_samples.png", Shape{1, 20, 2 * 18 + 2});
  check_png(out + "/c_steps.png", Shape{1, 2 * 18 + 2, 5 * 18 + 2});
  CHECK(r.out.find("columns x_20, x_15, x_10, x_5, x_0") != std::string::npos);
  check_svg(out + "/c_loss_history.svg", 2);
  CHECK_FALSE(std::filesystem::exists(out + "/a_sample.png"));

  // (c) on a colour picture file, shrunk to 8x8.
  const std::string colour = dir.path("colour");
  RunResult c = run(dir, chapter3 + " --parts c --c-picture '" + gradient_picture(dir, 12, 10) +
                             "' --c-size 8 --c-iterations 2 --c-batch 2 --c-steps 10"
                             " --samples 1 --scale 1 --out '" +
                             colour + "'");
  INFO("stdout:\n" << c.out << "\nstderr:\n" << c.err);
  REQUIRE(c.status == 0);
  check_png(colour + "/c_target.png", Shape{3, 8, 8});
  check_png(colour + "/c_samples.png", Shape{3, 12, 12});
}

TEST_CASE("chapter 3: help, usage mistakes and errors") {
  test::TempDir dir("chapter3-errors");
  RunResult help = run(dir, chapter3 + " --help");
  CHECK(help.status == 0);
  CHECK(help.out.find("usage: 03_sampling") != std::string::npos);
  CHECK(help.out.find("--b-iterations N") != std::string::npos);
  CHECK(help.out.find("[default: 10000]") != std::string::npos);

  RunResult parts = run(dir, chapter3 + " --parts abx");
  CHECK(parts.status == 2);
  CHECK(parts.err.find("--parts takes letters among a, b, c") != std::string::npos);
  RunResult picture = run(dir, chapter3 + " --parts c --c-picture '" + dir.path("nope.png") + "'");
  CHECK(picture.status == 2);
  CHECK(picture.err.find("--c-picture is square, mandrill or an existing file") !=
        std::string::npos);
  RunResult unknown = run(dir, chapter3 + " --b-iteration 5");
  CHECK(unknown.status == 2);
  RunResult variance = run(dir, chapter3 + " --variance sigma");
  CHECK(variance.status == 2);
  CHECK(variance.err.find("--variance") != std::string::npos);

  // The exercises' switches: beta_t as the reverse variance, the cosine schedule.
  RunResult beta = run(dir, chapter3 +
                                " --parts b --b-iterations 5 --samples 1 --variance beta"
                                " --schedule cosine --out '" +
                                dir.path("beta") + "'");
  CHECK(beta.status == 0);
  CHECK(beta.out.find("sigma_t^2 = beta_t") != std::string::npos);
  CHECK(beta.out.find("beta cosine") != std::string::npos);

  // An explicit --weights that does not exist: one clear line, before any work.
  RunResult weights = run(dir, chapter3 + " --weights '" + dir.path("missing.safetensors") +
                                   "' --out '" + dir.path("out") + "'");
  CHECK(weights.status == 1);
  CHECK(lines(weights.err) == 1);
  CHECK(weights.err.find("03_sampling: error: --weights: no such file: '" +
                         dir.path("missing.safetensors") + "'") != std::string::npos);
  CHECK(weights.out.empty());

  // A picture size the U-Net cannot halve twice.
  RunResult size = run(dir, chapter3 + " --parts c --c-picture '" + gradient_picture(dir, 8, 8) +
                                "' --c-size 10 --c-iterations 1 --out '" + dir.path("out") + "'");
  CHECK(size.status == 2);  // a usage error, found before any part runs
  CHECK(lines(size.err) == 1);
  CHECK(size.err.find("divisible by 4") != std::string::npos);
  if (!cuda_available()) {
    RunResult cuda = run(dir, chapter3 + " --device cuda --out '" + dir.path("out") + "'");
    CHECK(cuda.status == 1);
    CHECK(lines(cuda.err) == 1);
    CHECK(cuda.err.find("03_sampling: error: device: 'cuda' was asked for") != std::string::npos);
  }
}

namespace {

const std::string chapter4 = DRIFT_CHAPTER04;

bool have_mnist() {
  try {
    find_dataset("mnist", "");
    return true;
  } catch (const Error& e) {
    std::cout << "[skipped] MNIST not found: " << e.what() << "\n";
    return false;
  }
}

// A tiny chapter-4 run: 256 digits, batches of 16, T = 20, 64 samples scored.
std::string tiny_chapter4(const std::string& out, int64_t iterations) {
  return chapter4 + " --model C --limit 256 --batch 16 --steps 20 --fid-samples 64" +
         " --ddim-steps 5 --classifier-epochs 1 --gif-frames 5 --log-every 2 --seed 2" +
         " --iterations " + std::to_string(iterations) + " --out '" + out + "'";
}

}  // namespace

TEST_CASE("chapter 4 end to end: trains, samples, animates, scores; --resume is exact") {
  if (!have_mnist()) return;
  test::TempDir dir("chapter4");
  const std::string whole = dir.path("whole"), split = dir.path("split");
  RunResult r = run(dir, tiny_chapter4(whole, 4));
  INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err);
  REQUIRE(r.status == 0);
  CHECK(load_image(whole + "/samples.png").shape() == Shape{1, 8 * 30 + 2, 8 * 30 + 2});
  CHECK(read_file(whole + "/reverse_process.gif").substr(0, 6) == "GIF89a");
  CHECK(load_safetensors(whole + "/samples.safetensors").at("samples").shape() ==
        Shape{64, 1, 28, 28});
  const std::string fid = read_file(whole + "/fid.txt");
  CHECK(fid.find("FID") != std::string::npos);
  CHECK(fid.find("classes: 0 ") != std::string::npos);
  CHECK(std::filesystem::exists(dir.path("fid_classifier_mnist_limit256.safetensors")));
  CHECK(r.out.find("test accuracy") != std::string::npos);
  CHECK(std::filesystem::exists(whole + "/index.html"));

  // --score: the same samples scored from their file give the same report, word for word
  const std::string scored = dir.path("scored");
  RunResult score = run(dir, chapter4 + " --limit 256 --score '" + whole +
                                 "/samples.safetensors' --out '" + scored + "'");
  INFO("score stdout:\n" << score.out << "\nstderr:\n" << score.err);
  REQUIRE(score.status == 0);
  CHECK(read_file(scored + "/fid.txt") == fid);
  CHECK(load_image(scored + "/samples.png").shape() == Shape{1, 8 * 30 + 2, 8 * 30 + 2});
  CHECK(score.out.find("Training") == std::string::npos);
  // a file that is not one [N, 1, 28, 28] tensor: one line naming it
  RunResult weights = run(dir, chapter4 + " --limit 256 --score '" + whole +
                                   "/model_C.safetensors' --out '" + scored + "'");
  CHECK(weights.status == 1);
  CHECK(lines(weights.err) == 1);
  CHECK(weights.err.find("expected one tensor") != std::string::npos);

  // 2 steps, then --resume to 4: the same weights bit for bit (the loader continues at batch 2)
  REQUIRE(run(dir, tiny_chapter4(split, 2) + " --fid-samples 0").status == 0);
  RunResult resumed = run(dir, tiny_chapter4(split, 4) + " --fid-samples 0 --resume");
  REQUIRE(resumed.status == 0);
  SafetensorsData expected = load_safetensors(whole + "/model_C.safetensors");
  SafetensorsData got = load_safetensors(split + "/model_C.safetensors");
  for (const auto& [name, tensor] : expected.tensors) {
    INFO(name);
    CHECK(max(abs(got.at(name) - tensor)).item() == 0.0f);
  }
}

TEST_CASE("chapter 4: usage mistakes") {
  test::TempDir dir("chapter4-usage");
  RunResult both = run(dir, chapter4 + " --epochs 1 --iterations 5 --out '" + dir.str() + "'");
  CHECK(both.status == 2);
  CHECK(both.err.find("give --epochs or --iterations, not both") != std::string::npos);
  RunResult groups = run(dir, chapter4 + " --model C --groups 4");
  CHECK(groups.status == 2);
  CHECK(groups.err.find("model C has no GroupNorm") != std::string::npos);
  RunResult divide = run(dir, chapter4 + " --model E --channels 16 --groups 5");
  CHECK(divide.status == 2);
  CHECK(divide.err.find("--groups 5 must divide --channels 16") != std::string::npos);
  RunResult model = run(dir, chapter4 + " --model B");
  CHECK(model.status == 2);
  CHECK(model.err.find("--model") != std::string::npos);
}

TEST_CASE("chapter 8 end to end: the score field, four targets, DDIM's table and inversion") {
  if (!have_mnist()) return;
  const std::string chapter8 = DRIFT_CHAPTER08;
  test::TempDir dir("chapter8");
  const std::string out = dir.path("out");
  RunResult r = run(dir, chapter8 + " --limit 256 --batch 16 --steps 20 --iterations 3" +
                             " --fid-samples 8 --point-iterations 20 --seed 1 --out '" + out + "'");
  INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err);
  REQUIRE(r.status == 0);
  for (const char* file :
       {"a_score_field.svg", "a_flow.svg", "b_error_by_timestep.svg", "b_samples_eps.png",
        "b_samples_x0.png", "b_samples_v.png", "b_samples_mean.png", "c_inversion.png",
        "index.html", "v_model.safetensors"})
    CHECK_MESSAGE(std::filesystem::exists(out + "/" + file), file);
  CHECK(r.out.find("cosine(learned, exact score)") != std::string::npos);
  CHECK(r.out.find("largest pixel difference 0 at eta 0") != std::string::npos);  // determinism
  CHECK(r.out.find("using (b)'s eps model") != std::string::npos);
  CHECK(r.out.find("DDIM eta 1        10") != std::string::npos);
  CHECK(load_image(out + "/c_inversion.png").shape() ==
        Shape{1, 2 * (3 * 30 + 2), 2 * (8 * 30 + 2)});
  RunResult bad = run(dir, chapter8 + " --parts ad");
  CHECK(bad.status == 2);
  CHECK(bad.err.find("--parts takes letters among a, b, c; got 'ad'") != std::string::npos);
}
