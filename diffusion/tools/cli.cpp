// cli.cpp — the chapter flag parser, the output folder and the main() wrapper.
#include "diffusion/tools/cli.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/kernels.h"
#include "tensor/random.h"

namespace drift {
namespace diffusion {

enum class FlagKind { Int, Float, String, Choice, Switch };

struct Cli::Flag {
  std::string name, help;
  bool chapter = true;  // listed under "chapter options" (false: the common flags)
  FlagKind kind = FlagKind::String;
  int64_t int_value = 0, int_min = 0, int_max = 0;
  double float_value = 0, float_min = 0, float_max = 0;
  std::string string_value;
  std::vector<std::string> choices;
  bool switch_value = false;
  bool given = false;             // set by the command line (not left at its default)
  std::string default_text;       // shown in the usage
  int64_t* int_target = nullptr;  // the common flags write straight into Cli's fields
  std::string* string_target = nullptr;
};

namespace {

std::string format_float(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

}  // namespace

Cli::Cli(std::string program, std::string description)
    : program_(std::move(program)), description_(std::move(description)) {
  out_dir_ = "out/" + program_;
  Flag& seed = add_flag(
      "seed", "random seed: the same seed and flags give the same run (weights, noise, samples)",
      false);
  seed.kind = FlagKind::Int;
  seed.int_min = 0;
  seed.int_max = std::numeric_limits<int64_t>::max();
  seed.int_target = &seed_;
  seed.default_text = "0";
  Flag& device = add_flag(
      "device", "cpu, cuda, cuda:N, or auto (the CPU until the CUDA backend is complete)", false);
  device.string_target = &device_text_;
  device.default_text = "auto";
  Flag& kernels = add_flag(
      "kernels", "CPU kernels: fast, or reference (plain loops from the definitions, slow)", false);
  kernels.string_target = &kernels_text_;
  kernels.choices = {"fast", "reference"};
  kernels.default_text = "fast";
  Flag& out = add_flag("out", "folder for the pictures and plots (created if needed)", false);
  out.string_target = &out_dir_;
  out.default_text = out_dir_;
  Flag& threads = add_flag("threads", "CPU threads; 0 = one per core (or OMP_NUM_THREADS)", false);
  threads.kind = FlagKind::Int;
  threads.int_min = 0;
  threads.int_max = 4096;
  threads.int_target = &threads_;
  threads.default_text = "0";
  Flag& data = add_flag("data",
                        "folder with the data sets (else $DRIFT_DATA, data/, ../shared/data and "
                        "system folders are searched)",
                        false);
  data.string_target = &data_dir_;
  data.default_text = "search";
}

Cli::~Cli() = default;

Cli::Flag& Cli::add_flag(const std::string& name, const std::string& help, bool chapter) {
  DRIFT_CHECK(!name.empty() && name[0] != '-',
              "Cli: flag names are given without dashes, got '" << name << "'");
  DRIFT_CHECK(name != "help" && find(name) == nullptr,
              "Cli: flag --" << name << " is defined twice");
  flags_.push_back(std::make_unique<Flag>());
  Flag& flag = *flags_.back();
  flag.name = name;
  flag.help = help;
  flag.chapter = chapter;
  return flag;
}

bool Cli::given(const std::string& name) const {
  for (const auto& flag : flags_)
    if (flag->name == name) return flag->given;
  DRIFT_FAIL("Cli::given: no flag --" << name);
}

Cli::Flag* Cli::find(const std::string& name) {
  for (auto& flag : flags_)
    if (flag->name == name) return flag.get();
  return nullptr;
}

int64_t& Cli::add_int(const std::string& name, int64_t default_value, const std::string& help,
                      int64_t min, int64_t max) {
  DRIFT_CHECK(min <= default_value && default_value <= max,
              "Cli: the default of --" << name << " is outside its range");
  Flag& flag = add_flag(name, help, true);
  flag.kind = FlagKind::Int;
  flag.int_value = default_value;
  flag.int_min = min;
  flag.int_max = max;
  flag.default_text = std::to_string(default_value);
  return flag.int_value;
}

double& Cli::add_float(const std::string& name, double default_value, const std::string& help,
                       double min, double max) {
  DRIFT_CHECK(min <= default_value && default_value <= max,
              "Cli: the default of --" << name << " is outside its range");
  Flag& flag = add_flag(name, help, true);
  flag.kind = FlagKind::Float;
  flag.float_value = default_value;
  flag.float_min = min;
  flag.float_max = max;
  flag.default_text = format_float(default_value);
  return flag.float_value;
}

std::string& Cli::add_string(const std::string& name, const std::string& default_value,
                             const std::string& help) {
  Flag& flag = add_flag(name, help, true);
  flag.kind = FlagKind::String;
  flag.string_value = default_value;
  flag.default_text = default_value.empty() ? "none" : default_value;
  return flag.string_value;
}

std::string& Cli::add_choice(const std::string& name, const std::string& default_value,
                             const std::vector<std::string>& choices, const std::string& help) {
  Flag& flag = add_flag(name, help, true);
  flag.kind = FlagKind::Choice;
  flag.string_value = default_value;
  flag.choices = choices;
  flag.default_text = default_value;
  return flag.string_value;
}

bool& Cli::add_switch(const std::string& name, const std::string& help) {
  Flag& flag = add_flag(name, help, true);
  flag.kind = FlagKind::Switch;
  flag.default_text = "off";
  return flag.switch_value;
}

void Cli::set_value(Flag& flag, const std::string& value) {
  const std::string where = "--" + flag.name;
  flag.given = true;
  switch (flag.kind) {
    case FlagKind::Int: {
      errno = 0;
      char* end = nullptr;
      long long v = std::strtoll(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || errno == ERANGE)
        throw CliError(where + " expects a whole number, got '" + value + "'");
      int64_t min = flag.int_min, max = flag.int_max;
      if (v < min || v > max) {
        std::ostringstream os;
        os << where << " must be " << (v < min ? "at least " : "at most ") << (v < min ? min : max)
           << ", got " << v;
        throw CliError(os.str());
      }
      (flag.int_target ? *flag.int_target : flag.int_value) = v;
      break;
    }
    case FlagKind::Float: {
      errno = 0;
      char* end = nullptr;
      double v = std::strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(v))
        throw CliError(where + " expects a number, got '" + value + "'");
      if (v < flag.float_min || v > flag.float_max)
        throw CliError(where + " must be " +
                       (v < flag.float_min ? "at least " + format_float(flag.float_min)
                                           : "at most " + format_float(flag.float_max)) +
                       ", got " + value);
      flag.float_value = v;
      break;
    }
    case FlagKind::Choice: {
      bool ok = false;
      std::string list;
      for (const std::string& c : flag.choices) {
        ok = ok || c == value;
        list += (list.empty() ? "" : ", ") + c;
      }
      if (!ok) throw CliError(where + " must be one of " + list + ", got '" + value + "'");
      flag.string_value = value;
      break;
    }
    case FlagKind::String:
      if (value.empty()) throw CliError(where + " expects a value");
      (flag.string_target ? *flag.string_target : flag.string_value) = value;
      break;
    case FlagKind::Switch:
      if (value == "true" || value == "1")
        flag.switch_value = true;
      else if (value == "false" || value == "0")
        flag.switch_value = false;
      else
        throw CliError(where + " is a switch (true or false), got '" + value + "'");
      break;
  }
}

bool Cli::try_parse(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") return false;
    if (arg.size() < 3 || arg.compare(0, 2, "--") != 0)
      throw CliError("unexpected argument '" + arg + "' (flags look like --name value)");
    std::string name = arg.substr(2), value;
    bool has_value = false;
    size_t equals = name.find('=');
    if (equals != std::string::npos) {
      value = name.substr(equals + 1);
      name = name.substr(0, equals);
      has_value = true;
    }
    Flag* flag = find(name);
    if (!flag) throw CliError("unknown flag --" + name);
    if (flag->kind == FlagKind::Switch && !has_value) {
      flag->switch_value = flag->given = true;
      continue;
    }
    if (!has_value) {
      if (i + 1 >= args.size()) throw CliError("--" + name + " needs a value");
      value = args[++i];
    }
    set_value(*flag, value);
  }
  // The device: first its spelling (a usage mistake), then whether it exists here (an Error).
  const std::string& d = device_text_;
  bool cuda_index = d.size() > 5 && d.compare(0, 5, "cuda:") == 0 &&
                    d.find_first_not_of("0123456789", 5) == std::string::npos;
  if (!(d == "cpu" || d == "cuda" || d == "auto" || cuda_index))
    throw CliError("--device must be cpu, cuda, cuda:N or auto, got '" + d + "'");
  device_ = Device::parse(d);
  return true;
}

namespace {

// `text` as one shell word: left alone when it only holds safe characters, else in quotes.
std::string shell_quote(const std::string& text) {
  const bool safe = !text.empty() && text.find_first_not_of(
                                         "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                         "0123456789-_./=:,+@%") == std::string::npos;
  if (safe) return text;
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

}  // namespace

void Cli::parse(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  command_line_ = shell_quote(argc > 0 ? argv[0] : program_);
  for (const std::string& arg : args) command_line_ += " " + shell_quote(arg);
  bool run = false;
  try {
    run = try_parse(args);
  } catch (const CliError& e) {
    usage_error(e.what());  // one line and a pointer to --help, not the whole usage
  }
  if (!run) {
    std::cout << usage();
    std::exit(0);
  }
  manual_seed(seed());
  if (threads_ > 0) set_num_threads(threads());
  if (kernels_text_ != "fast" || std::getenv("DRIFT_KERNELS") == nullptr)
    cpu::set_kernels(kernels_text_);  // DRIFT_KERNELS applies unless --kernels is given
}

void Cli::usage_error(const std::string& message) const {
  std::cerr << program_ << ": " << one_line(message) << " (run " << program_
            << " --help for the flags)\n";
  std::exit(2);
}

std::string Cli::usage() const {
  std::ostringstream os;
  os << "usage: " << program_ << " [options]\n\n" << description_ << "\n";
  auto list = [&](bool chapter, const char* heading) {
    bool any = false;
    for (const auto& f : flags_) any = any || f->chapter == chapter;
    if (!any && chapter) return;
    os << "\n" << heading << ":\n";
    if (!chapter) os << "  --help               show this help and exit\n";
    for (const auto& f : flags_) {
      if (f->chapter != chapter) continue;
      std::string left = "--" + f->name;
      switch (f->kind) {
        case FlagKind::Int:
          left += " N";
          break;
        case FlagKind::Float:
          left += " X";
          break;
        case FlagKind::Switch:
          break;
        case FlagKind::Choice:
          left += " NAME";
          break;
        case FlagKind::String:
          left += f->name == "out" || f->name == "data" ? " DIR" : " TEXT";
          break;
      }
      os << "  " << std::left << std::setw(20) << left << " " << f->help;
      if (f->kind == FlagKind::Choice) {
        std::string list;
        for (const std::string& c : f->choices) list += (list.empty() ? "" : "|") + c;
        os << " (" << list << ")";
      }
      os << " [default: " << f->default_text << "]\n";
    }
  };
  list(true, "chapter options");
  list(false, "common options");
  return os.str();
}

// ---- output folder and main() -----------------------------------------------------------------

std::string make_output_dir(const std::string& path) {
  DRIFT_CHECK(!path.empty(), "output folder: the path is empty");
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(path, ec)) {
    DRIFT_CHECK(fs::is_directory(path, ec),
                "output folder: '" << path << "' exists and is not a folder");
    return path;
  }
  fs::create_directories(path, ec);
  DRIFT_CHECK(!ec, "output folder: cannot create '" << path << "': " << ec.message());
  return path;
}

std::string one_line(const std::string& message) {
  std::string out = message;
  for (char& c : out)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  return out;
}

namespace {
std::string program_name = "drift";  // set by run_main
}  // namespace

void warn(const std::string& message) {
  std::printf("    WARNING: %s\n", message.c_str());
  std::fflush(stdout);
  std::fprintf(stderr, "%s: warning: %s\n", program_name.c_str(), message.c_str());
}

int run_main(int argc, char** argv, const std::function<int(int, char**)>& body) {
  const std::string program =
      argc > 0 ? std::filesystem::path(argv[0]).filename().string() : "drift";
  program_name = program;
  try {
    return body(argc, argv);
  } catch (const Interrupted& e) {
    std::cout.flush();
    std::fflush(stdout);
    std::cerr << program << ": stopped: " << one_line(e.what()) << "\n";
    return 128 + e.signal();
  } catch (const Error& e) {
    std::cout.flush();
    std::fflush(stdout);  // what the program printed so far comes before the error
    std::cerr << program << ": error: " << one_line(e.what()) << "\n";
  } catch (const std::exception& e) {
    std::cout.flush();
    std::fflush(stdout);
    std::cerr << program << ": unexpected error: " << one_line(e.what()) << "\n";
  }
  return 1;
}

}  // namespace diffusion
}  // namespace drift
