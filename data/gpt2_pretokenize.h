// GPT-2's pre-tokenization as its JavaScript encoder (npm gpt-3-encoder) runs it: the pattern
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// with the u flag, on code points, written out by hand (a regex engine costs more than the BPE after
// it). Classes are Unicode's letters and numbers and JavaScript's whitespace (data/unicode_classes.inc,
// generated from node). Bytes that are not valid UTF-8 (the JavaScript encoder never sees them) count
// as "other", one byte each, so every byte string still round-trips. Unlike headlab's own BPE no chunk
// is capped in length: a cap would change GPT-2's ids.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "data/pretokenize.h"

namespace headlab {

enum class UnicodeClass : unsigned char { other, letter, number, space };

UnicodeClass unicode_class(uint32_t code_point);

// The end (exclusive) of the chunk that starts at `begin` (< text.size()).
size_t gpt2_pretoken_end(std::string_view text, size_t begin);

// Calls visit(begin, end) for each chunk, in order, cutting also at each offset of `cuts` (sorted).
template <typename Visit>
void for_each_gpt2_pretoken(std::string_view text, const size_t* cuts, size_t n_cuts, Visit&& visit) {
  for_each_chunk(
      text, cuts, n_cuts, [](std::string_view t, size_t b) { return gpt2_pretoken_end(t, b); }, visit);
}

}  // namespace headlab
