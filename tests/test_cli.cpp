// test_cli.cpp — the chapter flag parser and the flag blocks chapters share, the output folder,
// run_main and the progress line.
#include <doctest/doctest.h>

#include <filesystem>
#include <iostream>
#include <sstream>

#include "diffusion/tools/cli.h"
#include "diffusion/tools/picture_flags.h"
#include "diffusion/tools/progress.h"
#include "diffusion/training/saved_weights.h"
#include "diffusion/training/schedule_flags.h"
#include "tensor/cpu/kernels.h"
#include "tensor/error.h"
#include "tests/helpers.h"
#include "tests/temp_dir.h"

using namespace drift;
using namespace drift::diffusion;

TEST_CASE("CLI: defaults, typed values and the common flags") {
  Cli cli("chapter_x", "A test chapter.");
  int64_t& steps = cli.add_int("steps", 24, "noising steps", 1, 10000);
  double& beta = cli.add_float("beta", 0.3, "fixed beta", 0.0, 1.0);
  std::string& image = cli.add_string("image", "", "a picture");
  std::string& schedule = cli.add_choice("schedule", "linear", {"linear", "cosine"}, "schedule");
  bool& verbose = cli.add_switch("verbose", "say more");

  REQUIRE(cli.try_parse({}));
  CHECK(steps == 24);
  CHECK(beta == 0.3);
  CHECK(image.empty());
  CHECK(schedule == "linear");
  CHECK(!verbose);
  CHECK(cli.seed() == 0);
  // auto picks the CPU, GPU or not, until the CUDA backend is complete (tensor/device.h)
  CHECK(cli.device() == Device::cpu());
  CHECK(Device::parse("auto") == Device::cpu());
  static_assert(!cuda_backend_complete(), "auto may pick the GPU now: update this test");
  CHECK(cli.device_name() == "auto");
  CHECK(cli.out_dir() == "out/chapter_x");
  CHECK(cli.data_dir().empty());
  CHECK(cli.threads() == 0);

  REQUIRE(cli.try_parse({"--steps", "5", "--beta=0.25", "--image", "a.png", "--schedule", "cosine",
                         "--verbose", "--seed", "42", "--device", "cpu", "--out", "/tmp/x",
                         "--threads", "2", "--data", "/data"}));
  CHECK(steps == 5);
  CHECK(beta == 0.25);
  CHECK(image == "a.png");
  CHECK(schedule == "cosine");
  CHECK(verbose);
  CHECK(cli.seed() == 42);
  CHECK(cli.out_dir() == "/tmp/x");
  CHECK(cli.threads() == 2);
  CHECK(cli.data_dir() == "/data");
  CHECK(!cli.try_parse({"--steps", "3", "--help"}));  // --help: run nothing

  std::string usage = cli.usage();
  CHECK(usage.find("usage: chapter_x [options]") != std::string::npos);
  CHECK(usage.find("--steps N") != std::string::npos);
  CHECK(usage.find("[default: 24]") != std::string::npos);
  CHECK(usage.find("(linear|cosine)") != std::string::npos);
  CHECK(usage.find("--device") != std::string::npos);
  CHECK(usage.find("--help") != std::string::npos);
}

TEST_CASE("CLI: unknown flags and bad values are usage errors") {
  Cli cli("chapter_x", "A test chapter.");
  cli.add_int("steps", 24, "noising steps", 1, 100);
  cli.add_float("beta", 0.3, "fixed beta", 0.0, 1.0);
  cli.add_choice("schedule", "linear", {"linear", "cosine"}, "schedule");
  cli.add_switch("verbose", "say more");
  auto fails = [&](std::vector<std::string> args, const std::string& message) {
    INFO("args: " << args.size() << " expected: " << message);
    CHECK_THROWS_WITH_AS(cli.try_parse(args), doctest::Contains(message.c_str()), CliError);
  };
  fails({"--stpes", "5"}, "unknown flag --stpes");
  fails({"steps"}, "unexpected argument 'steps'");
  fails({"--steps"}, "--steps needs a value");
  fails({"--steps", "five"}, "--steps expects a whole number, got 'five'");
  fails({"--steps", "2.5"}, "expects a whole number");
  fails({"--steps", "0"}, "--steps must be at least 1, got 0");
  fails({"--steps", "1000"}, "--steps must be at most 100");
  fails({"--beta", "0.3x"}, "--beta expects a number");
  fails({"--beta", "nan"}, "--beta expects a number");
  fails({"--beta", "2"}, "--beta must be at most 1");
  fails({"--schedule", "cosin"}, "--schedule must be one of linear, cosine");
  fails({"--verbose=maybe"}, "--verbose is a switch");
  fails({"--device", "tpu"}, "--device must be cpu, cuda, cuda:N or auto");
  fails({"--seed", "-1"}, "--seed must be at least 0");
  fails({"--threads", "x"}, "--threads expects a whole number");
  fails({"--out", ""}, "--out expects a value");
  // A negative number is a value, not a flag.
  Cli signed_cli("c", "d");
  double& shift = signed_cli.add_float("shift", 0.0, "a shift");
  REQUIRE(signed_cli.try_parse({"--shift", "-0.5"}));
  CHECK(shift == -0.5);
}

TEST_CASE("CLI: --device cuda without a GPU is one clear error, not a usage error") {
  if (cuda_available()) {
    MESSAGE("a GPU is present: --device cuda is valid here");
    return;
  }
  Cli cli("c", "d");
  try {
    cli.try_parse({"--device", "cuda"});
    FAIL("expected an error");
  } catch (const CliError&) {
    FAIL("a missing GPU is not a usage mistake");
  } catch (const Error& e) {
    std::string message = e.what();
    CHECK(message.find("'cuda' was asked for, but CUDA is not available") != std::string::npos);
    CHECK(message.find('\n') == std::string::npos);
  }
}

TEST_CASE("CLI: flags are defined once, without dashes") {
  Cli cli("c", "d");
  cli.add_int("steps", 1, "h");
  CHECK_THROWS_WITH_AS(cli.add_int("steps", 1, "h"), doctest::Contains("defined twice"), Error);
  CHECK_THROWS_WITH_AS(cli.add_int("seed", 1, "h"), doctest::Contains("defined twice"), Error);
  CHECK_THROWS_WITH_AS(cli.add_float("--lr", 1, "h"), doctest::Contains("without dashes"), Error);
  CHECK_THROWS_WITH_AS(cli.add_int("n", 0, "h", 1, 5), doctest::Contains("outside its range"),
                       Error);
}

TEST_CASE("make_output_dir and run_main") {
  test::TempDir dir("cli");
  std::string nested = dir.path("a/b/c");
  CHECK(make_output_dir(nested) == nested);
  CHECK(std::filesystem::is_directory(nested));
  CHECK(make_output_dir(nested) == nested);  // already there: fine
  std::string file = dir.write("file.txt");
  CHECK_THROWS_WITH_AS(make_output_dir(file), doctest::Contains("exists and is not a folder"),
                       Error);
  CHECK_THROWS_WITH_AS(make_output_dir(file + "/sub"), doctest::Contains("cannot create"), Error);

  char name[] = "/path/to/prog";
  char* argv[] = {name, nullptr};
  CHECK(run_main(1, argv, [](int, char**) { return 0; }) == 0);
  CHECK(run_main(1, argv, [](int, char**) { return 3; }) == 3);
  std::ostringstream captured;  // what run_main prints on stderr
  std::streambuf* original = std::cerr.rdbuf(captured.rdbuf());
  int status_error =
      run_main(1, argv, [](int, char**) -> int { DRIFT_FAIL("line one\nline two"); });
  int status_other =
      run_main(1, argv, [](int, char**) -> int { throw std::runtime_error("boom"); });
  std::cerr.rdbuf(original);
  CHECK(status_error == 1);
  CHECK(status_other == 1);
  CHECK(captured.str() == "prog: error: line one line two\nprog: unexpected error: boom\n");
  CHECK(one_line("a\nb\tc") == "a b c");
}

TEST_CASE("progress: every 10% to a log, a final line with the total") {
  std::ostringstream log;
  {
    Progress progress("training", 50, 10, &log, false);
    for (int i = 0; i < 50; ++i) progress.step(1.0 / (i + 1));
    progress.finish();
  }
  std::string text = log.str();
  int lines = 0;
  for (char c : text) lines += c == '\n';
  CHECK(lines == 10);  // 10%, 20%, ..., 90% and the final line
  CHECK(text.find("training  5/50 [ 10%]") != std::string::npos);
  CHECK(text.find("training 50/50 [100%]") != std::string::npos);
  CHECK(text.find("it/s") != std::string::npos);
  CHECK(text.find("ETA") != std::string::npos);
  CHECK(text.find("loss 0.02") != std::string::npos);  // the last loss, 1/50
  CHECK(text.find('\r') == std::string::npos);         // no redrawing in a log

  std::ostringstream terminal;
  Progress live("sampling", 3, 10, &terminal, true);
  live.update(3);
  live.finish();
  CHECK(terminal.str().find('\r') != std::string::npos);  // redrawn in place
  CHECK(terminal.str().back() == '\n');

  // A log line between progress updates: on a terminal the progress line is cleared first
  // and redrawn after it; in a log it is just the line.
  std::ostringstream screen, noted;
  Progress drawn("training", 10, 10, &screen, true);
  drawn.update(4, 0.5);
  drawn.note("iteration 4  loss 0.5", &noted);
  CHECK(noted.str() == "iteration 4  loss 0.5\n");
  const std::string shown = screen.str();
  const size_t cleared = shown.rfind("\r\033[K");
  REQUIRE(cleared != std::string::npos);
  CHECK(shown.find("training  4/10", cleared) != std::string::npos);  // redrawn after the note
  std::ostringstream quiet_log, quiet_text;
  Progress logged("training", 10, 10, &quiet_log, false);
  logged.note("hello", &quiet_text);
  CHECK(quiet_text.str() == "hello\n");
  CHECK(quiet_log.str().empty());

  CHECK(format_duration(65) == "01:05");
  CHECK(format_duration(3723) == "1:02:03");
  CHECK_THROWS_WITH_AS(Progress("x", 0), doctest::Contains("total must be at least 1"), Error);
}

TEST_CASE("Cli: --kernels reference switches the CPU kernels to the plain references") {
  drift::cpu::ScopedKernels keep(drift::cpu::kernels());
  Cli cli("prog", "test");
  const char* argv[] = {"prog", "--kernels", "reference"};
  cli.parse(3, const_cast<char**>(argv));
  CHECK(drift::cpu::kernels() == drift::cpu::Kernels::Reference);
  Cli fast("prog", "test");
  const char* argv_fast[] = {"prog", "--kernels", "fast"};
  fast.parse(3, const_cast<char**>(argv_fast));
  CHECK(drift::cpu::kernels() == drift::cpu::Kernels::Fast);
}

TEST_CASE("CLI: given() tells a flag set on the command line from its default") {
  Cli cli("prog", "test");
  cli.add_int("epochs", 10, "epochs");
  cli.add_int("iterations", 1000, "iterations");
  cli.add_switch("fast", "a switch");
  REQUIRE(cli.try_parse({"--iterations", "1000", "--fast"}));
  CHECK_FALSE(cli.given("epochs"));
  CHECK(cli.given("iterations"));  // given, even though equal to the default
  CHECK(cli.given("fast"));
  CHECK_THROWS_AS(cli.given("nope"), Error);
}

TEST_CASE("flag blocks: PictureFlags, ScheduleFlags with and without --schedule, WeightsFlag") {
  test::TempDir dir("cli-blocks");
  const std::string picture = dir.write("picture.png"), weights = dir.write("w.safetensors");
  {
    Cli cli("c", "d");
    PictureFlags flags(cli, "picture to noise", 512, 8);
    ScheduleFlags schedule(cli, {24, 1e-4, 0.6});
    ScheduleFlags plotted(cli, {1000, 1e-4, 0.02, "linear", false}, "schedule-", "(plot) ");
    WeightsFlag weights_flag(cli, "the weights", "02_x/model.safetensors");
    CHECK_THROWS_AS(cli.try_parse({"--schedule-schedule", "cosine"}), CliError);  // no such flag
    CHECK_THROWS_AS(cli.try_parse({"--size", "4"}), CliError);  // below the minimum, 8
    REQUIRE(cli.try_parse({"--image", picture, "--size", "16", "--schedule", "cosine",
                           "--schedule-steps", "50", "--weights", weights}));
    CHECK(flags.path() == picture);
    CHECK(flags.size() == 16);
    CHECK(schedule.schedule() == "cosine");
    CHECK(schedule.settings().at("schedule") == "cosine");
    CHECK(plotted.steps() == 50);
    CHECK(plotted.schedule() == "linear");
    CHECK(plotted.scheduler().steps() == 50);
    CHECK(plotted.describe() == "T = 50, beta linear 0.0001 -> 0.02");
    CHECK_NOTHROW(weights_flag.check());
    CHECK(weights_flag.path("out/03_x") == weights);  // given: used as it is
    CHECK(cli.usage().find("--schedule-beta-end X") != std::string::npos);
  }
  {
    Cli cli("c", "d");
    WeightsFlag weights_flag(cli, "the weights", "02_x/model.safetensors");
    REQUIRE(cli.try_parse({}));
    CHECK(weights_flag.path("out/03_x") == "out/02_x/model.safetensors");  // beside --out
    CHECK_NOTHROW(weights_flag.check());  // the default may be missing: the chapter says so
    REQUIRE(cli.try_parse({"--weights", dir.path("missing.safetensors")}));
    CHECK_THROWS_WITH_AS(weights_flag.check(), doctest::Contains("--weights: no such file"), Error);
  }
  CHECK(picture_path(picture, "") == picture);
}
