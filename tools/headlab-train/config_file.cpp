#include "tools/headlab-train/config_file.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

#include "core/errors.h"
#include "tools/common/command_main.h"
#include "tools/common/ini_file.h"
#include "train/options.h"

namespace headlab::train_command {
po::options_description training_options() {
  const TrainOptions d;
  po::options_description o("training options ([train] section of --config)");
  o.add_options()("data", po::value<std::string>(),
                  "token dataset (.h5: stream or sequences), builtin:repeat or "
                  "builtin:induction")("val-data", po::value<std::string>(),
                                       "validation dataset or a builtin (default: a builtin's own fresh "
                                       "sequences; none for a file)")(
      "read-data", po::value<std::string>(),
      "auto | memory | disk: read --data whole at the start, or from the file as training goes (bounded memory; "
      "default auto: disk when the tokens would take over a quarter of the usable memory)")(
      "repeat-half-len", po::value<int64_t>(),
      ("builtin:repeat: the most tokens a row repeats (rows are 1 + 2 x this long)" + dflt(d.repeat_half_len)).c_str())(
      "repeat-min-half-len", po::value<int64_t>(),
      "builtin:repeat: the fewest tokens a row repeats; rows with fewer start with random noise (default: "
      "--repeat-half-len, every row the same length)")(
      "induction-seq-len", po::value<int64_t>(),
      ("builtin:induction: tokens the model reads per row (rows are BOS + this many)" + dflt(d.induction_seq_len))
          .c_str())(
      "induction-copy-prob", po::value<double>(),
      ("builtin:induction: chance that a copy of an earlier span starts at a position" + dflt(d.induction_copy_prob))
          .c_str())("induction-min-span", po::value<int64_t>(),
                    ("builtin:induction: the fewest tokens a copy has" + dflt(d.induction_min_span)).c_str())(
      "induction-max-span", po::value<int64_t>(),
      ("builtin:induction: the most tokens a copy has" + dflt(d.induction_max_span)).c_str())(
      "init", po::value<std::string>(), "start from this checkpoint's weights (new optimizer, step 0)")(
      "resume", po::value<std::string>(),
      "continue this checkpoint's run exactly (weights, optimizer, step, data, RNG)")(
      "out", po::value<std::string>(), "output directory")("steps", po::value<int64_t>(),
                                                           ("total optimizer steps" + dflt(d.steps)).c_str())(
      "stop-at", po::value<int64_t>(), "stop after this step (checkpoint written; resume later)")(
      "batch-size", po::value<int64_t>(), ("sequences per micro-batch" + dflt(d.batch_size)).c_str())(
      "grad-accum", po::value<int64_t>(), ("micro-batches per step" + dflt(d.grad_accum)).c_str())(
      "optimizer", po::value<std::string>(), "adamw | sgd (default adamw)")(
      "lr", po::value<float>(), ("peak learning rate" + dflt(d.lr)).c_str())("beta1", po::value<float>(),
                                                                             ("AdamW beta1" + dflt(d.beta1)).c_str())(
      "beta2", po::value<float>(), ("AdamW beta2" + dflt(d.beta2)).c_str())("eps", po::value<float>(),
                                                                            ("AdamW epsilon" + dflt(d.eps)).c_str())(
      "weight-decay", po::value<float>(), ("decoupled weight decay, matrices only" + dflt(d.weight_decay)).c_str())(
      "grad-clip", po::value<float>(), ("max global gradient norm, 0 = off" + dflt(d.grad_clip)).c_str())(
      "warmup", po::value<int64_t>(), ("linear warmup steps" + dflt(d.warmup)).c_str())(
      "schedule", po::value<std::string>(), "constant | cosine, after warmup (default constant)")(
      "min-lr", po::value<float>(), ("where cosine ends" + dflt(d.min_lr)).c_str())(
      "seed", po::value<cli::Unsigned>(), ("seed of the initialisation and the data order" + dflt(d.seed)).c_str())(
      "threads", po::value<int>(), "CPU threads (default 0 = every core)")("device", po::value<std::string>(),
                                                                           "cpu | cuda (default cpu)")(
      "log-every", po::value<int64_t>(), ("steps between log lines" + dflt(d.log_every)).c_str())(
      "eval-every", po::value<int64_t>(), "steps between validation losses (default 0: start and end only)")(
      "eval-batches", po::value<int64_t>(), ("validation batches per evaluation" + dflt(d.eval_batches)).c_str())(
      "checkpoint-every", po::value<int64_t>(), "steps between checkpoints (default 0: none but final.h5)")(
      "checkpoint-schedule", po::value<std::string>(),
      "every | log: log-spaced steps 1, 2, 3, 4, 5, 6, 7, 8, 10, ... (default every)")(
      "checkpoints-per-octave", po::value<int>(), ("log schedule density" + dflt(d.checkpoints_per_octave)).c_str());
  return o;
}

po::parsed_options parse_config_file(const std::string& path, const po::options_description& desc) {
  if (path.empty()) throw InputError("--config", "expected a file name; got an empty one");
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) throw InputError("--config", "cannot open " + path);
  // A directory reads as empty, /dev/zero as one endless line.
  if (!S_ISREG(st.st_mode)) throw InputError("--config " + path, "expected an INI file; this is not a regular file");
  std::istringstream in(cli::normalized_ini(path));
  po::parsed_options parsed = po::parse_config_file(in, desc, /*allow_unregistered=*/true);
  for (po::option& opt : parsed.options) {
    if (!opt.unregistered) continue;
    std::string key = opt.string_key;
    if (key.rfind("train.", 0) == 0) key = key.substr(6);
    std::replace(key.begin(), key.end(), '_', '-');
    if (key == "config" || key == "help" || key.find('.') != std::string::npos || !desc.find_nothrow(key, false))
      throw InputError("--config " + path, "unknown option '" + opt.string_key + "'");
    opt.string_key = key;
    opt.unregistered = false;
  }
  return parsed;
}

}  // namespace headlab::train_command
