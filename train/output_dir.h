// A run's output folder, checked before the first step: what may be written there, and whether it
// holds another run's files.
#pragma once
#include "train/session.h"

namespace headlab {

// What the command checks before it writes anything, so that a run fails before its first step
// rather than after its last, and leaves nothing behind. InputError naming --out or
// --track-heads when:
//  - --out exists and is not a directory, or lies under a file;
//  - DIR/metrics.jsonl, DIR/final.h5 or a DIR/checkpoints/step_*.h5 exists and is not a regular
//    file (a FIFO would block the writer for ever, a directory fail the rename after the run);
//  - DIR holds checkpoints (or final.h5) of another run (run_difference): past the step this run
//    starts from, files of other settings (a resume from the newest would continue the other
//    run); before it, on a resume, files not of the resumed run. They would mix with this run's.
//    The same run again (the same command, or a resume of it) is fine: it writes the same files;
//  - --track-heads is a directory, a FIFO or device, lies under a file, or is one of the run's
//    other files (--data, --val-data, --init, --resume, DIR/final.h5, DIR/metrics.jsonl, a
//    checkpoint).
void check_output_paths(const TrainSession& session);

}  // namespace headlab
