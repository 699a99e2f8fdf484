// A training session: everything a run needs, built from TrainOptions — the data (checked against
// the model), the model (fresh, from --init, or from --resume), the optimizer, the batchers, and
// where the run stands (step, tokens seen).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

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
TrainSession open_session(const TrainOptions& options);

// The options a checkpoint's run was started with (its /train options_json), ready to resume it:
// resume = path, stop_at = 0. Explicit options given now go on top. InputError when the file has
// no training state.
TrainOptions resumed_options(const std::string& checkpoint_path);

// The model a fresh run builds: the request's fields, with n_ctx and d_vocab taken from the data
// where not given (see ModelRequest). Validated.
ModelConfig resolve_model(const TrainOptions& options, const TokenDataset* data);

}  // namespace headlab
