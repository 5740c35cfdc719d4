#include "tensor/device.h"

#include "tensor/error.h"

namespace drift {

#ifdef DRIFT_WITH_CUDA
// Defined in tensor/cuda/memory.cu.
std::string cuda_probe();
#endif

std::string cuda_unavailable_reason() {
#ifdef DRIFT_WITH_CUDA
  static const std::string reason = cuda_probe();  // asks the driver once
  return reason;
#else
  return "this build has no CUDA backend (configured without nvcc, or with -DWITH_CUDA=OFF)";
#endif
}

bool cuda_available() {
  return cuda_unavailable_reason().empty();
}

std::string Device::str() const {
  return type == DeviceType::CPU ? "cpu" : "cuda:" + std::to_string(index);
}

std::ostream& operator<<(std::ostream& os, const Device& device) {
  return os << device.str();
}

Device Device::parse(const std::string& text) {
  if (text == "cpu") return cpu();
  if (text == "auto") return cuda_backend_complete() && cuda_available() ? cuda(0) : cpu();
  if (text == "cuda" || text.rfind("cuda:", 0) == 0) {
    int index = 0;
    if (text.size() > 5) {
      try {
        size_t used = 0;
        index = std::stoi(text.substr(5), &used);
        DRIFT_CHECK(used == text.size() - 5 && index >= 0, "");
      } catch (const std::exception&) {
        DRIFT_FAIL("device: cannot parse '" << text << "' (expected cpu, cuda, cuda:N or auto)");
      }
    }
    DRIFT_CHECK(cuda_available(), "device: '" << text
                                              << "' was asked for, but CUDA is not "
                                                 "available: "
                                              << cuda_unavailable_reason());
    return cuda(index);
  }
  DRIFT_FAIL("device: unknown device '" << text << "' (expected cpu, cuda, cuda:N or auto)");
}

}  // namespace drift
