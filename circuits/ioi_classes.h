// Sorting a circuit's heads into the IOI classes of Wang et al. (2022) with the methods that exist:
// path patching (circuits/path_patching.h) for who feeds whom, attention at the task's role
// positions and TransformerLens' head detector (circuits/head_scores.h) for what a head reads.
//   name mover:          its direct path to the logits carries the behaviour (path patching
//                        {h} -> logits, effect <= -threshold) and at END it attends to IO more than
//                        to S; a negative name mover has effect >= +threshold with the same attention;
//   S-suppression:       the same direct effect, but at END it attends to S more than to IO: it
//                        writes against S rather than for IO (small models trained on IOI grow these;
//                        Wang et al.'s classes have no name for them);
//   S-inhibition:        neither, and its paths into the queries of the heads above (name movers and
//                        S-suppression heads) carry the behaviour ({h} -> their q, effect <= -threshold);
//   induction / duplicate token: neither of the above, and its paths into the S-inhibition heads'
//                        keys and values carry the behaviour ({h} -> their k and v, effect <=
//                        -threshold); induction when at S2 it attends more to S1+1 than to S1,
//                        duplicate token otherwise;
//   other:               none of these (the numbers say what it does).
// effect = (patched − clean) / (clean − corrupted): −1 = the paths carry the whole difference.
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "circuits/heads_arg.h"
#include "circuits/metrics.h"
#include "circuits/task_data.h"
#include "data/dataset_annotations.h"
#include "data/token_dataset.h"
#include "model/transformer.h"

namespace headlab {

// The role positions of each row (IOI datasets label them: /labels/role with the names IO, S1, S2
// and END in the label_names annotation).
struct IoiPositions {
  std::vector<int32_t> io, s1, s2, end;  // [n]
};
// InputError naming `what` when the dataset has no role labels or a row lacks one of the roles.
IoiPositions ioi_positions(const TokenDataset& ds, const DatasetAnnotations& annotations, const std::string& what,
                           int64_t n_rows);

struct IoiHead {
  HeadRef head;
  std::string ioi_class;                    // "name mover", "S-suppression", "negative name mover", "S-inhibition",
                                            // "induction", "duplicate token", "other"
  double direct_effect = 0;                 // {h} -> logits
  double via_name_movers = NAN;             // {h} -> the name movers' and S-suppression heads' q (NaN: not run)
  double via_s_inhibition = NAN;            // {h} -> S-inhibition heads' k and v (NaN: not run)
  double end_to_io = 0, end_to_s = 0;       // mean attention from END to IO, to S1 + S2
  double s2_to_s1 = 0, s2_to_after_s1 = 0;  // mean attention from S2 to S1, to S1 + 1
  double duplicate = 0, induction = 0;      // TransformerLens' detector (mul, BOS excluded) on the clean rows
};

struct IoiClassOptions {
  MetricKind metric = MetricKind::logit_diff;
  double threshold = 0.1;  // |effect| a class needs
  int batch_size = 16;
};

struct IoiClasses {
  std::vector<IoiHead> heads;  // in the order given
  int64_t forwards = 0;
};

// InputError when the task has no corrupted rows or `heads` is empty.
IoiClasses classify_ioi_heads(Transformer& model, const TaskData& task, const IoiPositions& pos,
                              const std::vector<HeadRef>& heads, const IoiClassOptions& opt);

std::string describe(const IoiHead& h);  // one line: "L2H1  name mover  direct -0.41, END->IO 0.62 ..."

}  // namespace headlab
