#include "tensor/shape.h"

#include <sstream>

#include "tensor/error.h"

namespace drift {

int64_t Shape::numel() const {
  int64_t n = 1;
  for (int64_t d : dims_) n *= d;
  return n;
}

std::string Shape::str() const {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < dims_.size(); ++i) os << (i ? ", " : "") << dims_[i];
  os << ']';
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Shape& shape) { return os << shape.str(); }

std::vector<int64_t> contiguous_strides(const Shape& shape) {
  std::vector<int64_t> strides(static_cast<size_t>(shape.ndim()), 1);
  for (int64_t i = shape.ndim() - 2; i >= 0; --i)
    strides[static_cast<size_t>(i)] = strides[static_cast<size_t>(i + 1)] * shape[i + 1];
  return strides;
}

int64_t normalize_dim(int64_t dim, int64_t ndim, const char* op) {
  int64_t d = dim < 0 ? dim + ndim : dim;
  DRIFT_CHECK(d >= 0 && d < ndim, op << ": dimension " << dim << " is out of range for a "
                                     << ndim << "-D tensor");
  return d;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  int64_t nd = std::max(a.ndim(), b.ndim());
  std::vector<int64_t> out(static_cast<size_t>(nd));
  for (int64_t i = 0; i < nd; ++i) {
    // Align from the right: a missing leading dimension behaves like size 1.
    int64_t da = i - (nd - a.ndim()) >= 0 ? a[i - (nd - a.ndim())] : 1;
    int64_t db = i - (nd - b.ndim()) >= 0 ? b[i - (nd - b.ndim())] : 1;
    DRIFT_CHECK(da == db || da == 1 || db == 1,
                op << ": shapes " << a << " and " << b << " cannot be broadcast together");
    out[static_cast<size_t>(i)] = da == 1 ? db : da;
  }
  return Shape(out);
}

BroadcastPlan make_broadcast_plan(const Shape& a, const Shape& b, const char* op) {
  Shape out = broadcast_shapes(a, b, op);
  int64_t nd = out.ndim();
  // Strides of each operand in the output's index space (0 where it is broadcast).
  std::vector<int64_t> sa(static_cast<size_t>(nd), 0), sb(static_cast<size_t>(nd), 0);
  int64_t run_a = 1, run_b = 1;
  for (int64_t i = nd - 1; i >= 0; --i) {
    int64_t ia = i - (nd - a.ndim()), ib = i - (nd - b.ndim());
    int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    sa[static_cast<size_t>(i)] = da == 1 ? 0 : run_a;
    sb[static_cast<size_t>(i)] = db == 1 ? 0 : run_b;
    run_a *= da;
    run_b *= db;
  }
  // Merge dimension i into i+1 when both operands step through them as one contiguous run.
  std::vector<int64_t> shape, stride_a, stride_b;
  for (int64_t i = 0; i < nd; ++i) {
    int64_t n = out[i];
    if (n == 1) continue;  // size-1 dims contribute nothing to the walk
    if (!shape.empty()) {
      int64_t inner = shape.back();
      bool merge_a = stride_a.back() == sa[static_cast<size_t>(i)] * n;
      bool merge_b = stride_b.back() == sb[static_cast<size_t>(i)] * n;
      if (merge_a && merge_b) {
        shape.back() = inner * n;
        stride_a.back() = sa[static_cast<size_t>(i)];
        stride_b.back() = sb[static_cast<size_t>(i)];
        continue;
      }
    }
    shape.push_back(n);
    stride_a.push_back(sa[static_cast<size_t>(i)]);
    stride_b.push_back(sb[static_cast<size_t>(i)]);
  }
  BroadcastPlan plan;
  plan.numel = out.numel();
  if (shape.empty()) {  // a scalar, or all dims of size 1
    shape.push_back(1);
    stride_a.push_back(0);
    stride_b.push_back(0);
  }
  DRIFT_CHECK(shape.size() <= static_cast<size_t>(BroadcastPlan::kMaxDims),
              op << ": broadcasting " << a << " with " << b << " needs more than "
                 << BroadcastPlan::kMaxDims << " dimensions");
  plan.ndim = static_cast<int>(shape.size());
  for (int i = 0; i < plan.ndim; ++i) {
    plan.shape[i] = shape[static_cast<size_t>(i)];
    plan.stride_a[i] = stride_a[static_cast<size_t>(i)];
    plan.stride_b[i] = stride_b[static_cast<size_t>(i)];
  }
  return plan;
}

DimView dim_view(const Shape& shape, int64_t dim) {
  DimView v;
  for (int64_t i = 0; i < dim; ++i) v.outer *= shape[i];
  v.n = shape[dim];
  for (int64_t i = dim + 1; i < shape.ndim(); ++i) v.inner *= shape[i];
  return v;
}

}  // namespace drift
