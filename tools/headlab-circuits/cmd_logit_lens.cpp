// headlab-circuits logit-lens: the answer in the residual stream after each layer.
//
// PREFIX.h5 (format headlab.logit_lens): /mean_prob, /mean_rank, /top1, /mean_logit_diff [L + 1]
// and /prob, /rank [L + 1, rows]; attribute labels (JSON). PREFIX.svg: the answer's probability,
// top-1 share and logit difference after each layer.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "circuits/dla.h"
#include "circuits/svg_plot.h"
#include "core/output_files.h"
#include "tools/headlab-circuits/cmd_common.h"
#include "tools/headlab-circuits/commands.h"

namespace headlab::circuits_cli {

int cmd_logit_lens(int argc, char** argv) {
  CommonOptions o;
  po::options_description opts("headlab-circuits logit-lens");
  add_common_options(opts, o);
  if (!parse_command_line(argc, argv, opts,
                          "usage: headlab-circuits logit-lens --checkpoint CKPT --data TASK.h5 (--out PREFIX | "
                          "--out-dir DIR) [options]\n"
                          "The residual stream after each layer, through ln_final and W_U, at answer_pos."))
    return 0;
  check_common_options(o, "logit_lens");
  LoadedModel m = load_model(o);
  const ModelConfig& c = m.checkpoint.config;
  LoadedTask t = load_task(o, MetricKind::prob, PairsNeeded::no, c);
  const OutputPaths out = output_paths(o, "logit_lens");
  const LogitLensReport r = logit_lens(*m.model, t.task, o.batch_size);
  const int64_t K = int64_t(r.labels.size());

  OutputFiles written;  // the .h5 and the .svg, both or neither
  out.make_folders();
  h5::AtomicFile file(out.h5());
  h5::Group root = file.file();
  write_provenance(root, "headlab.logit_lens", o, m, t.task);
  root.set_attr("labels", nlohmann::json(r.labels).dump());
  root.set_attr("points", "embed = blocks.0.hook_resid_pre; L<l> = blocks.<l>.hook_resid_post");
  root.write<double>("mean_prob", r.mean_prob.data(), {K});
  root.write<double>("mean_rank", r.mean_rank.data(), {K});
  root.write<double>("top1", r.top1.data(), {K});
  root.write<double>("mean_logit_diff", r.mean_logit_diff.data(), {K});
  root.write<float>("prob", r.prob.data(), {K, r.n_rows});
  root.write<int32_t>("rank", r.rank.data(), {K, r.n_rows});
  file.commit();
  written.add(out.h5());

  std::vector<double> x;
  for (int64_t k = 0; k < K; ++k) x.push_back(double(k) - 1);
  svg::LineChart a;
  a.title = "logit lens: the answer after each layer (-1 = embeddings)";
  a.x_title = "layer";
  a.y_title = "share";
  a.x = x;
  a.series = {{"answer probability", r.mean_prob}, {"answer is top-1", r.top1}};
  std::vector<svg::Picture> pictures = {svg::line_chart(a)};
  if (!t.task.wrong_answer.empty()) {
    svg::LineChart d;
    d.title = "logit lens: logit(answer) - logit(wrong_answer)";
    d.x_title = "layer";
    d.y_title = "logit difference";
    d.x = x;
    d.series = {{"logit difference", r.mean_logit_diff}};
    pictures.push_back(svg::line_chart(d));
  }
  svg::write_svg(out.svg(), svg::stack(pictures));
  written.add(out.svg());
  written.keep();

  std::printf("logit lens at answer_pos, mean over %lld rows\n", (long long)r.n_rows);
  std::printf("  %-6s %10s %10s %8s %12s\n", "after", "p(answer)", "rank", "top-1", "logit diff");
  for (int64_t k = 0; k < K; ++k)
    std::printf("  %-6s %10.4f %10.2f %8.3f %12.4f\n", r.labels[size_t(k)].c_str(), r.mean_prob[size_t(k)],
                r.mean_rank[size_t(k)], r.top1[size_t(k)], r.mean_logit_diff[size_t(k)]);
  std::printf("wrote %s and %s\n", out.h5().c_str(), out.svg().c_str());
  return 0;
}

}  // namespace headlab::circuits_cli
