// The two kinds of failure: input errors (a person or a file got something wrong; exit 2)
// and internal errors (a bug or a failed system call; exit 1). Only each command's main catches.
#pragma once
#include <stdexcept>
#include <string>

namespace headlab {

// "what: why" — `what` names the input (an option, a file, a dataset), `why` says what was expected.
class InputError : public std::runtime_error {
 public:
  InputError(const std::string& what, const std::string& why) : std::runtime_error(what + ": " + why) {}
};

class InternalError : public std::runtime_error {
 public:
  explicit InternalError(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace headlab
