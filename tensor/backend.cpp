#include "tensor/backend.h"

#include "tensor/cpu/cpu_backend.h"
#include "tensor/error.h"
#ifdef DRIFT_WITH_CUDA
#include "tensor/cuda/cuda_backend.h"
#endif

namespace drift {

// The names and the Input/Output column come straight from the list in elementwise_ops.h.
const char* unary_op_name(UnaryOp op) {
  switch (op) {
#define DRIFT_NAME_CASE(Name, name, ...) \
  case UnaryOp::Name: return name;
    DRIFT_UNARY_OPS(DRIFT_NAME_CASE)
#undef DRIFT_NAME_CASE
  }
  return "?";
}

const char* binary_op_name(BinaryOp op) {
  switch (op) {
#define DRIFT_NAME_CASE(Name, name) \
  case BinaryOp::Name: return name;
    DRIFT_BINARY_OPS(DRIFT_NAME_CASE)
#undef DRIFT_NAME_CASE
  }
  return "?";
}

bool derivative_uses_output(UnaryOp op) {
  constexpr bool Input = false, Output = true;
  switch (op) {
#define DRIFT_READS_CASE(Name, name, reads) \
  case UnaryOp::Name: return reads;
    DRIFT_UNARY_OPS(DRIFT_READS_CASE)
#undef DRIFT_READS_CASE
  }
  return false;
}

void Backend::missing(const char* kernel) const {
  DRIFT_FAIL(kernel << ": not implemented on " << device() << " yet");
}

// Every kernel defaults to "not implemented"; each backend overrides what it has.
void Backend::random_uniform(float*, int64_t, uint64_t, uint64_t, float, float) {
  missing("random_uniform");
}
void Backend::random_normal(float*, int64_t, uint64_t, uint64_t, float, float) {
  missing("random_normal");
}
void Backend::unary(UnaryOp op, const float*, float*, int64_t, float, float) {
  missing(unary_op_name(op));
}
void Backend::unary_backward(UnaryOp op, const float*, const float*, const float*, float*,
                             int64_t, float, float) {
  missing(unary_op_name(op));
}
void Backend::binary(BinaryOp op, const float*, const float*, float*, const BroadcastPlan&) {
  missing(binary_op_name(op));
}
void Backend::axpby(float, const float*, float, const float*, float*, int64_t) {
  missing("axpby");
}
void Backend::sum_dim(const float*, float*, const DimView&) { missing("sum_dim"); }
void Backend::max_dim(const float*, float*, float*, const DimView&) { missing("max_dim"); }
void Backend::softmax(const float*, float*, const DimView&, bool) { missing("softmax"); }
void Backend::softmax_backward(const float*, const float*, float*, const DimView&, bool) {
  missing("softmax_backward");
}
void Backend::permute(const float*, float*, const Shape&, const std::vector<int64_t>&) {
  missing("permute");
}
void Backend::copy_slab(const float*, int64_t, int64_t, float*, int64_t, int64_t, int64_t,
                        int64_t, int64_t) {
  missing("copy_slab");
}
void Backend::index_select(const float*, const float*, int64_t, float*, const DimView&) {
  missing("index_select");
}
void Backend::index_add(const float*, const float*, int64_t, float*, const DimView&) {
  missing("index_add");
}
void Backend::gather(const float*, const float*, int64_t, float*, const DimView&) {
  missing("gather");
}
void Backend::scatter_add(const float*, const float*, int64_t, float*, const DimView&) {
  missing("scatter_add");
}
void Backend::gemm(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                   const float*, int64_t, float, float*, int64_t, int64_t, int64_t, int64_t,
                   int64_t) {
  missing("gemm");
}
void Backend::conv2d_forward(const float*, const float*, const float*, float*,
                             const Conv2dGeometry&) {
  missing("conv2d_forward");
}
void Backend::conv2d_backward_input(const float*, const float*, float*, const Conv2dGeometry&) {
  missing("conv2d_backward_input");
}
void Backend::conv2d_backward_weight(const float*, const float*, float*, float*,
                                     const Conv2dGeometry&) {
  missing("conv2d_backward_weight");
}
void Backend::group_norm_forward(const float*, const float*, const float*, float*, float*,
                                 float*, int64_t, int64_t, int64_t, int64_t, float) {
  missing("group_norm_forward");
}
void Backend::group_norm_backward(const float*, const float*, const float*, const float*,
                                  const float*, float*, float*, float*, int64_t, int64_t,
                                  int64_t, int64_t) {
  missing("group_norm_backward");
}
void Backend::group_norm_silu_forward(const float*, const float*, const float*, float*, float*,
                                      float*, int64_t, int64_t, int64_t, int64_t, float) {
  missing("group_norm_silu_forward");
}
void Backend::group_norm_silu_backward(const float*, const float*, const float*, const float*,
                                       const float*, const float*, float*, float*, float*,
                                       int64_t, int64_t, int64_t, int64_t) {
  missing("group_norm_silu_backward");
}
void Backend::max_pool2d_forward(const float*, float*, float*, const Pool2dGeometry&) {
  missing("max_pool2d_forward");
}
void Backend::max_pool2d_backward(const float*, const float*, float*, const Pool2dGeometry&) {
  missing("max_pool2d_backward");
}
void Backend::avg_pool2d_forward(const float*, float*, const Pool2dGeometry&) {
  missing("avg_pool2d_forward");
}
void Backend::avg_pool2d_backward(const float*, float*, const Pool2dGeometry&) {
  missing("avg_pool2d_backward");
}
void Backend::upsample_nearest_forward(const float*, float*, int64_t, int64_t, int64_t,
                                       int64_t) {
  missing("upsample_nearest_forward");
}
void Backend::upsample_nearest_backward(const float*, float*, int64_t, int64_t, int64_t,
                                        int64_t) {
  missing("upsample_nearest_backward");
}
void Backend::adam_step(float*, const float*, float*, float*, int64_t, const AdamScalars&) {
  missing("adam_step");
}
void Backend::sgd_step(float*, const float*, float*, int64_t, const SgdScalars&) {
  missing("sgd_step");
}
double Backend::sum_of_squares(const float*, int64_t) { missing("sum_of_squares"); }

Backend& backend(Device device) {
  if (device.is_cpu()) return cpu_backend();
#ifdef DRIFT_WITH_CUDA
  DRIFT_CHECK(cuda_available(), "device " << device << ": CUDA is not available: "
                                          << cuda_unavailable_reason());
  return cuda_backend(device.index);
#else
  DRIFT_FAIL("device " << device << ": " << cuda_unavailable_reason());
#endif
}

}  // namespace drift
