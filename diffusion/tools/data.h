// data.h — finding the data sets on any machine, and reading MNIST-style IDX files.
//
// Data never lives in the repository. A data set ("mandrill", "fashion-mnist", "mnist") is a
// folder of files, looked for in this order (the project's data README, "Where the project
// looks"):
//
//   1. the folder given with --data DIR, then the DRIFT_DATA environment variable
//      (DIR/<name>/ or DIR itself);
//   2. data/<name>/ inside the project (git-ignored; scripts/fetch-data.sh fills it);
//   3. ../shared/data/<name>/ next to the project (the team's local mirror);
//   4. system folders such as /usr/share/datasets/<name>/ (Debian's dataset-fashion-mnist);
//   5. otherwise an Error that lists every folder tried and the command that gets the data.
//
// "The project" is found three ways, so a chapter works when run from anywhere: the source
// folder compiled into the library, the folders above the executable, and the folders above
// the current directory (each only if it looks like the project: CMakeLists.txt + diffusion/).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace drift {
namespace diffusion {

// Where to look, in order. Tests build one by hand with temporary folders.
struct DataSearch {
  std::string flag_dir;                    // --data DIR ("" when not given)
  std::string env_dir;                     // $DRIFT_DATA ("" when unset)
  std::vector<std::string> project_roots;  // each gives <root>/data and <root>/../shared/data
  std::vector<std::string> system_dirs;    // each gives <dir>/<name>

  // flag_dir as given, env_dir from DRIFT_DATA, the project roots found as described above,
  // and the system folders /usr/share/datasets and /usr/local/share/datasets.
  static DataSearch defaults(const std::string& flag_dir = "");
};

// A data set found: its folder (or file), and which rule found it ("--data", "DRIFT_DATA",
// "project data/", "../shared/data", "system").
struct DataLocation {
  std::string path;
  std::string origin;
};

// The first folder, in search order, that holds every one of `files` for data set `name`.
// `extra_system_dirs` are folders (not parents) tried after the system folders, for data
// that ships under its own name elsewhere. Throws listing every folder tried when none has.
DataLocation find_data(const std::string& name, const std::vector<std::string>& files,
                       const DataSearch& search,
                       const std::vector<std::string>& extra_system_dirs = {});

// The mandrill, mandrill/baboon.jpg (also looked for where Debian's opencv-doc puts OpenCV's
// sample pictures). Returns the path of the file.
DataLocation find_mandrill(const DataSearch& search);
DataLocation find_mandrill(const std::string& flag_dir = "");

// The folder holding a data set's four IDX files ("fashion-mnist" or "mnist").
DataLocation find_dataset(const std::string& name, const DataSearch& search);
DataLocation find_dataset(const std::string& name, const std::string& flag_dir = "");

// The four file names of an MNIST-style data set.
const std::vector<std::string>& mnist_files();

// The project's own folder as best known (the compiled-in source folder), for messages.
std::string project_root();

// ---- IDX files (the MNIST format) ------------------------------------------------------------
//
// An IDX file is: two zero bytes, a type byte (0x08 = unsigned 8-bit), the number of
// dimensions, each dimension as a big-endian 32-bit count, then the values row-major.
// MNIST and Fashion-MNIST ship them gzip'd; they are inflated with stb_image's zlib decoder.

struct IdxArray {
  std::vector<int64_t> dims;    // e.g. {10000, 28, 28}
  std::vector<uint8_t> values;  // product(dims) bytes
};

// The CRC-32 used by gzip and PNG (polynomial 0xEDB88320); crc32("123456789") = 0xCBF43926.
uint32_t crc32(const std::string& bytes);

// The decompressed contents of gzip bytes (RFC 1952: header, deflate data, CRC-32 and size),
// checked against the stored CRC-32 and length. `what` names the source in errors. The
// trailer's length bounds the work: a file that claims more than 1 GiB, or more than deflate
// can make of its compressed bytes (1032 per byte), is refused before anything is inflated.
std::string gunzip(const std::string& bytes, const std::string& what);

// Parses IDX bytes (already decompressed); checks the magic number, the type, the dimensions
// and that the size matches them exactly. `what` names the source in errors.
IdxArray parse_idx(const std::string& bytes, const std::string& what);

// IDX bytes, gzip'd (detected by its magic bytes) or not; read_idx is read_file + decode_idx.
IdxArray decode_idx(const std::string& bytes, const std::string& what);

// Reads an IDX file, gzip'd (detected by its magic bytes) or not.
IdxArray read_idx(const std::string& path);

// One split of an MNIST-style data set: images [N, 1, H, W] in [0, 1] and labels [N] (whole
// numbers 0..9), on the CPU.
struct MnistSplit {
  Tensor images;
  Tensor labels;
};
// Loads "train" (train-*) or "test" (t10k-*) from a folder found by find_dataset. Checks
// that images and labels agree in count and that every label is in 0..9. `limit` > 0 keeps
// only the first `limit` examples (quick runs).
MnistSplit load_mnist(const std::string& dir, const std::string& split, int64_t limit = 0);

// The same from the two files' bytes already in memory (each gzip'd or not; load_mnist reads
// the files and calls this): the same checks, `*_what` naming each source in errors.
MnistSplit parse_mnist(const std::string& images_bytes, const std::string& images_what,
                       const std::string& labels_bytes, const std::string& labels_what,
                       int64_t limit = 0);

// The whole contents of a file; throws naming the path when it cannot be read.
std::string read_file(const std::string& path);

}  // namespace diffusion
}  // namespace drift
