// bench.cpp — drift_bench: times a table of named workloads and compares them with PyTorch.
//
//   drift_bench                          every row, default thread count (OMP_NUM_THREADS)
//   drift_bench --threads 2 --reps 9     fix the thread count and the number of repetitions
//   drift_bench --only sgemm             rows whose name contains "sgemm" (comma: several)
//   drift_bench --torch ref.json         add PyTorch's numbers (from bench/torch_reference.py)
//
// Method, the same in bench/torch_reference.py: each row is prepared (inputs allocated and
// filled, not timed), warmed up (one call, then calls for >= 0.1 s to estimate the time per
// call), then timed as `reps` repetitions of n calls each, n chosen so that a repetition takes
// >= 20 ms (small workloads would otherwise be lost in the clock's resolution); the reported
// time is the median over the repetitions of the time per call.
//
// Output: one table for people, then one JSON object per row (lines starting with '{') for
// tooling.
//
// Adding a row: append a Workload to the table in `workloads()` below — a name (which must
// match the name used in bench/torch_reference.py to get a comparison), the floating-point
// operations of one call (0 when throughput makes no sense, e.g. a training step reports
// only its time), a one-line description of the shape, and a `prepare` function that
// allocates the inputs and returns the function to time.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tensor/backend.h"
#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/gemm_kernels.h"
#include "tensor/error.h"
#include "tensor/io/json.h"
#include "tensor/tensor.h"

namespace drift::bench {

using Clock = std::chrono::steady_clock;

struct Workload {
  std::string name;         // unique; the key shared with torch_reference.py
  std::string shape;        // what is computed, for the table
  double flops = 0.0;       // per call; 0 = report time only
  std::function<std::function<void()>()> prepare;  // allocate inputs, return the timed call
};

// ---- the workloads ------------------------------------------------------------------------

// C = op(A) op(B) with op(A) M x K, op(B) K x N (tight leading dimensions), `batch` times.
Workload gemm_workload(const std::string& name, bool trans_a, bool trans_b, int64_t M,
                       int64_t N, int64_t K, int64_t batch = 1) {
  std::ostringstream shape;
  shape << (trans_a ? 'T' : 'N') << (trans_b ? 'T' : 'N') << " M=" << M << " N=" << N
        << " K=" << K;
  if (batch > 1) shape << " x" << batch;
  Workload w;
  w.name = name;
  w.shape = shape.str();
  w.flops = 2.0 * static_cast<double>(M) * N * K * batch;
  w.prepare = [=]() -> std::function<void()> {
    Tensor a = randn({batch, trans_a ? K : M, trans_a ? M : K});
    Tensor b = randn({batch, trans_b ? N : K, trans_b ? K : N});
    Tensor c = zeros({batch, M, N});
    const int64_t lda = trans_a ? M : K, ldb = trans_b ? K : N;
    return [=]() mutable {
      cpu_backend().gemm(trans_a, trans_b, M, N, K, 1.0f, a.data(), lda, b.data(), ldb, 0.0f,
                         c.data(), N, batch, M * K, K * N, M * N);
    };
  };
  return w;
}

std::vector<Workload> workloads() {
  std::vector<Workload> rows;
  // Square products: the classic SGEMM throughput curve.
  for (int64_t n : {256, 512, 1024, 2048})
    rows.push_back(gemm_workload("sgemm " + std::to_string(n), false, false, n, n, n));
  // Convolutions of the chapter U-Nets as im2col products, batch 128 (see GUIDE.md section 2,
  // chapter 4 (E): channels 16/32/64 at 28x28 / 14x14). With W [C_out, 9 C_in] and the column
  // matrix X [9 C_in, 128 H W]:  forward Y = W X,  weight gradient dW = dY X^T,
  // input gradient dX = W^T dY.
  const int64_t pixels28 = 128 * 28 * 28, pixels14 = 128 * 14 * 14;
  rows.push_back(gemm_workload("conv28 1>16 fwd", false, false, 16, pixels28, 9));
  rows.push_back(gemm_workload("conv28 16>32 fwd", false, false, 32, pixels28, 9 * 16));
  rows.push_back(gemm_workload("conv28 16>32 dW", false, true, 32, 9 * 16, pixels28));
  rows.push_back(gemm_workload("conv28 16>32 dX", true, false, 9 * 16, pixels28, 32));
  rows.push_back(gemm_workload("conv14 32>64 fwd", false, false, 64, pixels14, 9 * 32));
  rows.push_back(gemm_workload("conv14 32>64 dW", false, true, 64, 9 * 32, pixels14));
  rows.push_back(gemm_workload("conv14 32>64 dX", true, false, 9 * 32, pixels14, 64));
  // Attention at 7x7 (49 tokens), 4 heads of 32, batch 128: Q K^T and softmax(.) V.
  rows.push_back(gemm_workload("attn QK^T 49x49x32", false, true, 49, 49, 32, 128 * 4));
  rows.push_back(gemm_workload("attn PV 49x32x49", false, false, 49, 32, 49, 128 * 4));
  return rows;
}

// ---- measuring ----------------------------------------------------------------------------

struct Timing {
  double median_ms = 0.0;
  int64_t calls_per_rep = 1;
};

Timing measure(const std::function<void()>& call, int reps) {
  auto seconds_since = [](Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
  };
  call();  // first call: page faults, packing buffers, caches
  int64_t warm_calls = 0;
  const Clock::time_point warm_start = Clock::now();
  do {
    call();
    ++warm_calls;
  } while (seconds_since(warm_start) < 0.1);
  const double per_call = seconds_since(warm_start) / static_cast<double>(warm_calls);
  Timing t;
  t.calls_per_rep = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(0.02 / per_call)));
  std::vector<double> per_call_ms;
  for (int r = 0; r < reps; ++r) {
    const Clock::time_point t0 = Clock::now();
    for (int64_t i = 0; i < t.calls_per_rep; ++i) call();
    per_call_ms.push_back(seconds_since(t0) * 1e3 / static_cast<double>(t.calls_per_rep));
  }
  std::sort(per_call_ms.begin(), per_call_ms.end());
  const size_t n = per_call_ms.size();
  t.median_ms = n % 2 == 1 ? per_call_ms[n / 2] : 0.5 * (per_call_ms[n / 2 - 1] + per_call_ms[n / 2]);
  return t;
}

// ---- the PyTorch reference ----------------------------------------------------------------

struct Reference {
  std::string description;                  // torch version, threads, BLAS
  std::map<std::string, double> median_ms;  // row name -> time per call
};

Reference read_reference(const std::string& path) {
  std::ifstream in(path);
  DRIFT_CHECK(in, "cannot open the PyTorch reference " << path);
  std::stringstream text;
  text << in.rdbuf();
  const json::Value doc = json::parse(text.str(), path);
  DRIFT_CHECK(doc.is_object(), path << " is not a JSON object");
  Reference ref;
  auto field = [&](const char* key) {
    const json::Value* v = doc.find(key);
    return v != nullptr ? v->text : std::string("?");
  };
  ref.description = "torch " + field("torch") + " on " + field("threads") + " threads; BLAS: " +
                    field("blas");
  const json::Value* rows = doc.find("rows");
  DRIFT_CHECK(rows != nullptr && rows->is_array(), path << " has no \"rows\" array");
  for (const json::Value& row : rows->array) {
    const json::Value* name = row.find("name");
    const json::Value* ms = row.find("median_ms");
    if (name != nullptr && name->is_string() && ms != nullptr && ms->is_number())
      ref.median_ms[name->text] = ms->as_double();
  }
  return ref;
}

// ---- the machine --------------------------------------------------------------------------

std::string cpu_model() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line))
    if (line.rfind("model name", 0) == 0) {
      size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  return "unknown CPU";
}

// ---- main ---------------------------------------------------------------------------------

struct Options {
  int threads = 0;  // 0: OpenMP's default
  int reps = 9;
  std::vector<std::string> only;
  std::string torch_file;
};

void print_help() {
  std::cout <<
      "drift_bench: times drift's CPU kernels on named workloads, optionally next to PyTorch.\n"
      "\n"
      "  --threads N      threads for the CPU kernels (default: OMP_NUM_THREADS or all cores)\n"
      "  --reps N         timed repetitions per row; the median is reported (default 9)\n"
      "  --only PATTERN   only rows whose name contains PATTERN; comma-separated for several\n"
      "  --torch FILE     PyTorch reference results (JSON from bench/torch_reference.py)\n"
      "  --list           list the rows and exit\n"
      "  --help           this text\n"
      "\n"
      "Each row: warm-up, then N repetitions of >= 20 ms each; time = median per call.\n"
      "Prints a table, then one JSON object per row. `make bench` runs the whole comparison.\n";
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      DRIFT_CHECK(i + 1 < argc, arg << " needs a value (see --help)");
      return argv[++i];
    };
    auto positive = [&](const std::string& v) {
      char* end = nullptr;
      const long n = std::strtol(v.c_str(), &end, 10);
      DRIFT_CHECK(end != v.c_str() && *end == '\0' && n >= 1 && n <= 100000,
                  arg << " needs a positive whole number, got '" << v << "'");
      return static_cast<int>(n);
    };
    if (arg == "--help" || arg == "-h") {
      print_help();
      std::exit(0);
    } else if (arg == "--threads") {
      o.threads = positive(value());
    } else if (arg == "--reps") {
      o.reps = positive(value());
    } else if (arg == "--only") {
      std::stringstream patterns(value());
      std::string p;
      while (std::getline(patterns, p, ','))
        if (!p.empty()) o.only.push_back(p);
    } else if (arg == "--torch") {
      o.torch_file = value();
    } else if (arg == "--list") {
      for (const Workload& w : workloads()) std::cout << w.name << "    " << w.shape << "\n";
      std::exit(0);
    } else {
      DRIFT_FAIL("unknown argument '" << arg << "' (see --help)");
    }
  }
  return o;
}

bool selected(const Options& o, const std::string& name) {
  if (o.only.empty()) return true;
  return std::any_of(o.only.begin(), o.only.end(),
                     [&](const std::string& p) { return name.find(p) != std::string::npos; });
}

int run(int argc, char** argv) {
  const Options o = parse_options(argc, argv);
  if (o.threads > 0) set_num_threads(o.threads);
  Reference ref;
  if (!o.torch_file.empty()) ref = read_reference(o.torch_file);
  const bool with_torch = !o.torch_file.empty();

  std::printf("drift_bench: %s, %d logical CPUs, %d threads, micro-kernel %s %dx%d, %d reps\n",
              cpu_model().c_str(), static_cast<int>(std::thread::hardware_concurrency()), num_threads(),
              gemm_kernels::kInstructionSet, gemm_kernels::kMR, gemm_kernels::kNR, o.reps);
  if (with_torch) std::printf("reference: %s\n", ref.description.c_str());
  std::printf("\n%-20s %-30s %10s %9s", "workload", "shape", "drift ms", "GFLOP/s");
  if (with_torch) std::printf(" %10s %9s %12s", "torch ms", "GFLOP/s", "drift/torch");
  std::printf("\n");

  std::vector<std::string> json_lines;
  for (const Workload& w : workloads()) {
    if (!selected(o, w.name)) continue;
    const Timing t = measure(w.prepare(), o.reps);
    auto gflops = [&](double ms) { return w.flops / (ms * 1e-3) / 1e9; };
    // GFLOP/s only for rows that count their flops; "-" for time-only rows.
    auto throughput = [&](double ms) {
      char text[32] = "-";
      if (w.flops > 0.0) std::snprintf(text, sizeof text, "%.1f", gflops(ms));
      return std::string(text);
    };
    std::printf("%-20s %-30s %10.3f %9s", w.name.c_str(), w.shape.c_str(), t.median_ms,
                throughput(t.median_ms).c_str());
    std::ostringstream js;
    js << "{\"name\": " << json::quote(w.name) << ", \"shape\": " << json::quote(w.shape)
       << ", \"threads\": " << num_threads() << ", \"reps\": " << o.reps
       << ", \"calls_per_rep\": " << t.calls_per_rep << ", \"median_ms\": " << t.median_ms;
    if (w.flops > 0.0) js << ", \"gflops\": " << gflops(t.median_ms);
    auto found = ref.median_ms.find(w.name);
    if (with_torch && found != ref.median_ms.end()) {
      const double torch_ms = found->second;
      // drift/torch > 1: drift is faster (ratio of throughputs = inverse ratio of times).
      std::printf(" %10.3f %9s %11.2fx", torch_ms, throughput(torch_ms).c_str(),
                  torch_ms / t.median_ms);
      js << ", \"torch_ms\": " << torch_ms << ", \"speed_vs_torch\": " << torch_ms / t.median_ms;
    } else if (with_torch) {
      std::printf(" %10s %9s %12s", "-", "-", "-");
    }
    js << "}";
    std::printf("\n");
    std::fflush(stdout);
    json_lines.push_back(js.str());
  }
  std::printf("\n");
  for (const std::string& line : json_lines) std::printf("%s\n", line.c_str());
  return 0;
}

}  // namespace drift::bench

int main(int argc, char** argv) {
  try {
    return drift::bench::run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "drift_bench: error: %s\n", e.what());
    return 1;
  }
}
