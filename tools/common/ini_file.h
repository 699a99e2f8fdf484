// INI files as people and other tools write them, read the same way by every command (--config):
// normalized into the form Boost's parser reads.
#pragma once
#include <cctype>
#include <fstream>
#include <sstream>
#include <string>

#include "core/errors.h"

namespace headlab::cli {

inline std::string ini_trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t"), b = s.find_last_not_of(" \t");
  return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
}

inline std::string ini_lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The text of the INI file at `path`: a UTF-8 byte-order mark and Windows line ends dropped, ';'
// comment lines as well as '#' ones, section names and keys in any case and with spaces inside the
// brackets, values in matching quotes. A line that is not a section or `key = value`, a NUL byte or
// a file over 1 MiB is an InputError naming the line.
inline std::string normalized_ini(const std::string& path) {
  constexpr size_t kMaxBytes = 1 << 20;  // a config of a few hundred bytes; more is not one
  const std::string what = "--config " + path;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(what, "cannot open it");
  std::string text(kMaxBytes + 1, '\0');
  in.read(&text[0], std::streamsize(text.size()));
  text.resize(size_t(in.gcount()));
  if (text.size() > kMaxBytes) throw InputError(what, "expected an INI file of at most 1 MiB; this one is larger");
  if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);
  std::istringstream lines(text);
  std::string line, out;
  for (int number = 1; std::getline(lines, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::string at = "line " + std::to_string(number) + ": ";
    const std::string shown = "'" + (line.size() > 60 ? line.substr(0, 60) + "..." : line) + "'";
    if (line.find('\0') != std::string::npos) throw InputError(what, at + "expected text; found a NUL byte");
    const std::string t = ini_trim(line);
    if (t.empty() || t[0] == '#' || t[0] == ';') continue;
    if (t[0] == '[') {
      const std::string name = t.back() == ']' ? ini_lower(ini_trim(t.substr(1, t.size() - 2))) : "";
      if (name.empty())
        throw InputError(what, at + "expected a section name in brackets ([model] or [train]); got " + shown);
      out += "[" + name + "]\n";
      continue;
    }
    const size_t eq = t.find('=');
    if (eq == std::string::npos || ini_trim(t.substr(0, eq)).empty())
      throw InputError(what, at + "expected 'key = value'; got " + shown);
    std::string value = t.substr(eq + 1);
    value = ini_trim(value.substr(0, value.find('#')));  // as Boost: '#' starts a comment anywhere
    if (value.size() >= 2 && (value[0] == '"' || value[0] == '\'') && value.back() == value[0])
      value = value.substr(1, value.size() - 2);
    out += ini_lower(ini_trim(t.substr(0, eq))) + "=" + value + "\n";
  }
  return out;
}

}  // namespace headlab::cli
