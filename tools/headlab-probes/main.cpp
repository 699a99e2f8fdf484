// headlab-probes: activation stores, linear probes and probe-guided interventions. A thin main: it
// picks the subcommand from commands.h; errors become the one-line report. Under mpirun the
// subcommands marked in the table share their work among the ranks (tools/common/rank_job.h).
#include "tools/common/rank_job.h"
#include "tools/headlab-probes/commands.h"

int main(int argc, char** argv) {
  return headlab::cli::rank_subcommand_main("headlab-probes", headlab::probes_cli::subcommands(), 10, argc, argv);
}
