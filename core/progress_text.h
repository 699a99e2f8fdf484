// The figures of a progress line (headlab-train's, headlab-probes'), written the same everywhere.
#pragma once
#include <string>

namespace headlab {

// "1h02m", "3m05s", "42s"; "?" for a time not known (NaN, negative).
std::string format_duration(double seconds);
// "1.25M", "12.3k", "950": a rate per second, three figures or so.
std::string format_rate(double per_second);

}  // namespace headlab
