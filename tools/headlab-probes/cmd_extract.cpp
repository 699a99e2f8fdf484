// headlab-probes extract: the model's activations at some hook points over a token dataset, into an
// activation store (format headlab.activations, probes/activation_store.h), streaming.
#include <algorithm>
#include <cstdio>

#include "core/errors.h"
#include "core/lists.h"
#include "core/output_files.h"
#include "probes/extract.h"
#include "tools/common/rank_job.h"
#include "tools/headlab-probes/commands.h"
#include "tools/headlab-probes/probes_options.h"

namespace headlab::probes_cli {

int cmd_extract(int argc, char** argv) {
  std::string checkpoint, data, hooks_arg, positions_arg, dtype_arg, out, device;
  int64_t max_tokens = 0;
  int seq_len = 0, batch_size = 16, compress = 0, threads = 0;
  po::options_description opts("headlab-probes extract");
  opts.add_options()("help,h", "this help")("checkpoint", po::value<std::string>(&checkpoint), "model checkpoint")(
      "data", po::value<std::string>(&data), "token dataset (headlab-data output: a stream or task rows)")(
      "hooks", po::value<std::string>(&hooks_arg),
      "comma-separated hook names (blocks.0.hook_resid_post, blocks.1.attn.hook_z ...)")(
      "positions", po::value<std::string>(&positions_arg)->default_value("all"),
      "tokens to keep: all | answer (a task row's answer position) | last (each sequence's last)")(
      "max-tokens", po::value<int64_t>(&max_tokens)->default_value(0), "stop after this many tokens (0 = all)")(
      "seq-len", po::value<int>(&seq_len)->default_value(0), "window length over a stream (0 = n_ctx)")(
      "batch-size", po::value<int>(&batch_size)->default_value(16), "sequences per forward")(
      "dtype", po::value<std::string>(&dtype_arg)->default_value("float32"), "float32 | float16 | bfloat16")(
      "compress", po::value<int>(&compress)->default_value(0), "gzip level 1..9 (0 = none)")(
      "out", po::value<std::string>(&out), "the store to write (.h5)")(
      "device", po::value<std::string>(&device)->default_value("cpu"), "cpu | cuda")(
      "threads", po::value<int>(&threads)->default_value(0), "CPU threads (0 = all cores)");
  if (!parse_command_line(argc, argv, opts,
                          "usage: headlab-probes extract --checkpoint CKPT --data FILE.h5 --hooks NAME,... "
                          "[--positions all|answer|last] [--max-tokens N] --out STORE.h5"))
    return 0;
  for (const auto& [name, value] : {std::pair<const char*, std::string*>{"--checkpoint", &checkpoint},
                                    {"--data", &data},
                                    {"--hooks", &hooks_arg},
                                    {"--out", &out}})
    if (value->empty()) throw InputError(name, "is required");
  if (max_tokens < 0) throw InputError("--max-tokens", "expected 0 (all) or a positive count");
  if (seq_len < 0) throw InputError("--seq-len", "expected 0 (n_ctx) or a positive length");
  if (batch_size < 1)
    throw InputError("--batch-size", "expected a positive integer, got " + std::to_string(batch_size));
  if (compress < 0 || compress > 9) throw InputError("--compress", "expected a gzip level 0..9");
  require_cpu_threads(threads);
  ExtractOptions o;
  o.positions = parse_token_positions(positions_arg, "--positions");
  o.dtype = parse_stored_float(dtype_arg, "--dtype");
  o.max_tokens = max_tokens;
  o.seq_len = seq_len;
  o.batch_size = batch_size;
  o.deflate = compress;
  check_output_file(out, "--out");
  check_not_input(out, "--out", data, "--data");
  check_not_input(out, "--out", checkpoint, "--checkpoint");

  LoadedModel m = load_model(checkpoint, device, threads);
  const ModelConfig& c = m.checkpoint.config;
  for (const std::string& name : split_nonempty(hooks_arg)) {
    const HookPoint p = reading("--hooks", [&] { return parse_hook_name(name, c); });
    if (std::find(o.hooks.begin(), o.hooks.end(), p) == o.hooks.end()) o.hooks.push_back(p);
  }
  o.checkpoint_path = checkpoint;
  o.model_hash = m.hash;
  double cached_floats = 0;
  for (HookPoint p : o.hooks) cached_floats += double(h5::numel(hook_shape(p, c, batch_size, c.n_ctx)));
  require_memory(c.memory_bytes(batch_size, c.n_ctx, false) + 8.0 * cached_floats,
                 "--batch-size " + std::to_string(batch_size), "a forward with its cache");

  // Under mpirun the ranks take turns at the batches; rank 0 receives the others' activations and
  // writes the one store.
  cli::RankJob& job = cli::rank_job();
  job.agree(m.hash + " " + cli::file_fingerprint(data));
  if (job.size() > 1) {
    o.shard = job.shard();
    o.send = [&](const float* values, int64_t n) { job.ranks().send_to_root(values, n); };
    o.receive = [&](int from, float* values, int64_t n) { job.ranks().receive_from(from, values, n); };
  }
  if (job.writes()) make_parent_dirs(out, "--out");
  ProgressLine line("headlab-probes extract", "tokens");
  ExtractSummary s =
      extract_activations(*m.model, data, o, out, [&](int64_t done, int64_t total) { line.update(done, total); });
  line.finish();
  double forwards = double(s.forwards);
  job.ranks().sum(&forwards, 1);
  s.forwards = int64_t(forwards);
  if (!job.writes()) return 0;
  std::printf("wrote %s: %lld tokens from %lld sequences (%lld forwards), hooks", out.c_str(), (long long)s.n_tokens,
              (long long)s.n_sequences, (long long)s.forwards);
  for (HookPoint p : o.hooks) std::printf(" %s", hook_name(p).c_str());
  std::printf(", %s, chunks of %lld tokens%s\n", to_string(o.dtype).c_str(), (long long)s.chunk_rows,
              compress ? (", gzip " + std::to_string(compress)).c_str() : "");
  return 0;
}

}  // namespace headlab::probes_cli
