// What a model has learned of a task, read from its predictions at labelled positions: the numbers
// in-context-learning studies follow over training.
//  - loss: mean next-token cross-entropy over the dataset's loss mask (the trainer's convention:
//    mask[p + 1] = 1 counts the prediction made at p);
//  - answer accuracy: argmax of the logits at answer_pos equals /answer;
//  - per role set: next-token accuracy (argmax over the whole vocabulary equals the token at p + 1)
//    and loss at the positions p whose /labels/role is in the set ("trigger_repeat+END");
//  - Markov strategies (a dataset of headlab-data task markov): KL(strategy || model) at every state
//    position p >= 1, the model's distribution renormalised over the K state tokens, for the
//    strategies uniform (1/K), in-context unigram ((n_j + a) / (p + K a) over the states x_1 .. x_p),
//    in-context bigram ((n_ij + a) / (n_i + K a) over the transitions seen so far, i = x_p; the
//    Bayes-optimal predictor under the Dirichlet(a) prior) and the row's true transition row P[x_p];
//  - attention targets: for a label giving, at some query positions, the key position a head should
//    attend to (-1 elsewhere; /labels/attend_target of parity_cot), each head's hit rate (argmax of its
//    pattern row is the target) and mean attention weight on the target.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset_annotations.h"
#include "data/token_dataset.h"
#include "model/transformer.h"

namespace headlab {

struct TaskEvalOptions {
  int batch_size = 16;
  int64_t max_rows = 0;            // 0 = every row
  std::vector<std::string> roles;  // role sets: "name" or "name+name"
  bool strategies = false;         // Markov strategies (needs a markov dataset)
  std::string attention_label;     // e.g. "attend_target"; empty = none
};

struct RoleScore {
  std::string name;  // as given ("trigger_repeat+END")
  int64_t positions = 0;
  double accuracy = 0, loss = 0;  // NaN when no position has the role
};

struct TaskEvalResult {
  int64_t rows = 0, T = 0;  // rows used; positions run (seq_len - 1: every prediction with a next token)
  double loss = 0;          // NaN when the mask keeps nothing
  double answer_accuracy = 0;
  std::vector<RoleScore> roles;
  std::vector<std::string> strategy_names;  // uniform, unigram, bigram, true
  std::vector<double> strategy_kl;          // mean KL(strategy || model) per strategy
  int64_t strategy_positions = 0;
  int64_t attention_positions = 0;  // query positions with a target
  int n_layers = 0, n_heads = 0;
  std::vector<double> hit_rate, target_weight;  // [n_layers * n_heads]
};

// The role sets' names checked against the dataset's label_names["role"], the strategies' needs
// (task markov, /task/state_tokens, /task/transitions) and the attention label's presence before
// any forward: InputError naming the option (--roles, --strategies, --attention-target) otherwise.
// Rows must fit the model (InputError). The model's activations are overwritten.
TaskEvalResult evaluate_task(Transformer& model, const TokenDataset& ds, const DatasetAnnotations& annotations,
                             const TaskEvalOptions& options, const std::string& what);

}  // namespace headlab
