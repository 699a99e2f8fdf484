// Directional addition and subtraction (Turner et al. 2023's ActAdd; Tigges et al. 2023): a
// direction at one hook point — the mean difference of the activations of two prompt sets, or one
// read from a file (a probe's or an SAE feature's) — added with a coefficient at every position
// while the model runs. A negative coefficient subtracts it. Reported: the task metric and the
// loss at each coefficient, and sampled continuations.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "circuits/interventions.h"
#include "circuits/metrics.h"
#include "circuits/task_data.h"
#include "data/token_dataset.h"
#include "model/sampling.h"  // generate: steered samples
#include "model/transformer.h"

namespace headlab {

// A prompt is a row up to its answer position (the whole row when the dataset has no /answer_pos).
enum class DirectionPositions {
  all,   // average over every position of every prompt
  last,  // each prompt's last position
};
DirectionPositions parse_direction_positions(const std::string& text, const std::string& what);

// mean(activation | positive) - mean(activation | negative) at `point`, one position's slice
// (d_model floats for the residual stream, n_heads * d_head for hook_z ...). InputError for a
// pattern point, a stream dataset or one whose tokens do not fit the model.
std::vector<float> mean_difference_direction(Transformer& model, HookPoint point, const TokenDataset& positive,
                                             const std::string& positive_what, const TokenDataset& negative,
                                             const std::string& negative_what, DirectionPositions positions,
                                             int batch_size);

struct SteeringReport {
  HookPoint point;
  MetricKind metric_kind = MetricKind::logit_diff;
  double direction_norm = 0;
  std::vector<float> coefficients;
  std::vector<double> metric;  // [C] mean metric (KL: to the unsteered run)
  std::vector<double> loss;    // [C] mean next-token loss on the task's rows
  double unsteered_metric = 0, unsteered_loss = 0;
};

// The task scored with coefficient * direction added at `point` (every position), for each coefficient.
SteeringReport evaluate_steering(Transformer& model, const TaskData& task, HookPoint point,
                                 const std::vector<float>& direction, const std::vector<float>& coefficients,
                                 MetricKind metric, int batch_size);

}  // namespace headlab
