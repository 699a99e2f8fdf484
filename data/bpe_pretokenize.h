// GPT-2 style pre-tokenization on bytes: text is cut into chunks before BPE merges apply, and no merge
// crosses a chunk. The chunks follow GPT-2's pattern
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// with byte classes instead of Unicode ones: ASCII letters and every byte >= 0x80 count as letters (so
// the bytes of a UTF-8 character of any script, and stray invalid bytes, stay inside a word), ASCII
// digits as numbers, ASCII space, \t, \n, \v, \f, \r as whitespace, everything else as punctuation.
// Chunks are also cut every kMaxChunkBytes bytes, so that no input makes BPE's per-chunk work quadratic.
#pragma once
#include <cstddef>
#include <string_view>

#include "data/pretokenize.h"

namespace headlab {

constexpr size_t kMaxChunkBytes = 256;

// The end (exclusive) of the chunk that starts at `begin` (< text.size()).
size_t pretoken_end(std::string_view text, size_t begin);

// Calls visit(begin, end) for each chunk of text, in order. Chunks are additionally cut at each offset
// in `cuts` (sorted ascending), so a word boundary given there is never crossed.
template <typename Visit>
void for_each_pretoken(std::string_view text, const size_t* cuts, size_t n_cuts, Visit&& visit) {
  for_each_chunk(
      text, cuts, n_cuts, [](std::string_view t, size_t b) { return pretoken_end(t, b); }, visit);
}

}  // namespace headlab
