// Lists on the command line ("resid_pre,attn_out", "-4,-2,2,4", "L2H1:q,L3H0").
#pragma once
#include <string>
#include <vector>

namespace headlab {

// The items between separators, empty ones included (n separators give n + 1 items; "" gives one
// empty item), so that each caller decides whether "a,,b" is a mistake.
std::vector<std::string> split_list(const std::string& text, char separator = ',');
// The same without the empty items ("a,,b," gives a and b).
std::vector<std::string> split_nonempty(const std::string& text, char separator = ',');

// Comma-separated finite numbers ("-4,-2,2,4"; empty items skipped), each read as T (float or
// double) whole. InputError(what, ...) for an item that is not one, or no number at all.
template <class T>
std::vector<T> parse_number_list(const std::string& text, const std::string& what);

}  // namespace headlab
