// headlab-probes sae train: an SAE on one hook of a model, the model run live over a token dataset.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "core/errors.h"
#include "core/output_files.h"
#include "probes/sae_source.h"
#include "tools/headlab-probes/cmd_sae_common.h"

namespace headlab::sae_cli {

namespace {

struct TrainOptions {
  std::string checkpoint, data, store, hook, arch = "topk", out, resume, checkpoint_dir;
  int64_t expansion = 16, k = 100, l1_warmup = 0, l0_warmup = 0, dead_window = 1000;
  double l1 = 1.0, l0 = 1.0, bandwidth = 0.05, init_threshold = 0.01, aux = 1.0, threshold_lr = 0.01;
  double decoder_init_norm = 0.1, lr = 3e-4, grad_clip = 1.0;
  int64_t lr_warmup = 0, lr_decay = 0, batch_size = 4096, steps = 0, norm_tokens = 100000, seq_len = 0;
  int64_t mix_sequences = 64, log_every = 100, checkpoint_every = 0;
  uint64_t seed = 0;
  int threads = 0;
};

void require_positive(int64_t v, const char* option) {
  if (v < 1) throw InputError(option, "expected a number >= 1, got " + std::to_string(v));
}

}  // namespace

int cmd_sae_train(int argc, char** argv) {
  TrainOptions o;
  po::options_description opts("options");
  // clang-format off
  opts.add_options()
      ("help,h", "show this help")
      ("checkpoint", po::value(&o.checkpoint)->required(), "the model (a headlab checkpoint)")
      ("data", po::value(&o.data), "token dataset the model runs on live (headlab-data output)")
      ("store", po::value(&o.store), "or: an activation store of the model (headlab-probes extract) holding --hook")
      ("hook", po::value(&o.hook)->required(), "TransformerLens hook name, e.g. blocks.1.attn.hook_z "
                                                "(hook_z: heads concatenated, an attention-output SAE)")
      ("arch", po::value(&o.arch)->default_value(o.arch), "relu | topk | batchtopk | jumprelu")
      ("expansion", po::value(&o.expansion)->default_value(o.expansion), "latents per input dimension")
      ("k", po::value(&o.k)->default_value(o.k), "topk: latents per token; batchtopk: mean latents per token")
      ("l1", po::value(&o.l1)->default_value(o.l1), "relu: L1 coefficient (on activation x decoder-row norm)")
      ("l1-warmup", po::value(&o.l1_warmup)->default_value(0), "relu: steps of linear L1 warm-up from 0")
      ("l0", po::value(&o.l0)->default_value(o.l0), "jumprelu: L0 coefficient")
      ("l0-warmup", po::value(&o.l0_warmup)->default_value(0), "jumprelu: steps of linear L0 warm-up")
      ("bandwidth", po::value(&o.bandwidth)->default_value(o.bandwidth), "jumprelu: straight-through kernel width")
      ("init-threshold", po::value(&o.init_threshold)->default_value(o.init_threshold), "jumprelu: initial threshold")
      ("aux-coefficient", po::value(&o.aux)->default_value(o.aux), "topk, batchtopk: AuxK coefficient")
      ("threshold-lr", po::value(&o.threshold_lr)->default_value(o.threshold_lr),
       "batchtopk: EMA rate of the inference threshold")
      ("decoder-init-norm", po::value(&o.decoder_init_norm)->default_value(o.decoder_init_norm),
       "norm of each decoder row at initialisation (W_enc = W_dec transposed)")
      ("dead-window", po::value(&o.dead_window)->default_value(o.dead_window),
       "a latent silent for more than this many steps is dead (AuxK, the dead fraction)")
      ("lr", po::value(&o.lr)->default_value(o.lr), "Adam learning rate")
      ("lr-warmup", po::value(&o.lr_warmup)->default_value(0), "steps of linear learning-rate warm-up")
      ("lr-decay", po::value(&o.lr_decay)->default_value(0), "last steps of linear decay to 0")
      ("grad-clip", po::value(&o.grad_clip)->default_value(o.grad_clip), "max gradient norm, 0 = off")
      ("batch-size", po::value(&o.batch_size)->default_value(o.batch_size), "tokens per step")
      ("steps", po::value(&o.steps), "training steps (required unless --resume)")
      ("norm-tokens", po::value(&o.norm_tokens)->default_value(o.norm_tokens),
       "tokens to estimate the input scale on (mean norm -> sqrt(d_in))")
      ("seq-len", po::value(&o.seq_len)->default_value(0), "window length for a stream dataset (0 = n_ctx)")
      ("mix-sequences", po::value(&o.mix_sequences)->default_value(o.mix_sequences),
       "sequences run through the model at a time, their tokens shuffled together")
      ("seed", po::value(&o.seed)->default_value(0), "seed of the initialisation and the data order")
      ("threads", po::value(&o.threads)->default_value(0), "CPU threads (0 = all cores)")
      ("log-every", po::value(&o.log_every)->default_value(o.log_every), "steps between progress lines")
      ("checkpoint-every", po::value(&o.checkpoint_every)->default_value(0),
       "steps between training checkpoints (0 = none)")
      ("checkpoint-dir", po::value(&o.checkpoint_dir), "where checkpoints go (default: OUT's folder/OUT-name.ckpt)")
      ("resume", po::value(&o.resume), "continue from a training checkpoint (its SAE options are used)")
      ("out", po::value(&o.out)->required(), "the SAE file to write (headlab.sae, HDF5)");
  // clang-format on
  po::variables_map vm;
  if (!probes_cli::parse_command_line(argc, argv, opts,
                                      "usage: headlab-probes sae train --checkpoint CKPT --data DATA.h5|--store "
                                      "STORE.h5 --hook NAME --arch ARCH --steps N "
                                      "--out SAE.h5",
                                      &vm))
    return 0;
  if (o.resume.empty() && !vm.count("steps")) throw InputError("--steps", "is required (or --resume a checkpoint)");
  if (o.expansion < 1)
    throw InputError("--expansion", "expected a whole number >= 1, got " + std::to_string(o.expansion));
  require_positive(o.log_every, "--log-every");
  require_positive(o.norm_tokens, "--norm-tokens");
  require_positive(o.mix_sequences, "--mix-sequences");
  if (o.checkpoint_every < 0) throw InputError("--checkpoint-every", "expected a number >= 0");
  check_output_file(o.out, "--out");
  if (o.checkpoint_dir.empty())
    o.checkpoint_dir =
        (std::filesystem::path(o.out).parent_path() / (std::filesystem::path(o.out).stem().string() + ".ckpt"))
            .string();
  if (o.checkpoint_every > 0) check_output_dir(o.checkpoint_dir, "--checkpoint-dir");

  LoadedModel lm = load_model(o.checkpoint, o.threads);
  const ModelConfig& mcfg = lm.checkpoint.config;
  HookPoint hook;
  try {
    hook = parse_hook_name(o.hook, mcfg);
  } catch (const InputError& e) {
    throw InputError("--hook", e.what());
  }
  const int64_t width = [&] {
    try {
      return hook_row_width(hook, mcfg);
    } catch (const InputError& e) {
      throw InputError("--hook", e.what());
    }
  }();
  if (o.data.empty() == o.store.empty()) throw InputError("--data/--store", "expected exactly one of them");
  std::unique_ptr<TokenDataset> ds;
  std::unique_ptr<ActivationStore> store;
  std::unique_ptr<RowSource> source;
  if (!o.store.empty()) {
    store = probes_cli::reading("--store", [&] { return std::make_unique<ActivationStore>(o.store); });
    const std::string& stored_hash = store->provenance().model_hash;
    if (!stored_hash.empty() && stored_hash != lm.hash)
      throw InputError("--store " + o.store, "holds activations of model " + stored_hash + ", but --checkpoint " +
                                                 o.checkpoint + " is model " + lm.hash);
    source = probes_cli::reading("--store", [&] { return std::make_unique<StoreRows>(*store, o.hook, 65536, o.seed); });
    if (source->width() != width)
      throw InputError("--store " + o.store, o.hook + " rows of " + std::to_string(source->width()) +
                                                 " values, the model's are " + std::to_string(width));
  } else {
    ds = std::make_unique<TokenDataset>(load_data(o.data));
    source = std::make_unique<ModelRows>(*lm.model, *ds, hook, o.seq_len, o.mix_sequences, o.seed);
  }
  RowSource& rows = *source;

  SaeTrainState state;
  if (!o.resume.empty()) {
    try {
      state = read_sae_train_state(o.resume);
    } catch (const InputError& e) {
      throw InputError("--resume", e.what());
    }
    if (state.cfg.hook_name != o.hook || state.cfg.d_in != width)
      throw InputError("--resume " + o.resume, "was trained on " + state.cfg.hook_name + " (" +
                                                   std::to_string(state.cfg.d_in) + " values), not " + o.hook);
    if (vm.count("steps")) {
      if (o.steps < state.step)
        throw InputError("--steps", "is below the checkpoint's step " + std::to_string(state.step));
      state.cfg.steps = o.steps;
    }
    rows.restore(state.source_state, "--resume " + o.resume + ": /train/source_state");
  } else {
    SaeConfig cfg;
    cfg.arch = parse_sae_arch(o.arch);
    cfg.d_in = width;
    cfg.d_sae = o.expansion * width;
    cfg.k = o.k;
    cfg.l1_coefficient = o.l1;
    cfg.l1_warmup_steps = o.l1_warmup;
    cfg.l0_coefficient = o.l0;
    cfg.l0_warmup_steps = o.l0_warmup;
    cfg.jumprelu_bandwidth = o.bandwidth;
    cfg.jumprelu_init_threshold = o.init_threshold;
    cfg.aux_coefficient = o.aux;
    cfg.topk_threshold_lr = o.threshold_lr;
    cfg.decoder_init_norm = o.decoder_init_norm;
    cfg.dead_feature_window = o.dead_window;
    cfg.lr = o.lr;
    cfg.grad_clip = o.grad_clip;
    cfg.schedule.warmup_steps = o.lr_warmup;
    cfg.schedule.decay_steps = o.lr_decay;
    cfg.batch_size = o.batch_size;
    cfg.steps = o.steps;
    cfg.seed = o.seed;
    cfg.hook_name = o.hook;
    if (hook.site == HookSite::attn_z) {
      cfg.n_heads = mcfg.n_heads;
      cfg.d_head = mcfg.d_head;
    }
    cfg.validate();
    require_memory(4.0 * double(cfg.batch_size) * double(cfg.d_sae) * 4.0 + 16.0 * double(cfg.d_in) * cfg.d_sae,
                   "--batch-size", "training this SAE");
    state = new_sae_state(cfg, rows, o.norm_tokens);
  }
  const SaeConfig& cfg = state.cfg;
  std::printf(
      "headlab-probes sae train: %s SAE, %lld latents on %s (%lld values per token)%s on %s\n",
      to_string(cfg.arch).c_str(), (long long)cfg.d_sae, cfg.hook_name.c_str(), (long long)cfg.d_in,
      cfg.arch == SaeArch::topk || cfg.arch == SaeArch::batchtopk ? (", k " + std::to_string(cfg.k)).c_str() : "",
      lm.backend->name().c_str());
  std::printf("rows: %s; input scale %.4g (mean norm -> sqrt(%lld)); %lld steps of %lld tokens%s\n",
              rows.describe().c_str(), state.scale, (long long)cfg.d_in, (long long)cfg.steps,
              (long long)cfg.batch_size,
              state.step > 0 ? (", resuming at step " + std::to_string(state.step)).c_str() : "");
  std::fflush(stdout);

  SaeTrainer trainer(state, *lm.backend);
  auto t0 = std::chrono::steady_clock::now();
  int64_t tokens_at_t0 = state.tokens_seen;
  const int64_t first_step = state.step;
  auto write_file = [&](const std::string& path, bool with_train) {
    Sae s = inference_sae(state);
    s.model_hash = lm.hash;
    s.config = sae_config_json(cfg);
    s.config["checkpoint"] = o.checkpoint;
    s.config[o.store.empty() ? "data" : "store"] = o.store.empty() ? o.data : o.store;
    s.config["tokens_seen"] = state.tokens_seen;
    write_sae_file(path, s, with_train ? &state : nullptr);
  };
  trainer.run(rows, [&](const SaeProgress& p) {
    if (p.step % o.log_every == 0 || p.step == cfg.steps || p.step == first_step + 1) {
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const double tps = secs > 0 ? double(state.tokens_seen - tokens_at_t0) / secs : 0;
      const double eta = tps > 0 ? double(cfg.steps - p.step) * double(cfg.batch_size) / tps : 0;
      std::printf("step %lld/%lld loss %.4g mse %.4g%s L0 %.2f dead %.3f lr %.3g tokens/s %.1fk eta %s\n",
                  (long long)p.step, (long long)cfg.steps, p.result.loss, p.result.mse,
                  p.result.aux > 0        ? (" aux " + std::to_string(p.result.aux).substr(0, 6)).c_str()
                  : p.result.sparsity > 0 ? (" sparsity " + std::to_string(p.result.sparsity).substr(0, 6)).c_str()
                                          : "",
                  p.result.l0, p.dead_fraction, p.lr, tps / 1000.0, format_duration(eta).c_str());
      std::fflush(stdout);
    }
    if (o.checkpoint_every > 0 && p.step % o.checkpoint_every == 0 && p.step < cfg.steps) {
      std::filesystem::create_directories(o.checkpoint_dir);
      char name[64];
      std::snprintf(name, sizeof name, "step_%07lld.h5", (long long)p.step);
      const std::string path = (std::filesystem::path(o.checkpoint_dir) / name).string();
      write_file(path, true);
      std::printf("checkpoint %s\n", path.c_str());
    }
    return true;
  });
  make_parent_dirs(o.out, "--out");
  write_file(o.out, o.checkpoint_every > 0);
  std::printf("wrote %s (%s, %lld latents; %lld tokens seen)\n", o.out.c_str(), to_string(cfg.arch).c_str(),
              (long long)cfg.d_sae, (long long)state.tokens_seen);
  return 0;
}

}  // namespace headlab::sae_cli
