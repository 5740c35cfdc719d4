// grad_mode.h — switching gradient recording off, like `with torch.no_grad():`.
//
//   {
//     drift::NoGradGuard no_grad;   // nothing in this scope is recorded
//     sample = model.forward(x);    // inference: no graph, no saved activations
//   }
//
// Recording is per thread. The engine itself runs backward closures under a NoGradGuard, so
// the tensor ops they use build no graph.
#pragma once

namespace drift {

bool is_grad_enabled();
void set_grad_enabled(bool enabled);

class NoGradGuard {
 public:
  NoGradGuard() : previous_(is_grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace drift
