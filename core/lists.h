// Lists on the command line ("resid_pre,attn_out", "-4,-2,2,4", "L2H1:q,L3H0").
#pragma once
#include <string>
#include <vector>

namespace headlab {

// The items between separators, empty ones included (n separators give n + 1 items; "" gives one
// empty item), so that each caller decides whether "a,,b" is a mistake.
std::vector<std::string> split_list(const std::string& text, char separator = ',');

}  // namespace headlab
