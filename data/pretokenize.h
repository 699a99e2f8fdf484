// What the two pre-tokenizers share (headlab's own on bytes, data/bpe_pretokenize.h; GPT-2's on
// code points, data/gpt2_pretokenize.h): the contractions of GPT-2's pattern, and the walk over the
// chunks with cuts given by the caller.
#pragma once
#include <cstddef>
#include <string_view>

namespace headlab {

// Length of the contraction ('s 't 're 've 'm 'll 'd) at `begin`, or 0.
inline size_t contraction_length(std::string_view text, size_t begin) {
  if (text[begin] != '\'' || begin + 1 >= text.size()) return 0;
  const char c = text[begin + 1];
  if (c == 's' || c == 't' || c == 'm' || c == 'd') return 2;
  if (begin + 2 < text.size()) {
    const char d = text[begin + 2];
    if ((c == 'r' && d == 'e') || (c == 'v' && d == 'e') || (c == 'l' && d == 'l')) return 3;
  }
  return 0;
}

// Calls visit(begin, end) for each chunk of text, in order: the chunk that starts at b ends at
// chunk_end(text, b), or earlier at an offset of `cuts` (sorted ascending), so that a boundary given
// there is never crossed.
template <typename ChunkEnd, typename Visit>
void for_each_chunk(std::string_view text, const size_t* cuts, size_t n_cuts, ChunkEnd&& chunk_end, Visit&& visit) {
  size_t next_cut = 0;
  size_t begin = 0;
  while (begin < text.size()) {
    size_t end = chunk_end(text, begin);
    while (next_cut < n_cuts && cuts[next_cut] <= begin) ++next_cut;
    if (next_cut < n_cuts && cuts[next_cut] < end) end = cuts[next_cut];
    visit(begin, end);
    begin = end;
  }
}

}  // namespace headlab
