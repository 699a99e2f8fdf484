#include "data/pos_tags.h"

#include <unordered_map>

namespace headlab {
namespace {

using U = UniversalTag;

// Base Brown tags (suffixes and compounds removed). Choices worth a word:
//  - ap (many, few, last), abn (all, half), abx (both), dti/dts/dtx, wdt: determiners, as quantifiers
//    and wh-determiners before a noun;
//  - abl (quite, rather), ql/qlp (qualifiers: very, enough), wql, wrb, rn (nominal adverb "here"): adverbs;
//  - ex (existential "there") and the wh-pronouns (wps, wpo, wp$): pronouns;
//  - od (ordinal: first, 2nd): adjective, as in universal dependencies; cd (cardinal): numeral;
//  - * ("not", "n't"), to (infinitival "to"), rp (particle "up" in "took up"): particles;
//  - md (modal), be*, do*, hv* (auxiliaries): verbs;
//  - nil (untagged) and uh (interjection): other, since the 12 classes have no interjection.
const std::unordered_map<std::string_view, U>& base_tags() {
  static const std::unordered_map<std::string_view, U> table = {
      {"nn", U::noun},        {"nn$", U::noun},       {"nns", U::noun},       {"nns$", U::noun},
      {"np", U::noun},        {"np$", U::noun},       {"nps", U::noun},       {"nps$", U::noun},
      {"nr", U::noun},        {"nr$", U::noun},       {"nrs", U::noun},       {"vb", U::verb},
      {"vbd", U::verb},       {"vbg", U::verb},       {"vbn", U::verb},       {"vbz", U::verb},
      {"md", U::verb},        {"be", U::verb},        {"bed", U::verb},       {"bedz", U::verb},
      {"beg", U::verb},       {"bem", U::verb},       {"ben", U::verb},       {"ber", U::verb},
      {"bez", U::verb},       {"do", U::verb},        {"dod", U::verb},       {"doz", U::verb},
      {"hv", U::verb},        {"hvd", U::verb},       {"hvg", U::verb},       {"hvn", U::verb},
      {"hvz", U::verb},       {"jj", U::adjective},   {"jj$", U::adjective},  {"jjr", U::adjective},
      {"jjs", U::adjective},  {"jjt", U::adjective},  {"od", U::adjective},   {"rb", U::adverb},
      {"rb$", U::adverb},     {"rbr", U::adverb},     {"rbt", U::adverb},     {"rn", U::adverb},
      {"ql", U::adverb},      {"qlp", U::adverb},     {"abl", U::adverb},     {"wql", U::adverb},
      {"wrb", U::adverb},     {"pn", U::pronoun},     {"pn$", U::pronoun},    {"pp$", U::pronoun},
      {"pp$$", U::pronoun},   {"ppl", U::pronoun},    {"ppls", U::pronoun},   {"ppo", U::pronoun},
      {"pps", U::pronoun},    {"ppss", U::pronoun},   {"wp$", U::pronoun},    {"wpo", U::pronoun},
      {"wps", U::pronoun},    {"ex", U::pronoun},     {"at", U::determiner},  {"dt", U::determiner},
      {"dt$", U::determiner}, {"dti", U::determiner}, {"dts", U::determiner}, {"dtx", U::determiner},
      {"abn", U::determiner}, {"abx", U::determiner}, {"ap", U::determiner},  {"ap$", U::determiner},
      {"wdt", U::determiner}, {"in", U::adposition},  {"cc", U::conjunction}, {"cs", U::conjunction},
      {"cd", U::numeral},     {"cd$", U::numeral},    {"*", U::particle},     {"to", U::particle},
      {"rp", U::particle},    {".", U::punctuation},  {",", U::punctuation},  {":", U::punctuation},
      {"(", U::punctuation},  {")", U::punctuation},  {"--", U::punctuation}, {"``", U::punctuation},
      {"''", U::punctuation}, {"'", U::punctuation},  {"uh", U::other},       {"nil", U::other},
  };
  return table;
}

// The first part of a compound tag, without -tl / -hl / -nc (and the rare stray "-t", "-n") and
// without the negation mark of "bez*" (isn't), "md*" (cannot). "--" and "---hl" are the dash tag,
// whose own hyphens must survive; "*" alone is "not".
std::string_view base_of(std::string_view tag) {
  if (tag.rfind("--", 0) == 0) return "--";
  tag = tag.substr(0, tag.find('+'));
  tag = tag.substr(0, tag.find('-'));
  if (tag.size() > 1 && tag.back() == '*') tag.remove_suffix(1);
  return tag;
}

bool is_foreign(std::string_view tag) { return tag.rfind("fw-", 0) == 0 || tag == "fw"; }

}  // namespace

const std::array<std::string, kUniversalTagCount>& universal_tag_names() {
  static const std::array<std::string, kUniversalTagCount> names = {"NOUN", "VERB", "ADJ", "ADV", "PRON", "DET",
                                                                    "ADP",  "CONJ", "NUM", "PRT", ".",    "X"};
  return names;
}

UniversalTag universal_from_brown(std::string_view brown_tag) {
  if (is_foreign(brown_tag)) return U::other;
  const auto& table = base_tags();
  auto it = table.find(base_of(brown_tag));
  return it == table.end() ? U::other : it->second;
}

bool is_known_brown_tag(std::string_view brown_tag) {
  return is_foreign(brown_tag) || base_tags().count(base_of(brown_tag)) > 0;
}

}  // namespace headlab
