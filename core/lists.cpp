#include "core/lists.h"

#include <cmath>
#include <stdexcept>

#include "core/errors.h"

namespace headlab {

std::vector<std::string> split_list(const std::string& text, char separator) {
  std::vector<std::string> items;
  size_t start = 0;
  while (true) {
    const size_t end = text.find(separator, start);
    if (end == std::string::npos) {
      items.push_back(text.substr(start));
      return items;
    }
    items.push_back(text.substr(start, end - start));
    start = end + 1;
  }
}

std::vector<std::string> split_nonempty(const std::string& text, char separator) {
  std::vector<std::string> items;
  for (std::string& item : split_list(text, separator))
    if (!item.empty()) items.push_back(std::move(item));
  return items;
}

namespace {
// std::stof / std::stod: each rounds the text once, straight to its own type.
float parse_one(const std::string& s, size_t* used, float) { return std::stof(s, used); }
double parse_one(const std::string& s, size_t* used, double) { return std::stod(s, used); }
}  // namespace

template <class T>
std::vector<T> parse_number_list(const std::string& text, const std::string& what) {
  std::vector<T> out;
  for (const std::string& item : split_nonempty(text)) {
    size_t used = 0;
    T v = 0;
    try {
      v = parse_one(item, &used, T());
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || !std::isfinite(v))
      throw InputError(what, "expected comma-separated numbers, got '" + item + "'");
    out.push_back(v);
  }
  if (out.empty()) throw InputError(what, "expected at least one number");
  return out;
}

template std::vector<float> parse_number_list<float>(const std::string&, const std::string&);
template std::vector<double> parse_number_list<double>(const std::string&, const std::string&);

}  // namespace headlab
