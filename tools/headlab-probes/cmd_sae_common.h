// What the `headlab-probes sae` subcommands share besides probes_options.h: the token data of
// --data, the SAE of --sae, the tokenizer and the model check. Part of the command, not the library.
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
#include "tools/headlab-probes/probes_options.h"

namespace headlab::sae_cli {

namespace po = boost::program_options;
using probes_cli::LoadedModel;
// The CPU model of --checkpoint (SAEs run on the CPU backend).
LoadedModel load_model(const std::string& path, int threads);
TokenDataset load_data(const std::string& path);
Sae load_sae(const std::string& path);
// The tokenizer of the checkpoint, else of the dataset, else none.
std::unique_ptr<Tokenizer> load_tokenizer_of(const Checkpoint& ckpt, const TokenDataset& ds);

// InputError when the SAE records another model than `hash` (both known).
void require_same_model(const Sae& sae, const std::string& sae_path, const std::string& hash,
                        const std::string& ckpt_path);

int cmd_sae_train(int argc, char** argv);
int cmd_sae_eval(int argc, char** argv);
int cmd_sae_features(int argc, char** argv);

}  // namespace headlab::sae_cli
