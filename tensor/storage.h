// storage.h — a block of float memory on one device, shared by every tensor that views it.
#pragma once

#include <cstdint>
#include <memory>

#include "tensor/device.h"

namespace drift {

class Storage {
 public:
  Storage(int64_t numel, Device device);  // uninitialised memory from the device's allocator
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  float* data() { return data_; }
  const float* data() const { return data_; }
  int64_t numel() const { return numel_; }
  Device device() const { return device_; }

 private:
  float* data_ = nullptr;
  int64_t numel_ = 0;
  Device device_;
};

// Bytes of tensor storage currently allocated on a device, and the high-water mark since the
// last reset (what a training step costs in tensor memory).
struct MemoryStats {
  int64_t current_bytes = 0;
  int64_t peak_bytes = 0;
};
MemoryStats memory_stats(Device device);
void reset_peak_memory(Device device);

}  // namespace drift
