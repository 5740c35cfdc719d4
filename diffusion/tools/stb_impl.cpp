// stb_impl.cpp — the one translation unit that compiles stb_image and stb_image_write
// (Debian's libstb-dev ships them as single-header libraries: the implementation is switched
// on by a macro in exactly one .cpp). image.cpp and data.cpp include the headers for the
// declarations only. stb is third-party C code, so its own warnings are silenced here and
// nowhere else.
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#endif

#define STB_IMAGE_IMPLEMENTATION
// Only the formats the project reads (pictures, the GIF test's decoder): less code that a
// hostile file can reach.
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_GIF
#define STBI_FAILURE_USERMSG  // stbi_failure_reason() says "Corrupt JPEG" rather than "huff"
#include <stb/stb_image.h>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#include "diffusion/tools/stb_util.h"

namespace drift {
namespace diffusion {

void stb_clear_failure_reason() {
  stbi__g_failure_reason = nullptr;
}

const char* stb_failure_reason_or(const char* fallback) {
  const char* reason = stbi_failure_reason();
  return reason ? reason : fallback;
}

}  // namespace diffusion
}  // namespace drift
