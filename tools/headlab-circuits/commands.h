// The subcommands of headlab-circuits: one function per subcommand, each in cmd_<name>.cpp beside this,
// and the table main.cpp dispatches on. Each function gets argv from the subcommand's name on and
// returns the exit status (errors are thrown: main's run_command prints them).
#pragma once
#include <vector>

#include "tools/common/subcommands.h"

namespace headlab::circuits_cli {

// Modeling-free methods on a task with clean/corrupted pairs.
int cmd_patch(int argc, char** argv);       // activation patching sweeps
int cmd_path_patch(int argc, char** argv);  // path patching to receivers' q/k/v or the logits
int cmd_ablate(int argc, char** argv);      // zero / mean / resample ablation of heads and layers
int cmd_dla(int argc, char** argv);         // direct logit attribution
int cmd_logit_lens(int argc, char** argv);  // the logit lens
int cmd_steer(int argc, char** argv);       // directional addition / subtraction

// Head scores and head formation.
int cmd_heads(int argc, char** argv);      // every head's scores and roles (head report)
int cmd_formation(int argc, char** argv);  // when induction heads form, from a --track-heads file

// Circuit search over edges (EAP, EAP-IG, ACDC) on the masked-edge primitive.
int cmd_attribute(int argc, char** argv);  // node attribution patching per head and MLP
int cmd_eap(int argc, char** argv);        // EAP / EAP-IG edge scores and the circuit they give
int cmd_acdc(int argc, char** argv);       // ACDC, the exact slow baseline
int cmd_evaluate(int argc, char** argv);   // a circuit's faithfulness; MIB's curve, CPR and CMD

// What a model (or each checkpoint of a run) has learned of a task, at labelled positions.
int cmd_task_eval(int argc, char** argv);

using cli::Subcommand;

inline const std::vector<Subcommand>& subcommands() {
  static const std::vector<Subcommand> table = {
      {"patch", "activation patching sweeps (denoising / noising) by layer, position and head", cmd_patch, true},
      {"path-patch", "path patching from sender heads to receivers' q/k/v or to the logits", cmd_path_patch},
      {"ablate", "zero / mean / resample ablation of each head and layer: metric and loss", cmd_ablate},
      {"dla", "direct logit attribution of each head, MLP and embedding", cmd_dla},
      {"logit-lens", "the answer's probability and rank in the residual stream after each layer", cmd_logit_lens},
      {"steer", "add a mean-difference direction at a hook point: metric, loss and samples", cmd_steer},
      // head scores and head formation
      {"heads", "every head's scores (induction, previous-token, copying ...) and the roles they earn", cmd_heads},
      {"formation", "when induction heads form during a run tracked with headlab-train --track-heads", cmd_formation},
      {"attribute", "node attribution patching: each head's and MLP's first-order patching effect", cmd_attribute},
      {"eap", "edge attribution patching (EAP, EAP-IG) over every edge; the circuit; MIB CPR/CMD", cmd_eap, true},
      {"acdc", "ACDC: patch edges one at a time from the logits back, keep those that matter", cmd_acdc},
      {"evaluate", "faithfulness of a circuit (edge list or top scores); MIB curve, CPR and CMD", cmd_evaluate},
      {"task-eval", "loss, answer and per-role accuracy, Markov strategies' KL, attention hit rates (over a run)",
       cmd_task_eval},
  };
  return table;
}

}  // namespace headlab::circuits_cli
