#include "tensor/tensor.h"

#include <cmath>
#include <iomanip>
#include <sstream>

#include "tensor/backend.h"
#include "tensor/error.h"
#include "tensor/random.h"

namespace drift {

// ---- basic queries ---------------------------------------------------------------------

void Tensor::check_defined(const char* what) const {
  DRIFT_CHECK(impl_ != nullptr, what << ": the tensor is undefined (default-constructed, or a "
                                        "gradient that was never computed)");
}

Tensor Tensor::empty(const Shape& shape, Device device) {
  for (int64_t d : shape)
    DRIFT_CHECK(d >= 0, "empty: negative dimension in shape " << shape);
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(shape.numel(), device);
  impl->shape = shape;
  return Tensor(std::move(impl));
}

const Shape& Tensor::shape() const {
  check_defined("shape");
  return impl_->shape;
}

int64_t Tensor::size(int64_t dim) const { return shape()[normalize_dim(dim, ndim(), "size")]; }

Device Tensor::device() const {
  check_defined("device");
  return impl_->storage->device();
}

float* Tensor::data() {
  check_defined("data");
  return impl_->storage->data();
}
const float* Tensor::data() const {
  check_defined("data");
  return impl_->storage->data();
}

std::vector<float> Tensor::to_vector() const {
  check_defined("to_vector");
  std::vector<float> out(static_cast<size_t>(numel()));
  if (numel() > 0) backend(device()).copy_to_host(out.data(), data(), numel());
  return out;
}

float Tensor::item() const {
  check_defined("item");
  DRIFT_CHECK(numel() == 1, "item: expected a tensor with one element, got shape "
                                << shape() << " (" << numel() << " elements) on " << device());
  return to_vector()[0];
}

float Tensor::at(std::initializer_list<int64_t> index) const {
  check_defined("at");
  DRIFT_CHECK(static_cast<int64_t>(index.size()) == ndim(),
              "at: " << index.size() << " indices for a tensor of shape " << shape());
  int64_t offset = 0, dim = 0;
  for (int64_t i : index) {
    DRIFT_CHECK(i >= 0 && i < shape()[dim], "at: index " << i << " is out of range for dimension "
                                                          << dim << " of shape " << shape());
    offset = offset * shape()[dim] + i;
    ++dim;
  }
  float value = 0;
  backend(device()).copy_to_host(&value, data() + offset, 1);
  return value;
}

Tensor Tensor::to(Device target) const {
  check_defined("to");
  if (device() == target) return *this;
  Tensor out = Tensor::empty(shape(), target);
  if (numel() == 0) return out;
  if (device().is_cpu()) {
    backend(target).copy_from_host(out.data(), data(), numel());
  } else if (target.is_cpu()) {
    backend(device()).copy_to_host(out.data(), data(), numel());
  } else {  // GPU to another GPU: through the host, simple and rare
    std::vector<float> host = to_vector();
    backend(target).copy_from_host(out.data(), host.data(), numel());
  }
  return out;
}

Tensor Tensor::clone() const {
  check_defined("clone");
  Tensor out = Tensor::empty(shape(), device());
  if (numel() > 0) backend(device()).copy(out.data(), data(), numel());
  return out;
}

Tensor Tensor::detach() const {
  check_defined("detach");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = impl_->storage;
  impl->shape = impl_->shape;
  return Tensor(std::move(impl));
}

Tensor Tensor::view_as_shape(const Shape& new_shape) const {
  check_defined("view");
  DRIFT_CHECK(new_shape.numel() == numel(), "view: cannot view shape " << shape() << " ("
                                                << numel() << " elements) as " << new_shape);
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = impl_->storage;
  impl->shape = new_shape;
  return Tensor(std::move(impl));
}

Tensor& Tensor::fill_(float value) {
  check_defined("fill_");
  if (numel() > 0) backend(device()).fill(data(), numel(), value);
  return *this;
}

Tensor& Tensor::copy_(const Tensor& source) {
  check_defined("copy_");
  check_same_shape(*this, source, "copy_");
  if (numel() == 0) return *this;
  if (device() == source.device()) {
    backend(device()).copy(data(), source.data(), numel());
  } else {
    Tensor moved = source.to(device());
    backend(device()).copy(data(), moved.data(), numel());
  }
  return *this;
}

void Tensor::set_data(const Tensor& source) {
  check_defined("set_data");
  DRIFT_CHECK(source.defined(), "set_data: the source tensor is undefined");
  impl_->storage = source.impl_->storage;
  impl_->shape = source.impl_->shape;
  if (impl_->grad) impl_->grad.reset();  // a gradient on the old device no longer applies
}

// ---- autograd fields (the engine itself is in autograd/engine.cpp) -----------------------

bool Tensor::requires_grad() const { return impl_ && impl_->requires_grad; }

Tensor& Tensor::set_requires_grad(bool requires) {
  check_defined("set_requires_grad");
  DRIFT_CHECK(is_leaf(), "set_requires_grad: only leaf tensors (not made by an op) can change "
                         "requires_grad; use detach() first");
  impl_->requires_grad = requires;
  return *this;
}

bool Tensor::is_leaf() const { return !impl_ || impl_->grad_fn == nullptr; }

Tensor Tensor::grad() const {
  check_defined("grad");
  return Tensor(impl_->grad);
}

void Tensor::set_grad(const Tensor& grad) {
  check_defined("set_grad");
  if (grad.defined()) check_same_shape(*this, grad, "set_grad");
  impl_->grad = grad.impl_ptr();
}

void Tensor::zero_grad() {
  check_defined("zero_grad");
  impl_->grad.reset();
}

const std::shared_ptr<Node>& Tensor::grad_fn() const {
  check_defined("grad_fn");
  return impl_->grad_fn;
}

void Tensor::set_grad_fn(std::shared_ptr<Node> node) {
  check_defined("set_grad_fn");
  impl_->grad_fn = std::move(node);
}

// ---- creation ---------------------------------------------------------------------------

Tensor zeros(const Shape& shape, Device device) { return full(shape, 0.0f, device); }
Tensor ones(const Shape& shape, Device device) { return full(shape, 1.0f, device); }

Tensor full(const Shape& shape, float value, Device device) {
  Tensor t = Tensor::empty(shape, device);
  t.fill_(value);
  return t;
}

Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.device()); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), t.device()); }

Tensor arange(int64_t n, Device device) { return arange(0.0, static_cast<double>(n), 1.0, device); }

Tensor arange(double start, double end, double step, Device device) {
  DRIFT_CHECK(step != 0.0, "arange: step must be non-zero");
  double count = std::ceil((end - start) / step);
  DRIFT_CHECK(count >= 0, "arange: no values from " << start << " to " << end << " with step "
                                                    << step);
  std::vector<float> values(static_cast<size_t>(count));
  for (size_t i = 0; i < values.size(); ++i)
    values[i] = static_cast<float>(start + static_cast<double>(i) * step);
  return from_vector(values, device);
}

Tensor linspace(double start, double end, int64_t steps, Device device) {
  DRIFT_CHECK(steps >= 0, "linspace: steps must be >= 0, got " << steps);
  std::vector<float> values(static_cast<size_t>(steps));
  // Like torch.linspace: the first half counts up from start, the second half down from end,
  // so both endpoints are exact.
  double step = steps > 1 ? (end - start) / static_cast<double>(steps - 1) : 0.0;
  int64_t half = steps / 2;
  for (int64_t i = 0; i < steps; ++i)
    values[static_cast<size_t>(i)] =
        static_cast<float>(i < half ? start + step * static_cast<double>(i)
                                    : end - step * static_cast<double>(steps - 1 - i));
  return from_vector(values, device);
}

Tensor from_vector(const std::vector<float>& values, const Shape& shape, Device device) {
  DRIFT_CHECK(static_cast<int64_t>(values.size()) == shape.numel(),
              "from_vector: " << values.size() << " values do not fill shape " << shape << " ("
                              << shape.numel() << " elements)");
  Tensor t = Tensor::empty(shape, device);
  if (!values.empty()) backend(device).copy_from_host(t.data(), values.data(), shape.numel());
  return t;
}

Tensor from_vector(const std::vector<float>& values, Device device) {
  return from_vector(values, Shape{static_cast<int64_t>(values.size())}, device);
}

Tensor scalar_tensor(float value, Device device) { return full(Shape{}, value, device); }

Tensor rand(const Shape& shape, Device device, Generator* gen) {
  Generator& g = gen ? *gen : default_generator();
  Tensor t = Tensor::empty(shape, device);
  if (t.numel() > 0)
    backend(device).random_uniform(t.data(), t.numel(), g.seed(), g.reserve(t.numel()), 0.0f,
                                   1.0f);
  return t;
}

Tensor randn(const Shape& shape, Device device, Generator* gen) {
  Generator& g = gen ? *gen : default_generator();
  Tensor t = Tensor::empty(shape, device);
  if (t.numel() > 0)
    backend(device).random_normal(t.data(), t.numel(), g.seed(), g.reserve(t.numel()), 0.0f,
                                  1.0f);
  return t;
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, Device device, Generator* gen) {
  DRIFT_CHECK(high > low, "randint: empty range [" << low << ", " << high << ")");
  DRIFT_CHECK(high - low <= (int64_t(1) << 24),
              "randint: range [" << low << ", " << high << ") is wider than 2^24, which float32 "
                                 "indices cannot represent exactly");
  // floor(low + u * (high - low)) with u uniform in [0, 1) on 24 bits: exact in float32.
  Tensor u = rand(shape, Device::cpu(), gen);
  std::vector<float> values = u.to_vector();
  for (float& v : values)
    v = static_cast<float>(low + static_cast<int64_t>(static_cast<double>(v) *
                                                      static_cast<double>(high - low)));
  return from_vector(values, shape, device);
}

// ---- printing ---------------------------------------------------------------------------

namespace {

void print_values(std::ostream& os, const std::vector<float>& v, const Shape& shape, int64_t dim,
                  int64_t offset, int indent) {
  const int64_t kEdge = 3;  // values shown at each end of a long dimension
  int64_t n = shape[dim];
  int64_t stride = 1;
  for (int64_t d = dim + 1; d < shape.ndim(); ++d) stride *= shape[d];
  os << '[';
  for (int64_t i = 0; i < n; ++i) {
    if (n > 2 * kEdge && i == kEdge) {
      os << (dim + 1 == shape.ndim() ? "..., " : "...,\n" + std::string(indent + 1, ' '));
      i = n - kEdge;
    }
    if (dim + 1 == shape.ndim()) {
      os << std::setw(9) << std::setprecision(4) << v[static_cast<size_t>(offset + i)];
    } else {
      print_values(os, v, shape, dim + 1, offset + i * stride, indent + 1);
    }
    if (i + 1 < n) os << (dim + 1 == shape.ndim() ? ", " : ",\n" + std::string(indent + 1, ' '));
  }
  os << ']';
}

}  // namespace

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  if (!t.defined()) return os << "tensor(undefined)";
  std::vector<float> values = t.to_vector();
  os << "tensor(";
  if (t.ndim() == 0) {
    os << values[0];
  } else if (t.numel() == 0) {
    os << "[]";
  } else {
    print_values(os, values, t.shape(), 0, 0, 7);
  }
  os << ", shape=" << t.shape() << ", device=" << t.device();
  if (t.requires_grad()) os << ", requires_grad=true";
  return os << ')';
}

std::string to_string(const Tensor& t) {
  std::ostringstream os;
  os << t;
  return os.str();
}

std::string describe(const Tensor& t) {
  if (!t.defined()) return "undefined tensor";
  return t.shape().str() + " on " + t.device().str();
}

void check_same_device(const Tensor& a, const Tensor& b, const char* op) {
  DRIFT_CHECK(a.defined() && b.defined(), op << ": an operand is undefined");
  DRIFT_CHECK(a.device() == b.device(), op << ": operands are on different devices ("
                                           << describe(a) << " and " << describe(b) << ")");
}

void check_same_shape(const Tensor& a, const Tensor& b, const char* op) {
  DRIFT_CHECK(a.defined() && b.defined(), op << ": an operand is undefined");
  DRIFT_CHECK(a.shape() == b.shape(),
              op << ": shapes differ (" << describe(a) << " and " << describe(b) << ")");
}

void check_index_tensor(const Tensor& index, const Tensor& x, int64_t dim, const char* op) {
  DRIFT_CHECK(index.defined(), op << ": the index tensor is undefined");
  check_same_device(x, index, op);
  const int64_t limit = x.shape()[dim];
  for (float value : index.to_vector()) {
    DRIFT_CHECK(std::floor(value) == value && value >= 0 && value < static_cast<float>(limit),
                op << ": index " << value << " is out of range for dimension " << dim
                   << " (size " << limit << ") of " << describe(x));
  }
}

}  // namespace drift
