// The float64 PyTorch references (tests/*/..._reference.py) run under Debian's python3, which has
// torch, h5py and numpy (python-torch, python3-h5py); a pyenv python on PATH may not.
#pragma once
#include <cstdlib>
#include <filesystem>
#include <string>

namespace headlab::testing {

constexpr const char* kReferencePython = "/usr/bin/python3";

// Empty when the references can run, else why not (for GTEST_SKIP). Probed once per process.
inline const std::string& python_reference_missing() {
  static const std::string why = [] {
    const std::string python = kReferencePython;
    if (!std::filesystem::exists(python)) return python + " is not installed";
    if (std::system((python + " -c 'import torch, h5py, numpy' >/dev/null 2>&1").c_str()) != 0)
      return python + " cannot import torch, h5py and numpy";
    return std::string();
  }();
  return why;
}

}  // namespace headlab::testing
