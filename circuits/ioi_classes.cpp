#include "circuits/ioi_classes.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include "circuits/head_scores.h"
#include "circuits/interventions.h"
#include "circuits/path_patching.h"
#include "core/errors.h"

namespace headlab {

IoiPositions ioi_positions(const TokenDataset& ds, const DatasetAnnotations& ann, const std::string& what,
                           int64_t n_rows) {
  const auto labels = ds.labels.find("role");
  const auto names = ann.label_names.find("role");
  if (labels == ds.labels.end() || names == ann.label_names.end())
    throw InputError(what + ": /labels/role",
                     "sorting heads into IOI classes needs each position's role (IO, S1, S2, END), as "
                     "headlab-data task ioi writes them; the dataset has none");
  auto value_of = [&](const std::string& name) {
    const auto& v = names->second;
    const auto it = std::find(v.begin(), v.end(), name);
    if (it == v.end())
      throw InputError(what + ": /labels/role", "has no role named " + name + " (an IOI dataset has IO, S1, S2, END)");
    return int32_t(it - v.begin());
  };
  const int32_t io = value_of("IO"), s1 = value_of("S1"), s2 = value_of("S2"), end = value_of("END");
  IoiPositions p;
  const int64_t S = ds.seq_len, n = std::min(n_rows, ds.n_seq);
  for (int64_t r = 0; r < n; ++r) {
    int32_t found[4] = {-1, -1, -1, -1};
    for (int64_t t = 0; t < S; ++t) {
      const int32_t role = labels->second[size_t(r * S + t)];
      const int32_t want[4] = {io, s1, s2, end};
      for (int k = 0; k < 4; ++k)
        if (role == want[k] && found[k] < 0) found[k] = int32_t(t);
    }
    for (int k = 0; k < 4; ++k)
      if (found[k] < 0)
        throw InputError(what + ": /labels/role", "row " + std::to_string(r) + " has no " +
                                                      std::string(k == 0   ? "IO"
                                                                  : k == 1 ? "S1"
                                                                  : k == 2 ? "S2"
                                                                           : "END") +
                                                      " position");
    p.io.push_back(found[0]);
    p.s1.push_back(found[1]);
    p.s2.push_back(found[2]);
    p.end.push_back(found[3]);
  }
  return p;
}

namespace {

// Attention at the role positions and the head detector's scores, means over the rows.
void read_attention(Transformer& model, const TaskData& task, const IoiPositions& pos, std::vector<IoiHead>& out,
                    int batch_size, int64_t& forwards) {
  const ModelConfig& c = model.config();
  const int H = c.n_heads;
  std::vector<HookPoint> points;
  for (int l = 0; l < c.n_layers; ++l) points.push_back({l, HookSite::attn_pattern});
  DetectOptions det;
  det.exclude_bos = true;
  for (IoiHead& h : out) h.end_to_io = h.end_to_s = h.s2_to_s1 = h.s2_to_after_s1 = h.duplicate = h.induction = 0;
  for (const TaskBatch& b : task_batches(task, batch_size)) {
    auto cache = run_with_cache(model, b.clean, b.B, b.T, points);
    ++forwards;
    const int64_t T = b.T;
    for (IoiHead& h : out) {
      const HostTensor& pat = cache.at(hook_name({h.head.layer, HookSite::attn_pattern}));  // [B, H, T, T]
      for (int r = 0; r < b.B; ++r) {
        const int64_t row = b.first + r;
        const float* A = pat.data.data() + (int64_t(r) * H + h.head.head) * T * T;
        const int32_t end = pos.end[size_t(row)], s2 = pos.s2[size_t(row)], s1 = pos.s1[size_t(row)];
        h.end_to_io += A[end * T + pos.io[size_t(row)]];
        h.end_to_s += A[end * T + s1] + A[end * T + s2];
        h.s2_to_s1 += A[s2 * T + s1];
        if (s1 + 1 < s2) h.s2_to_after_s1 += A[s2 * T + s1 + 1];
      }
      // The detector's scores of this head over the batch, weighted by the batch's rows.
      std::vector<float> one(size_t(b.B) * size_t(T * T));
      for (int r = 0; r < b.B; ++r)
        std::copy_n(pat.data.data() + (int64_t(r) * H + h.head.head) * T * T, T * T, one.begin() + r * T * T);
      h.duplicate += b.B * detect_head_scores(one.data(), b.clean, b.B, 1, T, HeadPattern::duplicate_token, det)[0];
      h.induction += b.B * detect_head_scores(one.data(), b.clean, b.B, 1, T, HeadPattern::induction, det)[0];
    }
  }
  const double n = double(task.n);
  for (IoiHead& h : out) {
    h.end_to_io /= n;
    h.end_to_s /= n;
    h.s2_to_s1 /= n;
    h.s2_to_after_s1 /= n;
    h.duplicate /= n;
    h.induction /= n;
  }
}

// Path patching of each head alone into `target`: the effect per head (NaN where it cannot reach).
std::vector<double> effects(Transformer& model, const TaskData& task, const std::vector<const IoiHead*>& senders,
                            const PathTarget& target, const IoiClassOptions& opt, int64_t& forwards) {
  std::vector<std::vector<HeadRef>> sets;
  for (const IoiHead* h : senders) sets.push_back({h->head});
  if (sets.empty()) return {};
  PathPatchOptions po;
  po.metric = opt.metric;
  po.batch_size = opt.batch_size;
  const PathPatchReport r = run_path_patching(model, task, sets, target, po);
  forwards += r.forwards;
  return r.effect;
}

// Receivers "the heads' q" (or k and v) as path patching takes them.
PathTarget receivers(const std::vector<HeadRef>& heads, bool q, bool kv) {
  PathTarget t;
  for (HeadRef h : heads) {
    PathReceiver r;
    r.head = h;
    r.q = q;
    r.k = r.v = kv;
    t.receivers.push_back(r);
  }
  return t;
}

}  // namespace

IoiClasses classify_ioi_heads(Transformer& model, const TaskData& task, const IoiPositions& pos,
                              const std::vector<HeadRef>& heads, const IoiClassOptions& opt) {
  if (!task.has_pairs())
    throw InputError(task.what + ": /corrupted", "IOI classes need clean/corrupted pairs; the dataset has none");
  if (heads.empty()) throw InputError("circuit", "has no heads to sort into IOI classes");
  if (int64_t(pos.end.size()) < task.n) throw InternalError("IOI positions for fewer rows than the task");
  IoiClasses out;
  for (HeadRef h : heads) {
    IoiHead x;
    x.head = h;
    x.ioi_class = "other";
    out.heads.push_back(x);
  }
  read_attention(model, task, pos, out.heads, opt.batch_size, out.forwards);
  // 1. Name movers: the direct path.
  std::vector<const IoiHead*> all;
  for (const IoiHead& h : out.heads) all.push_back(&h);
  PathTarget logits;
  logits.logits = true;
  const std::vector<double> direct = effects(model, task, all, logits, opt, out.forwards);
  std::vector<HeadRef> movers;
  for (size_t i = 0; i < out.heads.size(); ++i) {
    IoiHead& h = out.heads[i];
    h.direct_effect = direct[i];
    const bool reads_io = h.end_to_io > h.end_to_s;
    if (h.direct_effect <= -opt.threshold) {
      h.ioi_class = reads_io ? "name mover" : "S-suppression";
      movers.push_back(h.head);
    } else if (h.direct_effect >= opt.threshold && reads_io) {
      h.ioi_class = "negative name mover";
    }
  }
  // 2. S-inhibition: into the name movers' queries.
  auto candidates = [&](const std::vector<HeadRef>& later) {
    std::vector<IoiHead*> c;
    int last = -1;
    for (HeadRef h : later) last = std::max(last, h.layer);
    for (IoiHead& h : out.heads)
      if (h.ioi_class == "other" && h.head.layer < last) c.push_back(&h);
    return c;
  };
  std::vector<HeadRef> inhibitors;
  if (!movers.empty()) {
    std::vector<IoiHead*> cand = candidates(movers);
    const std::vector<double> e =
        effects(model, task, {cand.begin(), cand.end()}, receivers(movers, true, false), opt, out.forwards);
    for (size_t i = 0; i < cand.size(); ++i) {
      cand[i]->via_name_movers = e[i];
      if (e[i] <= -opt.threshold) {
        cand[i]->ioi_class = "S-inhibition";
        inhibitors.push_back(cand[i]->head);
      }
    }
  }
  // 3. Induction and duplicate-token heads: into the S-inhibition heads' keys and values.
  if (!inhibitors.empty()) {
    std::vector<IoiHead*> cand = candidates(inhibitors);
    const std::vector<double> e =
        effects(model, task, {cand.begin(), cand.end()}, receivers(inhibitors, false, true), opt, out.forwards);
    for (size_t i = 0; i < cand.size(); ++i) {
      cand[i]->via_s_inhibition = e[i];
      if (e[i] <= -opt.threshold)
        cand[i]->ioi_class = cand[i]->s2_to_after_s1 > cand[i]->s2_to_s1 ? "induction" : "duplicate token";
    }
  }
  return out;
}

std::string describe(const IoiHead& h) {
  char buf[400];
  auto num = [](double x) {
    char b[32];
    if (std::isnan(x))
      std::snprintf(b, sizeof b, "    -");
    else
      std::snprintf(b, sizeof b, "%+.3f", x);
    return std::string(b);
  };
  std::snprintf(buf, sizeof buf,
                "%-6s %-19s direct %s  ->NM q %s  ->S-inh kv %s  END->IO %.2f END->S %.2f  S2->S1 %.2f S2->S1+1 %.2f  "
                "dup %.2f ind %.2f",
                head_label(h.head).c_str(), h.ioi_class.c_str(), num(h.direct_effect).c_str(),
                num(h.via_name_movers).c_str(), num(h.via_s_inhibition).c_str(), h.end_to_io, h.end_to_s, h.s2_to_s1,
                h.s2_to_after_s1, h.duplicate, h.induction);
  return buf;
}

}  // namespace headlab
