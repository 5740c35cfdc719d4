// picture_flags.cpp — see picture_flags.h.
#include "diffusion/tools/picture_flags.h"

#include "diffusion/tools/data.h"

namespace drift {
namespace diffusion {

std::string picture_path(const std::string& name, const std::string& data_dir) {
  return name == "mandrill" ? find_mandrill(DataSearch::defaults(data_dir)).path : name;
}

PictureFlags::PictureFlags(Cli& cli, const std::string& what, int64_t size, int64_t min_size,
                           const std::string& size_help)
    : cli_(cli),
      image_(cli.add_string("image", "", what + " (default: the mandrill, found via --data)")),
      size_(cli.add_int("size", size, size_help, min_size, 4096)) {}

std::string PictureFlags::path() const {
  return picture_path(image_.empty() ? "mandrill" : image_, cli_.data_dir());
}

}  // namespace diffusion
}  // namespace drift
