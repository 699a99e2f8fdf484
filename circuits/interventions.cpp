#include "circuits/interventions.h"

#include <algorithm>
#include <cstring>

#include "core/errors.h"
#include "model/backend.h"

namespace headlab {
namespace {

std::string shape_text(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// Runs f on a host pointer to the activation: the activation itself on the CPU backend, else a
// host copy that is written back afterwards.
template <class F>
void edit_on_host(ActivationView& v, Backend& be, F&& f) {
  if (be.device() == Device::cpu) {
    f(v.data);
    return;
  }
  std::vector<float> host(size_t(v.numel()));
  be.copy_to_host(host.data(), v.data, host.size() * sizeof(float));
  f(host.data());
  be.copy_from_host(v.data, host.data(), host.size() * sizeof(float));
}

// The selected (position, head) cells, checked against the layout; InputError naming the point.
struct Cells {
  std::vector<int> positions, heads;
};
Cells selected_cells(const Selection& sel, const ActivationLayout& L, HookPoint point) {
  Cells c;
  if (!sel.heads.empty() && !site_has_heads(point.site))
    throw InputError("hook " + hook_name(point), "has no head axis, so no head can be selected");
  for (int p : sel.positions)
    if (p < 0 || p >= L.positions)
      throw InputError("hook " + hook_name(point),
                       "position " + std::to_string(p) + " is outside [0, " + std::to_string(L.positions) + ")");
  for (int h : sel.heads)
    if (h < 0 || h >= L.heads)
      throw InputError("hook " + hook_name(point),
                       "head " + std::to_string(h) + " is outside [0, " + std::to_string(L.heads) + ")");
  c.positions = sel.positions;
  c.heads = sel.heads;
  if (c.positions.empty())
    for (int p = 0; p < L.positions; ++p) c.positions.push_back(p);
  if (c.heads.empty())
    for (int h = 0; h < L.heads; ++h) c.heads.push_back(h);
  return c;
}

bool selects_everything(const Selection& sel) { return sel.positions.empty() && sel.heads.empty(); }

}  // namespace

bool site_has_heads(HookSite s) {
  switch (s) {
    case HookSite::q_input:
    case HookSite::k_input:
    case HookSite::v_input:
    case HookSite::attn_q:
    case HookSite::attn_k:
    case HookSite::attn_v:
    case HookSite::attn_scores:
    case HookSite::attn_pattern:
    case HookSite::attn_z:
    case HookSite::attn_result:
      return true;
    default:
      return false;
  }
}

ActivationLayout activation_layout(HookSite site, const std::vector<int64_t>& shape) {
  ActivationLayout L;
  const bool pattern = site == HookSite::attn_pattern || site == HookSite::attn_scores;
  const size_t rank = site_has_heads(site) ? 4 : 3;
  if (shape.size() != rank)
    throw InternalError("activation of rank " + std::to_string(shape.size()) + " at a point of rank " +
                        std::to_string(rank));
  L.batch = shape[0];
  if (pattern) {
    L.heads = shape[1];
    L.positions = shape[2];
    L.width = shape[3];
    L.head_major = true;
  } else if (rank == 4) {
    L.positions = shape[1];
    L.heads = shape[2];
    L.width = shape[3];
  } else {
    L.positions = shape[1];
    L.width = shape[2];
  }
  return L;
}

HookFn replace_from(std::shared_ptr<const HostTensor> source, Selection sel) {
  if (!source) throw InternalError("replace_from without a source");
  return [source, sel](HookPoint point, ActivationView& v, Backend& be) {
    const std::vector<int64_t>& s = source->shape;
    const bool broadcast = s.size() == v.shape.size() && !s.empty() && s[0] == 1 && v.shape[0] != 1 &&
                           std::equal(s.begin() + 1, s.end(), v.shape.begin() + 1);
    if (s != v.shape && !broadcast)
      throw InputError("hook " + hook_name(point),
                       "the values to patch in have shape " + shape_text(s) + " but the activation has shape " +
                           shape_text(v.shape) + " (clean and corrupted runs must have the same batch and length)");
    if (selects_everything(sel) && !broadcast) {
      be.copy_from_host(v.data, source->data.data(), source->data.size() * sizeof(float));
      return;
    }
    const ActivationLayout L = activation_layout(point.site, v.shape);
    const Cells cells = selected_cells(sel, L, point);
    edit_on_host(v, be, [&](float* x) {
      const size_t bytes = size_t(L.width) * sizeof(float);
      for (int64_t b = 0; b < L.batch; ++b)
        for (int p : cells.positions)
          for (int h : cells.heads)
            std::memcpy(x + L.offset(b, p, h), source->data.data() + L.offset(broadcast ? 0 : b, p, h), bytes);
    });
  };
}

HookFn replace_rows_from(std::shared_ptr<const HostTensor> source, std::vector<std::vector<int>> row_positions,
                         std::vector<int> heads) {
  if (!source) throw InternalError("replace_rows_from without a source");
  return [source, row_positions = std::move(row_positions), heads = std::move(heads)](HookPoint point,
                                                                                      ActivationView& v, Backend& be) {
    if (source->shape != v.shape)
      throw InputError("hook " + hook_name(point), "the values to patch in have shape " + shape_text(source->shape) +
                                                       " but the activation has shape " + shape_text(v.shape));
    const ActivationLayout L = activation_layout(point.site, v.shape);
    if (int64_t(row_positions.size()) != L.batch)
      throw InputError("hook " + hook_name(point), "positions for " + std::to_string(row_positions.size()) +
                                                       " rows, but the batch has " + std::to_string(L.batch));
    Selection by_head;
    by_head.heads = heads;
    const Cells cells = selected_cells(by_head, L, point);
    for (const std::vector<int>& row : row_positions)
      for (int p : row)
        if (p < 0 || p >= L.positions)
          throw InputError("hook " + hook_name(point),
                           "position " + std::to_string(p) + " is outside [0, " + std::to_string(L.positions) + ")");
    edit_on_host(v, be, [&](float* x) {
      const size_t bytes = size_t(L.width) * sizeof(float);
      for (int64_t b = 0; b < L.batch; ++b)
        for (int p : row_positions[size_t(b)])
          for (int h : cells.heads) std::memcpy(x + L.offset(b, p, h), source->data.data() + L.offset(b, p, h), bytes);
    });
  };
}

HookFn zero_ablation(Selection sel) {
  return [sel](HookPoint point, ActivationView& v, Backend& be) {
    if (selects_everything(sel)) {
      be.fill_zero(v.data, size_t(v.numel()) * sizeof(float));
      return;
    }
    const ActivationLayout L = activation_layout(point.site, v.shape);
    const Cells cells = selected_cells(sel, L, point);
    edit_on_host(v, be, [&](float* x) {
      for (int64_t b = 0; b < L.batch; ++b)
        for (int p : cells.positions)
          for (int h : cells.heads) std::fill_n(x + L.offset(b, p, h), L.width, 0.0f);
    });
  };
}

HookFn mean_ablation(std::shared_ptr<const HostTensor> mean, Selection sel) {
  return replace_from(std::move(mean), std::move(sel));
}

HookFn resample_ablation(std::shared_ptr<const HostTensor> other_run, Selection sel) {
  return replace_from(std::move(other_run), std::move(sel));
}

HookFn remove_first_token_attention(Selection sel) {
  return [sel](HookPoint point, ActivationView& v, Backend& be) {
    if (point.site != HookSite::attn_pattern)
      throw InputError("hook " + hook_name(point), "removing attention to the first token needs a pattern point");
    const ActivationLayout L = activation_layout(point.site, v.shape);
    const Cells c = selected_cells(sel, L, point);
    const int64_t B = v.shape[0], H = v.shape[1], Tq = v.shape[2], Tk = v.shape[3];
    edit_on_host(v, be, [&](float* A) {
      for (int64_t b = 0; b < B; ++b)
        for (int h : c.heads)
          for (int q : c.positions) {
            if (q == 0 || q >= Tq) continue;
            float* row = A + ((b * H + h) * Tq + q) * Tk;
            const double rest = 1.0 - double(row[0]);
            row[0] = 0.0f;
            // A row with (nearly) all its weight on the sink spreads it evenly over its other keys.
            if (rest > 1e-6) {
              for (int64_t k = 1; k <= q; ++k) row[k] = float(double(row[k]) / rest);
            } else {
              for (int64_t k = 1; k <= q; ++k) row[k] = float(1.0 / double(q));
            }
          }
    });
  };
}

HookFn add_direction(std::vector<float> direction, float coefficient, Selection sel) {
  return [direction = std::move(direction), coefficient, sel](HookPoint point, ActivationView& v, Backend& be) {
    if (point.site == HookSite::attn_pattern || point.site == HookSite::attn_scores)
      throw InputError("hook " + hook_name(point), "a direction cannot be added to an attention pattern");
    const ActivationLayout L = activation_layout(point.site, v.shape);
    if (int64_t(direction.size()) != L.heads * L.width)
      throw InputError("hook " + hook_name(point), "the direction has " + std::to_string(direction.size()) +
                                                       " values; this point needs " +
                                                       std::to_string(L.heads * L.width) + " per position");
    const Cells cells = selected_cells(sel, L, point);
    edit_on_host(v, be, [&](float* x) {
      for (int64_t b = 0; b < L.batch; ++b)
        for (int p : cells.positions)
          for (int h : cells.heads) {
            float* dst = x + L.offset(b, p, h);
            const float* d = direction.data() + int64_t(h) * L.width;
            for (int64_t i = 0; i < L.width; ++i) dst[i] += coefficient * d[i];
          }
    });
  };
}

ActivationCache mean_activations(Transformer& model, const std::vector<HookPoint>& points, const int32_t* tokens,
                                 int64_t n, int T, int batch_size) {
  if (n < 1) throw InputError("reference data", "expected at least one sequence to average over");
  if (batch_size < 1) throw InputError("--batch-size", "expected a positive integer");
  std::map<HookPoint, std::vector<double>> sums;  // per point: one sequence's worth of values
  std::map<HookPoint, std::vector<int64_t>> shapes;
  for (int64_t first = 0; first < n; first += batch_size) {
    const int B = int(std::min<int64_t>(batch_size, n - first));
    auto cache = run_with_cache(model, tokens + first * T, B, T, points);
    for (HookPoint p : points) {
      const HostTensor& t = cache.at(p);
      const size_t per_seq = size_t(t.numel() / B);
      std::vector<double>& sum = sums[p];
      if (sum.empty()) {
        sum.assign(per_seq, 0.0);
        shapes[p] = t.shape;
        shapes[p][0] = 1;
      }
      for (int b = 0; b < B; ++b)
        for (size_t i = 0; i < per_seq; ++i) sum[i] += t.data[size_t(b) * per_seq + i];
    }
  }
  ActivationCache out;
  for (auto& [p, sum] : sums) {
    HostTensor mean;
    mean.shape = shapes[p];
    mean.data.resize(sum.size());
    for (size_t i = 0; i < sum.size(); ++i) mean.data[i] = float(sum[i] / double(n));
    out.insert(p, std::move(mean));
  }
  return out;
}

}  // namespace headlab
