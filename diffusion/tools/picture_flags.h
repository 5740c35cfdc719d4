// picture_flags.h — the one picture a chapter works on, as two flags written once for every
// chapter: --image FILE (default: the mandrill, found through --data) and --size N.
//
//   PictureFlags picture(cli, "picture to noise", 512);
//   cli.parse(argc, argv);
//   const std::string path = picture.path();                      // --image, or the mandrill
//   Tensor x0 = load_picture(path, picture.size(), 3, device);    // [1, 3, N, N] in [-1, 1]
#pragma once

#include <cstdint>
#include <string>

#include "diffusion/tools/cli.h"

namespace drift {
namespace diffusion {

// A picture named on the command line: "mandrill" (found through `data_dir`, as --data
// does), or the path of a file, returned as it is.
std::string picture_path(const std::string& name, const std::string& data_dir);

class PictureFlags {
 public:
  // `what` starts the help of --image ("picture to noise"); `size_help` is the help of
  // --size (by default "the picture is resized to SIZE x SIZE pixels").
  PictureFlags(Cli& cli, const std::string& what, int64_t size, int64_t min_size = 4,
               const std::string& size_help = "the picture is resized to SIZE x SIZE pixels");
  // After cli.parse(): --image as given, else the mandrill found through --data (throws
  // listing every folder it tried when there is none).
  std::string path() const;
  int64_t size() const { return size_; }

 private:
  const Cli& cli_;
  std::string& image_;
  int64_t& size_;
};

}  // namespace diffusion
}  // namespace drift
