// FNV-1a, 64-bit: the content hashes headlab prints and stores (a model's hash, a dataset's
// fingerprint). Not for security; chosen because it is fixed, byte-order independent on the bytes
// it is given, and a few lines.
#pragma once
#include <cstddef>
#include <cstdint>

namespace headlab {

constexpr uint64_t kFnv1aOffset = 14695981039346656037ull;

// Continues hash `h` over n bytes at `data`; start from kFnv1aOffset.
inline uint64_t fnv1a(uint64_t h, const void* data, size_t n) {
  const unsigned char* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

}  // namespace headlab
