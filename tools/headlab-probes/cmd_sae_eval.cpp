// headlab-probes sae eval: SAELens' metrics of an SAE on its model, the reconstruction spliced in.
#include <cstdio>
#include <string>

#include "core/atomic_write.h"
#include "core/errors.h"
#include "core/output_files.h"
#include "probes/sae_eval.h"
#include "tools/headlab-probes/cmd_sae_common.h"

namespace headlab::sae_cli {

int cmd_sae_eval(int argc, char** argv) {
  std::string sae_path, checkpoint, data, json_out;
  int64_t sequences = 256, batch = 16, seq_len = 0;
  int threads = 0;
  po::options_description opts("options");
  // clang-format off
  opts.add_options()
      ("help,h", "show this help")
      ("sae", po::value(&sae_path)->required(), "the SAE file (sae train's output)")
      ("checkpoint", po::value(&checkpoint)->required(), "the model the SAE was trained on")
      ("data", po::value(&data)->required(), "token dataset to evaluate on")
      ("sequences", po::value(&sequences)->default_value(sequences), "first N sequences of --data (0 = all)")
      ("batch", po::value(&batch)->default_value(batch), "sequences per forward")
      ("seq-len", po::value(&seq_len)->default_value(0), "window length for a stream dataset (0 = n_ctx)")
      ("threads", po::value(&threads)->default_value(0), "CPU threads (0 = all cores)")
      ("json", po::value(&json_out), "also write the metrics (and every feature's density) as JSON here");
  // clang-format on
  po::variables_map vm;
  if (!probes_cli::parse_command_line(
          argc, argv, opts, "usage: headlab-probes sae eval --sae SAE.h5 --checkpoint CKPT --data DATA.h5", &vm))
    return 0;
  if (sequences < 0) throw InputError("--sequences", "expected a number >= 0");
  if (batch < 1) throw InputError("--batch", "expected a number >= 1");
  if (!json_out.empty()) check_output_file(json_out, "--json");
  const Sae sae = load_sae(sae_path);
  LoadedModel lm = load_model(checkpoint, threads);
  require_same_model(sae, sae_path, lm.hash, checkpoint);
  const HookPoint hook = sae_hook_point(sae, lm.checkpoint.config);
  (void)hook;
  const TokenDataset ds = load_data(data);
  const SequenceView seqs = sequence_view(ds, lm.checkpoint.config, seq_len, "--data " + data);
  const SaeMetrics m = evaluate_sae(sae, *lm.model, seqs, sequences, batch);

  std::printf(
      "headlab-probes sae eval: %s SAE (trained as %s), %lld latents on %s; %lld sequences of %lld tokens "
      "(%lld tokens)\n",
      sae.architecture.c_str(), to_string(sae.trained_as).c_str(), (long long)sae.d_sae, sae.hook_name.c_str(),
      (long long)m.sequences, (long long)seqs.seq_len, (long long)m.tokens);
  std::printf("L0                   %.3f\n", m.l0);
  std::printf("explained variance   %.4f   (1 - sum |x - x_hat|^2 / sum |x - mean x|^2)\n", m.explained_variance);
  std::printf("mse                  %.5g   (mean over tokens of |x - x_hat|^2)\n", m.mse);
  std::printf("CE loss              clean %.4f, with SAE %.4f, zero-ablated %.4f\n", m.ce_clean, m.ce_sae, m.ce_zero);
  std::printf("ce_loss_score        %.4f   ((CE_zero - CE_sae) / (CE_zero - CE_clean))\n", m.ce_loss_score);
  std::printf("KL to clean          with SAE %.4f, zero-ablated %.4f\n", m.kl_sae, m.kl_zero);
  std::printf("kl_div_score         %.4f   ((KL_zero - KL_sae) / KL_zero)\n", m.kl_div_score);
  std::printf("dead features        %lld of %lld (%.1f%%) never active over %lld tokens\n", (long long)m.dead,
              (long long)sae.d_sae, 100.0 * double(m.dead) / double(sae.d_sae), (long long)m.tokens);
  std::printf("density histogram    log10(fraction of tokens active):");
  for (int b = 0; b < 16; ++b)
    if (m.density_histogram[size_t(b)] > 0)
      std::printf(" [%.1f,%.1f):%lld", -0.5 * (b + 1), -0.5 * b, (long long)m.density_histogram[size_t(b)]);
  std::printf(" never:%lld\n", (long long)m.density_histogram[16]);
  if (!json_out.empty()) {
    nlohmann::json j = m.to_json();
    j["sae"] = sae_path;
    j["checkpoint"] = checkpoint;
    j["data"] = data;
    j["hook_name"] = sae.hook_name;
    j["architecture"] = sae.architecture;
    j["trained_as"] = to_string(sae.trained_as);
    make_parent_dirs(json_out, "--json");
    write_text_file_atomically(json_out, j.dump(1) + "\n");
    std::printf("wrote %s\n", json_out.c_str());
  }
  return 0;
}

}  // namespace headlab::sae_cli
