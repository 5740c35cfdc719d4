// test_chapters.cpp — smoke runs of the chapter executables with tiny sizes: they finish,
// write valid PNG and SVG files, and fail with one clear line on bad input.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "diffusion/data.h"
#include "diffusion/image.h"
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
  CHECK(unknown.err.find("usage: 01_forward_process") != std::string::npos);

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
