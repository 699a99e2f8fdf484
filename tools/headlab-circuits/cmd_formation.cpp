// headlab-circuits formation: when induction heads formed during a run tracked with
// headlab-train --track-heads FILE.h5 (circuits/formation.h): DIR/formation.{json,txt,svg}.
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "circuits/formation.h"
#include "core/errors.h"
#include "core/output_files.h"
#include "tools/headlab-circuits/cmd_common.h"
#include "tools/headlab-circuits/commands.h"

namespace headlab::circuits_cli {
namespace {

const char* kFormationUsage =
    "usage: headlab-circuits formation --track FILE.h5 [--out-dir DIR] [--threshold X]\n"
    "Finds the step where induction heads form in a run tracked with headlab-train --track-heads FILE.h5:\n"
    "the steepest rise of the best head's induction score, the drop of the repeated-half loss and of the\n"
    "in-context-learning score, and the training-loss bump; draws the curves.";

// What the analysis compares must be numbers: a NaN score (a diverged run) would be reported as
// "never forms". The training loss may be NaN (unknown at step 0).
void check_track(const FormationTrack& t, const std::string& what) {
  if (t.points.size() < 2)
    throw InputError(what, "holds " + std::to_string(t.points.size()) +
                               " scored point(s); the analysis compares consecutive points and needs at least 2 "
                               "(train longer, or track with a smaller --track-every)");
  for (const FormationPoint& p : t.points) {
    const ProbeScores& s = p.scores;
    const std::pair<const char*, const std::vector<double>*> per_head[] = {{"/induction_stripe", &s.induction_stripe},
                                                                           {"/previous_token", &s.previous_token}};
    for (const auto& [name, values] : per_head)
      for (double v : *values)
        if (!std::isfinite(v))
          throw InputError(what + ": " + name,
                           "expected finite scores; found " + std::to_string(v) + " at step " + std::to_string(p.step));
    for (double v : {s.loss_first_half, s.loss_repeated_half, s.icl_score})
      if (!std::isfinite(v))
        throw InputError(
            what, "expected finite probe losses; found " + std::to_string(v) + " at step " + std::to_string(p.step));
  }
}

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
  if (!(threshold >= 0 && threshold <= 1))
    throw InputError("--threshold", "expected an induction score in [0, 1], got " + std::to_string(threshold));
  if (out_dir.empty()) {
    const std::filesystem::path parent = std::filesystem::path(track_path).parent_path();
    out_dir = (parent.empty() ? std::filesystem::path("formation") : parent / "formation").string();
  }
  check_output_dir(out_dir, "--out-dir");
  const FormationTrack track = reading("--track", [&] { return read_formation_track(track_path); });
  check_track(track, "--track " + track_path);
  const FormationAnalysis a = analyse_formation(track, threshold);
  // Written into a staging folder and moved into place whole: a failure leaves no half report.
  StagedDir staged(out_dir, "--out-dir");
  write_formation_report(track, a, track_path, staged.path());
  staged.commit();
  std::fputs(formation_text(track, a, track_path).c_str(), stdout);
  std::printf("wrote %s/formation.json, formation.txt, formation.svg\n", out_dir.c_str());
  return 0;
}

}  // namespace headlab::circuits_cli
