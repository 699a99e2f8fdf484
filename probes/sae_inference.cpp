#include "probes/sae_inference.h"

#include <cmath>

#include "core/errors.h"
#include "probes/sae_trainer.h"

namespace headlab {

Sae inference_sae(const SaeTrainState& st) {
  const SaeConfig& cfg = st.cfg;
  const SaeLayout L(cfg);
  Sae s;
  s.trained_as = cfg.arch;
  s.architecture = cfg.arch == SaeArch::relu ? "standard" : cfg.arch == SaeArch::topk ? "topk" : "jumprelu";
  s.d_in = cfg.d_in;
  s.d_sae = cfg.d_sae;
  s.k = cfg.arch == SaeArch::topk ? cfg.k : 0;
  s.scale = st.scale;
  s.hook_name = cfg.hook_name;
  s.n_heads = cfg.n_heads;
  s.d_head = cfg.d_head;
  const double sc = st.scale;
  const float* W_enc = st.params.data() + L.W_enc;
  const float* b_enc = st.params.data() + L.b_enc;
  const float* W_dec = st.params.data() + L.W_dec;
  const float* b_dec = st.params.data() + L.b_dec;
  const bool rescale =
      cfg.rescale_acts_by_decoder_norm && (cfg.arch == SaeArch::topk || cfg.arch == SaeArch::batchtopk);
  std::vector<float> n(static_cast<size_t>(cfg.d_sae), 1.0f);
  if (rescale) n = decoder_row_norms(W_dec, cfg.d_sae, cfg.d_in);
  // On raw x: pre = (s x − b_dec) W_enc + b_enc = (x − b_dec/s)(s W_enc) + b_enc; the rescaled
  // pre · n folds n into W_enc's columns and b_enc; x̂ = (a/n W_dec + b_dec)/s.
  s.W_enc.resize(size_t(cfg.d_in * cfg.d_sae));
  for (int64_t j = 0; j < cfg.d_in; ++j)
    for (int64_t i = 0; i < cfg.d_sae; ++i)
      s.W_enc[size_t(j * cfg.d_sae + i)] = float(double(W_enc[j * cfg.d_sae + i]) * sc * n[size_t(i)]);
  s.b_enc.resize(size_t(cfg.d_sae));
  for (int64_t i = 0; i < cfg.d_sae; ++i) s.b_enc[size_t(i)] = float(double(b_enc[i]) * n[size_t(i)]);
  s.W_dec.resize(size_t(cfg.d_sae * cfg.d_in));
  for (int64_t i = 0; i < cfg.d_sae; ++i)
    for (int64_t j = 0; j < cfg.d_in; ++j)
      s.W_dec[size_t(i * cfg.d_in + j)] =
          n[size_t(i)] > 0 ? float(double(W_dec[i * cfg.d_in + j]) / (double(n[size_t(i)]) * sc)) : 0.0f;
  s.b_dec.resize(size_t(cfg.d_in));
  for (int64_t j = 0; j < cfg.d_in; ++j) s.b_dec[size_t(j)] = float(double(b_dec[j]) / sc);
  if (cfg.arch == SaeArch::jumprelu) {
    s.threshold.resize(size_t(cfg.d_sae));
    for (int64_t i = 0; i < cfg.d_sae; ++i) s.threshold[size_t(i)] = std::exp(st.params[size_t(L.log_threshold + i)]);
  } else if (cfg.arch == SaeArch::batchtopk) {
    s.threshold.assign(size_t(cfg.d_sae), float(st.topk_threshold));
  }
  return s;
}

void sae_encode(const Sae& sae, Backend& be, const float* x, int64_t B, SparseRows& acts) {
  if (be.device() != Device::cpu) throw InputError("--device", "SAEs run on the CPU backend only");
  std::vector<float> xc(size_t(B * sae.d_in)), pre(size_t(B * sae.d_sae));
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < sae.d_in; ++j) xc[size_t(b * sae.d_in + j)] = x[b * sae.d_in + j] - sae.b_dec[size_t(j)];
  be.matmul(pre.data(), xc.data(), sae.W_enc.data(), sae.b_enc.data(), B, sae.d_sae, sae.d_in, Transpose::no,
            Transpose::no, Accumulate::overwrite);
  if (sae.architecture == "topk") {
    topk_rows(acts, pre.data(), nullptr, B, sae.d_sae, sae.k);
  } else if (sae.architecture == "jumprelu") {
    dense_to_rows(acts, pre.data(), B, sae.d_sae, 0.0f, sae.threshold.data());
  } else {
    dense_to_rows(acts, pre.data(), B, sae.d_sae, 0.0f, nullptr);
  }
}

void sae_decode(const Sae& sae, const SparseRows& acts, float* x_hat) {
  sparse_decode(x_hat, acts, sae.W_dec.data(), sae.b_dec.data(), sae.d_in);
}

}  // namespace headlab
