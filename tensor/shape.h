// shape.h — tensor shapes and the index arithmetic every kernel shares.
//
// Tensors are row-major and contiguous: the last dimension varies fastest, so element
// (i0, i1, ..., ik) of a tensor with shape (n0, ..., nk) sits at offset
//   i0*s0 + i1*s1 + ... + ik*sk   with strides   sk = 1,  s(j) = s(j+1) * n(j+1).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>
#include <vector>

namespace drift {

class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims) : dims_(dims) {}
  explicit Shape(std::vector<int64_t> dims) : dims_(std::move(dims)) {}

  int64_t ndim() const { return static_cast<int64_t>(dims_.size()); }
  int64_t operator[](int64_t i) const { return dims_[static_cast<size_t>(i)]; }
  int64_t& operator[](int64_t i) { return dims_[static_cast<size_t>(i)]; }
  int64_t numel() const;  // product of the dimensions (1 for a scalar)
  const std::vector<int64_t>& dims() const { return dims_; }
  std::vector<int64_t>::const_iterator begin() const { return dims_.begin(); }
  std::vector<int64_t>::const_iterator end() const { return dims_.end(); }
  void push_back(int64_t n) { dims_.push_back(n); }

  bool operator==(const Shape& other) const { return dims_ == other.dims_; }
  bool operator!=(const Shape& other) const { return dims_ != other.dims_; }
  std::string str() const;  // "[2, 3, 4]"

 private:
  std::vector<int64_t> dims_;
};

std::ostream& operator<<(std::ostream& os, const Shape& shape);

// Row-major strides of a contiguous tensor of this shape.
std::vector<int64_t> contiguous_strides(const Shape& shape);

// Turns a possibly negative dimension (-1 = last) into 0..ndim-1, or throws naming `op`.
int64_t normalize_dim(int64_t dim, int64_t ndim, const char* op);

// The broadcast shape of two operands (NumPy rules: align from the right; each pair of sizes
// must be equal or one of them 1). Throws naming `op` and both shapes when impossible.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

// How a binary elementwise kernel walks two broadcast operands. The output has shape
// `shape` (at most kMaxDims dimensions after merging); operand a's element for output index
// (i0..ik) sits at sum(i_j * stride_a[j]), a stride of 0 meaning "repeat along this dim".
// Neighbouring dimensions that are contiguous in both operands are merged, so the common
// cases collapse to one or two dimensions (same shape -> 1-D; bias over channels -> 3-D).
struct BroadcastPlan {
  static constexpr int kMaxDims = 8;
  int ndim = 0;
  int64_t numel = 0;
  int64_t shape[kMaxDims] = {};
  int64_t stride_a[kMaxDims] = {};
  int64_t stride_b[kMaxDims] = {};
};
BroadcastPlan make_broadcast_plan(const Shape& a, const Shape& b, const char* op);

// Ops along one dimension (sum, max, softmax, cat, index_select, ...) see a tensor as a
// 3-D block [outer, n, inner]: `outer` = product of the sizes before `dim`, `n` = size of
// `dim`, `inner` = product of the sizes after it. Element (o, i, j) is at (o*n + i)*inner + j.
struct DimView {
  int64_t outer = 1, n = 1, inner = 1;
};
DimView dim_view(const Shape& shape, int64_t dim);

}  // namespace drift
