#include "data/gpt2_pretokenize.h"

#include <algorithm>
#include <iterator>

namespace headlab {
namespace {

struct ClassRange {
  uint32_t first, last;
  UnicodeClass cls;
};

const ClassRange kRanges[] = {
#include "data/unicode_classes.inc"
};

struct AsciiTable {
  UnicodeClass of[128];
  AsciiTable() {
    for (uint32_t c = 0; c < 128; ++c) {
      of[c] = UnicodeClass::other;
      const auto it = std::upper_bound(std::begin(kRanges), std::end(kRanges), c,
                                       [](uint32_t v, const ClassRange& r) { return v < r.first; });
      if (it != std::begin(kRanges) && std::prev(it)->last >= c) of[c] = std::prev(it)->cls;
    }
  }
};
const AsciiTable kAscii;

// One code point at i: its class and byte length. Invalid UTF-8 (bad lead or continuation bytes,
// overlong forms, surrogates, values past U+10FFFF) is one "other" byte.
struct Char {
  UnicodeClass cls;
  size_t len;
};

Char char_at(std::string_view text, size_t i) {
  const unsigned char b0 = (unsigned char)text[i];
  if (b0 < 0x80) return {kAscii.of[b0], 1};
  size_t len;
  uint32_t cp, min;
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    len = 2, cp = b0 & 0x1f, min = 0x80;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    len = 3, cp = b0 & 0x0f, min = 0x800;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    len = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return {UnicodeClass::other, 1};
  }
  if (i + len > text.size()) return {UnicodeClass::other, 1};
  for (size_t k = 1; k < len; ++k) {
    const unsigned char b = (unsigned char)text[i + k];
    if ((b & 0xc0) != 0x80) return {UnicodeClass::other, 1};
    cp = (cp << 6) | (b & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return {UnicodeClass::other, 1};
  return {unicode_class(cp), len};
}

size_t run_end(std::string_view text, size_t from, UnicodeClass cls) {
  while (from < text.size()) {
    const Char c = char_at(text, from);
    if (c.cls != cls) break;
    from += c.len;
  }
  return from;
}

}  // namespace

UnicodeClass unicode_class(uint32_t cp) {
  if (cp < 128) return kAscii.of[cp];
  const auto it = std::upper_bound(std::begin(kRanges), std::end(kRanges), cp,
                                   [](uint32_t v, const ClassRange& r) { return v < r.first; });
  if (it == std::begin(kRanges) || std::prev(it)->last < cp) return UnicodeClass::other;
  return std::prev(it)->cls;
}

size_t gpt2_pretoken_end(std::string_view text, size_t begin) {
  if (size_t n = contraction_length(text, begin)) return begin + n;
  const Char first = char_at(text, begin);
  // " ?X+": only U+0020 joins the run after it.
  if (text[begin] == ' ' && begin + 1 < text.size()) {
    const Char second = char_at(text, begin + 1);
    if (second.cls != UnicodeClass::space) return run_end(text, begin + 1, second.cls);
  }
  if (first.cls != UnicodeClass::space) return run_end(text, begin, first.cls);
  // \s+(?!\S) backtracks to leave the run's last character to the word after it; \s+ when the run is
  // one character.
  size_t last_start = begin, end = begin;
  size_t n_chars = 0;
  while (end < text.size()) {
    const Char c = char_at(text, end);
    if (c.cls != UnicodeClass::space) break;
    last_start = end;
    end += c.len;
    ++n_chars;
  }
  if (end < text.size() && n_chars > 1) return last_start;
  return end;
}

}  // namespace headlab
