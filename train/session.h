// A training session: everything a run needs, built from TrainOptions — the data (checked against
// the model), the model (fresh, from --init, or from --resume), the optimizer, the batchers, and
// where the run stands (step, tokens seen).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/token_dataset.h"
#include "model/backend.h"
#include "model/transformer.h"
#include "train/batcher.h"
#include "train/optimizer.h"
#include "train/options.h"
#include "train/rank_group.h"

namespace headlab {

struct TrainSession {
  TrainOptions options;
  std::string tokenizer_json;  // the dataset's, else the --init / --resume checkpoint's
  // Declared before what uses it: destroyed last.
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Transformer> model;
  std::unique_ptr<Optimizer> optimizer;
  std::unique_ptr<Batcher> train_batches;
  int64_t step = 0;             // updates done
  int64_t tokens_seen = 0;      // input tokens through forward, all micro-batches
  std::string last_checkpoint;  // the --resume file until this run writes one
  // A fingerprint of --data's contents (empty for a built-in source); checkpoints keep it, so a
  // resume on other data is caught even when the file name is the same.
  std::string data_fingerprint;
  // The model_hash of the --init weights a run started from (empty without --init), kept in the
  // checkpoints like the data fingerprint: two runs with the same options but other --init
  // weights are not the same run.
  std::string init_fingerprint;
  // Options given now that change a resumed run from the one in the checkpoint (a new --lr ...):
  // allowed, and the command prints each as a warning, one line apiece.
  std::vector<std::string> warnings;
  // --data is read from its file as training goes (TrainOptions::read_data), not held in memory.
  bool data_from_disk = false;
  // The ranks of a data-parallel run (mpirun): each takes its share of every batch, gradients are
  // summed over them, rank 0 alone writes files. Null: this process alone.
  RankGroup* ranks = nullptr;
  Reduction reduction = Reduction::mpi;
  // Reduction::overlap: the backward's parts grouped into buckets of at least this many floats
  // (0: one bucket per block), each summed as soon as it is final.
  int64_t bucket_floats = 0;

  bool has_validation() const { return val_repeat_ || val_dataset_ != nullptr; }
  // A fresh batcher over the validation data, the same batches at every evaluation.
  std::unique_ptr<Batcher> make_val_batcher() const;

 private:
  friend TrainSession open_session(const TrainOptions& options, int gpu);
  std::shared_ptr<const TokenDataset> val_dataset_;
  bool val_repeat_ = false;
};

// Validates the options, loads the data and builds the run. InputError naming the option at
// fault: a missing or malformed file, a dataset that does not fit the model (ids >= d_vocab,
// sequences longer than n_ctx + 1, a stream shorter than n_ctx + 1), a resume state that does not
// fit the data ...
//
// With --resume, against the checkpoint's run (options.resume, its /train options_json):
//  - errors (the run would not be the same run): other data (by contents, not name: a moved file
//    is fine), another built-in task or task setting, another --seed or --optimizer, a checkpoint
//    past --steps (a checkpoint at exactly --steps resumes to no steps: final.h5 is written) or
//    past --stop-at; a damaged training state (NaN, inf or negative optimizer moments, a stored
//    tokenizer that does not parse; resumed_options checks the stored options);
//  - warnings (allowed; the run goes on with the new value): --batch-size, --grad-accum, --lr,
//    --beta1, --beta2, --eps, --weight-decay, --grad-clip, --warmup, --schedule, --min-lr,
//    --steps under a cosine schedule (its horizon), --threads (the last bits of the sums);
//  - silently taken: --out, --val-data, --device, --log-every, --eval-*, --checkpoint-*.
// The model is always the checkpoint's (ModelRequest::any_given is an error; the command lets
// model options through that equal the checkpoint's).
// `gpu`: the CUDA device for --device cuda (a data-parallel rank's own).
TrainSession open_session(const TrainOptions& options, int gpu = 0);

// The training options a checkpoint stores (/train options_json): options_to_json(options) and
// the data and --init fingerprints.
std::string checkpoint_options_json(const TrainSession& session);

// The options a checkpoint's run was started with (its /train options_json), ready to resume it:
// resume = path, stop_at = 0. Explicit options given now go on top. InputError naming the file
// when it has no training state or the stored options are malformed or out of range.
TrainOptions resumed_options(const std::string& checkpoint_path);

// Whether two checkpoints' options (options_json) and models describe the same run: one whose
// checkpoints hold the same weights at the same steps. Options that only say what is logged,
// evaluated, saved or tracked (out, val_data, log_every, eval_*, checkpoint_*, track_*) do not
// count. Returns "" when they agree, else the first difference in words, the other run's value first
// ("steps 100 there, 50 here").
std::string run_difference(const std::string& options_json, const ModelConfig& config,
                           const std::string& other_options_json, const ModelConfig& other_config);

// The model a fresh run builds: the request's fields, with n_ctx and d_vocab taken from the data
// where not given (see ModelRequest). Validated.
ModelConfig resolve_model(const TrainOptions& options, const TokenDataset* data);

}  // namespace headlab
