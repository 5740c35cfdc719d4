#include "tensor/storage.h"

#include <algorithm>
#include <atomic>

#include "tensor/backend.h"

namespace drift {
namespace {

struct Counters {
  std::atomic<int64_t> current{0};
  std::atomic<int64_t> peak{0};
};
Counters& counters(Device device) {
  static Counters cpu, cuda;
  return device.is_cpu() ? cpu : cuda;
}

}  // namespace

Storage::Storage(int64_t numel, Device device) : numel_(numel), device_(device) {
  size_t bytes = static_cast<size_t>(std::max<int64_t>(numel, 1)) * sizeof(float);
  data_ = static_cast<float*>(backend(device).allocate(bytes));
  Counters& c = counters(device);
  int64_t now = c.current += static_cast<int64_t>(bytes);
  int64_t peak = c.peak.load();
  while (now > peak && !c.peak.compare_exchange_weak(peak, now)) {
  }
}

Storage::~Storage() {
  size_t bytes = static_cast<size_t>(std::max<int64_t>(numel_, 1)) * sizeof(float);
  backend(device_).deallocate(data_, bytes);
  counters(device_).current -= static_cast<int64_t>(bytes);
}

MemoryStats memory_stats(Device device) {
  Counters& c = counters(device);
  return {c.current.load(), c.peak.load()};
}

void reset_peak_memory(Device device) {
  Counters& c = counters(device);
  c.peak = c.current.load();
}

}  // namespace drift
