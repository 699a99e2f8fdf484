// What the `headlab-probes sae` subcommands share: option parsing, the model of --checkpoint, the
// token data of --data, and the SAE of --sae. Part of the command (Boost), not the library.
#pragma once
#include <boost/program_options.hpp>
#include <memory>
#include <string>

#include "data/token_dataset.h"
#include "data/tokenizer.h"
#include "model/backend.h"
#include "model/checkpoint.h"
#include "model/transformer.h"
#include "probes/sae_file.h"

namespace headlab::sae_cli {

namespace po = boost::program_options;

// false after printing usage for --help; stray words are refused (Boost error, exit 2).
bool parse(int argc, char** argv, const po::options_description& opts, const std::string& usage, po::variables_map& vm);

struct LoadedModel {
  Checkpoint checkpoint;
  std::string hash;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Transformer> model;
};
LoadedModel load_model(const std::string& path, int threads);
TokenDataset load_data(const std::string& path);
Sae load_sae(const std::string& path);
// The tokenizer of the checkpoint, else of the dataset, else none.
std::unique_ptr<Tokenizer> load_tokenizer_of(const Checkpoint& ckpt, const TokenDataset& ds);

// InputError when the SAE records another model than `hash` (both known).
void require_same_model(const Sae& sae, const std::string& sae_path, const std::string& hash,
                        const std::string& ckpt_path);

std::string format_seconds(double seconds);  // "42s", "3m05s", "1h02m"

int cmd_sae_train(int argc, char** argv);
int cmd_sae_eval(int argc, char** argv);
int cmd_sae_features(int argc, char** argv);

}  // namespace headlab::sae_cli
