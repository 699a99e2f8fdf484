// Text placed inside XML or HTML (SVG labels and titles, report and feature pages).
#pragma once
#include <string>

namespace headlab {

// `text` with & < > " escaped; control bytes other than tab and newline, which XML 1.0 does not
// allow, become '?'; each newline becomes `newline` (a page of tokens shows it as a visible mark).
std::string escape_xml(const std::string& text, const std::string& newline = "\n");

}  // namespace headlab
