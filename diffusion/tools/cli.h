// cli.h — what every chapter executable shares: a small flag parser with the common flags,
// the output folder, and a main() wrapper that turns errors into one clear line.
//
//   int main(int argc, char** argv) {
//     return drift::diffusion::run_main(argc, argv, [](int argc, char** argv) {
//       Cli cli("02_training", "Trains the toy model to predict the noise.");
//       int64_t& iterations = cli.add_int("iterations", 1000, "training iterations", 1);
//       double& lr = cli.add_float("lr", 1e-3, "Adam learning rate", 0.0);
//       cli.parse(argc, argv);            // --help, mistakes -> usage and exit
//       Device device = cli.device();     // --device auto|cpu|cuda (auto = GPU if usable)
//       std::string out = make_output_dir(cli.out_dir());
//       ...
//       return 0;
//     });
//   }
//
// Flags are written --name VALUE or --name=VALUE. The common ones, on every chapter:
//   --help  --seed N  --device cpu|cuda|cuda:N|auto  --kernels fast|reference  --out DIR
//   --threads N  --data DIR
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "tensor/device.h"
#include "tensor/error.h"

namespace drift {
namespace diffusion {

// A mistake on the command line: an unknown flag, a missing or malformed value, a value out
// of range. parse() answers it with the message and the usage, and exit status 2.
class CliError : public Error {
 public:
  using Error::Error;
};

// A program stopped by Ctrl-C (SIGINT) or SIGTERM once its work is saved; the message says
// how to continue. run_main() prints it and exits with 128 + the signal number, as a shell
// does for a program the signal killed.
class Interrupted : public Error {
 public:
  Interrupted(const std::string& message, int signal) : Error(message), signal_(signal) {}
  int signal() const { return signal_; }

 private:
  int signal_;
};

class Cli {
 public:
  Cli(std::string program, std::string description);
  ~Cli();
  Cli(const Cli&) = delete;
  Cli& operator=(const Cli&) = delete;

  // Chapter flags. Each returns a reference to the value, which holds the default until
  // parse() sets it; the reference stays valid as long as the Cli. Names are without "--".
  int64_t& add_int(const std::string& name, int64_t default_value, const std::string& help,
                   int64_t min = std::numeric_limits<int64_t>::min(),
                   int64_t max = std::numeric_limits<int64_t>::max());
  double& add_float(const std::string& name, double default_value, const std::string& help,
                    double min = -std::numeric_limits<double>::infinity(),
                    double max = std::numeric_limits<double>::infinity());
  std::string& add_string(const std::string& name, const std::string& default_value,
                          const std::string& help);
  // A string that must be one of `choices` (e.g. a schedule name).
  std::string& add_choice(const std::string& name, const std::string& default_value,
                          const std::vector<std::string>& choices, const std::string& help);
  // A switch: false unless --name is given (--name=true / --name=false also work).
  bool& add_switch(const std::string& name, const std::string& help);

  // Parses the command line. --help prints the usage on stdout and exits 0; a CliError
  // prints "<program>: <message>" and the usage on stderr and exits 2. Then seeds the global
  // generator with --seed and sets the CPU thread count from --threads. The device is
  // resolved here too: --device cuda on a machine without a usable GPU throws drift::Error
  // (run_main prints it on one line).
  void parse(int argc, char** argv);
  // The parsing alone, for tests: false when --help was given, CliError on a mistake.
  // Applies nothing (no seeding, no threads).
  bool try_parse(const std::vector<std::string>& args);

  // Prints "<program>: <message>", a hint to run --help, and exits 2: for checks a chapter
  // makes after parse() (e.g. two flags that do not fit together).
  [[noreturn]] void usage_error(const std::string& message) const;

  // True when the command line set --name (after parse): for a chapter whose default for
  // one flag follows from another (--iterations from --epochs).
  bool given(const std::string& name) const;

  std::string usage() const;
  const std::string& program() const { return program_; }
  // The command line parse() was given, each argument quoted where the shell needs it: what
  // a program prints when it tells the user how to run it again (e.g. with --resume).
  const std::string& command_line() const { return command_line_; }

  // The common flags (valid after parse / try_parse).
  uint64_t seed() const { return static_cast<uint64_t>(seed_); }
  Device device() const { return device_; }
  const std::string& device_name() const { return device_text_; }  // as given: "auto", ...
  const std::string& out_dir() const { return out_dir_; }          // default out/<program>
  const std::string& data_dir() const { return data_dir_; }        // "" = search (data.h)
  int threads() const { return static_cast<int>(threads_); }       // 0 = all cores

 private:
  struct Flag;
  Flag& add_flag(const std::string& name, const std::string& help, bool chapter);
  Flag* find(const std::string& name);
  void set_value(Flag& flag, const std::string& value);

  std::string program_, description_, command_line_;
  std::vector<std::unique_ptr<Flag>> flags_;
  int64_t seed_ = 0, threads_ = 0;
  std::string device_text_ = "auto", kernels_text_ = "fast", out_dir_, data_dir_;
  Device device_ = Device::cpu();
};

// Creates `path` and its parents if needed and returns it; throws naming the path (and why)
// when it cannot, or when it exists and is not a folder.
std::string make_output_dir(const std::string& path);

// A warning the student must not miss: "    WARNING: <message>" among the program's output,
// and "<program>: warning: <message>" on stderr (the program's name as run_main saw it).
void warn(const std::string& message);

// The body of main(): runs `body(argc, argv)` and returns its status. A drift::Error or any
// other exception is printed as "<program>: error: <message>" on one line of stderr, and the
// status is 1 — or 128 + the signal for an Interrupted run.
int run_main(int argc, char** argv, const std::function<int(int, char**)>& body);

// A message squeezed onto one line (newlines and tabs become spaces).
std::string one_line(const std::string& message);

}  // namespace diffusion
}  // namespace drift
