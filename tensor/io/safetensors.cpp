#include "tensor/io/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "tensor/error.h"
#include "tensor/io/json.h"

namespace drift {

const Tensor* SafetensorsData::find(const std::string& name) const {
  for (const auto& entry : tensors)
    if (entry.first == name) return &entry.second;
  return nullptr;
}

const Tensor& SafetensorsData::at(const std::string& name) const {
  const Tensor* t = find(name);
  DRIFT_CHECK(t != nullptr, "safetensors: no tensor named '" << name << "'");
  return *t;
}

void write_file_atomically(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  DRIFT_CHECK(fd >= 0, "save: cannot create '" << tmp << "': " << std::strerror(errno));
  size_t written = 0;
  while (written < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      DRIFT_FAIL("save: writing '" << tmp << "' failed: " << std::strerror(err));
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    DRIFT_FAIL("save: flushing '" << tmp << "' failed: " << std::strerror(err));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    DRIFT_FAIL("save: renaming '" << tmp << "' to '" << path << "' failed: " << std::strerror(err));
  }
}

void save_safetensors(const std::string& path,
                      const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::ostringstream header;
  header << '{';
  bool first = true;
  if (!metadata.empty()) {
    header << "\"__metadata__\":{";
    for (auto it = metadata.begin(); it != metadata.end(); ++it)
      header << (it == metadata.begin() ? "" : ",") << json::quote(it->first) << ':'
             << json::quote(it->second);
    header << '}';
    first = false;
  }
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    DRIFT_CHECK(tensor.defined(), "save_safetensors: tensor '" << name << "' is undefined");
    DRIFT_CHECK(name != "__metadata__", "save_safetensors: '__metadata__' is reserved");
    uint64_t bytes = static_cast<uint64_t>(tensor.numel()) * 4;
    header << (first ? "" : ",") << json::quote(name) << ":{\"dtype\":\"F32\",\"shape\":[";
    for (int64_t d = 0; d < tensor.ndim(); ++d) header << (d ? "," : "") << tensor.shape()[d];
    header << "],\"data_offsets\":[" << offset << ',' << offset + bytes << "]}";
    offset += bytes;
    first = false;
  }
  header << '}';
  std::string head = header.str();
  while (head.size() % 8 != 0) head += ' ';  // data starts 8-byte aligned

  std::string file;
  file.reserve(8 + head.size() + offset);
  uint64_t n = head.size();
  for (int i = 0; i < 8; ++i) file += static_cast<char>((n >> (8 * i)) & 0xFF);  // little-endian
  file += head;
  for (const auto& entry : tensors) {
    std::vector<float> values = entry.second.to_vector();  // x86 and CUDA are little-endian
    file.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
  }
  write_file_atomically(path, file);
}

namespace {

// IEEE half and bfloat16 -> float.
float half_to_float(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exponent = (h >> 10) & 0x1F, mantissa = h & 0x3FF, bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exponent = 127 - 15 + 1;
      while (!(mantissa & 0x400)) {
        mantissa <<= 1;
        --exponent;
      }
      bits = sign | (exponent << 23) | ((mantissa & 0x3FF) << 13);
    }
  } else if (exponent == 31) {
    bits = sign | 0x7F800000u | (mantissa << 13);
  } else {
    bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float bf16_to_float(uint16_t b) {
  uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

size_t dtype_size(const std::string& dtype) {
  if (dtype == "F32") return 4;
  if (dtype == "F64") return 8;
  if (dtype == "F16" || dtype == "BF16") return 2;
  return 0;
}

}  // namespace

SafetensorsData parse_safetensors(const std::string& bytes, const std::string& what) {
  DRIFT_CHECK(bytes.size() >= 8, what << ": not a safetensors file (only " << bytes.size()
                                      << " bytes; the 8-byte header length is missing)");
  uint64_t header_size = 0;
  for (int i = 0; i < 8; ++i)
    header_size |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[static_cast<size_t>(i)]))
                   << (8 * i);
  DRIFT_CHECK(header_size <= bytes.size() - 8,
              what << ": header length " << header_size << " runs past the end of the file ("
                   << bytes.size() << " bytes): the file is truncated or not safetensors");
  DRIFT_CHECK(header_size >= 2 && bytes[8] == '{', what << ": the header is not a JSON object");
  json::Value header = json::parse(bytes.substr(8, header_size), what + " (header)");
  DRIFT_CHECK(header.is_object(), what << ": the header is not a JSON object");

  const uint64_t data_start = 8 + header_size;
  const uint64_t data_size = bytes.size() - data_start;
  SafetensorsData out;
  struct Entry {
    std::string name;
    Shape shape;
    std::string dtype;
    uint64_t begin, end;
  };
  std::vector<Entry> entries;
  std::map<std::string, bool> seen;
  for (const auto& [name, info] : header.object) {
    DRIFT_CHECK(!seen[name], what << ": tensor '" << name << "' appears twice in the header");
    seen[name] = true;
    if (name == "__metadata__") {
      DRIFT_CHECK(info.is_object(), what << ": __metadata__ must be an object of strings");
      for (const auto& [key, value] : info.object) {
        DRIFT_CHECK(value.is_string(),
                    what << ": __metadata__ value '" << key << "' is not a string");
        out.metadata[key] = value.text;
      }
      continue;
    }
    const std::string where = what + ": tensor '" + name + "'";
    DRIFT_CHECK(info.is_object(), where << ": entry is not an object");
    const json::Value* dtype = info.find("dtype");
    const json::Value* shape = info.find("shape");
    const json::Value* offsets = info.find("data_offsets");
    DRIFT_CHECK(dtype && dtype->is_string(), where << ": missing dtype");
    DRIFT_CHECK(shape && shape->is_array(), where << ": missing shape");
    DRIFT_CHECK(offsets && offsets->is_array() && offsets->array.size() == 2,
                where << ": data_offsets must be [begin, end]");
    DRIFT_CHECK(
        dtype_size(dtype->text) != 0,
        where << ": dtype " << dtype->text << " is not supported (F32, F64, F16 and BF16 are)");
    Entry e{name, Shape{}, dtype->text, 0, 0};
    uint64_t numel = 1;
    for (const json::Value& d : shape->array) {
      uint64_t size = 0;
      DRIFT_CHECK(d.as_uint64(size) && size < (uint64_t(1) << 40),
                  where << ": shape entries must be non-negative integers");
      e.shape.push_back(static_cast<int64_t>(size));
      // Checked: a product that wrapped around 2^64 ([2^32, 2^32] -> 0) would pass the span
      // check below with a shape that claims more elements than the buffer holds. No tensor
      // can have more elements than the data section has bytes.
      DRIFT_CHECK(size == 0 || numel <= data_size / size,
                  where << ": shape " << e.shape << " has more elements than the data section ("
                        << data_size << " bytes) can hold: the file is corrupt");
      numel *= size;
    }
    DRIFT_CHECK(offsets->array[0].as_uint64(e.begin) && offsets->array[1].as_uint64(e.end),
                where << ": data_offsets must be non-negative integers");
    DRIFT_CHECK(e.begin <= e.end && e.end <= data_size,
                where << ": data_offsets [" << e.begin << ", " << e.end
                      << "] lie outside the data section (" << data_size
                      << " bytes): the file is truncated or corrupt");
    DRIFT_CHECK(e.end - e.begin == numel * dtype_size(e.dtype),
                where << ": shape " << e.shape << " of " << e.dtype << " needs "
                      << numel * dtype_size(e.dtype) << " bytes but data_offsets span "
                      << e.end - e.begin);
    entries.push_back(e);
  }
  // Tensors must tile the data section exactly: no overlaps, no holes, no trailing bytes.
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
  uint64_t expected = 0;
  for (const Entry& e : entries) {
    DRIFT_CHECK(e.begin == expected, what << ": tensor '" << e.name << "' starts at byte "
                                          << e.begin << " but the previous tensor ends at "
                                          << expected << " (overlap or hole)");
    expected = e.end;
  }
  DRIFT_CHECK(expected == data_size, what << ": " << data_size - expected
                                          << " bytes after the last tensor (corrupt file)");

  for (const Entry& e : entries) {
    const char* src = bytes.data() + data_start + e.begin;
    const int64_t numel = e.shape.numel();
    std::vector<float> values(static_cast<size_t>(numel));
    for (int64_t i = 0; i < numel; ++i) {
      if (e.dtype == "F32") {
        std::memcpy(&values[static_cast<size_t>(i)], src + 4 * i, 4);
      } else if (e.dtype == "F64") {
        double v;
        std::memcpy(&v, src + 8 * i, 8);
        values[static_cast<size_t>(i)] = static_cast<float>(v);
      } else {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        values[static_cast<size_t>(i)] = e.dtype == "F16" ? half_to_float(h) : bf16_to_float(h);
      }
    }
    out.tensors.emplace_back(e.name, from_vector(values, e.shape));
  }
  return out;
}

SafetensorsData load_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  DRIFT_CHECK(in.good(), path << ": cannot open for reading: " << std::strerror(errno));
  std::ostringstream contents;
  contents << in.rdbuf();
  return parse_safetensors(contents.str(), path);
}

}  // namespace drift
