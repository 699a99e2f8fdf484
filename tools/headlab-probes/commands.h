// The subcommands of headlab-probes: one function per subcommand, each in cmd_<name>.cpp, and the
// table main.cpp dispatches on. Each gets argv from the subcommand's name on and returns the exit
// status (errors are thrown: main's run_command prints them).
#pragma once
#include <vector>

#include "tools/common/subcommands.h"

#include "tools/headlab-probes/sae_commands.h"

namespace headlab::probes_cli {

int cmd_extract(int argc, char** argv);    // activations of a dataset into a store
int cmd_linear(int argc, char** argv);     // linear probes per hook and per head, with controls
int cmd_intervene(int argc, char** argv);  // shift the best heads along their probe directions (ITI)

using cli::Subcommand;

inline const std::vector<Subcommand>& subcommands() {
  static const std::vector<Subcommand> table = {
      {"extract", "run the model over a dataset and store the activations at some hook points", cmd_extract, true},
      {"linear", "linear probes (logistic / ridge) per hook point and per head, with baseline and control task",
       cmd_linear, true},
      {"intervene", "shift the top-K heads along their probe directions (ITI): metric and loss against alpha",
       cmd_intervene},
      {"sae", "sparse autoencoders: sae train | sae eval | sae features", cmd_sae},
  };
  return table;
}

}  // namespace headlab::probes_cli
