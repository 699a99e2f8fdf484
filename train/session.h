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
  // Options given now that change a resumed run from the one in the checkpoint (a new --lr ...):
  // allowed, and the command prints each as a warning, one line apiece.
  std::vector<std::string> warnings;

  bool has_validation() const { return val_repeat_ || val_dataset_ != nullptr; }
  // A fresh batcher over the validation data, the same batches at every evaluation.
  std::unique_ptr<Batcher> make_val_batcher() const;

 private:
  friend TrainSession open_session(const TrainOptions& options);
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
//    past --steps (a checkpoint at exactly --steps resumes to no steps: final.h5 is written);
//  - warnings (allowed; the run goes on with the new value): --batch-size, --grad-accum, --lr,
//    --beta1, --beta2, --eps, --weight-decay, --grad-clip, --warmup, --schedule, --min-lr,
//    --steps under a cosine schedule (its horizon), --threads (the last bits of the sums);
//  - silently taken: --out, --val-data, --device, --log-every, --eval-*, --checkpoint-*.
// The model is always the checkpoint's (ModelRequest::any_given is an error; the command lets
// model options through that equal the checkpoint's).
TrainSession open_session(const TrainOptions& options);

// The training options a checkpoint stores (/train options_json): options_to_json(options) and
// the data fingerprint.
std::string checkpoint_options_json(const TrainSession& session);

// The options a checkpoint's run was started with (its /train options_json), ready to resume it:
// resume = path, stop_at = 0. Explicit options given now go on top. InputError when the file has
// no training state.
TrainOptions resumed_options(const std::string& checkpoint_path);

// The model a fresh run builds: the request's fields, with n_ctx and d_vocab taken from the data
// where not given (see ModelRequest). Validated.
ModelConfig resolve_model(const TrainOptions& options, const TokenDataset* data);

}  // namespace headlab
