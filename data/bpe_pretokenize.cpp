#include "data/bpe_pretokenize.h"

#include <algorithm>

namespace headlab {
namespace {

enum class ByteClass : unsigned char { letter, digit, space, other };

struct ByteClassTable {
  ByteClass of[256];
  ByteClassTable() {
    for (int b = 0; b < 256; ++b) {
      if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || b >= 0x80)
        of[b] = ByteClass::letter;
      else if (b >= '0' && b <= '9')
        of[b] = ByteClass::digit;
      else if (b == ' ' || (b >= '\t' && b <= '\r'))
        of[b] = ByteClass::space;
      else
        of[b] = ByteClass::other;
    }
  }
};
const ByteClassTable kClasses;

inline ByteClass class_of(std::string_view text, size_t i) { return kClasses.of[(unsigned char)text[i]]; }

size_t run_end(std::string_view text, size_t from, ByteClass cls) {
  while (from < text.size() && class_of(text, from) == cls) ++from;
  return from;
}

size_t uncapped_end(std::string_view text, size_t begin) {
  if (size_t n = contraction_length(text, begin)) return begin + n;
  const ByteClass first = class_of(text, begin);
  // " ?X+" for letters, digits and punctuation: one leading ASCII space joins the run after it.
  if (text[begin] == ' ' && begin + 1 < text.size()) {
    const ByteClass second = class_of(text, begin + 1);
    if (second != ByteClass::space) return run_end(text, begin + 1, second);
  }
  if (first != ByteClass::space) return run_end(text, begin, first);
  // \s+(?!\S): a whitespace run leaves its last byte to the word after it; \s+ when that leaves nothing.
  const size_t end = run_end(text, begin, ByteClass::space);
  if (end < text.size() && end - begin > 1) return end - 1;
  return end;
}

}  // namespace

size_t pretoken_end(std::string_view text, size_t begin) {
  return std::min(uncapped_end(text, begin), begin + kMaxChunkBytes);
}

}  // namespace headlab
