// device.h — where a tensor's memory lives: the CPU or one CUDA GPU.
#pragma once

#include <ostream>
#include <string>

namespace drift {

enum class DeviceType { CPU, CUDA };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;  // which GPU, for CUDA

  static Device cpu() { return {DeviceType::CPU, 0}; }
  static Device cuda(int index = 0) { return {DeviceType::CUDA, index}; }

  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  bool operator==(const Device& other) const {
    return type == other.type && (type == DeviceType::CPU || index == other.index);
  }
  bool operator!=(const Device& other) const { return !(*this == other); }

  std::string str() const;  // "cpu" or "cuda:0"

  // Parses "cpu", "cuda", "cuda:N" or "auto" (a GPU when one is usable and the CUDA backend
  // is complete, see cuda_backend_complete(); otherwise the CPU).
  // Asking for "cuda" on a machine without a usable GPU throws an Error that says why.
  static Device parse(const std::string& text);
};

std::ostream& operator<<(std::ostream& os, const Device& device);

// True when this build has the CUDA backend and the driver reports at least one GPU.
bool cuda_available();
// Whether the CUDA backend implements every op the chapters use. Not yet: it has memory,
// copies, random numbers, elementwise ops and the optimizer updates, but no matrix products,
// convolutions, normalisation, reductions or indexing (they throw "not implemented on cuda").
// Until it does, "auto" picks the CPU even on a machine with a GPU, so that every chapter
// runs there; "cuda" can still be asked for by name.
constexpr bool cuda_backend_complete() {
  return false;
}
// Why CUDA is not available (empty when it is): "built without CUDA", "no GPU found: ...".
std::string cuda_unavailable_reason();

}  // namespace drift
