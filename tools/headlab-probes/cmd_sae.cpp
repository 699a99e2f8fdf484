// `headlab-probes sae train|eval|features`: sparse autoencoders on a model's hook points.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>

#include "core/errors.h"
#include "tools/common/dataset_warning.h"
#include "tools/headlab-probes/cmd_sae_common.h"
#include "tools/headlab-probes/sae_commands.h"

namespace headlab {

namespace sae_cli {

LoadedModel load_model(const std::string& path, int threads) {
  require_cpu_threads(threads);
  return probes_cli::load_model(path, "cpu", threads);
}

TokenDataset load_data(const std::string& path) {
  try {
    TokenDataset ds = read_token_dataset(path);
    cli::warn_assumed("headlab-probes", ds);
    return ds;
  } catch (const InputError& e) {
    throw InputError("--data", e.what());
  }
}

Sae load_sae(const std::string& path) {
  try {
    return read_sae_file(path);
  } catch (const InputError& e) {
    throw InputError("--sae", e.what());
  }
}

std::unique_ptr<Tokenizer> load_tokenizer_of(const Checkpoint& ckpt, const TokenDataset& ds) {
  if (!ckpt.tokenizer_json.empty()) return tokenizer_from_json(ckpt.tokenizer_json, "--checkpoint tokenizer");
  if (!ds.tokenizer_json.empty()) return tokenizer_from_json(ds.tokenizer_json, "--data tokenizer");
  return nullptr;
}

void require_same_model(const Sae& sae, const std::string& sae_path, const std::string& hash,
                        const std::string& ckpt_path) {
  if (!sae.model_hash.empty() && !hash.empty() && sae.model_hash != hash)
    throw InputError("--sae " + sae_path, "was trained on model " + sae.model_hash + ", but --checkpoint " + ckpt_path +
                                              " is model " + hash);
}

}  // namespace sae_cli

int probes_cli::cmd_sae(int argc, char** argv) {
  const std::string usage =
      "usage: headlab-probes sae <train|eval|features> [options]\n"
      "  train     train a sparse autoencoder (relu, topk, batchtopk, jumprelu) on a hook's activations\n"
      "  eval      SAELens' metrics: L0, explained variance, CE loss score, KL score, dead features\n"
      "  features  feature pages: top contexts, density, promoted / suppressed logits, heads (JSON + HTML)\n";
  if (argc < 2) throw InputError("sae", "expected train, eval or features (see headlab-probes sae --help)");
  const std::string sub = argv[1];
  if (sub == "--help" || sub == "-h" || sub == "help") {
    std::fputs(usage.c_str(), stdout);
    return 0;
  }
  if (sub == "train") return sae_cli::cmd_sae_train(argc - 1, argv + 1);
  if (sub == "eval") return sae_cli::cmd_sae_eval(argc - 1, argv + 1);
  if (sub == "features") return sae_cli::cmd_sae_features(argc - 1, argv + 1);
  throw InputError("sae " + sub, "expected train, eval or features (see headlab-probes sae --help)");
}

}  // namespace headlab
