// The `sae` subcommand of headlab-probes (train, eval, features), registered in commands.h.
#pragma once

namespace headlab::probes_cli {

int cmd_sae(int argc, char** argv);

}  // namespace headlab::probes_cli
