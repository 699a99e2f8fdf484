// Linear probe jobs on an activation store: one probe per hook point (and, per head, one on each
// head's slice of hook_z / hook_result / q / k / v), with the controls that make an accuracy mean
// something:
//  - the split is by document, never by token (tokens of one document are not independent), seeded;
//  - the L2 strength is chosen on the validation set from a grid (warm-started path, largest first);
//  - beside each test accuracy: the majority-class baseline, and a control task (Hewitt & Liang
//    2019): every token type gets a random label drawn from the training label distribution, the
//    same probe is trained on it; selectivity = accuracy - control accuracy;
//  - scalar labels get ridge regression, scored by R² (baseline: the training mean, R² <= 0).
// Features are standardised on the training rows while fitting; weights are returned for the raw
// activations (W / σ, b - Σ W μ / σ), so they apply to the store's values directly.
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "model/backend.h"
#include "probes/activation_store.h"
#include "probes/linear_models.h"

namespace headlab {

enum class SplitSet : int8_t { none = -1, train = 0, validation = 1, test = 2 };

struct ProbeSplit {
  std::vector<int8_t> set;  // per token: SplitSet, none where the label is missing (< 0 or NaN)
  int64_t tokens[3] = {0, 0, 0}, documents[3] = {0, 0, 0};
};

// Documents (doc_ids of the labelled tokens) shuffled with `seed` and cut by `fractions` (train,
// validation, test; summing to 1). InputError naming `what` when a set is left without tokens.
ProbeSplit split_by_document(const std::vector<int64_t>& doc_ids, const std::vector<bool>& labelled,
                             const double fractions[3], uint64_t seed, const std::string& what);

// Hewitt & Liang's control task: one random label per token type, drawn from the label
// distribution of the training tokens; tokens without a label keep -1.
std::vector<int32_t> control_task_labels(const std::vector<int32_t>& tokens, const std::vector<int32_t>& labels,
                                         const ProbeSplit& split, uint64_t seed);
// The scalar version: each type gets the label of a random training token.
std::vector<float> control_task_scalars(const std::vector<int32_t>& tokens, const std::vector<float>& labels,
                                        const ProbeSplit& split, uint64_t seed);

// The minibatch solver's settings (train_probe_streaming): what bounds its memory is chunk_rows.
struct MinibatchOptions {
  int64_t chunk_rows = 16384;  // store rows read at a time
  int64_t batch_rows = 256;    // rows per Adam step
  double learning_rate = 1e-2;
  int max_epochs = 100;
  // Stops after `patience` epochs in a row without a better validation loss of the averaged
  // weights. The step size stays constant: the average, not a shrinking step, removes the noise
  // (halving the step on each plateau froze the progress along poorly conditioned directions,
  // 0.01 short of L-BFGS's accuracy on a real head).
  int patience = 3;
  uint64_t seed = 0;  // chunk and row order
};

struct ProbeOptions {
  std::vector<double> l2_grid = {1e-1, 1e-2, 1e-3, 1e-4};
  LbfgsOptions lbfgs;
  MinibatchOptions minibatch;
  bool control = true;
};

// One probe's outcome. For classes the scores are accuracies, for scalars R².
struct ProbeResult {
  std::string hook;
  int layer = -1, head = -1;  // head -1: the whole hook point
  int64_t features = 0;
  LinearFit fit;  // on the raw activations; classes index `classes`
  double l2 = 0, train_score = 0, validation_score = 0, test_score = 0;
  double baseline = 0;  // majority class (classes) or training mean (scalars), on the test set
  double control_score = NAN, control_l2 = NAN, selectivity = NAN;
  // Binary labels: the unit direction w_1 - w_0 (raw space) and the standard deviation of the
  // training activations projected on it, the scale ITI shifts by.
  std::vector<float> direction;
  double projection_std = 0;
  double seconds = 0;
};

// The labels of a job, prepared once and shared by every probe of the job.
struct ProbeTask {
  bool scalar = false;
  std::vector<int32_t> classes;       // the label values seen in training, sorted (index = class)
  std::vector<int32_t> y, control_y;  // per token: class index, -1 where unlabelled
  std::vector<float> yf, control_yf;  // scalar labels; NaN where unlabelled
  ProbeSplit split;
  int64_t majority_class = 0;
};

// InputError (naming the store and label) for a label with one class in training, labels of the
// wrong length, or a split that leaves a set empty.
ProbeTask prepare_probe_task(const ActivationStore& store, const std::string& label, const double fractions[3],
                             uint64_t seed, bool control);

// Trains one probe on X [n_tokens, d] (all of the store's tokens, in store order): full batch,
// L-BFGS for classes and the closed form for scalars.
ProbeResult train_probe(Backend& be, const float* X, int64_t d, const ProbeTask& task, const ProbeOptions& o);

// The same probe (same objective, split, λ choice on validation, controls, outputs) trained by
// minibatch Adam with early stopping, streaming `hook` (or one head's slice of it, head >= 0) from
// the store in chunks of o.minibatch.chunk_rows rows: memory holds one chunk and the weights, never
// the hook's whole matrix (the task's per-token labels aside). Every λ of the grid and the control
// task train side by side, one matrix product per minibatch, so each epoch reads the store once.
ProbeResult train_probe_streaming(Backend& be, const ActivationStore& store, const std::string& hook, int head,
                                  const ProbeTask& task, const ProbeOptions& o);

// Shared by both solvers.
struct Standardiser {
  std::vector<double> mean, scale;  // scale = 1 / std (1 for a constant feature)
};
// Weights for standardised features -> weights for the raw activations.
LinearFit to_raw_features(const LinearFit& f, const Standardiser& s);
// The test set's majority-class accuracy, or (scalars) the R² of predicting the training mean.
double probe_baseline(const ProbeTask& task);
// Two classes: the unit vector w_1 - w_0 of raw-space weights.
std::vector<float> binary_direction(const LinearFit& raw);

}  // namespace headlab
