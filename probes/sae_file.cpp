#include "probes/sae_file.h"

#include <cmath>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/h5_file.h"

namespace headlab {

nlohmann::json sae_config_json(const SaeConfig& c) {
  return {{"arch", to_string(c.arch)},
          {"d_in", c.d_in},
          {"d_sae", c.d_sae},
          {"k", c.k},
          {"l1_coefficient", c.l1_coefficient},
          {"l1_warm_up_steps", c.l1_warmup_steps},
          {"l0_coefficient", c.l0_coefficient},
          {"l0_warm_up_steps", c.l0_warmup_steps},
          {"jumprelu_bandwidth", c.jumprelu_bandwidth},
          {"jumprelu_init_threshold", c.jumprelu_init_threshold},
          {"aux_loss_coefficient", c.aux_coefficient},
          {"rescale_acts_by_decoder_norm", c.rescale_acts_by_decoder_norm},
          {"topk_threshold_lr", c.topk_threshold_lr},
          {"decoder_init_norm", c.decoder_init_norm},
          {"dead_feature_window", c.dead_feature_window},
          {"lr", c.lr},
          {"adam_beta1", c.beta1},
          {"adam_beta2", c.beta2},
          {"adam_eps", c.eps},
          {"grad_clip", c.grad_clip},
          {"lr_warm_up_steps", c.schedule.warmup_steps},
          {"lr_decay_steps", c.schedule.decay_steps},
          {"train_batch_size_tokens", c.batch_size},
          {"steps", c.steps},
          {"seed", c.seed},
          {"hook_name", c.hook_name},
          {"n_heads", c.n_heads},
          {"d_head", c.d_head}};
}

SaeConfig sae_config_from_json(const nlohmann::json& j, const std::string& what) {
  SaeConfig c;
  try {
    c.arch = parse_sae_arch(j.at("arch").get<std::string>());
    c.d_in = j.at("d_in").get<int64_t>();
    c.d_sae = j.at("d_sae").get<int64_t>();
    c.k = j.at("k").get<int64_t>();
    c.l1_coefficient = j.at("l1_coefficient").get<double>();
    c.l1_warmup_steps = j.at("l1_warm_up_steps").get<int64_t>();
    c.l0_coefficient = j.at("l0_coefficient").get<double>();
    c.l0_warmup_steps = j.at("l0_warm_up_steps").get<int64_t>();
    c.jumprelu_bandwidth = j.at("jumprelu_bandwidth").get<double>();
    c.jumprelu_init_threshold = j.at("jumprelu_init_threshold").get<double>();
    c.aux_coefficient = j.at("aux_loss_coefficient").get<double>();
    c.rescale_acts_by_decoder_norm = j.at("rescale_acts_by_decoder_norm").get<bool>();
    c.topk_threshold_lr = j.at("topk_threshold_lr").get<double>();
    c.decoder_init_norm = j.at("decoder_init_norm").get<double>();
    c.dead_feature_window = j.at("dead_feature_window").get<int64_t>();
    c.lr = j.at("lr").get<double>();
    c.beta1 = j.at("adam_beta1").get<double>();
    c.beta2 = j.at("adam_beta2").get<double>();
    c.eps = j.at("adam_eps").get<double>();
    c.grad_clip = j.at("grad_clip").get<double>();
    c.schedule.warmup_steps = j.at("lr_warm_up_steps").get<int64_t>();
    c.schedule.decay_steps = j.at("lr_decay_steps").get<int64_t>();
    c.batch_size = j.at("train_batch_size_tokens").get<int64_t>();
    c.steps = j.at("steps").get<int64_t>();
    c.seed = j.at("seed").get<uint64_t>();
    c.hook_name = j.at("hook_name").get<std::string>();
    c.n_heads = j.at("n_heads").get<int64_t>();
    c.d_head = j.at("d_head").get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    throw InputError(what, std::string("expected an SAE training configuration: ") + e.what());
  } catch (const InputError& e) {
    throw InputError(what, e.what());
  }
  try {
    c.validate();
  } catch (const InputError& e) {
    throw InputError(what, e.what());
  }
  return c;
}

namespace {

void write_inference(h5::File& f, const Sae& s) {
  h5::set_format(f, kSaeFormat, kSaeVersion);
  f.set_attr("architecture", s.architecture);
  f.set_attr("trained_as", to_string(s.trained_as));
  f.set_attr("d_in", s.d_in);
  f.set_attr("d_sae", s.d_sae);
  f.set_attr("k", s.k);
  f.set_attr("hook_name", s.hook_name);
  f.set_attr("n_heads", s.n_heads);
  f.set_attr("d_head", s.d_head);
  f.set_attr("scale", s.scale);
  f.set_attr("normalize_activations", "none");
  f.set_attr("apply_b_dec_to_input", true);
  f.set_attr("dtype", "float32");
  f.set_attr("model_hash", s.model_hash);
  f.set_attr("config_json", s.config.is_null() ? std::string("{}") : s.config.dump());
  f.set_attr("metrics_json", s.metrics.is_null() ? std::string("{}") : s.metrics.dump());
  f.write<float>("W_enc", s.W_enc.data(), {s.d_in, s.d_sae});
  f.write<float>("b_enc", s.b_enc.data(), {s.d_sae});
  f.write<float>("W_dec", s.W_dec.data(), {s.d_sae, s.d_in});
  f.write<float>("b_dec", s.b_dec.data(), {s.d_in});
  if (!s.threshold.empty()) f.write<float>("threshold", s.threshold.data(), {s.d_sae});
  if (s.metrics.is_object() && s.metrics.contains("feature_density")) {
    const std::vector<double> d = s.metrics["feature_density"].get<std::vector<double>>();
    if (int64_t(d.size()) == s.d_sae) {
      h5::Group m = f.create_group("metrics");
      m.write<double>("feature_density", d.data(), {s.d_sae});
    }
  }
}

void require_finite(const std::vector<float>& v, const h5::Group& g, const std::string& name) {
  for (size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i]))
      throw InputError(g.where(name),
                       "expected finite weights; found " + std::to_string(v[i]) + " at index " + std::to_string(i));
}

nlohmann::json parse_json_attr(const h5::Group& g, const std::string& name) {
  const std::string text = g.attr_string(name);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(g.attr_where(name), std::string("expected JSON text: ") + e.what());
  }
}

}  // namespace

void write_sae_file(const std::string& path, const Sae& sae, const SaeTrainState* train) {
  h5::AtomicFile out(path);
  h5::File& f = out.file();
  write_inference(f, sae);
  if (train) {
    h5::Group t = f.create_group("train");
    t.set_attr("config_json", sae_config_json(train->cfg).dump());
    t.set_attr("scale", train->scale);
    t.set_attr("topk_threshold", train->topk_threshold);
    t.set_attr("step", train->step);
    t.set_attr("tokens_seen", train->tokens_seen);
    t.write<float>("params", train->params);
    t.write<float>("m", train->m);
    t.write<float>("v", train->v);
    t.write<int64_t>("since_fired", train->since_fired);
    t.write<int64_t>("fire_count", train->fire_count);
    t.write<uint64_t>("source_state", train->source_state);
  }
  out.commit();
}

Sae read_sae_file(const std::string& path) {
  h5::File f = h5::File::open(path);
  h5::check_format(f, kSaeFormat, kSaeVersion);
  Sae s;
  s.architecture = f.attr_string("architecture");
  if (s.architecture != "standard" && s.architecture != "topk" && s.architecture != "jumprelu")
    throw InputError(f.attr_where("architecture"), "expected standard, topk or jumprelu, got '" + s.architecture + "'");
  try {
    s.trained_as = parse_sae_arch(f.attr_string("trained_as"));
  } catch (const InputError&) {
    throw InputError(f.attr_where("trained_as"), "expected relu, topk, batchtopk or jumprelu");
  }
  s.d_in = f.attr_int("d_in");
  s.d_sae = f.attr_int("d_sae");
  if (s.d_in < 1 || s.d_sae < 1 || s.d_in > (int64_t(1) << 20) || s.d_sae > (int64_t(1) << 24))
    throw InputError(f.attr_where("d_in"), "expected 1 <= d_in <= 2^20 and 1 <= d_sae <= 2^24");
  s.k = f.attr_int("k");
  if (s.architecture == "topk" && (s.k < 1 || s.k > s.d_sae))
    throw InputError(f.attr_where("k"), "expected 1 <= k <= d_sae for a topk SAE, got " + std::to_string(s.k));
  s.hook_name = f.attr_string("hook_name");
  s.n_heads = f.attr_int("n_heads");
  s.d_head = f.attr_int("d_head");
  if (s.n_heads < 0 || s.d_head < 0 || (s.n_heads > 0 && s.n_heads * s.d_head != s.d_in))
    throw InputError(f.attr_where("n_heads"), "expected n_heads x d_head = d_in for an attention-output SAE");
  s.scale = f.attr_float("scale");
  s.model_hash = f.attr_string("model_hash");
  s.config = parse_json_attr(f, "config_json");
  s.metrics = parse_json_attr(f, "metrics_json");
  s.W_enc = f.read<float>("W_enc", {s.d_in, s.d_sae});
  s.b_enc = f.read<float>("b_enc", {s.d_sae});
  s.W_dec = f.read<float>("W_dec", {s.d_sae, s.d_in});
  s.b_dec = f.read<float>("b_dec", {s.d_in});
  require_finite(s.W_enc, f, "W_enc");
  require_finite(s.b_enc, f, "b_enc");
  require_finite(s.W_dec, f, "W_dec");
  require_finite(s.b_dec, f, "b_dec");
  if (s.architecture == "jumprelu") {
    s.threshold = f.read<float>("threshold", {s.d_sae});
    require_finite(s.threshold, f, "threshold");
  }
  return s;
}

SaeTrainState read_sae_train_state(const std::string& path) {
  h5::File f = h5::File::open(path);
  h5::check_format(f, kSaeFormat, kSaeVersion);
  if (!f.is_group("train"))
    throw InputError(path, "an SAE file without training state (/train): not a checkpoint to resume from");
  h5::Group t = f.group("train");
  SaeTrainState s;
  s.cfg = sae_config_from_json(parse_json_attr(t, "config_json"), t.attr_where("config_json"));
  const SaeLayout L(s.cfg);
  s.scale = t.attr_float("scale");
  if (!(s.scale > 0) || !std::isfinite(s.scale)) throw InputError(t.attr_where("scale"), "expected a number > 0");
  s.topk_threshold = t.attr_float("topk_threshold");
  s.step = t.attr_int("step");
  s.tokens_seen = t.attr_int("tokens_seen");
  if (s.step < 0 || s.step > s.cfg.steps) throw InputError(t.attr_where("step"), "expected 0 <= step <= steps");
  s.params = t.read<float>("params", {L.size});
  s.m = t.read<float>("m", {L.size});
  s.v = t.read<float>("v", {L.size});
  require_finite(s.params, t, "params");
  s.since_fired = t.read<int64_t>("since_fired", {s.cfg.d_sae});
  s.fire_count = t.read<int64_t>("fire_count", {s.cfg.d_sae});
  s.source_state = t.read<uint64_t>("source_state");
  return s;
}

}  // namespace headlab
