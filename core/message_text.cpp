#include "core/message_text.h"

#include <cstdio>

namespace headlab {
namespace {

// Length of the well-formed UTF-8 sequence starting at s[i] (2 to 4), or 0.
size_t utf8_sequence(const std::string& s, size_t i) {
  const unsigned char c = static_cast<unsigned char>(s[i]);
  const size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return 0;
  return n;
}

}  // namespace

std::string printable_line(const std::string& text, size_t max_bytes) {
  std::string out;
  size_t i = 0;
  while (i < text.size() && out.size() < max_bytes) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += char(c);
      ++i;
    } else if (const size_t n = c >= 0x80 ? utf8_sequence(text, i) : 0; n > 0) {
      out.append(text, i, n);
      i += n;
    } else {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "%s", c == '\n' ? "\\n" : c == '\t' ? "\\t" : c == '\r' ? "\\r" : "");
      if (escaped[0] == 0) std::snprintf(escaped, sizeof escaped, "\\x%02x", unsigned(c));
      out += escaped;
      ++i;
    }
  }
  if (i < text.size()) out += "...";
  return out;
}

}  // namespace headlab
