// headlab-probes sae features: feature pages (JSON + static HTML) for an SAE on its model.
#include <cstdio>
#include <string>

#include "core/atomic_write.h"
#include "core/errors.h"
#include "core/output_files.h"
#include "probes/sae_features.h"
#include "probes/sae_pages.h"
#include "tools/headlab-probes/cmd_sae_common.h"

namespace headlab::sae_cli {

int cmd_sae_features(int argc, char** argv) {
  std::string sae_path, checkpoint, data, out_dir;
  FeatureReportOptions f;
  f.max_sequences = 512;
  int64_t seq_len = 0;
  int threads = 0;
  po::options_description opts("options");
  // clang-format off
  opts.add_options()
      ("help,h", "show this help")
      ("sae", po::value(&sae_path)->required(), "the SAE file (sae train's output)")
      ("checkpoint", po::value(&checkpoint)->required(), "the model the SAE was trained on")
      ("data", po::value(&data)->required(), "token dataset to find contexts in")
      ("sequences", po::value(&f.max_sequences)->default_value(f.max_sequences), "first N sequences (0 = all)")
      ("features", po::value(&f.max_features)->default_value(f.max_features),
       "pages for the N most frequent live features (0 = every live feature)")
      ("contexts", po::value(&f.contexts)->default_value(f.contexts), "top contexts per feature")
      ("before", po::value(&f.before)->default_value(f.before), "tokens shown before the active token")
      ("after", po::value(&f.after)->default_value(f.after), "tokens shown after it")
      ("logits", po::value(&f.logits)->default_value(f.logits), "promoted and suppressed tokens per feature")
      ("batch", po::value(&f.batch)->default_value(f.batch), "sequences per forward")
      ("seq-len", po::value(&seq_len)->default_value(0), "window length for a stream dataset (0 = n_ctx)")
      ("threads", po::value(&threads)->default_value(0), "CPU threads (0 = all cores)")
      ("out-dir", po::value(&out_dir)->required(), "folder for features.json and index.html");
  // clang-format on
  po::variables_map vm;
  if (!probes_cli::parse_command_line(
          argc, argv, opts,
          "usage: headlab-probes sae features --sae SAE.h5 --checkpoint CKPT --data DATA.h5 --out-dir DIR", &vm))
    return 0;
  if (f.max_sequences < 0) throw InputError("--sequences", "expected a number >= 0");
  if (f.max_features < 0) throw InputError("--features", "expected a number >= 0");
  if (f.contexts < 1 || f.contexts > 1000) throw InputError("--contexts", "expected 1 to 1000");
  if (f.before < 0 || f.after < 0) throw InputError("--before/--after", "expected numbers >= 0");
  if (f.logits < 0) throw InputError("--logits", "expected a number >= 0");
  if (f.batch < 1) throw InputError("--batch", "expected a number >= 1");
  check_output_dir(out_dir, "--out-dir");
  const Sae sae = load_sae(sae_path);
  LoadedModel lm = load_model(checkpoint, threads);
  require_same_model(sae, sae_path, lm.hash, checkpoint);
  sae_hook_point(sae, lm.checkpoint.config);
  const TokenDataset ds = load_data(data);
  const SequenceView seqs = sequence_view(ds, lm.checkpoint.config, seq_len, "--data " + data);
  const std::unique_ptr<Tokenizer> tok = load_tokenizer_of(lm.checkpoint, ds);
  const FeatureReport rep = build_feature_report(sae, *lm.model, seqs, f);

  StagedDir staged(out_dir, "--out-dir");
  nlohmann::json j = feature_report_json(rep, sae, tok.get());
  j["sae"] = sae_path;
  j["checkpoint"] = checkpoint;
  j["data"] = data;
  write_text_file_atomically(staged.path() + "/features.json", j.dump(1) + "\n");
  write_text_file_atomically(staged.path() + "/index.html",
                             feature_report_html(rep, sae, tok.get(), "SAE features: " + sae_path));
  staged.commit();
  std::printf("headlab-probes sae features: %lld of %lld features active over %lld tokens; pages for %lld\n",
              (long long)rep.live, (long long)sae.d_sae, (long long)rep.tokens, (long long)rep.pages.size());
  if (rep.has_heads) {
    std::printf("heads (live features whose largest decoder-norm share is the head; with share >= %.2f):\n",
                rep.heads.dominant);
    int layer = -1;
    std::sscanf(sae.hook_name.c_str(), "blocks.%d.", &layer);
    for (int64_t h = 0; h < rep.heads.n_heads; ++h)
      std::printf("  L%dH%lld  %lld  %lld\n", layer, (long long)h, (long long)rep.heads.top_count[size_t(h)],
                  (long long)rep.heads.dominant_count[size_t(h)]);
  }
  std::printf("wrote %s/features.json, %s/index.html\n", out_dir.c_str(), out_dir.c_str());
  return 0;
}

}  // namespace headlab::sae_cli
