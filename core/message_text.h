// Error lines as the commands print them: exactly one line, whatever a file or an option put into the
// message (a newline in a hook name, raw bytes of a damaged corpus file, a megabyte-long argument).
#pragma once
#include <cstddef>
#include <string>

namespace headlab {

// `text` in printable ASCII: every other byte written as \n, \r, \t or \xNN (UTF-8 included: a
// terminal may not show it, a damaged file's bytes may only look like it, and the escaped form
// names the exact bytes), cut to at most `max_bytes` (ending in "...") so one line stays readable.
std::string printable_line(const std::string& text, size_t max_bytes = 1000);

}  // namespace headlab
