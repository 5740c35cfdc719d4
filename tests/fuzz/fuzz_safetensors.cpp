// fuzz_safetensors.cpp — parse_safetensors (tensor/io/safetensors.h) on arbitrary bytes.
//
// A file the parser accepts must keep its promises: every tensor is a CPU tensor whose storage
// holds exactly shape.numel() values (each one is read here, so a size the header lied about shows
// up under ASan as a read past the buffer), its name is found by find() and at(), and no two
// tensors share a name.
#include <set>
#include <string>

#include "tensor/io/safetensors.h"
#include "tensor/storage.h"
#include "tests/fuzz/harness.h"

namespace {

int fuzz_safetensors(const uint8_t* data, size_t size) {
  drift::fuzz::rejected_or_parsed([&] {
    drift::SafetensorsData file =
        drift::parse_safetensors(drift::fuzz::bytes_of(data, size), "fuzz");
    std::set<std::string> names;
    for (const auto& [name, tensor] : file.tensors) {
      drift::fuzz::expect(names.insert(name).second, "tensor '" + name + "' returned twice");
      drift::fuzz::expect(file.find(name) == &file.at(name), "find and at disagree on " + name);
      drift::fuzz::expect(tensor.defined() && tensor.device().is_cpu() &&
                              tensor.impl()->storage->numel() == tensor.numel(),
                          "tensor '" + name +
                              "' is undefined, not on the CPU, or its storage "
                              "does not hold exactly its shape's elements");
      const float* values = tensor.data();
      float sum = 0.0f;
      for (int64_t i = 0; i < tensor.numel(); ++i) sum += values[i];
      volatile float keep = sum;  // the reads must happen
      (void)keep;
    }
  });
  return 0;
}

}  // namespace

DRIFT_FUZZ_TARGET(safetensors, fuzz_safetensors)
