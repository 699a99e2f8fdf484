// headlab-train's options and its INI file (--config): the option descriptions and the reader,
// apart from main.cpp so that the fuzz target of the INI reader (tests/fuzz/train_config_fuzz.cpp)
// runs the command's own code.
#pragma once
#include <boost/program_options.hpp>
#include <string>

namespace headlab::train_command {

namespace po = boost::program_options;

// The options of train_option_table(), by group. No Boost default: vm.count(name) means "given".
po::options_description training_options();
po::options_description head_formation_options();

// Boost's INI parser names a key "<section>.<key>". [model] keys are registered as they are;
// [train] keys (and keys before any section) are the command line's names, in either spelling.
// InputError for a file that is not one, a bad line or an unknown key; a bad value is Boost's
// error when the result is stored.
po::parsed_options parse_config_file(const std::string& path, const po::options_description& desc);

}  // namespace headlab::train_command
