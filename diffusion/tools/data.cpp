// data.cpp — data finding (see data.h for the search order) and the IDX/gzip reader.
#include "diffusion/tools/data.h"

#include <stb/stb_image.h>  // stbi_zlib_decode_noheader_malloc: raw deflate
#include <unistd.h>

#include <array>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "diffusion/tools/stb_util.h"
#include "tensor/error.h"

#ifndef DRIFT_SOURCE_DIR
#define DRIFT_SOURCE_DIR ""
#endif

namespace drift {
namespace diffusion {

namespace fs = std::filesystem;

namespace {

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

// A folder is "the project" when it has the top-level CMakeLists.txt and diffusion/.
bool looks_like_project(const fs::path& dir) {
  return is_file(dir / "CMakeLists.txt") && is_dir(dir / "diffusion") && is_dir(dir / "tensor");
}

// `start` and up to `levels` folders above it that look like the project.
void add_project_ancestors(fs::path start, int levels, std::vector<std::string>& roots) {
  for (int i = 0; i <= levels && !start.empty(); ++i) {
    if (looks_like_project(start)) {
      roots.push_back(start.string());
      return;
    }
    fs::path parent = start.parent_path();
    if (parent == start) break;
    start = parent;
  }
}

std::string canonical_or_same(const std::string& path) {
  std::error_code ec;
  fs::path p = fs::weakly_canonical(fs::path(path), ec);
  return ec ? fs::path(path).lexically_normal().string() : p.string();
}

struct Candidate {
  fs::path dir;
  std::string origin;
};

}  // namespace

// ---- where to look ----------------------------------------------------------------------------

std::string project_root() {
  return DRIFT_SOURCE_DIR;
}

DataSearch DataSearch::defaults(const std::string& flag_dir) {
  DataSearch search;
  search.flag_dir = flag_dir;
  if (const char* env = std::getenv("DRIFT_DATA")) search.env_dir = env;
  std::vector<std::string> roots;
  if (!std::string(DRIFT_SOURCE_DIR).empty() && looks_like_project(DRIFT_SOURCE_DIR))
    roots.push_back(DRIFT_SOURCE_DIR);  // the source tree this binary was built from
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);  // build/chapters/01_... -> project
  if (!ec) add_project_ancestors(exe.parent_path(), 4, roots);
  fs::path cwd = fs::current_path(ec);
  if (!ec) add_project_ancestors(cwd, 4, roots);
  std::set<std::string> seen;
  for (const std::string& root : roots)
    if (seen.insert(canonical_or_same(root)).second) search.project_roots.push_back(root);
  search.system_dirs = {"/usr/share/datasets", "/usr/local/share/datasets"};
  return search;
}

DataLocation find_data(const std::string& name, const std::vector<std::string>& files,
                       const DataSearch& search,
                       const std::vector<std::string>& extra_system_dirs) {
  DRIFT_CHECK(!name.empty() && !files.empty(), "find_data: a data set needs a name and files");
  // An explicit --data that is not even a folder is a typo, not a reason to look elsewhere.
  DRIFT_CHECK(search.flag_dir.empty() || is_dir(search.flag_dir),
              "data: --data '" << search.flag_dir << "' is not a folder");
  std::vector<Candidate> candidates;
  auto add_explicit = [&](const std::string& dir, const std::string& origin) {
    if (dir.empty()) return;
    candidates.push_back({fs::path(dir) / name, origin});  // DIR/<name>/...
    candidates.push_back({fs::path(dir), origin});         // or DIR is the data set itself
  };
  add_explicit(search.flag_dir, "--data");
  add_explicit(search.env_dir, "DRIFT_DATA");
  for (const std::string& root : search.project_roots)
    candidates.push_back({fs::path(root) / "data" / name, "project data/"});
  for (const std::string& root : search.project_roots)
    candidates.push_back(
        {(fs::path(root) / ".." / "shared" / "data" / name).lexically_normal(), "../shared/data"});
  for (const std::string& dir : search.system_dirs)
    candidates.push_back({fs::path(dir) / name, "system"});
  for (const std::string& dir : extra_system_dirs) candidates.push_back({fs::path(dir), "system"});

  std::ostringstream tried;
  std::set<std::string> reported;
  for (const Candidate& c : candidates) {
    std::string missing;
    for (const std::string& file : files)
      if (!is_file(c.dir / file)) missing += (missing.empty() ? "" : ", ") + file;
    if (missing.empty()) return {c.dir.string(), c.origin};
    if (!reported.insert(c.dir.string()).second) continue;
    tried << (tried.tellp() > 0 ? "; " : "") << c.dir.string() << " (" << c.origin
          << (is_dir(c.dir) ? ": lacks " + missing : ": no such folder") << ")";
  }
  std::string root = search.project_roots.empty() ? project_root() : search.project_roots.front();
  std::string fetch =
      (root.empty() ? std::string("scripts") : root + "/scripts") + "/fetch-data.sh";
  std::string file_list;
  for (const std::string& file : files) file_list += (file_list.empty() ? "" : ", ") + file;
  // Debian and Ubuntu package Fashion-MNIST: dataset-fashion-mnist installs the four files in
  // /usr/share/datasets/fashion-mnist/, one of the system folders above.
  const std::string package =
      name == "fashion-mnist"
          ? "; on Debian/Ubuntu also: sudo apt-get install dataset-fashion-mnist"
          : "";
  DRIFT_FAIL("data: cannot find the " << name << " data (" << file_list << "). Tried: "
                                      << tried.str() << ". Get it with: " << fetch << " " << name
                                      << " (or make data, for every data set)" << package
                                      << "  (or point --data DIR or DRIFT_DATA at a folder that "
                                         "holds "
                                      << name << "/)");
}

DataLocation find_mandrill(const DataSearch& search) {
  // OpenCV ships the picture as samples/data/baboon.jpg; Debian's opencv-doc installs the
  // samples under /usr/share/doc/opencv-doc/examples.
  DataLocation found =
      find_data("mandrill", {"baboon.jpg"}, search,
                {"/usr/share/doc/opencv-doc/examples/data", "/usr/share/opencv4/samples/data"});
  found.path = (fs::path(found.path) / "baboon.jpg").string();
  return found;
}

DataLocation find_mandrill(const std::string& flag_dir) {
  return find_mandrill(DataSearch::defaults(flag_dir));
}

const std::vector<std::string>& mnist_files() {
  static const std::vector<std::string> files = {
      "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
      "t10k-labels-idx1-ubyte.gz"};
  return files;
}

DataLocation find_dataset(const std::string& name, const DataSearch& search) {
  DRIFT_CHECK(name == "fashion-mnist" || name == "mnist",
              "find_dataset: unknown data set '" << name << "' (expected fashion-mnist or mnist)");
  return find_data(name, mnist_files(), search);
}

DataLocation find_dataset(const std::string& name, const std::string& flag_dir) {
  return find_dataset(name, DataSearch::defaults(flag_dir));
}

// ---- files, gzip, IDX -------------------------------------------------------------------------

std::string read_file(const std::string& path) {
  DRIFT_CHECK(is_file(path), "read_file: no such file: '" << path << "'");
  std::ifstream in(path, std::ios::binary);
  DRIFT_CHECK(in, "read_file: cannot open '" << path << "'");
  std::ostringstream contents;
  contents << in.rdbuf();
  DRIFT_CHECK(!in.bad(), "read_file: error while reading '" << path << "'");
  return contents.str();
}

uint32_t crc32(const std::string& bytes) {
  // The CRC-32 of gzip and PNG (reflected polynomial 0xEDB88320), one table lookup per byte.
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char b : bytes) crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

namespace {

uint32_t little_endian32(const unsigned char* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

uint32_t big_endian32(const unsigned char* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}

}  // namespace

// The most gunzip inflates: 1 GiB, 20 times the largest MNIST file (47 MB of training images).
constexpr uint32_t kMaxGunzipBytes = uint32_t(1) << 30;

std::string gunzip(const std::string& bytes, const std::string& what) {
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t size = bytes.size();
  // RFC 1952: ID1 ID2 CM FLG MTIME(4) XFL OS [FEXTRA] [FNAME] [FCOMMENT] [FHCRC] data CRC32 ISIZE
  DRIFT_CHECK(size >= 18,
              "gunzip: '" << what << "' is too short to be gzip (" << size << " bytes)");
  DRIFT_CHECK(data[0] == 0x1f && data[1] == 0x8b,
              "gunzip: '" << what << "' is not gzip (magic bytes " << std::hex << int(data[0])
                          << " " << int(data[1]) << ", expected 1f 8b)");
  DRIFT_CHECK(data[2] == 8, "gunzip: '" << what << "' uses compression method " << int(data[2])
                                        << ", only deflate (8) exists");
  const unsigned flags = data[3];
  DRIFT_CHECK((flags & 0xE0) == 0, "gunzip: '" << what << "' has reserved header flags set ("
                                               << flags << "): corrupt header");
  size_t pos = 10;
  auto need = [&](size_t n) {
    DRIFT_CHECK(pos + n + 8 <= size, "gunzip: '" << what << "' is truncated inside its header");
  };
  if (flags & 0x04) {  // FEXTRA: a 2-byte length and that many bytes
    need(2);
    size_t extra = data[pos] | (size_t(data[pos + 1]) << 8);
    pos += 2;
    need(extra);
    pos += extra;
  }
  for (unsigned flag : {0x08u, 0x10u}) {  // FNAME, FCOMMENT: zero-terminated strings
    if (!(flags & flag)) continue;
    while (true) {
      need(1);
      if (data[pos++] == 0) break;
    }
  }
  if (flags & 0x02) {  // FHCRC
    need(2);
    pos += 2;
  }
  const size_t deflate_size = size - 8 - pos;
  DRIFT_CHECK(deflate_size + 8 <= static_cast<size_t>(INT_MAX),
              "gunzip: '" << what << "' is too large (" << size << " bytes)");
  const uint32_t stored_crc = little_endian32(data + size - 8);
  const uint32_t stored_size = little_endian32(data + size - 4);
  // The output is inflated into a buffer of the length the trailer states, so no file makes
  // gunzip allocate more than that: at most kMaxGunzipBytes, and at most what deflate can make
  // of the compressed bytes, 1032 per byte (a 258-byte match costs two codes of at least one
  // bit each: zlib's FAQ). A trailer that claims more is refused before anything is allocated.
  DRIFT_CHECK(stored_size <= kMaxGunzipBytes,
              "gunzip: '" << what << "' says it inflates to " << stored_size
                          << " bytes, more than gunzip accepts (" << kMaxGunzipBytes << ")");
  DRIFT_CHECK(uint64_t(stored_size) <= 1032 * uint64_t(deflate_size + 8),
              "gunzip: '" << what << "' says it inflates to " << stored_size
                          << " bytes, more than deflate can make of " << deflate_size
                          << " compressed bytes (truncated or corrupt file)");
  std::string result(stored_size, '\0');
  stb_clear_failure_reason();
  // The inflater is given the 8 trailer bytes too: stb_image 2.27 refuses to decode the last
  // code of a stream when fewer than 16 bits are left before the end of its buffer (Fashion-
  // MNIST's t10k labels end that way). It stops at the final block, so it only peeks at them.
  const int out_size = stbi_zlib_decode_noheader_buffer(
      result.data(), static_cast<int>(stored_size), reinterpret_cast<const char*>(data + pos),
      static_cast<int>(deflate_size + 8));
  DRIFT_CHECK(out_size >= 0, "gunzip: '" << what
                                         << "' has corrupt compressed data, or inflates to more "
                                            "than the "
                                         << stored_size << " bytes its trailer says ("
                                         << stb_failure_reason_or("invalid deflate data") << ")");
  DRIFT_CHECK(static_cast<uint32_t>(out_size) == stored_size,
              "gunzip: '" << what << "' inflates to " << out_size << " bytes but its trailer says "
                          << stored_size
                          << " (truncated or corrupt file, or several gzip members)");
  DRIFT_CHECK(crc32(result) == stored_crc,
              "gunzip: '" << what << "' fails its CRC-32 check (corrupt file)");
  return result;
}

IdxArray parse_idx(const std::string& bytes, const std::string& what) {
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  DRIFT_CHECK(bytes.size() >= 4, "idx: '" << what << "' is too short (" << bytes.size()
                                          << " bytes) to be an IDX file");
  DRIFT_CHECK(data[0] == 0 && data[1] == 0,
              "idx: '" << what << "' has a bad magic number (first bytes " << int(data[0]) << " "
                       << int(data[1]) << ", expected 0 0)");
  DRIFT_CHECK(data[2] == 0x08, "idx: '" << what << "' holds values of type 0x" << std::hex
                                        << int(data[2]) << std::dec
                                        << "; only unsigned bytes (0x08) are supported");
  const int ndim = data[3];
  DRIFT_CHECK(ndim >= 1 && ndim <= 4,
              "idx: '" << what << "' claims " << ndim << " dimensions (expected 1 to 4)");
  const size_t header = 4 + 4 * static_cast<size_t>(ndim);
  DRIFT_CHECK(bytes.size() >= header, "idx: '" << what << "' is truncated inside its header");
  IdxArray array;
  uint64_t count = 1;
  for (int d = 0; d < ndim; ++d) {
    uint32_t n = big_endian32(data + 4 + 4 * d);
    DRIFT_CHECK(n >= 1 && n <= (1u << 30),
                "idx: '" << what << "' has an implausible size " << n << " in dimension " << d);
    array.dims.push_back(n);
    count *= n;
    DRIFT_CHECK(count <= (uint64_t(1) << 34), "idx: '" << what << "' claims too many values");
  }
  DRIFT_CHECK(bytes.size() - header == count,
              "idx: '" << what << "' should hold " << count << " values after its header but has "
                       << bytes.size() - header << " bytes ("
                       << (bytes.size() - header < count ? "truncated" : "trailing garbage")
                       << ")");
  array.values.assign(data + header, data + header + count);
  return array;
}

IdxArray decode_idx(const std::string& bytes, const std::string& what) {
  if (bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
      static_cast<unsigned char>(bytes[1]) == 0x8b)
    return parse_idx(gunzip(bytes, what), what);
  return parse_idx(bytes, what);
}

IdxArray read_idx(const std::string& path) {
  return decode_idx(read_file(path), path);
}

MnistSplit parse_mnist(const std::string& images_bytes, const std::string& images_what,
                       const std::string& labels_bytes, const std::string& labels_what,
                       int64_t limit) {
  IdxArray images = decode_idx(images_bytes, images_what);
  IdxArray labels = decode_idx(labels_bytes, labels_what);
  DRIFT_CHECK(images.dims.size() == 3, "load_mnist: '" << images_what
                                                       << "' should be [N, H, W], has "
                                                       << images.dims.size() << " dimensions");
  DRIFT_CHECK(labels.dims.size() == 1, "load_mnist: '" << labels_what << "' should be [N], has "
                                                       << labels.dims.size() << " dimensions");
  DRIFT_CHECK(images.dims[0] == labels.dims[0],
              "load_mnist: " << images.dims[0] << " images in '" << images_what << "' but "
                             << labels.dims[0] << " labels in '" << labels_what << "'");
  int64_t n = images.dims[0];
  if (limit > 0 && limit < n) n = limit;
  const int64_t h = images.dims[1], w = images.dims[2];
  std::vector<float> pixels(static_cast<size_t>(n * h * w));
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = images.values[i] / 255.0f;
  std::vector<float> classes(static_cast<size_t>(n));
  for (size_t i = 0; i < classes.size(); ++i) {
    DRIFT_CHECK(labels.values[i] <= 9, "load_mnist: label "
                                           << int(labels.values[i]) << " of example " << i
                                           << " in '" << labels_what << "' is not a class 0..9");
    classes[i] = labels.values[i];
  }
  return {from_vector(pixels, Shape{n, 1, h, w}), from_vector(classes, Shape{n})};
}

MnistSplit load_mnist(const std::string& dir, const std::string& split, int64_t limit) {
  DRIFT_CHECK(split == "train" || split == "test",
              "load_mnist: split must be 'train' or 'test', got '" << split << "'");
  const std::string prefix = split == "train" ? "train" : "t10k";
  const std::string images_path = (fs::path(dir) / (prefix + "-images-idx3-ubyte.gz")).string();
  const std::string labels_path = (fs::path(dir) / (prefix + "-labels-idx1-ubyte.gz")).string();
  return parse_mnist(read_file(images_path), images_path, read_file(labels_path), labels_path,
                     limit);
}

}  // namespace diffusion
}  // namespace drift
