// parallel.h — the one way CPU loops over flat arrays are shared among threads.
//
//   parallel_chunks(n, [&](int64_t begin, int64_t end) {
//     const float* __restrict in = x + begin; ...
//   #pragma omp simd
//     for (int64_t i = 0; i < end - begin; ++i) ...
//   });
//
// [0, n) is cut into one contiguous chunk per thread and body(begin, end) runs on each (on the
// calling thread alone when n is below `min_per_thread` per extra thread). Why not simply
// `#pragma omp parallel for simd`: GCC outlines such a loop into a function that reads the
// captured pointers through the closure on every use and then vectorises the accesses as
// gathers and scatters, several times slower than plain vector loads (measured: SiLU's loop
// ran as vgatherqps / vscatterqps). A chunk with local pointers is a plain loop the
// vectoriser handles well.
#pragma once

#include <algorithm>
#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace drift {

template <class Body>
void parallel_chunks(int64_t n, int64_t min_per_thread, Body&& body) {
#ifdef _OPENMP
  const int64_t wanted = std::min<int64_t>(omp_get_max_threads(), n / std::max<int64_t>(1, min_per_thread));
  if (wanted > 1 && !omp_in_parallel()) {
#pragma omp parallel num_threads(static_cast<int>(wanted))
    {
      const int64_t parts = omp_get_num_threads(), part = omp_get_thread_num();
      // Chunk boundaries on multiples of 16 floats (a cache line), so threads never share one.
      auto boundary = [&](int64_t p) { return std::min(n, (n * p / parts + 15) / 16 * 16); };
      const int64_t begin = boundary(part), end = part + 1 == parts ? n : boundary(part + 1);
      if (begin < end) body(begin, end);
    }
    return;
  }
#endif
  (void)min_per_thread;
  body(int64_t(0), n);
}

}  // namespace drift
