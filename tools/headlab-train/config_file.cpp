#include "tools/headlab-train/config_file.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <type_traits>
#include <variant>

#include "core/errors.h"
#include "tools/common/command_main.h"
#include "tools/common/ini_file.h"
#include "train/options.h"

namespace headlab::train_command {
namespace {

// One Boost option per entry of the training option table in `group`, typed as its field. No Boost
// default: vm.count(name) means "given".
po::options_description options_of(TrainOption::Group group, const char* caption) {
  po::options_description desc(caption);
  for (const TrainOption& option : train_option_table()) {
    if (option.group != group) continue;
    po::value_semantic* value = std::visit(
        [](auto member) -> po::value_semantic* {
          using T = std::decay_t<decltype(TrainOptions{}.*member)>;
          if constexpr (std::is_same_v<T, uint64_t>)
            return po::value<cli::Unsigned>();  // "-1" is refused, not read as 2^64 - 1
          else if constexpr (std::is_enum_v<T>)
            return po::value<std::string>();
          else
            return po::value<T>();
        },
        option.field);
    desc.add_options()(option.name, value, option.help.c_str());
  }
  return desc;
}

}  // namespace

po::options_description training_options() {
  return options_of(TrainOption::Group::training, "training options ([train] section of --config)");
}

po::options_description head_formation_options() {
  return options_of(TrainOption::Group::head_formation,
                    "head formation ([train] section of --config; read the file with headlab-circuits formation "
                    "--track FILE.h5)");
}

po::parsed_options parse_config_file(const std::string& path, const po::options_description& desc) {
  if (path.empty()) throw InputError("--config", "expected a file name; got an empty one");
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) throw InputError("--config", "cannot open " + path);
  // A directory reads as empty, /dev/zero as one endless line.
  if (!S_ISREG(st.st_mode)) throw InputError("--config " + path, "expected an INI file; this is not a regular file");
  std::istringstream in(cli::normalized_ini(path));
  po::parsed_options parsed = po::parse_config_file(in, desc, /*allow_unregistered=*/true);
  for (po::option& opt : parsed.options) {
    if (!opt.unregistered) continue;
    std::string key = opt.string_key;
    if (key.rfind("train.", 0) == 0) key = key.substr(6);
    std::replace(key.begin(), key.end(), '_', '-');
    if (key == "config" || key == "help" || key.find('.') != std::string::npos || !desc.find_nothrow(key, false))
      throw InputError("--config " + path, "unknown option '" + opt.string_key + "'");
    opt.string_key = key;
    opt.unregistered = false;
  }
  return parsed;
}

}  // namespace headlab::train_command
