// headlab-circuits: the modeling-free methods and head studies on a trained model. A thin main: it
// picks the subcommand from commands.h; errors become the one-line report. Under mpirun the
// subcommands marked in the table share their work among the ranks (tools/common/rank_job.h).
#include "tools/common/rank_job.h"
#include "tools/headlab-circuits/commands.h"

int main(int argc, char** argv) {
  return headlab::cli::rank_subcommand_main("headlab-circuits", headlab::circuits_cli::subcommands(), 12, argc, argv);
}
