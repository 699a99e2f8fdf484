// Error lines as the commands print them: exactly one line, whatever a file or an option put into the
// message (a newline in a hook name, raw bytes of a damaged corpus file, a megabyte-long argument).
#pragma once
#include <cstddef>
#include <string>

namespace headlab {

// `text` with control characters and bytes that are not UTF-8 written as \n, \t, \xNN, and cut to
// at most `max_bytes` (ending in "...") so that one line stays readable.
std::string printable_line(const std::string& text, size_t max_bytes = 1000);

}  // namespace headlab
