// safetensors.h — reading and writing the safetensors format (Hugging Face), the checkpoint
// format of this project. A file is:
//
//   [8 bytes]  N, the header length, unsigned little-endian
//   [N bytes]  a JSON object: for each tensor  "name": {"dtype": "F32", "shape": [2, 3],
//              "data_offsets": [begin, end]}, plus an optional "__metadata__" object of
//              string -> string; padded with spaces to a multiple of 8 bytes
//   [rest]     the tensors' raw little-endian bytes; offsets count from the start of this part
//
// No code runs on load (unlike pickle), so a checkpoint from anywhere is safe to open. The
// layout is the safetensors specification's, so `safetensors.torch.load_file` should read what
// we write and we what it writes; our tests check this against files written by our own Python
// writer (tests/fixtures/fixturelib.py, to the specification), not by the `safetensors`
// library itself, which the test machines do not have (gen_core.py cross-checks with it where
// it is installed).
// Loading checks everything and throws drift::Error naming the file and the tensor.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace drift {

struct SafetensorsData {
  std::vector<std::pair<std::string, Tensor>> tensors;  // in file order (by offset)
  std::map<std::string, std::string> metadata;
  const Tensor* find(const std::string& name) const;    // nullptr if absent
  const Tensor& at(const std::string& name) const;      // throws naming the missing tensor
};

// Writes atomically: to "<path>.tmp" first, flushed to disk, then renamed over `path`, so an
// interrupted save never leaves a half-written checkpoint. Tensors are stored as F32.
void save_safetensors(const std::string& path,
                      const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Reads a file into CPU tensors. F32 is read as is; F64, F16 and BF16 are converted to
// float32; other dtypes are rejected with a clear message.
SafetensorsData load_safetensors(const std::string& path);

// Parses safetensors bytes already in memory; `what` names the source in error messages.
SafetensorsData parse_safetensors(const std::string& bytes, const std::string& what);

// Writes `bytes` to `path` atomically (temporary file in the same directory + rename).
void write_file_atomically(const std::string& path, const std::string& bytes);

}  // namespace drift
