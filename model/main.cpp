// headlab-model: init, info, run (forward with a cache), sample.
#include <boost/program_options.hpp>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <sstream>

#include "cli/command_main.h"
#include "cli/model_options.h"
#include "data/tokenizer.h"  // the command (not the library) plugs in data/ to print text
#include "model/checkpoint.h"
#include "model/h5_file.h"
#include "model/hooks.h"
#include "model/transformer.h"

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
    "          continues the prompt; prints the text when the checkpoint carries its tokenizer\n"
    "Run headlab-model <command> --help for the options of one command.\n";

po::variables_map parse(int argc, char** argv, const po::options_description& opts,
                        const po::positional_options_description* pos = nullptr) {
  po::variables_map vm;
  po::command_line_parser parser(argc, argv);
  parser.options(opts);
  if (pos) parser.positional(*pos);
  po::store(parser.run(), vm);
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
  return make_backend(parse_device(device), threads);
}

int cmd_init(int argc, char** argv) {
  cli::ModelOptionValues mv;
  std::string config_path, out;
  uint64_t seed = 0;
  po::options_description opts("headlab-model init");
  opts.add_options()("help", "this help")("config", po::value<std::string>(&config_path),
                                          "INI file with a [model] section")(
      "seed", po::value<uint64_t>(&seed)->default_value(0), "initialisation seed")("out", po::value<std::string>(&out),
                                                                                   "checkpoint to write");
  cli::add_model_options(opts, mv);
  po::variables_map vm = parse(argc, argv, opts);
  if (vm.count("help")) {
    std::cout << opts;
    return 0;
  }
  if (vm.count("config")) {  // bound variables are only set by notify(): read it from the map
    config_path = vm["config"].as<std::string>();
    std::ifstream in(config_path);
    if (!in) throw InputError("--config " + config_path, "cannot open the file");
    // Other sections ([train] ...) belong to other commands; an unknown key in [model] is an error.
    try {
      po::parsed_options parsed = po::parse_config_file(in, opts, /*allow_unregistered=*/true);
      for (const std::string& key : po::collect_unrecognized(parsed.options, po::include_positional))
        if (key.rfind("model.", 0) == 0)
          throw InputError("--config " + config_path, "unknown key '" + key.substr(6) + "' in [model]");
      po::store(parsed, vm);
    } catch (const po::error& e) {
      throw InputError("--config " + config_path, e.what());
    }
  }
  po::notify(vm);
  cli::require_option(vm, "out");
  ModelConfig cfg = cli::model_config_from(mv);
  auto be = make_cpu_backend(0);
  Transformer model(cfg, *be);
  model.init_gpt2(seed);
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
  opts.add_options()("help", "this help")("checkpoint", po::value<std::string>(&path), "checkpoint");
  po::positional_options_description pos;
  pos.add("checkpoint", 1);
  po::variables_map vm;
  if (!parse_or_help(argc, argv, opts, vm, &pos)) return 0;
  cli::require_option(vm, "checkpoint");
  Checkpoint ck = read_checkpoint(path);
  const ModelConfig& c = ck.config;
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
  std::printf("  tokenizer %s\n", ck.tokenizer_json.empty() ? "none" : "included");
  std::printf("  hash %s\n", model_hash(c, ck.params).c_str());
  return 0;
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

int cmd_run(int argc, char** argv) {
  std::string ckpt_path, tokens_path, hooks_arg, out, device;
  int batch_size = 0, threads = 0;
  po::options_description opts("headlab-model run");
  opts.add_options()("help", "this help")("checkpoint", po::value<std::string>(&ckpt_path), "checkpoint")(
      "tokens", po::value<std::string>(&tokens_path), "HDF5 file with /tokens [batch, pos] (int)")(
      "hooks", po::value<std::string>(&hooks_arg)->default_value(""), "comma-separated hook names to cache")(
      "out", po::value<std::string>(&out), "HDF5 file to write")(
      "batch-size", po::value<int>(&batch_size)->default_value(16), "sequences per forward")(
      "device", po::value<std::string>(&device)->default_value("cpu"), "cpu | cuda")(
      "threads", po::value<int>(&threads)->default_value(0), "CPU threads (0 = all cores)");
  po::variables_map vm;
  if (!parse_or_help(argc, argv, opts, vm)) return 0;
  for (const char* r : {"checkpoint", "tokens", "out"}) cli::require_option(vm, r);
  if (batch_size < 1) throw InputError("--batch-size", "expected a positive integer");
  Checkpoint ck = read_checkpoint(ckpt_path);
  std::vector<HookPoint> points;
  for (const std::string& name : split_commas(hooks_arg)) points.push_back(parse_hook_name(name, ck.config));

  h5::File in = h5::File::open(tokens_path);
  h5::Shape shape;
  std::vector<int32_t> tokens = in.read<int32_t>("tokens", &shape);
  if (shape.size() != 2)
    throw InputError(tokens_path + ": /tokens", "expected a 2-D array [batch, pos], got shape " + h5::to_string(shape));
  const int64_t B = shape[0], T = shape[1];
  if (B < 1 || T < 1) throw InputError(tokens_path + ": /tokens", "expected at least one token");

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
      const HostTensor& t = hooks.cached(hook_name(p));
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

int cmd_sample(int argc, char** argv) {
  std::string ckpt_path, prompt, prompt_text, device;
  int max_new = 0, threads = 0;
  float temperature = 1.0f;
  uint64_t seed = 0;
  po::options_description opts("headlab-model sample");
  opts.add_options()("help", "this help")("checkpoint", po::value<std::string>(&ckpt_path), "checkpoint")(
      "prompt-tokens", po::value<std::string>(&prompt), "token ids, space or comma separated")(
      "prompt", po::value<std::string>(&prompt_text), "text, encoded with the checkpoint's tokenizer")(
      "max-new", po::value<int>(&max_new)->default_value(20), "tokens to generate")(
      "temperature", po::value<float>(&temperature)->default_value(1.0f), "0 = greedy")(
      "seed", po::value<uint64_t>(&seed)->default_value(0), "sampling seed")(
      "device", po::value<std::string>(&device)->default_value("cpu"), "cpu | cuda")(
      "threads", po::value<int>(&threads)->default_value(0), "CPU threads (0 = all cores)");
  po::variables_map vm;
  if (!parse_or_help(argc, argv, opts, vm)) return 0;
  cli::require_option(vm, "checkpoint");
  if (vm.count("prompt") == vm.count("prompt-tokens"))
    throw InputError("--prompt / --prompt-tokens", "expected exactly one of them");
  if (max_new < 0) throw InputError("--max-new", "expected a non-negative integer");
  if (!(temperature >= 0.0f) || !std::isfinite(temperature))
    throw InputError("--temperature", "expected a number >= 0");
  Checkpoint ck = read_checkpoint(ckpt_path);
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
  auto be = backend_from(device, threads);
  Transformer model(ck.config, *be);
  model.params_from_host(ck.params);
  std::mt19937_64 rng(seed);
  const int V = ck.config.d_vocab;
  for (int i = 0; i < max_new; ++i) {
    // The window: the last n_ctx tokens.
    const size_t start = seq.size() > size_t(ck.config.n_ctx) ? seq.size() - size_t(ck.config.n_ctx) : 0;
    const int T = int(seq.size() - start);
    model.forward(seq.data() + start, 1, T);
    std::vector<float> logits = model.logits_to_host();
    const float* last = logits.data() + size_t(T - 1) * size_t(V);
    int32_t next = 0;
    if (temperature == 0.0f) {
      for (int v = 1; v < V; ++v)
        if (last[v] > last[next]) next = v;
    } else {
      double mx = last[0];
      for (int v = 1; v < V; ++v) mx = std::max(mx, double(last[v]));
      std::vector<double> p(static_cast<size_t>(V));
      double sum = 0;
      for (int v = 0; v < V; ++v) sum += p[size_t(v)] = std::exp((double(last[v]) - mx) / temperature);
      double u = double(rng() >> 11) * 0x1.0p-53 * sum;
      next = V - 1;
      for (int v = 0; v < V; ++v) {
        u -= p[size_t(v)];
        if (u < 0) {
          next = v;
          break;
        }
      }
    }
    seq.push_back(next);
  }
  for (size_t i = 0; i < seq.size(); ++i) std::printf(i ? " %d" : "%d", seq[i]);
  std::printf("\n");
  if (tokenizer && tokenizer->vocab_size() == ck.config.d_vocab)
    std::printf("%s\n", tokenizer->decode(seq, SpecialTokenText::skip).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_command("headlab-model", [&]() -> int {
    if (argc < 2) throw InputError("command", "expected init, info, run or sample (see headlab-model --help)");
    if (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    const std::string cmd = argv[1];
    if (cmd == "init") return cmd_init(argc - 1, argv + 1);
    if (cmd == "info") return cmd_info(argc - 1, argv + 1);
    if (cmd == "run") return cmd_run(argc - 1, argv + 1);
    if (cmd == "sample") return cmd_sample(argc - 1, argv + 1);
    throw InputError("command '" + cmd + "'", "expected init, info, run or sample (see headlab-model --help)");
  });
}
