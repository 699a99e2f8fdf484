// headlab-model: init, info, run (forward with a cache), sample.
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <sstream>

#include "core/h5_file.h"
#include "core/lists.h"
#include "data/gpt2_tokenizer.h"
#include "data/tokenizer.h"  // the command (not the library) plugs in data/ to print text
#include "model/backend.h"
#include "model/checkpoint.h"
#include "model/hf_gpt2.h"
#include "model/hooks.h"
#include "model/params.h"
#include "model/sampling.h"
#include "model/transformer.h"
#include "tools/common/command_main.h"
#include "tools/common/ini_file.h"
#include "tools/common/model_options.h"

namespace po = boost::program_options;
using namespace headlab;

namespace {

const char* kUsage =
    "usage: headlab-model <command> [options]\n"
    "commands:\n"
    "  init    --config FILE.ini [--model.<field> V ...] --seed N --out CKPT.h5   a GPT-2-initialised model\n"
    "  info    CKPT.h5                                   config and parameter counts\n"
    "  run     --checkpoint CKPT --tokens FILE.h5 [--hooks NAME,...] --out OUT.h5\n"
    "          forward on /tokens [batch, pos]; writes /logits and /cache/<hook name>\n"
    "  sample  --checkpoint CKPT (--prompt TEXT | --prompt-tokens \"1 2 3\") --max-new N [--temperature T] [--seed S]\n"
    "          continues the prompt; prints the text when the checkpoint carries its tokenizer.\n"
    "          Past n_ctx tokens the model reads the last n_ctx (a sliding window); T = 0 is greedy\n"
    "  import  --hf DIR --out CKPT.h5                    a Hugging Face GPT-2 (config.json, model.safetensors or\n"
    "                                                    model.safetensors.index.json + its shards)\n"
    "  export  --checkpoint CKPT --safetensors OUT       TransformerLens state_dict names, float32\n"
    "Run headlab-model <command> --help for the options of one command.\n";

po::variables_map parse(int argc, char** argv, const po::options_description& opts,
                        const po::positional_options_description* pos = nullptr) {
  // Without a positional description Boost drops stray words silently ("run ckpt.h5 ..." would
  // then complain about a missing --checkpoint, or nothing at all): collect them, and name the
  // first in the error.
  po::positional_options_description words = pos ? *pos : po::positional_options_description();
  words.add("unexpected-word", -1);
  po::options_description hidden;
  hidden.add_options()("unexpected-word", po::value<std::vector<std::string>>());
  po::options_description all;
  all.add(opts).add(hidden);
  po::variables_map vm;
  po::store(po::command_line_parser(argc, argv).options(all).positional(words).run(), vm);
  if (vm.count("unexpected-word"))
    throw InputError("command line: '" + vm["unexpected-word"].as<std::vector<std::string>>().front() + "'",
                     "unexpected word (options start with --; see --help)");
  return vm;
}

// The command line of info / run / sample: parsed and notified; false (after printing the options)
// for --help.
bool parse_or_help(int argc, char** argv, const po::options_description& opts, po::variables_map& vm,
                   const po::positional_options_description* pos = nullptr) {
  vm = parse(argc, argv, opts, pos);
  po::notify(vm);
  if (!vm.count("help")) return true;
  std::cout << opts;
  return false;
}

std::unique_ptr<Backend> backend_from(const std::string& device, int threads) {
  require_cpu_threads(threads);
  return make_backend(parse_device(device), threads);
}

// An output path: a file name (AtomicFile checks the directory and that it is not one).
void require_output_path(const std::string& path, const char* option) {
  if (path.empty()) throw InputError(option, "expected a file name; got an empty one");
}

// Refuses an output the disk cannot hold, before the work that would fill it.
void require_disk_space(const std::string& path, double bytes, const char* option) {
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  struct statvfs fs;
  if (::statvfs(dir.c_str(), &fs) != 0) return;  // AtomicFile reports a missing directory
  const double free_bytes = double(fs.f_bavail) * double(fs.f_frsize);
  if (bytes > free_bytes)
    throw InputError(std::string(option) + " " + path,
                     "the output needs about " + std::to_string(int64_t(bytes / double(1 << 20))) + " MiB; " + dir +
                         " has " + std::to_string(int64_t(free_bytes / double(1 << 20))) + " MiB free");
}

// The INI file of `init`: [model] keys are its own (an unknown one is an error); [train] and keys
// before any section belong to headlab-train, which reads the same files; any other section is a
// typo. A model key outside [model] would be ignored silently, so it is an error too.
void store_config_file(const std::string& path, const po::options_description& opts, po::variables_map& vm) {
  const std::string what = "--config " + path;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) throw InputError(what, "cannot open the file: no such file");
  if (!S_ISREG(st.st_mode)) throw InputError(what, "expected an INI file; this is not a regular file");
  std::istringstream in(cli::normalized_ini(path));  // as headlab-train reads the same files
  try {
    po::parsed_options parsed = po::parse_config_file(in, opts, /*allow_unregistered=*/true);
    for (const po::option& opt : parsed.options) {
      if (!opt.unregistered) continue;
      const std::string& key = opt.string_key;  // "section.key"; collect_unrecognized would add the values
      const size_t dot = key.find('.');
      const std::string section = dot == std::string::npos ? "" : key.substr(0, dot);
      if (section == "model") throw InputError(what, "unknown key '" + key.substr(6) + "' in [model]");
      if (section.empty() && opts.find_nothrow("model." + key, false))
        throw InputError(what, "key '" + key + "' is outside any section; put it under [model]");
      if (!section.empty() && section != "train")
        throw InputError(what, "unknown section [" + section + "]; expected [model] (and [train] for headlab-train)");
    }
    po::store(parsed, vm);
  } catch (const po::error& e) {
    throw InputError(what, e.what());
  }
}

int cmd_init(int argc, char** argv) {
  cli::ModelOptionValues mv;
  std::string config_path, out;
  cli::Unsigned seed;
  po::options_description general("headlab-model init");
  general.add_options()("help,h", "this help")("config", po::value<std::string>(&config_path),
                                               "INI file with a [model] section")(
      "seed", po::value<cli::Unsigned>(&seed)->default_value(cli::Unsigned{}), "initialisation seed")(
      "out", po::value<std::string>(&out), "checkpoint to write");
  po::options_description model_opts("model options ([model] section of --config)");
  cli::add_model_options(model_opts, mv);
  po::options_description opts;
  opts.add(general).add(model_opts);
  po::variables_map vm = parse(argc, argv, opts);
  if (vm.count("help")) {
    std::cout << opts;
    return 0;
  }
  // Bound variables are only set by notify(): read the path from the map. The file sets model
  // options only (a shared file's seed or out are headlab-train's).
  if (vm.count("config")) store_config_file(vm["config"].as<std::string>(), model_opts, vm);
  po::notify(vm);
  cli::require_option(vm, "out");
  require_output_path(out, "--out");
  ModelConfig cfg = cli::model_config_from(mv);
  require_memory(cfg.memory_bytes(0, 0, false), "--model.*",
                 "a model of " + std::to_string(cfg.n_params()) + " parameters");
  auto be = make_cpu_backend(0);
  Transformer model(cfg, *be);
  model.init_gpt2(seed.value);
  Checkpoint ck;
  ck.config = cfg;
  ck.params = model.params_to_host();
  write_checkpoint(out, ck);
  std::printf("wrote %s (%lld parameters)\n", out.c_str(), (long long)cfg.n_params());
  return 0;
}

int cmd_info(int argc, char** argv) {
  std::string path;
  po::options_description opts("headlab-model info");
  opts.add_options()("help,h", "this help")("checkpoint", po::value<std::string>(&path), "checkpoint");
  po::positional_options_description pos;
  pos.add("checkpoint", 1);
  po::variables_map vm;
  if (!parse_or_help(argc, argv, opts, vm, &pos)) return 0;
  cli::require_option(vm, "checkpoint");
  Checkpoint ck = read_checkpoint(path);
  const ModelConfig& c = ck.config;
  // Parsed, so that a damaged tokenizer is reported here rather than by the first command using it.
  std::unique_ptr<Tokenizer> tokenizer;
  if (!ck.tokenizer_json.empty()) tokenizer = tokenizer_from_json(ck.tokenizer_json, path + ": /tokenizer");
  std::printf("checkpoint %s\n", path.c_str());
  std::printf("  n_layers %d  d_model %d  n_heads %d  d_head %d  d_mlp %d  n_ctx %d  d_vocab %d\n", c.n_layers,
              c.d_model, c.n_heads, c.d_head, c.attn_only ? 0 : c.d_mlp, c.n_ctx, c.d_vocab);
  std::printf("  act_fn %s  normalization_type %s  attn_only %s  positional_embedding_type %s  tie_embeddings %s\n",
              to_string(c.act_fn).c_str(), to_string(c.normalization_type).c_str(), c.attn_only ? "true" : "false",
              to_string(c.positional_embedding_type).c_str(), c.tie_embeddings ? "true" : "false");
  // Parameter counts by group: embed, pos_embed, attn, mlp, norms, unembed.
  std::map<std::string, int64_t> groups;
  ParamTable table(c);
  for (const StorageInfo& s : table.storage()) {
    std::string g = s.name.substr(0, s.name.find('.'));
    if (g == "blocks") {
      const std::string rest = s.name.substr(s.name.find('.', 7) + 1);
      g = rest.rfind("attn", 0) == 0 ? "attn" : rest.rfind("mlp", 0) == 0 ? "mlp" : "norms";
    } else if (g == "ln_final") {
      g = "norms";
    }
    groups[g] += s.size;
  }
  for (const auto& [g, n] : groups) std::printf("  %-10s %12lld\n", g.c_str(), (long long)n);
  std::printf("  %-10s %12lld\n", "total", (long long)table.arena_size());
  if (ck.train)
    std::printf("  trained %lld steps, %lld tokens (optimizer %s)\n", (long long)ck.train->step,
                (long long)ck.train->tokens_seen, ck.train->optimizer_name.c_str());
  if (tokenizer)
    std::printf("  tokenizer %s, %d tokens\n", tokenizer_kind_name(tokenizer->kind()), tokenizer->vocab_size());
  else
    std::printf("  tokenizer none\n");
  std::printf("  hash %s\n", model_hash(c, ck.params).c_str());
  return 0;
}

// The /tokens of `run`: [batch, pos] ids the model can read, checked here so that the error
// names the file.
std::vector<int32_t> read_run_tokens(const std::string& path, const ModelConfig& cfg, int64_t& B, int64_t& T) {
  const h5::File in = h5::File::open(path);
  const std::string what = path + ": /tokens";
  const h5::Shape shape = in.shape("tokens");  // the rank first: nothing is read from a wrong one
  if (shape.size() != 2) throw InputError(what, "expected a 2-D array [batch, pos], got shape " + h5::to_string(shape));
  B = shape[0];
  T = shape[1];
  if (B < 1 || T < 1) throw InputError(what, "expected at least one token, got shape " + h5::to_string(shape));
  if (T > cfg.n_ctx)
    throw InputError(what, "expected sequences of at most n_ctx = " + std::to_string(cfg.n_ctx) + " tokens; found " +
                               std::to_string(T));
  std::vector<int32_t> tokens = in.read<int32_t>("tokens", shape);
  for (size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i] < 0 || tokens[i] >= cfg.d_vocab)
      throw InputError(what, "expected token ids in [0, d_vocab = " + std::to_string(cfg.d_vocab) + "); found " +
                                 std::to_string(tokens[i]) + " at [" + std::to_string(int64_t(i) / T) + ", " +
                                 std::to_string(int64_t(i) % T) + "]");
  return tokens;
}

int cmd_run(int argc, char** argv) {
  std::string ckpt_path, tokens_path, hooks_arg, out, device;
  int batch_size = 0, threads = 0;
  po::options_description opts("headlab-model run");
  opts.add_options()("help,h", "this help")("checkpoint", po::value<std::string>(&ckpt_path), "checkpoint")(
      "tokens", po::value<std::string>(&tokens_path), "HDF5 file with /tokens [batch, pos] (int)")(
      "hooks", po::value<std::string>(&hooks_arg)->default_value(""), "comma-separated hook names to cache")(
      "out", po::value<std::string>(&out), "HDF5 file to write")(
      "batch-size", po::value<int>(&batch_size)->default_value(16), "sequences per forward")(
      "device", po::value<std::string>(&device)->default_value("cpu"), "cpu | cuda")(
      "threads", po::value<int>(&threads)->default_value(0), "CPU threads (0 = all cores)");
  po::variables_map vm;
  if (!parse_or_help(argc, argv, opts, vm)) return 0;
  for (const char* r : {"checkpoint", "tokens", "out"}) cli::require_option(vm, r);
  require_output_path(out, "--out");
  if (batch_size < 1)
    throw InputError("--batch-size", "expected a positive integer, got " + std::to_string(batch_size));
  require_cpu_threads(threads);
  Checkpoint ck = read_checkpoint(ckpt_path);
  const ModelConfig& cfg = ck.config;
  std::vector<HookPoint> points;
  for (const std::string& name : split_nonempty(hooks_arg)) {
    const HookPoint p = parse_hook_name(name, cfg);
    if (std::find(points.begin(), points.end(), p) == points.end()) points.push_back(p);
  }
  int64_t B = 0, T = 0;
  std::vector<int32_t> tokens = read_run_tokens(tokens_path, cfg, B, T);

  const int64_t per_forward = std::min<int64_t>(batch_size, B);
  require_memory(cfg.memory_bytes(per_forward, T, false), "--batch-size " + std::to_string(batch_size),
                 "a forward of " + std::to_string(per_forward) + " sequences of " + std::to_string(T) + " tokens");
  double floats_per_row = double(T) * cfg.d_vocab;  // logits, then each cached hook
  for (HookPoint p : points) floats_per_row += double(h5::numel(hook_shape(p, cfg, 1, T)));
  require_disk_space(out, 4.0 * floats_per_row * double(B), "--out");
  auto be = backend_from(device, threads);
  Transformer model(ck.config, *be);
  model.params_from_host(ck.params);
  h5::AtomicFile file(out);
  h5::Group root = file.file();
  h5::set_format(root, "headlab.run", 1);
  root.set_attr("checkpoint", ckpt_path);
  root.set_attr("model_hash", model_hash(ck.config, ck.params));
  const int64_t V = ck.config.d_vocab;
  h5::DatasetOptions chunked;
  chunked.chunk_rows = 1;
  root.create_dataset<float>("logits", {B, T, V}, chunked);
  for (HookPoint p : points)
    root.create_dataset<float>("cache/" + hook_name(p), hook_shape(p, ck.config, B, T), chunked);
  for (int64_t first = 0; first < B; first += batch_size) {
    const int n = int(std::min<int64_t>(batch_size, B - first));
    HookSet hooks;
    for (HookPoint p : points) hooks.cache(p);
    model.forward(tokens.data() + first * T, n, int(T), &hooks);
    std::vector<float> logits = model.logits_to_host();
    root.write_rows<float>("logits", first, logits.data(), n);
    for (HookPoint p : points) {
      const HostTensor& t = hooks.cached().at(p);
      root.write_rows<float>("cache/" + hook_name(p), first, t.data.data(), n);
    }
  }
  root.write<int32_t>("tokens", tokens.data(), {B, T});
  file.commit();
  std::printf("wrote %s: logits [%lld, %lld, %lld]", out.c_str(), (long long)B, (long long)T, (long long)V);
  for (HookPoint p : points) std::printf(", %s", hook_name(p).c_str());
  std::printf("\n");
  return 0;
}

std::vector<int32_t> parse_token_list(const std::string& s) {
  std::vector<int32_t> out;
  std::stringstream ss(s);
  std::string item;
  while (ss >> item) {
    for (char& ch : item)
      if (ch == ',') ch = ' ';
    std::stringstream inner(item);
    std::string piece;
    while (inner >> piece) {
      char* end = nullptr;
      long v = std::strtol(piece.c_str(), &end, 10);
      if (!end || *end != '\0' || v < 0 || v > INT32_MAX)
        throw InputError("--prompt-tokens", "expected non-negative integer token ids, got '" + piece + "'");
      out.push_back(int32_t(v));
    }
  }
  return out;
}

// Enough for any continuation a person reads; it bounds the time one command line can ask for.
constexpr int kMaxNewTokens = 1 << 16;

int cmd_sample(int argc, char** argv) {
  std::string ckpt_path, prompt, prompt_text, device;
  int max_new = 0, threads = 0;
  float temperature = 1.0f;
  cli::Unsigned seed;
  po::options_description opts("headlab-model sample");
  opts.add_options()("help,h", "this help")("checkpoint", po::value<std::string>(&ckpt_path), "checkpoint")(
      "prompt-tokens", po::value<std::string>(&prompt), "token ids, space or comma separated")(
      "prompt", po::value<std::string>(&prompt_text), "text, encoded with the checkpoint's tokenizer")(
      "max-new", po::value<int>(&max_new)->default_value(20),
      "tokens to generate, 0 to 65536; past n_ctx the model reads the last n_ctx tokens")(
      "temperature", po::value<float>(&temperature)->default_value(1.0f), ">= 0; 0 = greedy")(
      "seed", po::value<cli::Unsigned>(&seed)->default_value(cli::Unsigned{}), "sampling seed")(
      "device", po::value<std::string>(&device)->default_value("cpu"), "cpu | cuda")(
      "threads", po::value<int>(&threads)->default_value(0), "CPU threads (0 = all cores)");
  po::variables_map vm;
  if (!parse_or_help(argc, argv, opts, vm)) return 0;
  cli::require_option(vm, "checkpoint");
  if (vm.count("prompt") == vm.count("prompt-tokens"))
    throw InputError("--prompt / --prompt-tokens", "expected exactly one of them");
  if (max_new < 0 || max_new > kMaxNewTokens)
    throw InputError("--max-new", "expected an integer in [0, " + std::to_string(kMaxNewTokens) + "], got " +
                                      std::to_string(max_new));
  if (!(temperature >= 0.0f) || !std::isfinite(temperature))
    throw InputError("--temperature", "expected a finite number >= 0 (0 = greedy)");
  require_cpu_threads(threads);
  Checkpoint ck = read_checkpoint(ckpt_path);
  require_finite_params(ck, "--checkpoint " + ckpt_path);
  const int V = ck.config.d_vocab;
  std::unique_ptr<Tokenizer> tokenizer;
  if (!ck.tokenizer_json.empty()) tokenizer = tokenizer_from_json(ck.tokenizer_json, ckpt_path + ": /tokenizer");
  std::vector<int32_t> seq;
  if (vm.count("prompt")) {
    if (!tokenizer) throw InputError("--prompt", "the checkpoint has no tokenizer; give --prompt-tokens instead");
    seq.push_back(tokenizer->special().bos);  // documents start with <|bos|> in headlab's datasets
    for (int32_t id : tokenizer->encode(prompt_text)) seq.push_back(id);
  } else {
    seq = parse_token_list(prompt);
  }
  if (seq.empty()) throw InputError("--prompt-tokens", "expected at least one token id");
  const char* prompt_option = vm.count("prompt") ? "--prompt" : "--prompt-tokens";
  for (size_t i = 0; i < seq.size(); ++i)
    if (seq[i] >= V)
      throw InputError(prompt_option, "expected token ids in [0, d_vocab = " + std::to_string(V) + "); found " +
                                          std::to_string(seq[i]) + " at position " + std::to_string(i));
  require_memory(ck.config.memory_bytes(1, ck.config.n_ctx, false), "--checkpoint " + ckpt_path,
                 "a forward of one sequence of n_ctx tokens");
  auto be = backend_from(device, threads);
  Transformer model(ck.config, *be);
  model.params_from_host(ck.params);
  seq = generate(model, std::move(seq), max_new, temperature, seed.value, nullptr, "--checkpoint " + ckpt_path);
  for (size_t i = 0; i < seq.size(); ++i) std::printf(i ? " %d" : "%d", seq[i]);
  std::printf("\n");
  if (tokenizer && tokenizer->vocab_size() == ck.config.d_vocab)
    std::printf("%s\n", tokenizer->decode(seq, SpecialTokenText::skip).c_str());
  return 0;
}

int cmd_import(int argc, char** argv) {
  std::string hf_dir, out, tokenizer_path;
  po::options_description opts("headlab-model import");
  opts.add_options()("help,h", "this help")("hf", po::value<std::string>(&hf_dir),
                                            "a Hugging Face GPT-2 folder: config.json, model.safetensors (or "
                                            "model.safetensors.index.json and its shards), and vocab.json + "
                                            "merges.txt for the tokenizer")(
      "tokenizer", po::value<std::string>(&tokenizer_path),
      "a tokenizer JSON to store instead (headlab-data tokenizer import --gpt2 DIR)")(
      "out", po::value<std::string>(&out), "checkpoint to write");
  po::variables_map vm;
  if (!parse_or_help(argc, argv, opts, vm)) return 0;
  cli::require_option(vm, "hf");
  cli::require_option(vm, "out");
  require_output_path(out, "--out");
  HfImportReport report;
  Checkpoint ck = import_hf_gpt2(hf_dir, &report);
  std::string tokenizer_note = "no tokenizer (give --tokenizer, or put vocab.json + merges.txt in " + hf_dir + ")";
  std::unique_ptr<Tokenizer> tok;
  if (!tokenizer_path.empty()) {
    tok = load_tokenizer(tokenizer_path);
    tokenizer_note = "tokenizer from " + tokenizer_path;
  } else if (has_gpt2_tokenizer_files(hf_dir)) {
    tok = std::make_unique<Gpt2Tokenizer>(import_gpt2_tokenizer(hf_dir));
    tokenizer_note = "GPT-2 tokenizer from " + hf_dir;
  }
  if (tok) {
    if (tok->vocab_size() != ck.config.d_vocab)
      throw InputError(tokenizer_path.empty() ? hf_dir : "--tokenizer " + tokenizer_path,
                       "the tokenizer has " + std::to_string(tok->vocab_size()) +
                           " tokens; the model's vocab_size is " + std::to_string(ck.config.d_vocab));
    ck.tokenizer_json = tok->to_json();
  }
  write_checkpoint(out, ck);
  const ModelConfig& c = ck.config;
  std::printf(
      "wrote %s: GPT-2 of %lld parameters (n_layers %d, d_model %d, n_heads %d, n_ctx %d, d_vocab %d) from %lld "
      "%s tensors%s; %s\n",
      out.c_str(), (long long)c.n_params(), c.n_layers, c.d_model, c.n_heads, c.n_ctx, c.d_vocab,
      (long long)report.n_tensors, report.source_dtype.c_str(),
      report.n_shards ? (" in " + std::to_string(report.n_shards) + " shards").c_str() : "", tokenizer_note.c_str());
  if (!report.ignored.empty()) {
    std::string names;
    for (size_t i = 0; i < report.ignored.size() && i < 4; ++i) names += (i ? ", " : "") + report.ignored[i];
    std::printf("not used: %zu tensors (%s%s)\n", report.ignored.size(), names.c_str(),
                report.ignored.size() > 4 ? ", ..." : "");
  }
  return 0;
}

int cmd_export(int argc, char** argv) {
  std::string path, out;
  po::options_description opts("headlab-model export");
  opts.add_options()("help,h", "this help")("checkpoint", po::value<std::string>(&path), "checkpoint")(
      "safetensors", po::value<std::string>(&out), "the .safetensors file to write (TransformerLens state_dict names)");
  po::variables_map vm;
  if (!parse_or_help(argc, argv, opts, vm)) return 0;
  cli::require_option(vm, "checkpoint");
  cli::require_option(vm, "safetensors");
  require_output_path(out, "--safetensors");
  const Checkpoint ck = read_checkpoint(path);
  require_disk_space(out, double(ck.params.size()) * 4.4, "--safetensors");
  export_safetensors(ck, out);
  std::printf("wrote %s: %zu TransformerLens state_dict entries, float32\n", out.c_str(),
              ParamTable(ck.config).params().size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_command("headlab-model", [&]() -> int {
    if (argc < 2)
      throw InputError("command", "expected init, info, run, sample, import or export (see headlab-model --help)");
    if (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    const std::string cmd = argv[1];
    if (cmd == "init") return cmd_init(argc - 1, argv + 1);
    if (cmd == "info") return cmd_info(argc - 1, argv + 1);
    if (cmd == "run") return cmd_run(argc - 1, argv + 1);
    if (cmd == "sample") return cmd_sample(argc - 1, argv + 1);
    if (cmd == "import") return cmd_import(argc - 1, argv + 1);
    if (cmd == "export") return cmd_export(argc - 1, argv + 1);
    throw InputError("command '" + cmd + "'",
                     "expected init, info, run, sample, import or export (see headlab-model --help)");
  });
}
