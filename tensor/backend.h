// backend.h — the backend seam.
//
// Autograd and nn code never loop over memory. Every loop over tensor data is a *kernel*,
// a method of a Backend, and each device has one Backend object:
//
//     tensor/cpu/*.cpp    the CPU kernels   (CpuBackend, cpu/cpu_backend.h)
//     tensor/cuda/*.cu    the CUDA kernels  (CudaBackend, cuda/cuda_backend.h)
//
// with matching file names, so the two versions of a kernel can be read side by side
// (cpu/elementwise.cpp <-> cuda/elementwise.cu). `backend(device)` picks the object.
//
// Kernels take raw float pointers into contiguous row-major memory on the backend's own
// device plus the sizes they need; they never allocate tensors and never check user input
// (the caller in tensor/ or autograd/ has already checked shapes and devices).
// Names: the gradient arriving at an op is `gy` (dL/dy); the ones it returns are `gx`, `gw`, ...
// A kernel a backend does not have yet throws Error("<kernel>: not implemented on <device>").
#pragma once

#include <cstddef>
#include <cstdint>

#include "tensor/device.h"
#include "tensor/elementwise_ops.h"
#include "tensor/shape.h"

namespace drift {

// Elementwise functions of one input, y = f(x), and of two inputs with broadcasting,
// out = f(a, b). Both enums are generated from the one list of ops in
// tensor/elementwise_ops.h (which says how to add an op); `p0`, `p1` carry a unary op's
// scalar argument where it has one (the exponent of Pow, the bounds of Clamp, ...).
#define DRIFT_ENUM_ENTRY(Name, ...) Name,
enum class UnaryOp { DRIFT_UNARY_OPS(DRIFT_ENUM_ENTRY) };
enum class BinaryOp { DRIFT_BINARY_OPS(DRIFT_ENUM_ENTRY) };
#undef DRIFT_ENUM_ENTRY

// Every op of a family, in list order: tests walk these so that a new op is tested too.
#define DRIFT_ENUM_VALUE(Name, ...) UnaryOp::Name,
inline constexpr UnaryOp kAllUnaryOps[] = {DRIFT_UNARY_OPS(DRIFT_ENUM_VALUE)};
#undef DRIFT_ENUM_VALUE
#define DRIFT_ENUM_VALUE(Name, ...) BinaryOp::Name,
inline constexpr BinaryOp kAllBinaryOps[] = {DRIFT_BINARY_OPS(DRIFT_ENUM_VALUE)};
#undef DRIFT_ENUM_VALUE

const char* unary_op_name(UnaryOp op);    // "neg", "exp", ..., "add_scalar"
const char* binary_op_name(BinaryOp op);  // "add", "sub", "mul", "div"

// True when the op's derivative is computed from its output y rather than its input x
// (the third column of DRIFT_UNARY_OPS): backward must then keep y.
bool derivative_uses_output(UnaryOp op);

// Geometry of a 2-D convolution on NCHW tensors: input [N, C_in, H, W], weight
// [C_out, C_in/groups, KH, KW], output [N, C_out, OH, OW] with
// OH = (H + 2*pad_h - KH) / stride_h + 1 (and the same for OW).
struct Conv2dGeometry {
  int64_t batch = 1, in_channels = 1, out_channels = 1;
  int64_t in_h = 1, in_w = 1, out_h = 1, out_w = 1;
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  int64_t groups = 1;
};

// Geometry of 2-D pooling (max or average) on NCHW tensors.
struct Pool2dGeometry {
  int64_t batch = 1, channels = 1, in_h = 1, in_w = 1, out_h = 1, out_w = 1;
  int64_t kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
};

// The scalars of one Adam/AdamW step and of one SGD step: made on the host by
// adam_scalars() / sgd_scalars() in tensor/optim_math.h, which documents every field.
struct AdamScalars {
  float beta1 = 0.9f, one_minus_beta1 = 0.1f, beta2 = 0.999f, one_minus_beta2 = 0.001f;
  float step_size = 0.0f;              // lr / (1 - beta1^step)
  float bias_correction2_sqrt = 1.0f;  // sqrt(1 - beta2^step)
  float eps = 1e-8f;
  float l2_weight_decay = 0.0f;         // Adam's coupled decay: g += l2_weight_decay * p
  float decoupled_decay_factor = 1.0f;  // AdamW's decay: p *= 1 - lr * weight_decay
};
struct SgdScalars {
  float lr = 0.0f, momentum = 0.0f, one_minus_dampening = 1.0f, weight_decay = 0.0f;
  bool nesterov = false;
  bool first_step = true;  // the momentum buffer is empty: buf = d instead of the running sum
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;

  // ---- memory -------------------------------------------------------------------------
  virtual void* allocate(size_t bytes) = 0;
  virtual void deallocate(void* ptr, size_t bytes) = 0;
  virtual void copy_from_host(float* dst, const float* host_src, int64_t n) = 0;
  virtual void copy_to_host(float* host_dst, const float* src, int64_t n) = 0;
  virtual void copy(float* dst, const float* src, int64_t n) = 0;  // both on this device
  virtual void fill(float* dst, int64_t n, float value) = 0;
  virtual void synchronize() {}

  // ---- random numbers (Philox4x32-10, see tensor/philox.h) ---------------------------
  // Element i draws from counter (offset + i/4, lane i%4) of the stream keyed by `seed`,
  // so CPU and CUDA produce the same numbers for the same (seed, offset).
  virtual void random_uniform(float* dst, int64_t n, uint64_t seed, uint64_t offset, float low,
                              float high);
  virtual void random_normal(float* dst, int64_t n, uint64_t seed, uint64_t offset, float mean,
                             float stddev);

  // ---- elementwise ---------------------------------------------------------------------
  virtual void unary(UnaryOp op, const float* x, float* y, int64_t n, float p0, float p1);
  // gx = gy * f'(x); kernels may use the saved output y where that is cheaper (exp, tanh).
  virtual void unary_backward(UnaryOp op, const float* x, const float* y, const float* gy,
                              float* gx, int64_t n, float p0, float p1);
  virtual void binary(BinaryOp op, const float* a, const float* b, float* out,
                      const BroadcastPlan& plan);
  // out = alpha * a + beta * b (same shape); the workhorse of gradient accumulation.
  virtual void axpby(float alpha, const float* a, float beta, const float* b, float* out,
                     int64_t n);

  // ---- reductions over the middle axis of [outer, n, inner] (see DimView) -------------
  virtual void sum_dim(const float* x, float* out, const DimView& v);  // out [outer, inner]
  // out = max, argmax = index of the (first) max as a float, both [outer, inner].
  virtual void max_dim(const float* x, float* out, float* argmax, const DimView& v);
  // Softmax (or log-softmax) along the middle axis; backward gives gx from y and gy.
  virtual void softmax(const float* x, float* y, const DimView& v, bool log);
  virtual void softmax_backward(const float* y, const float* gy, float* gx, const DimView& v,
                                bool log);

  // ---- layout -------------------------------------------------------------------------
  // out = x with its dimensions reordered: out dim i is x dim perm[i].
  virtual void permute(const float* x, float* out, const Shape& x_shape,
                       const std::vector<int64_t>& perm);
  // Copy the slab [outer, len, inner] starting at src_start of a [outer, src_n, inner]
  // tensor into dst_start of a [outer, dst_n, inner] tensor (slice, cat and their backward).
  virtual void copy_slab(const float* src, int64_t src_n, int64_t src_start, float* dst,
                         int64_t dst_n, int64_t dst_start, int64_t outer, int64_t len,
                         int64_t inner);

  // ---- indexing (indices are float32 holding whole numbers, checked by the caller) ----
  // out[o, j, i] = x[o, index[j], i]; x is [outer, n, inner], out [outer, k, inner].
  virtual void index_select(const float* x, const float* index, int64_t k, float* out,
                            const DimView& v);
  // gx[o, index[j], i] += gy[o, j, i] (gx is not zeroed here).
  virtual void index_add(const float* gy, const float* index, int64_t k, float* gx,
                         const DimView& v);
  // out[o, j, i] = x[o, index[o, j, i], i]; index and out are [outer, k, inner].
  virtual void gather(const float* x, const float* index, int64_t k, float* out,
                      const DimView& v);
  // gx[o, index[o, j, i], i] += gy[o, j, i] (gx is not zeroed here).
  virtual void scatter_add(const float* gy, const float* index, int64_t k, float* gx,
                           const DimView& v);

  // ---- matrix multiply ---------------------------------------------------------------
  // C = alpha * op(A) op(B) + beta * C for `batch` independent row-major products,
  // op(A) is M x K, op(B) is K x N, C is M x N; op(X) = X^T when trans_X.
  // Matrix b of the batch starts at A + b*stride_a (likewise B, C); a stride of 0 reuses
  // the same matrix for every b.
  virtual void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                    const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                    float* C, int64_t ldc, int64_t batch = 1, int64_t stride_a = 0,
                    int64_t stride_b = 0, int64_t stride_c = 0);

  // ---- convolution (NCHW) ------------------------------------------------------------
  virtual void conv2d_forward(const float* x, const float* w, const float* bias, float* y,
                              const Conv2dGeometry& g);
  // gx = dL/dx (overwritten) given gy = dL/dy.
  virtual void conv2d_backward_input(const float* gy, const float* w, float* gx,
                                     const Conv2dGeometry& g);
  // gw = dL/dw and gbias = dL/dbias (both overwritten; gbias may be null).
  virtual void conv2d_backward_weight(const float* x, const float* gy, float* gw, float* gbias,
                                      const Conv2dGeometry& g);

  // ---- normalisation -----------------------------------------------------------------
  // Group normalisation of x [N, C, HW] in `groups` groups of C/groups channels:
  // y = (x - mean) / sqrt(var + eps) * gamma[c] + beta[c]; saves mean and rstd [N, groups].
  // gamma/beta may be null (no affine). LayerNorm is groups = 1 over a [rows, 1, cols] view.
  virtual void group_norm_forward(const float* x, const float* gamma, const float* beta,
                                  float* y, float* mean, float* rstd, int64_t N, int64_t C,
                                  int64_t HW, int64_t groups, float eps);
  virtual void group_norm_backward(const float* x, const float* gy, const float* gamma,
                                   const float* mean, const float* rstd, float* gx,
                                   float* ggamma, float* gbeta, int64_t N, int64_t C,
                                   int64_t HW, int64_t groups);
  // The same fused with SiLU: y = silu(z), z the group-normalised value above. Backward
  // recomputes z from x, mean and rstd (nothing but x and the statistics is saved).
  virtual void group_norm_silu_forward(const float* x, const float* gamma, const float* beta,
                                       float* y, float* mean, float* rstd, int64_t N,
                                       int64_t C, int64_t HW, int64_t groups, float eps);
  virtual void group_norm_silu_backward(const float* x, const float* gy, const float* gamma,
                                        const float* beta, const float* mean,
                                        const float* rstd, float* gx, float* ggamma,
                                        float* gbeta, int64_t N, int64_t C, int64_t HW,
                                        int64_t groups);

  // ---- pooling and resampling (NCHW) -------------------------------------------------
  virtual void max_pool2d_forward(const float* x, float* y, float* argmax,
                                  const Pool2dGeometry& g);
  virtual void max_pool2d_backward(const float* gy, const float* argmax, float* gx,
                                   const Pool2dGeometry& g);
  virtual void avg_pool2d_forward(const float* x, float* y, const Pool2dGeometry& g);
  virtual void avg_pool2d_backward(const float* gy, float* gx, const Pool2dGeometry& g);
  // Nearest-neighbour upsampling of [N*C, H, W] by integer `scale`.
  virtual void upsample_nearest_forward(const float* x, float* y, int64_t planes, int64_t H,
                                        int64_t W, int64_t scale);
  virtual void upsample_nearest_backward(const float* gy, float* gx, int64_t planes, int64_t H,
                                         int64_t W, int64_t scale);

  // ---- optimizers --------------------------------------------------------------------
  // One fused pass over n parameters. The per-element formulas live in tensor/optim_math.h
  // (shared by both devices); the scalars of the step are computed once on the host from the
  // hyper-parameters and the step count (AdamScalars / SgdScalars, also in optim_math.h).
  // Adam/AdamW: updates param, exp_avg (m) and exp_avg_sq (v) in place.
  virtual void adam_step(float* param, const float* grad, float* exp_avg, float* exp_avg_sq,
                         int64_t n, const AdamScalars& scalars);
  // SGD with momentum: updates param and momentum_buffer (null when momentum is 0) in place.
  virtual void sgd_step(float* param, const float* grad, float* momentum_buffer, int64_t n,
                        const SgdScalars& scalars);
  // sum_i x_i^2, accumulated in double, returned to the host (gradient-norm clipping).
  // Deterministic: the same input gives the same bits on every call.
  virtual double sum_of_squares(const float* x, int64_t n);

 protected:
  [[noreturn]] void missing(const char* kernel) const;
};

// The backend of a device. Throws when the device is CUDA and CUDA is not available.
Backend& backend(Device device);

}  // namespace drift
