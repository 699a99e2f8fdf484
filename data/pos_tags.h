// Part-of-speech tags: the Brown corpus tag set and its collapse into 12 universal classes (the classes
// of Petrov, Das and McDonald's universal tag set; the per-tag mapping here is headlab's own, listed in
// pos_tags.cpp with the reason for each non-obvious choice).
#pragma once
#include <array>
#include <string>
#include <string_view>

namespace headlab {

enum class UniversalTag : int32_t {
  noun,
  verb,
  adjective,
  adverb,
  pronoun,
  determiner,
  adposition,
  conjunction,
  numeral,
  particle,
  punctuation,
  other
};
constexpr int kUniversalTagCount = 12;

// "NOUN", "VERB", "ADJ", "ADV", "PRON", "DET", "ADP", "CONJ", "NUM", "PRT", ".", "X" (Petrov's spellings).
const std::array<std::string, kUniversalTagCount>& universal_tag_names();

// A full Brown tag ("nn-tl", "fw-in", "pps+bez", "bez*") to its universal class. A compound tag (a
// contraction, "pps+bez" for "it's") takes the class of its first part; the title (-tl), headline (-hl)
// and cited (-nc) suffixes are ignored; foreign words (fw-) are "other". Unknown tags are "other".
UniversalTag universal_from_brown(std::string_view brown_tag);

// Whether the tag is one the mapping knows (false means universal_from_brown fell back to "other").
bool is_known_brown_tag(std::string_view brown_tag);

}  // namespace headlab
