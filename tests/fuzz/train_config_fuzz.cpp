// headlab-train's INI file (--config): the command's own reader and option descriptions, then the
// values stored and the model they describe checked, as the command does before it trains.
#include <boost/program_options.hpp>

#include "tests/fuzz/fuzz_target.h"
#include "tools/common/model_options.h"
#include "tools/headlab-train/config_file.h"

HEADLAB_FUZZ_TARGET(train_config) {
  namespace po = boost::program_options;
  const std::string path = headlab::fuzz::input_file(data, size, ".ini");
  headlab::cli::ModelOptionValues mv;
  po::options_description model_desc("model options");
  headlab::cli::add_model_options(model_desc, mv);
  po::options_description all;
  all.add(headlab::train_command::training_options()).add(model_desc);
  all.add_options()("track-heads", po::value<std::string>())("track-every", po::value<int64_t>());
  po::variables_map vm;
  try {
    po::store(headlab::train_command::parse_config_file(path, all), vm);
    po::notify(vm);
  } catch (const po::error& e) {  // as the command: a bad value in the file is the file's error
    throw headlab::InputError("--config " + path, e.what());
  }
  headlab::cli::model_config_from(mv).validate("--config " + path);
}
