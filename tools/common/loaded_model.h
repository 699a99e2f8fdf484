// The model a command reads from --checkpoint, and naming the option that gave a file in a reader's
// errors. Header-only, as the rest of tools/common/.
#pragma once
#include <memory>
#include <string>

#include "core/errors.h"
#include "model/backend.h"
#include "model/checkpoint.h"
#include "model/transformer.h"

namespace headlab::cli {

// Runs `read` (a file reader whose InputErrors start with the file's path) and names the option
// that gave the file in its error: "--data task.h5: /tokens: ...".
template <class Read>
auto reading(const std::string& option, Read&& read) -> decltype(read()) {
  try {
    return read();
  } catch (const InputError& e) {
    throw InputError(option, e.what());
  }
}

// The model of --checkpoint on a device.
struct LoadedModel {
  Checkpoint checkpoint;
  std::string hash;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Transformer> model;
};

// InputError for a checkpoint that cannot be read or whose weights hold NaN or inf.
inline LoadedModel load_model(const std::string& path, const std::string& device, int threads) {
  LoadedModel m;
  m.checkpoint = reading("--checkpoint", [&] { return read_checkpoint(path); });
  require_finite_params(m.checkpoint, "--checkpoint " + path);
  m.hash = model_hash(m.checkpoint.config, m.checkpoint.params);
  m.backend = make_backend(parse_device(device), threads);
  m.model = std::make_unique<Transformer>(m.checkpoint.config, *m.backend);
  m.model->params_from_host(m.checkpoint.params);
  return m;
}

}  // namespace headlab::cli
