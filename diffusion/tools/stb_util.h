// stb_util.h — what image.cpp and data.cpp need around stb's error reporting.
//
// stb_image keeps the reason for its last failure in a thread-local string and never clears
// it, and some failures (a reserved deflate block type) return without setting one. So every
// call that can fail starts with stb_clear_failure_reason(), and messages use
// stb_failure_reason_or(), which gives a fallback instead of a stale or null reason.
#pragma once

namespace drift {
namespace diffusion {

void stb_clear_failure_reason();
const char* stb_failure_reason_or(const char* fallback);

}  // namespace diffusion
}  // namespace drift
