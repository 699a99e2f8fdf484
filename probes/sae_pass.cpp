#include "probes/sae_pass.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/errors.h"

namespace headlab {

namespace {

struct Dims {
  int64_t B, d_in, d_sae;
};

struct ParamPtrs {
  const float *W_enc, *b_enc, *W_dec, *b_dec, *log_threshold;
};
struct GradPtrs {
  float *W_enc, *b_enc, *W_dec, *b_dec, *log_threshold;
};

// dx_hat = (2/B)(x̂ − x); returns (1/B) Σ_b ‖x̂_b − x_b‖². Row sums in double, added in row order.
double mse_and_grad(float* dx_hat, const float* x_hat, const float* x, const Dims& D) {
  std::vector<double> row(size_t(D.B));
  const float g = float(2.0 / double(D.B));
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < D.B; ++b) {
    double s = 0;
    for (int64_t j = 0; j < D.d_in; ++j) {
      const float e = x_hat[b * D.d_in + j] - x[b * D.d_in + j];
      s += double(e) * e;
      dx_hat[b * D.d_in + j] = g * e;
    }
    row[size_t(b)] = s;
  }
  double total = 0;
  for (double s : row) total += s;
  return total / double(D.B);
}

// The encoder's backward from dense dpre [B, d_sae]: dW_enc += xcᵀ dpre, db_enc += Σ_b dpre.
void dense_encoder_backward(Backend& be, const GradPtrs& g, const float* xc, const float* dpre, const Dims& D) {
  be.matmul(g.W_enc, xc, dpre, nullptr, D.d_in, D.d_sae, D.B, Transpose::yes, Transpose::no, Accumulate::add);
  be.bias_backward(g.b_enc, dpre, D.B, D.d_sae);
}

// b_dec enters twice: x̂ = … + b_dec, and xc = x − b_dec. Given db_enc = Σ_b dpre (the whole
// gradient of b_enc), db_dec += Σ_b dx̂ − W_enc · Σ_b dpre.
void b_dec_backward(Backend& be, const ParamPtrs& p, const GradPtrs& g, const float* dx_hat, SaeWorkspace& ws,
                    const Dims& D) {
  be.bias_backward(g.b_dec, dx_hat, D.B, D.d_in);
  ws.tmp_in.assign(size_t(D.d_in), 0.0f);
  be.matmul(ws.tmp_in.data(), g.b_enc, p.W_enc, nullptr, 1, D.d_in, D.d_sae, Transpose::no, Transpose::yes,
            Accumulate::overwrite);
  for (int64_t j = 0; j < D.d_in; ++j) g.b_dec[j] -= ws.tmp_in[size_t(j)];
}

// ---- relu (SAELens "standard") ------------------------------------------------------------
// forward: a = relu(pre); x̂ = a W_dec + b_dec; + c/B Σ a_bi n_i.
// backward: da = dx̂ W_decᵀ + c/B n;  dpre = da · 1[pre > 0];  dW_dec += aᵀ dx̂ + (c/B Σ_b a_bi) W_dec,i / n_i.
void relu_step(const SaeConfig& cfg, Backend& be, const ParamPtrs& p, const GradPtrs& g, const SaeStepInput& in,
               SaeWorkspace& ws, const Dims& D, SaeStepResult& r) {
  const int64_t N = D.B * D.d_sae;
  float* a = ws.acts.data();
  const float* pre = ws.pre.data();
#pragma omp parallel for schedule(static)
  for (int64_t e = 0; e < N; ++e) a[e] = pre[e] > 0 ? pre[e] : 0.0f;
  be.matmul(ws.x_hat.data(), a, p.W_dec, p.b_dec, D.B, D.d_in, D.d_sae, Transpose::no, Transpose::no,
            Accumulate::overwrite);
  r.mse = mse_and_grad(ws.dx_hat.data(), ws.x_hat.data(), in.x, D);
  ws.norms = decoder_row_norms(p.W_dec, D.d_sae, D.d_in);
  // Column sums of a (for the L1 term and its decoder-norm gradient) and the active counts.
  std::vector<double> col_sum(size_t(D.d_sae), 0.0);
  std::vector<int64_t> col_active(size_t(D.d_sae), 0);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < D.d_sae; ++i) {
    double s = 0;
    int64_t c = 0;
    for (int64_t b = 0; b < D.B; ++b) {
      s += a[b * D.d_sae + i];
      c += a[b * D.d_sae + i] > 0;
    }
    col_sum[size_t(i)] = s;
    col_active[size_t(i)] = c;
  }
  const double c = in.sparsity_coefficient;
  double l1 = 0;
  int64_t active = 0;
  for (int64_t i = 0; i < D.d_sae; ++i) {
    l1 += col_sum[size_t(i)] * ws.norms[size_t(i)];
    active += col_active[size_t(i)];
    ws.fired[size_t(i)] = col_active[size_t(i)] > 0;
  }
  r.sparsity = c * l1 / double(D.B);
  r.l0 = double(active) / double(D.B);

  float* dpre = ws.dpre.data();
  be.matmul(dpre, ws.dx_hat.data(), p.W_dec, nullptr, D.B, D.d_sae, D.d_in, Transpose::no, Transpose::yes,
            Accumulate::overwrite);
  const float cB = float(c / double(D.B));
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < D.B; ++b)
    for (int64_t i = 0; i < D.d_sae; ++i) {
      const int64_t e = b * D.d_sae + i;
      dpre[e] = pre[e] > 0 ? dpre[e] + cB * ws.norms[size_t(i)] : 0.0f;
    }
  be.matmul(g.W_dec, a, ws.dx_hat.data(), nullptr, D.d_sae, D.d_in, D.B, Transpose::yes, Transpose::no,
            Accumulate::add);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < D.d_sae; ++i) {
    if (ws.norms[size_t(i)] <= 0) continue;
    const float s = float(c / double(D.B) * col_sum[size_t(i)] / ws.norms[size_t(i)]);
    for (int64_t j = 0; j < D.d_in; ++j) g.W_dec[i * D.d_in + j] += s * p.W_dec[i * D.d_in + j];
  }
  dense_encoder_backward(be, g, ws.xc.data(), dpre, D);
  b_dec_backward(be, p, g, ws.dx_hat.data(), ws, D);
}

// ---- jumprelu -----------------------------------------------------------------------------
// forward: a = pre · 1[pre > θ]; x̂ = a W_dec + b_dec; + c/B Σ H(pre − θ).
// backward: da = dx̂ W_decᵀ; dpre = da · 1[pre > θ];
//   dθ_i = Σ_b K((pre_bi − θ_i)/ε) · (−θ_i/ε · da_bi − c/(B ε));  dlogθ = θ · dθ.
void jumprelu_step(const SaeConfig& cfg, Backend& be, const ParamPtrs& p, const GradPtrs& g, const SaeStepInput& in,
                   SaeWorkspace& ws, const Dims& D, SaeStepResult& r) {
  std::vector<float> theta(size_t(D.d_sae));
  for (int64_t i = 0; i < D.d_sae; ++i) theta[size_t(i)] = std::exp(p.log_threshold[i]);
  float* a = ws.acts.data();
  const float* pre = ws.pre.data();
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < D.B; ++b)
    for (int64_t i = 0; i < D.d_sae; ++i) {
      const int64_t e = b * D.d_sae + i;
      a[e] = pre[e] > theta[size_t(i)] ? pre[e] : 0.0f;
    }
  be.matmul(ws.x_hat.data(), a, p.W_dec, p.b_dec, D.B, D.d_in, D.d_sae, Transpose::no, Transpose::no,
            Accumulate::overwrite);
  r.mse = mse_and_grad(ws.dx_hat.data(), ws.x_hat.data(), in.x, D);

  float* dpre = ws.dpre.data();
  be.matmul(dpre, ws.dx_hat.data(), p.W_dec, nullptr, D.B, D.d_sae, D.d_in, Transpose::no, Transpose::yes,
            Accumulate::overwrite);
  const double c = in.sparsity_coefficient, eps = cfg.jumprelu_bandwidth;
  int64_t active = 0;
  std::vector<int64_t> col_active(size_t(D.d_sae), 0);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < D.d_sae; ++i) {
    const float t = theta[size_t(i)];
    double dtheta = 0;
    int64_t n_on = 0;
    for (int64_t b = 0; b < D.B; ++b) {
      const int64_t e = b * D.d_sae + i;
      const double u = (double(pre[e]) - double(t)) / eps;
      if (u > -0.5 && u < 0.5) dtheta += -(double(t) / eps) * double(dpre[e]) - c / (double(D.B) * eps);
      n_on += pre[e] > t;
    }
    col_active[size_t(i)] = n_on;
    g.log_threshold[i] = float(dtheta * double(t));
  }
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < D.B; ++b)
    for (int64_t i = 0; i < D.d_sae; ++i) {
      const int64_t e = b * D.d_sae + i;
      if (!(pre[e] > theta[size_t(i)])) dpre[e] = 0.0f;
    }
  for (int64_t i = 0; i < D.d_sae; ++i) {
    active += col_active[size_t(i)];
    ws.fired[size_t(i)] = col_active[size_t(i)] > 0;
  }
  r.l0 = double(active) / double(D.B);
  r.sparsity = c * r.l0;
  be.matmul(g.W_dec, a, ws.dx_hat.data(), nullptr, D.d_sae, D.d_in, D.B, Transpose::yes, Transpose::no,
            Accumulate::add);
  dense_encoder_backward(be, g, ws.xc.data(), dpre, D);
  b_dec_backward(be, p, g, ws.dx_hat.data(), ws, D);
}

// ---- topk and batchtopk -------------------------------------------------------------------
// forward: s = pre · n (n = ‖W_dec rows‖ when rescaling, else 1); select the k largest s per row
//   (topk) or the k·B largest of the batch (batchtopk), keep s > 0; decode a/n = pre at the kept
//   latents: x̂ = Σ pre_bi W_dec,i + b_dec. AuxK decodes the top dead latents' pre the same way.
// backward: dpre_bi = dx̂_b · W_dec,i at kept latents (n cancels: a/n = relu(pre·n)/n = pre);
//   dW_dec,i += pre_bi dx̂_b; the same for the AuxK entries with its error gradient.
void topk_step(const SaeConfig& cfg, Backend& be, const ParamPtrs& p, const GradPtrs& g, const SaeStepInput& in,
               SaeWorkspace& ws, const Dims& D, SaeStepResult& r) {
  const float* pre = ws.pre.data();
  const float* score = pre;
  if (cfg.rescale_acts_by_decoder_norm) {
    ws.norms = decoder_row_norms(p.W_dec, D.d_sae, D.d_in);
    float* s = ws.score.data();
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < D.B; ++b)
      for (int64_t i = 0; i < D.d_sae; ++i) s[b * D.d_sae + i] = pre[b * D.d_sae + i] * ws.norms[size_t(i)];
    score = s;
  }
  if (cfg.arch == SaeArch::topk) {
    topk_rows(ws.active, score, pre, D.B, D.d_sae, cfg.k);
  } else {
    r.min_selected = batch_topk(ws.active, score, pre, D.B, D.d_sae, cfg.k * D.B);
  }
  sparse_decode(ws.x_hat.data(), ws.active, p.W_dec, p.b_dec, D.d_in);
  r.mse = mse_and_grad(ws.dx_hat.data(), ws.x_hat.data(), in.x, D);
  r.l0 = double(ws.active.nnz()) / double(D.B);
  std::fill(ws.fired.begin(), ws.fired.end(), 0);
  for (int32_t i : ws.active.col) ws.fired[size_t(i)] = 1;

  sparse_entry_dots(ws.g_active, ws.active, ws.dx_hat.data(), p.W_dec, D.d_in);
  ws.G.assign(size_t(D.d_sae * D.d_in), 0.0f);
  sparse_accumulate_by_latent(g.W_dec, ws.G.data(), g.b_enc, ws.active, ws.g_active, ws.dx_hat.data(), ws.xc.data(),
                              D.d_in);

  int64_t n_dead = 0;
  if (in.dead)
    for (int64_t i = 0; i < D.d_sae; ++i) n_dead += in.dead[i] != 0;
  r.n_dead = n_dead;
  if (n_dead > 0 && cfg.aux_coefficient > 0) {
    const int64_t k_aux_full = std::max<int64_t>(D.d_in / 2, 1);
    const double scale = std::min(double(n_dead) / double(k_aux_full), 1.0);
    const int64_t k_aux = std::min(k_aux_full, n_dead);
    topk_rows_allowed(ws.aux, score, pre, in.dead, D.B, D.d_sae, k_aux);
    ws.aux_err.resize(size_t(D.B * D.d_in));
    sparse_decode(ws.aux_err.data(), ws.aux, p.W_dec, p.b_dec, D.d_in);
    // e = decode(aux) − (x − x̂);  loss c·scale/B Σ ‖e‖²;  de = 2 c·scale/B · e.
    std::vector<double> row(size_t(D.B));
    const double cs = cfg.aux_coefficient * scale;
    const float ge = float(2.0 * cs / double(D.B));
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < D.B; ++b) {
      double s = 0;
      for (int64_t j = 0; j < D.d_in; ++j) {
        const int64_t e = b * D.d_in + j;
        const float err = ws.aux_err[size_t(e)] - (in.x[e] - ws.x_hat[size_t(e)]);
        s += double(err) * err;
        ws.aux_err[size_t(e)] = ge * err;
      }
      row[size_t(b)] = s;
    }
    double total = 0;
    for (double s : row) total += s;
    r.aux = cs * total / double(D.B);
    sparse_entry_dots(ws.g_aux, ws.aux, ws.aux_err.data(), p.W_dec, D.d_in);
    sparse_accumulate_by_latent(g.W_dec, ws.G.data(), g.b_enc, ws.aux, ws.g_aux, ws.aux_err.data(), ws.xc.data(),
                                D.d_in);
    be.bias_backward(g.b_dec, ws.aux_err.data(), D.B, D.d_in);
  }
  // dW_enc[j, i] += G[i, j]: the encoder gradient was gathered latent-major for contiguous rows.
#pragma omp parallel for schedule(static)
  for (int64_t j = 0; j < D.d_in; ++j)
    for (int64_t i = 0; i < D.d_sae; ++i) g.W_enc[j * D.d_sae + i] += ws.G[size_t(i * D.d_in + j)];
  b_dec_backward(be, p, g, ws.dx_hat.data(), ws, D);
}

}  // namespace

SaeStepResult sae_step_loss_and_grad(const SaeConfig& cfg, Backend& be, const float* params, float* grads,
                                     const SaeStepInput& in, SaeWorkspace& ws) {
  if (be.device() != Device::cpu) throw InputError("--device", "SAE training runs on the CPU backend only");
  const Dims D{in.B, cfg.d_in, cfg.d_sae};
  const SaeLayout L(cfg);
  const ParamPtrs p{params + L.W_enc, params + L.b_enc, params + L.W_dec, params + L.b_dec,
                    cfg.uses_threshold() ? params + L.log_threshold : nullptr};
  const GradPtrs g{grads + L.W_enc, grads + L.b_enc, grads + L.W_dec, grads + L.b_dec,
                   cfg.uses_threshold() ? grads + L.log_threshold : nullptr};
  std::fill(grads, grads + L.size, 0.0f);

  const size_t BI = size_t(D.B * D.d_in), BS = size_t(D.B * D.d_sae);
  ws.xc.resize(BI);
  ws.x_hat.resize(BI);
  ws.dx_hat.resize(BI);
  ws.pre.resize(BS);
  ws.fired.assign(size_t(D.d_sae), 0);
  if (cfg.arch == SaeArch::relu || cfg.arch == SaeArch::jumprelu) {
    ws.acts.resize(BS);
    ws.dpre.resize(BS);
  } else if (cfg.rescale_acts_by_decoder_norm) {
    ws.score.resize(BS);
  }

  // Shared encoder: xc = x − b_dec (SAELens' apply_b_dec_to_input); pre = xc W_enc + b_enc.
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < D.B; ++b)
    for (int64_t j = 0; j < D.d_in; ++j) ws.xc[size_t(b * D.d_in + j)] = in.x[b * D.d_in + j] - p.b_dec[j];
  be.matmul(ws.pre.data(), ws.xc.data(), p.W_enc, p.b_enc, D.B, D.d_sae, D.d_in, Transpose::no, Transpose::no,
            Accumulate::overwrite);

  SaeStepResult r;
  switch (cfg.arch) {
    case SaeArch::relu:
      relu_step(cfg, be, p, g, in, ws, D, r);
      break;
    case SaeArch::jumprelu:
      jumprelu_step(cfg, be, p, g, in, ws, D, r);
      break;
    case SaeArch::topk:
    case SaeArch::batchtopk:
      topk_step(cfg, be, p, g, in, ws, D, r);
      break;
  }
  r.loss = r.mse + r.sparsity + r.aux;
  return r;
}

}  // namespace headlab
