// The one place a command turns exceptions into its error line and exit status:
//   headlab-<tool>: error: <what>: <why>     exit 2 for input errors, 1 for internal ones.
// The message goes through one_line, so it stays one line whatever it quotes (a file's bytes, a JSON
// parser's excerpt, a path with a newline).
// Header-only, shared by every command's main.cpp (commands may use Boost; libraries do not).
#pragma once
#include <boost/program_options.hpp>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/message_text.h"

namespace headlab::cli {

// The message on one line in printable ASCII whatever it quotes (a file's bytes, a JSON parser's
// excerpt, a path with a newline): every other byte becomes \n, \r, \t or \xHH.
inline std::string one_line(const char* text) { return printable_line(text, std::string::npos); }

// What the exception being handled becomes: the text after "<tool>: error: " and the exit status.
struct ErrorReport {
  std::string message;
  int status = 1;
};

inline ErrorReport report_current_exception(const char* tool) {
  try {
    throw;
  } catch (const InputError& e) {
    return {one_line(e.what()), 2};
  } catch (const boost::program_options::error& e) {
    return {"command line: " + one_line(e.what()) + " (see " + tool + " --help)", 2};
  } catch (const InternalError& e) {
    return {"internal: " + one_line(e.what()), 1};
  } catch (const std::bad_alloc&) {
    // The inputs are checked against the machine's memory up front (require_memory), so this is
    // memory the system could not give after all: exit 1, an internal failure, not the input's.
    return {"out of memory: the system refused an allocation (try smaller inputs)", 1};
  } catch (const std::length_error& e) {  // an array size beyond std::vector's: the same case
    return {"out of memory: an array too large to allocate (" + one_line(e.what()) + ")", 1};
  } catch (const std::exception& e) {
    return {"internal: " + one_line(e.what()), 1};
  } catch (...) {
    return {"internal: an unknown exception", 1};
  }
}

template <class Body>
int run_command(const char* tool, Body&& body) {
  try {
    return body();
  } catch (...) {
    const ErrorReport r = report_current_exception(tool);
    std::fprintf(stderr, "%s: error: %s\n", tool, r.message.c_str());
    return r.status;
  }
}

// An unsigned option value that refuses a sign: Boost reads "-1" into uint64_t as 2^64 - 1.
// Declare it po::value<cli::Unsigned>() and read .value; a bad value is Boost's invalid-value error.
struct Unsigned {
  uint64_t value = 0;
};
inline std::ostream& operator<<(std::ostream& os, const Unsigned& u) { return os << u.value; }
// Found by Boost through argument-dependent lookup.
inline void validate(boost::any& out, const std::vector<std::string>& values, Unsigned*, int) {
  namespace po = boost::program_options;
  po::validators::check_first_occurrence(out);
  const std::string& text = po::validators::get_single_string(values);
  if (text.empty() || text.size() > 20 || text.find_first_not_of("0123456789") != std::string::npos)
    throw po::invalid_option_value(text);
  errno = 0;
  const unsigned long long v = std::strtoull(text.c_str(), nullptr, 10);
  if (errno == ERANGE) throw po::invalid_option_value(text);
  out = boost::any(Unsigned{uint64_t(v)});
}

// Throws InputError when a required option is missing.
inline void require_option(const boost::program_options::variables_map& vm, const char* name) {
  if (!vm.count(name)) throw InputError(std::string("--") + name, "is required");
}

}  // namespace headlab::cli
