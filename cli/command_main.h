// The one place a command turns exceptions into its error line and exit status:
//   headlab-<tool>: error: <what>: <why>     exit 2 for input errors, 1 for internal ones.
// Header-only, shared by every command's main.cpp (commands may use Boost; libraries do not).
#pragma once
#include <boost/program_options.hpp>
#include <cstdio>
#include <exception>
#include <new>
#include <string>

#include "model/errors.h"

namespace headlab::cli {

template <class Body>
int run_command(const char* tool, Body&& body) {
  try {
    return body();
  } catch (const InputError& e) {
    std::fprintf(stderr, "%s: error: %s\n", tool, e.what());
    return 2;
  } catch (const boost::program_options::error& e) {
    std::fprintf(stderr, "%s: error: command line: %s (see %s --help)\n", tool, e.what(), tool);
    return 2;
  } catch (const InternalError& e) {
    std::fprintf(stderr, "%s: error: internal: %s\n", tool, e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "%s: error: out of memory\n", tool);
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: internal: %s\n", tool, e.what());
    return 1;
  }
}

// Throws InputError when a required option is missing.
inline void require_option(const boost::program_options::variables_map& vm, const char* name) {
  if (!vm.count(name)) throw InputError(std::string("--") + name, "is required");
}

}  // namespace headlab::cli
