// headlab-circuits formation: when induction heads formed during a run tracked with
// headlab-train --track-heads FILE.h5 (circuits/formation.h): DIR/formation.{json,txt,svg}.
#include <cstdio>
#include <filesystem>

#include "circuits/cmd_common.h"
#include "circuits/commands.h"
#include "circuits/formation.h"
#include "model/errors.h"

namespace headlab::circuits_cli {
namespace {

const char* kFormationUsage =
    "usage: headlab-circuits formation --track FILE.h5 [--out-dir DIR] [--threshold X]\n"
    "Finds the step where induction heads form in a run tracked with headlab-train --track-heads FILE.h5:\n"
    "the steepest rise of the best head's induction score, the drop of the repeated-half loss and of the\n"
    "in-context-learning score, and the training-loss bump; draws the curves.";

}  // namespace

int cmd_formation(int argc, char** argv) {
  std::string track_path, out_dir;
  double threshold = 0.4;
  po::options_description opts("headlab-circuits formation");
  opts.add_options()("help", "this help")("track", po::value(&track_path),
                                          "the file headlab-train --track-heads wrote")(
      "out-dir", po::value(&out_dir), "output directory (default: <track's folder>/formation)")(
      "threshold", po::value(&threshold)->default_value(threshold),
      "induction-score level reported as 'first above' (ARENA's induction-head threshold)");
  if (!parse_command_line(argc, argv, opts, kFormationUsage)) return 0;
  if (track_path.empty()) throw InputError("--track", "is required");
  if (out_dir.empty()) {
    const std::filesystem::path parent = std::filesystem::path(track_path).parent_path();
    out_dir = (parent.empty() ? std::filesystem::path("formation") : parent / "formation").string();
  }
  const FormationTrack track = read_formation_track(track_path);
  const FormationAnalysis a = analyse_formation(track, threshold);
  write_formation_report(track, a, track_path, out_dir);
  std::fputs(formation_text(track, a, track_path).c_str(), stdout);
  std::printf("wrote %s/formation.json, formation.txt, formation.svg\n", out_dir.c_str());
  return 0;
}

}  // namespace headlab::circuits_cli
