#include "circuits/heads_arg.h"

#include <algorithm>
#include <cctype>

#include "core/errors.h"

namespace headlab {
namespace {

// Digits from s[i] on, as an int; false when there are none or too many.
bool read_number(const std::string& s, size_t& i, int& out) {
  const size_t start = i;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  if (i == start || i - start > 6) return false;
  out = std::stoi(s.substr(start, i - start));
  return true;
}

}  // namespace

std::string head_label(HeadRef h) { return "L" + std::to_string(h.layer) + "H" + std::to_string(h.head); }

HeadRef parse_head(const std::string& text, const ModelConfig& cfg, const std::string& what) {
  HeadRef h;
  size_t i = 0;
  const bool ok = i < text.size() && std::toupper(static_cast<unsigned char>(text[i++])) == 'L' &&
                  read_number(text, i, h.layer) && i < text.size() &&
                  std::toupper(static_cast<unsigned char>(text[i++])) == 'H' && read_number(text, i, h.head) &&
                  i == text.size();
  if (!ok) throw InputError(what, "expected a head written L<layer>H<head> (e.g. L1H4), got '" + text + "'");
  if (h.layer >= cfg.n_layers || h.head >= cfg.n_heads)
    throw InputError(what, "head " + text + " does not exist: the model has layers 0.." +
                               std::to_string(cfg.n_layers - 1) + " and heads 0.." + std::to_string(cfg.n_heads - 1));
  return h;
}

std::vector<HeadRef> parse_head_list(const std::string& text, const ModelConfig& cfg, const std::string& what) {
  std::vector<HeadRef> out;
  std::string item;
  auto flush = [&] {
    if (item.empty()) return;
    HeadRef h = parse_head(item, cfg, what);
    if (std::find(out.begin(), out.end(), h) != out.end())
      throw InputError(what, "head " + head_label(h) + " is listed twice");
    out.push_back(h);
    item.clear();
  };
  for (char c : text) {
    if (c == ',' || std::isspace(static_cast<unsigned char>(c)))
      flush();
    else
      item += c;
  }
  flush();
  if (out.empty()) throw InputError(what, "expected at least one head (e.g. L1H4,L2H0)");
  return out;
}

std::vector<HeadRef> all_heads(const ModelConfig& cfg) {
  std::vector<HeadRef> out;
  for (int l = 0; l < cfg.n_layers; ++l)
    for (int h = 0; h < cfg.n_heads; ++h) out.push_back({l, h});
  return out;
}

}  // namespace headlab
