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
// operations of one call (0 when throughput makes no sense), a one-line description of the
// shape, a `prepare` function that allocates the inputs and returns the function to time,
// and `memory = true` for rows whose peak memory is measured too (training steps; listed in
// MEMORY_ROWS in torch_reference.py).
//
// Peak memory: after the timing table, each memory row runs again in a fresh process
// (`drift_bench --memory-of NAME`, see measure_memory_here) and a second table compares the
// peak resident memory of a call with PyTorch's.
#include <unistd.h>

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

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "diffusion/models/ddpm_unet.h"
#include "diffusion/models/mnist_unets.h"
#include "diffusion/models/toy.h"
#include "diffusion/tools/dataset.h"
#include "nn/functional.h"
#include "nn/layers.h"
#include "nn/optim.h"
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
  bool memory = false;      // also measure the peak memory of a call (in a fresh process)
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

// ---- convolution layers ---------------------------------------------------------------------
// The three kernels of one Conv2d layer on the shapes the chapter models use: forward
// (y = conv(x, W) + b), the input gradient dX and the weight gradient dW (with the bias
// gradient, as a training step computes them together). PyTorch times the same three through
// aten::convolution and aten::convolution_backward (bench/torch_reference.py).

Conv2dGeometry conv_geometry(int64_t batch, int64_t in_channels, int64_t out_channels,
                             int64_t size, int64_t kernel, int64_t stride) {
  Conv2dGeometry g;
  g.batch = batch;
  g.in_channels = in_channels;
  g.out_channels = out_channels;
  g.in_h = g.in_w = size;
  g.kernel_h = g.kernel_w = kernel;
  g.stride_h = g.stride_w = stride;
  g.pad_h = g.pad_w = kernel / 2;
  g.out_h = (size + 2 * g.pad_h - kernel) / stride + 1;
  g.out_w = g.out_h;
  return g;
}

// Rows "<label> fwd", "<label> dX", "<label> dW" for one layer shape.
void add_conv_rows(std::vector<Workload>& rows, const std::string& label, int64_t batch,
                   int64_t in_channels, int64_t out_channels, int64_t size, int64_t kernel,
                   int64_t stride = 1) {
  const Conv2dGeometry g = conv_geometry(batch, in_channels, out_channels, size, kernel, stride);
  std::ostringstream shape;
  shape << batch << "x" << in_channels << "x" << size << "x" << size << " k" << kernel;
  if (stride > 1) shape << " s" << stride;
  shape << " -> " << out_channels;
  const double flops = 2.0 * batch * out_channels * g.out_h * g.out_w * in_channels * kernel * kernel;
  struct Buffers {
    Tensor x, w, b, y, gy, gx, gw, gb;
  };
  auto make_buffers = [g] {
    Buffers t;
    t.x = randn({g.batch, g.in_channels, g.in_h, g.in_w});
    t.w = randn({g.out_channels, g.in_channels, g.kernel_h, g.kernel_w}) * 0.1f;
    t.b = randn({g.out_channels});
    t.y = zeros({g.batch, g.out_channels, g.out_h, g.out_w});
    t.gy = randn({g.batch, g.out_channels, g.out_h, g.out_w});
    t.gx = zeros({g.batch, g.in_channels, g.in_h, g.in_w});
    t.gw = zeros({g.out_channels, g.in_channels, g.kernel_h, g.kernel_w});
    t.gb = zeros({g.out_channels});
    return t;
  };
  Workload fwd, dx, dw;
  fwd.name = label + " fwd";
  dx.name = label + " dX";
  dw.name = label + " dW";
  fwd.shape = dx.shape = dw.shape = shape.str();
  fwd.flops = dx.flops = dw.flops = flops;
  fwd.prepare = [=] {
    Buffers t = make_buffers();
    return std::function<void()>([=]() mutable {
      cpu_backend().conv2d_forward(t.x.data(), t.w.data(), t.b.data(), t.y.data(), g);
    });
  };
  dx.prepare = [=] {
    Buffers t = make_buffers();
    return std::function<void()>([=]() mutable {
      cpu_backend().conv2d_backward_input(t.gy.data(), t.w.data(), t.gx.data(), g);
    });
  };
  dw.prepare = [=] {
    Buffers t = make_buffers();
    return std::function<void()>([=]() mutable {
      cpu_backend().conv2d_backward_weight(t.x.data(), t.gy.data(), t.gw.data(), t.gb.data(), g);
    });
  };
  rows.push_back(fwd);
  rows.push_back(dx);
  rows.push_back(dw);
}

// ---- GroupNorm + SiLU ------------------------------------------------------------------------
// The pair that opens every half of a ResBlock: silu(group_norm(x)) as the U-Net runs it (the
// fused F::group_norm_silu). "fwd" is inference (no graph); "fwd+bwd" records and runs
// backward. PyTorch runs F.silu(F.group_norm(x)).
void add_norm_rows(std::vector<Workload>& rows, int64_t batch, int64_t channels, int64_t size,
                   int64_t groups) {
  const std::string label = "gn+silu " + std::to_string(channels) + "@" + std::to_string(size);
  std::ostringstream shape;
  shape << batch << "x" << channels << "x" << size << "x" << size << ", " << groups << " groups";
  Workload fwd, both;
  fwd.name = label + " fwd";
  both.name = label + " fwd+bwd";
  fwd.shape = both.shape = shape.str();
  fwd.prepare = [=] {
    Tensor x = randn({batch, channels, size, size});
    Tensor gamma = randn({channels}), beta = randn({channels});
    return std::function<void()>([=] {
      NoGradGuard no_grad;
      Tensor y = nn::F::group_norm_silu(x, groups, gamma, beta);
    });
  };
  both.prepare = [=] {
    Tensor x = randn({batch, channels, size, size}).set_requires_grad(true);
    Tensor gamma = randn({channels}).set_requires_grad(true);
    Tensor beta = randn({channels}).set_requires_grad(true);
    Tensor gy = randn({batch, channels, size, size});
    return std::function<void()>([=]() mutable {
      x.zero_grad();
      gamma.zero_grad();
      beta.zero_grad();
      nn::F::group_norm_silu(x, groups, gamma, beta).backward(gy);
    });
  };
  rows.push_back(fwd);
  rows.push_back(both);
}

// ---- whole models ----------------------------------------------------------------------------

// One training step as the chapters run it: zero_grad, forward, MSE against the noise,
// backward, Adam. The noisy input, t and the noise are fixed (made once, untimed).
template <class Model>
std::function<void()> training_step(std::shared_ptr<Model> model, Tensor x_t, Tensor t,
                                    Tensor noise) {
  auto optimizer = std::make_shared<nn::Adam>(model->parameters(), 1e-3);
  return [=] {
    optimizer->zero_grad();
    Tensor loss = mse_loss(model->forward(x_t, t), noise);
    loss.backward();
    optimizer->step();
  };
}

// Multiply-adds of the convolutions and linear layers of one forward pass, counted by
// running it once with every Conv2d / Linear layer's shapes (2 flop each; a training step is
// ~3x the forward: dX and dW each cost what the forward costs).
double unet_forward_flops(int64_t batch) {
  diffusion::DDPMUNet model;
  double macs = 0.0;
  // Sizes per level: 28 >> level. Every conv in level l runs at 28 >> l output pixels, except
  // the downsample convs (output at the next level) and upsample convs (output at the level
  // above); conv_in / conv_out at level 0.
  const auto& ch = model.config.channels;
  const int64_t levels = static_cast<int64_t>(ch.size());
  auto conv_macs = [&](const nn::Conv2d& c, int64_t out_size) {
    return static_cast<double>(batch) * out_size * out_size * c.out_channels *
           (c.in_channels / c.groups) * c.kernel_size.h * c.kernel_size.w;
  };
  auto block_macs = [&](const diffusion::DDPMResBlock& b, int64_t size) {
    double m = conv_macs(*b.conv1, size) + conv_macs(*b.conv2, size);
    if (b.shortcut) m += conv_macs(*b.shortcut, size);
    m += static_cast<double>(batch) * b.time_proj->in_features * b.time_proj->out_features;
    return m;
  };
  macs += conv_macs(*model.conv_in, 28) + conv_macs(*model.conv_out, 28);
  for (int64_t l = 0; l < levels; ++l) {
    const int64_t size = 28 >> l;
    const auto& d = *(*model.down)[static_cast<size_t>(l)];
    for (size_t b = 0; b < d.blocks->size(); ++b) macs += block_macs(*(*d.blocks)[b], size);
    if (d.downsample) macs += conv_macs(*d.downsample, size / 2);
    const auto& u = *(*model.up)[static_cast<size_t>(levels - 1 - l)];
    for (size_t b = 0; b < u.blocks->size(); ++b) macs += block_macs(*(*u.blocks)[b], size);
    if (u.upsample_conv) macs += conv_macs(*u.upsample_conv, size * 2);
  }
  const int64_t tdim = model.config.time_embedding_dim;
  macs += static_cast<double>(batch) * (model.config.time_encoding_dim * tdim + tdim * tdim);
  return 2.0 * macs;
}

// The same count for the chapter-4 (E) ResUNet (diffusion/models/mnist_unets.h): every conv
// at its output size (28 >> level), the time MLP and each block's projection.
double res_unet_forward_flops(int64_t batch) {
  diffusion::ResUNet model;
  auto conv_macs = [&](const nn::Conv2d& c, int64_t out_size) {
    return static_cast<double>(batch) * out_size * out_size * c.out_channels * c.in_channels *
           c.kernel_size.h * c.kernel_size.w;
  };
  auto linear_macs = [&](const nn::Linear& l) {
    return static_cast<double>(batch) * l.in_features * l.out_features;
  };
  auto block_macs = [&](const diffusion::ResnetBlock& b, int64_t size) {
    double m = conv_macs(*b.conv1, size) + conv_macs(*b.conv2, size) + linear_macs(*b.proj);
    return b.shortcut ? m + conv_macs(*b.shortcut, size) : m;
  };
  const diffusion::ResUNet& u = model;  // the layers, read-only
  double macs = linear_macs(static_cast<const nn::Linear&>(*(*u.embed)[1])) +
                linear_macs(static_cast<const nn::Linear&>(*(*u.embed)[3]));
  macs += conv_macs(*u.conv_in, 28) + conv_macs(*u.conv_out, 28);
  for (const auto* b : {&u.enc1_1, &u.enc1_2, &u.dec1_1, &u.dec1_2}) macs += block_macs(**b, 28);
  for (const auto* b : {&u.enc2_1, &u.enc2_2, &u.dec2_1, &u.dec2_2}) macs += block_macs(**b, 14);
  for (const auto* b : {&u.bottleneck_1, &u.bottleneck_2}) macs += block_macs(**b, 7);
  macs += conv_macs(*u.downconv1->conv, 14) + conv_macs(*u.downconv2->conv, 7);
  macs += conv_macs(*u.upconv2->conv, 14) + conv_macs(*u.upconv1->conv, 28);
  return 2.0 * macs;
}

std::vector<Workload> workloads() {
  std::vector<Workload> rows;
  // Square products: the classic SGEMM throughput curve.
  for (int64_t n : {256, 512, 1024, 2048})
    rows.push_back(gemm_workload("sgemm " + std::to_string(n), false, false, n, n, n));
  // Convolutions of the chapter U-Nets as im2col products, batch 128 (the tutorial's
  // chapter-4 model (E): channels 16/32/64 at 28x28 / 14x14). With W [C_out, 9 C_in] and the column
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

  // The Conv2d layers of the DDPM-style U-Net (diffusion/models/ddpm_unet.h), batch 128, and
  // of the chapter-2 toy model (batch 1, 512x512).
  add_conv_rows(rows, "conv 1>16 @28", 128, 1, 16, 28, 3);       // conv_in
  add_conv_rows(rows, "conv 16>16 @28", 128, 16, 16, 28, 3);     // down.0 blocks
  add_conv_rows(rows, "conv 32>16 @28", 128, 32, 16, 28, 3);     // up.2 blocks, conv1
  add_conv_rows(rows, "conv 16>16 s2 @28", 128, 16, 16, 28, 3, 2);  // down.0 downsample
  add_conv_rows(rows, "conv 16>32 @14", 128, 16, 32, 14, 3);     // down.1 block 0, conv1
  add_conv_rows(rows, "conv 32>32 @14", 128, 32, 32, 14, 3);     // down.1 / up.1 blocks
  add_conv_rows(rows, "conv 64>32 @14", 128, 64, 32, 14, 3);     // up.1 blocks; upsample conv
  add_conv_rows(rows, "conv 32>64 @7", 128, 32, 64, 7, 3);       // down.2 block 0, conv1
  add_conv_rows(rows, "conv 64>64 @7", 128, 64, 64, 7, 3);       // down.2 / up.0 blocks
  add_conv_rows(rows, "conv 128>64 @7", 128, 128, 64, 7, 3);     // up.0 blocks, conv1
  add_conv_rows(rows, "conv1x1 32>16 @28", 128, 32, 16, 28, 1);  // up.2 shortcuts
  add_conv_rows(rows, "conv1x1 128>64 @7", 128, 128, 64, 7, 1);  // up.0 shortcuts
  add_conv_rows(rows, "conv 16>1 @28", 128, 16, 1, 28, 3);       // conv_out
  add_conv_rows(rows, "conv 3>16 @512 b1", 1, 3, 16, 512, 3);    // toy model conv1
  add_conv_rows(rows, "conv 16>3 @512 b1", 1, 16, 3, 512, 3);    // toy model conv2

  add_norm_rows(rows, 128, 16, 28, 8);
  add_norm_rows(rows, 128, 64, 7, 8);

  {
    Workload w;
    w.name = "toy step 3x512x512";
    w.shape = "chapter-2 toy model, Adam, batch 1";
    w.memory = true;
    w.prepare = [] {
      manual_seed(0);
      auto model = std::make_shared<diffusion::ToyModel>();  // the tutorial's (3, 16)
      return training_step(model, randn({1, 3, 512, 512}), from_vector({7.0f}, Shape{1}),
                           randn({1, 3, 512, 512}));
    };
    rows.push_back(w);
  }
  {
    Workload w;
    w.name = "unet step b128";
    w.shape = "DDPM-style U-Net (" + std::to_string(diffusion::DDPMUNet().num_parameters()) +
              " params), Adam";
    w.flops = 3.0 * unet_forward_flops(128);
    w.memory = true;
    w.prepare = [] {
      manual_seed(0);
      auto model = std::make_shared<diffusion::DDPMUNet>();
      return training_step(model, randn({128, 1, 28, 28}), randint(0, 1000, {128}),
                           randn({128, 1, 28, 28}));
    };
    rows.push_back(w);
  }
  {
    Workload w;
    w.name = "unet denoise b64";
    w.shape = "DDPM-style U-Net forward, no_grad";
    w.flops = unet_forward_flops(64);
    w.prepare = [] {
      manual_seed(0);
      auto model = std::make_shared<diffusion::DDPMUNet>();
      Tensor x_t = randn({64, 1, 28, 28}), t = randint(0, 1000, {64});
      return std::function<void()>([=] {
        NoGradGuard no_grad;
        Tensor eps = model->forward(x_t, t);
      });
    };
    rows.push_back(w);
  }
  {
    Workload w;
    w.name = "mnist unet E step b128";
    w.shape = "chapter-4 (E) ResUNet (" + std::to_string(diffusion::ResUNet().num_parameters()) +
              " params), Adam";
    w.flops = 3.0 * res_unet_forward_flops(128);
    w.memory = true;
    w.prepare = [] {
      manual_seed(0);
      auto model = std::make_shared<diffusion::ResUNet>();
      return training_step(model, randn({128, 1, 28, 28}), randint(0, 1000, {128}),
                           randn({128, 1, 28, 28}));
    };
    rows.push_back(w);
  }
  {
    // The chapter-4 data loader: one shuffled batch of 128 MNIST digits copied out of the
    // 60,000 (one memcpy per picture), to set beside "unet step b128". Without MNIST on this
    // machine it times a synthetic data set of the same size (the copy does not look at the
    // pixels) and says so. The data is read in prepare, so --list stays instant.
    Workload w;
    w.name = "loader mnist b128";
    w.shape = "128 of 60000 28x28, shuffled";
    w.prepare = [] {
      auto data = std::make_shared<diffusion::ImageDataset>();
      try {
        *data = diffusion::ImageDataset::load("mnist", "train");
      } catch (const Error&) {
        std::fprintf(stderr, "loader mnist b128: MNIST not found, timing synthetic data\n");
        *data = diffusion::ImageDataset(zeros({60000, 1, 28, 28}), zeros({60000}), "synthetic");
      }
      auto loader =
          std::make_shared<diffusion::DataLoader>(*data, diffusion::LoaderOptions{128, 0});
      return std::function<void()>([data, loader] { diffusion::Batch batch = loader->next(); });
    };
    rows.push_back(w);
  }
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
  std::map<std::string, double> peak_rss_increase_mb;  // row name -> memory (rows that have it)
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
    const json::Value* rss = row.find("peak_rss_increase_mb");
    if (name != nullptr && name->is_string() && rss != nullptr && rss->is_number())
      ref.peak_rss_increase_mb[name->text] = rss->as_double();
  }
  return ref;
}

// ---- peak memory ---------------------------------------------------------------------------
//
// What one training step costs in memory on top of the model and its inputs, measured the
// same way for both frameworks (torch_reference.py does the same in Python):
//   1. a fresh process (this program, re-run with --memory-of NAME) prepares the row: model,
//      optimizer and inputs exist, nothing has run yet;
//   2. it reads its resident set size (VmRSS in /proc/self/status) and resets the kernel's
//      high-water mark (writing "5" to /proc/self/clear_refs resets VmHWM);
//   3. it runs four calls (the first creates Adam's moments and the gradients, as in real
//      training; from the third on a step runs in its steady state);
//   4. peak increase = VmHWM - the VmRSS of step 2.
// It includes everything the process touched: tensors, the caching allocator's spare blocks,
// GEMM packing buffers, thread stacks. drift also reports its tensor peak (memory_stats: live
// tensor bytes, high-water mark minus the bytes before) and how many allocations went to the
// system in calls 3 and 4 (the caching allocator should serve them all).

struct MemoryResult {
  double rss_before_mb = 0.0, peak_rss_increase_mb = 0.0, tensor_peak_increase_mb = 0.0;
  int64_t system_allocations_when_warm = 0;
  bool ok = false;
};

// A field of /proc/self/status in kB ("VmRSS", "VmHWM"); -1 if not found.
int64_t proc_status_kb(const std::string& key) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind(key + ":", 0) == 0) return std::strtoll(line.c_str() + key.size() + 1, nullptr, 10);
  return -1;
}

MemoryResult measure_memory_here(const Workload& w) {
  MemoryResult r;
  const std::function<void()> call = w.prepare();
  const int64_t rss_before = proc_status_kb("VmRSS");
  const MemoryStats tensors_before = memory_stats(Device::cpu());
  reset_peak_memory(Device::cpu());
  {
    std::ofstream clear("/proc/self/clear_refs");
    clear << "5";
  }
  call();
  call();
  const CpuAllocatorStats warm = cpu_allocator_stats();
  call();
  call();
  const int64_t rss_peak = proc_status_kb("VmHWM");
  r.system_allocations_when_warm = cpu_allocator_stats().system_allocations - warm.system_allocations;
  r.rss_before_mb = static_cast<double>(rss_before) / 1024.0;
  r.peak_rss_increase_mb = static_cast<double>(rss_peak - rss_before) / 1024.0;
  r.tensor_peak_increase_mb =
      static_cast<double>(memory_stats(Device::cpu()).peak_bytes - tensors_before.current_bytes) /
      (1024.0 * 1024.0);
  r.ok = rss_before > 0 && rss_peak > 0;
  return r;
}

std::string memory_json(const std::string& name, const MemoryResult& r) {
  std::ostringstream js;
  js << "{\"name\": " << json::quote(name) << ", \"rss_before_mb\": " << r.rss_before_mb
     << ", \"peak_rss_increase_mb\": " << r.peak_rss_increase_mb
     << ", \"tensor_peak_increase_mb\": " << r.tensor_peak_increase_mb
     << ", \"system_allocations_when_warm\": " << r.system_allocations_when_warm << "}";
  return js.str();
}

// Runs `argv0 --threads N --memory-of NAME` and reads its one JSON line back.
MemoryResult measure_memory_in_child(const std::string& name, int threads) {
  MemoryResult r;
  std::ostringstream command;
  command << "/proc/" << getpid() << "/exe --threads " << threads << " --memory-of '" << name
          << "'" << (cpu_conv_algorithm() == CpuConvAlgorithm::Im2col ? " --conv im2col" : "");
  FILE* pipe = popen(command.str().c_str(), "r");
  if (pipe == nullptr) return r;
  std::string output;
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) output += buffer;
  if (pclose(pipe) != 0) return r;
  const size_t brace = output.find('{');
  if (brace == std::string::npos) return r;
  const json::Value doc = json::parse(output.substr(brace), "drift_bench --memory-of");
  auto number = [&](const char* key) {
    const json::Value* v = doc.find(key);
    return v != nullptr && v->is_number() ? v->as_double() : 0.0;
  };
  r.rss_before_mb = number("rss_before_mb");
  r.peak_rss_increase_mb = number("peak_rss_increase_mb");
  r.tensor_peak_increase_mb = number("tensor_peak_increase_mb");
  r.system_allocations_when_warm =
      static_cast<int64_t>(number("system_allocations_when_warm"));
  r.ok = true;
  return r;
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
  std::string memory_of;  // internal: measure this row's memory in this process and exit
  bool skip_memory = false;
  bool im2col = false;  // --conv im2col: the general convolution path everywhere (A/B tests)
};

void print_help() {
  std::cout <<
      "drift_bench: times drift's CPU kernels on named workloads, optionally next to PyTorch.\n"
      "\n"
      "  --threads N      threads for the CPU kernels (default: OMP_NUM_THREADS or all cores)\n"
      "  --reps N         timed repetitions per row; the median is reported (default 9)\n"
      "  --only PATTERN   only rows whose name contains PATTERN; comma-separated for several\n"
      "  --torch FILE     PyTorch reference results (JSON from bench/torch_reference.py)\n"
      "  --no-memory      skip the peak-memory measurements of the training-step rows\n"
      "  --conv ALGO      auto (default) or im2col: the convolution path (see cpu_backend.h)\n"
      "  --memory-of ROW  (internal) measure the peak memory of one row in this process\n"
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
    } else if (arg == "--memory-of") {
      o.memory_of = value();
    } else if (arg == "--no-memory") {
      o.skip_memory = true;
    } else if (arg == "--conv") {
      const std::string algo = value();
      DRIFT_CHECK(algo == "auto" || algo == "im2col", "--conv needs auto or im2col, got '" << algo << "'");
      o.im2col = algo == "im2col";
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
  if (o.im2col) set_cpu_conv_algorithm(CpuConvAlgorithm::Im2col);
  if (!o.memory_of.empty()) {
    for (const Workload& w : workloads())
      if (w.name == o.memory_of) {
        std::printf("%s\n", memory_json(w.name, measure_memory_here(w)).c_str());
        return 0;
      }
    DRIFT_FAIL("--memory-of: no row named '" << o.memory_of << "' (see --list)");
  }
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
  std::vector<std::pair<std::string, MemoryResult>> memory_rows;
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
    std::printf("%-24s %-34s %10.3f %9s", w.name.c_str(), w.shape.c_str(), t.median_ms,
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
    if (w.memory && !o.skip_memory) memory_rows.emplace_back(w.name, MemoryResult());
  }

  // Peak memory, each row in a fresh process (see measure_memory_here).
  if (!memory_rows.empty()) {
    std::printf("\npeak memory of one call over what was allocated before it (MB; method in "
                "BENCHMARKS.md)\n%-24s %12s %12s %14s", "workload", "drift RSS", "drift tensors",
                "system allocs");
    if (with_torch) std::printf(" %12s %12s", "torch RSS", "torch/drift");
    std::printf("\n");
    for (auto& [name, result] : memory_rows) {
      result = measure_memory_in_child(name, num_threads());
      if (!result.ok) {
        std::printf("%-24s (measurement failed)\n", name.c_str());
        continue;
      }
      std::printf("%-24s %12.1f %12.1f %14lld", name.c_str(), result.peak_rss_increase_mb,
                  result.tensor_peak_increase_mb,
                  static_cast<long long>(result.system_allocations_when_warm));
      auto found = ref.peak_rss_increase_mb.find(name);
      if (with_torch && found != ref.peak_rss_increase_mb.end())
        std::printf(" %12.1f %11.2fx", found->second,
                    found->second / std::max(result.peak_rss_increase_mb, 1e-9));
      std::printf("\n");
      json_lines.push_back(memory_json(name, result));
    }
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
