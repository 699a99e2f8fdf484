// The cost of EAP, EAP-IG and ACDC as multiples of one forward+backward on the same batch, and the
// process's peak memory. Built as headlab-bench-eap; scripts/bench/eap.sh runs it and, on the same
// model and batch (written with --out-dir), the PyTorch peer scripts/bench/eap_torch.py.
//
// EAP runs a corrupted forward, a clean forward and one backward: about 2.5 forward+backward
// equivalents, under the 3x target. EAP-IG-inputs with K steps adds K forward+backwards to the
// two unhooked forwards: about K + 1 equivalents, under K + 2. ACDC runs one masked forward per
// edge it tries.
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "circuits/acdc.h"
#include "circuits/circuit_eval.h"
#include "circuits/edge_attribution.h"
#include "circuits/masked_forward.h"
#include "core/h5_file.h"
#include "model/backend.h"
#include "model/checkpoint.h"
#include "model/transformer.h"
#include "tools/common/command_main.h"

using namespace headlab;
namespace po = boost::program_options;

namespace {

struct Seconds {
  double wall = 0, cpu = 0;
};

double cpu_now() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + double(t.tv_nsec) * 1e-9;
}

// The fastest of `repeats` timed calls after one untimed warm-up: the least disturbed estimate on a
// shared machine.
Seconds fastest(int repeats, const std::function<void()>& f) {
  f();
  Seconds best{1e30, 1e30};
  for (int i = 0; i < repeats; ++i) {
    const double c0 = cpu_now();
    const auto t0 = std::chrono::steady_clock::now();
    f();
    best.wall = std::min(best.wall, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    best.cpu = std::min(best.cpu, cpu_now() - c0);
  }
  return best;
}

double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / 1024.0;  // kilobytes on Linux
}

// Random rows whose corrupted twins differ at every third position of the first half; the answer
// and wrong answer are fixed random tokens at the last position.
TaskData random_task(const ModelConfig& c, int B, int T, uint64_t seed) {
  std::mt19937_64 rng(seed);
  TaskData t;
  t.what = "random task";
  t.n = B;
  t.T = T;
  for (int i = 0; i < B * T; ++i) t.clean.push_back(int32_t(rng() % uint64_t(c.d_vocab)));
  t.corrupted = t.clean;
  for (int b = 0; b < B; ++b)
    for (int p = 1; p < T / 2; p += 3) t.corrupted[size_t(b * T + p)] = int32_t(rng() % uint64_t(c.d_vocab));
  for (int b = 0; b < B; ++b) {
    t.answer.push_back(int32_t(rng() % uint64_t(c.d_vocab)));
    t.wrong_answer.push_back(int32_t((t.answer.back() + 1) % c.d_vocab));
    t.answer_pos.push_back(T - 1);
  }
  t.targets.assign(size_t(B * T), -1);
  return t;
}

int run(int argc, char** argv) {
  ModelConfig c;
  int B = 16, T = 32, threads = 2, repeats = 3, K = 5;
  bool acdc = false;
  double acdc_threshold = 0.01;
  std::string out_dir;
  po::options_description opts("headlab-bench-eap");
  opts.add_options()("help", "this help")("n-layers", po::value<int>(&c.n_layers)->default_value(4), "layers")(
      "d-model", po::value<int>(&c.d_model)->default_value(128), "d_model")(
      "n-heads", po::value<int>(&c.n_heads)->default_value(8), "heads (d_head = d_model / n_heads)")(
      "d-mlp", po::value<int>(&c.d_mlp)->default_value(512), "MLP width")(
      "d-vocab", po::value<int>(&c.d_vocab)->default_value(512), "vocabulary")(
      "batch", po::value<int>(&B)->default_value(B), "rows in the batch")(
      "seq-len", po::value<int>(&T)->default_value(T), "positions")(
      "ig", po::value<int>(&K)->default_value(K), "EAP-IG steps K")("acdc", po::value<bool>(&acdc)->default_value(acdc),
                                                                    "also time ACDC (one forward per edge tried)")(
      "acdc-threshold", po::value<double>(&acdc_threshold)->default_value(acdc_threshold), "ACDC's tau (KL)")(
      "threads", po::value<int>(&threads)->default_value(threads), "CPU threads")(
      "repeats", po::value<int>(&repeats)->default_value(repeats), "timed runs (the fastest counts)")(
      "out-dir", po::value<std::string>(&out_dir),
      "write model.h5, batch.h5 and headlab_ig.h5 (EAP-IG's scores) here for eap_torch.py");
  po::variables_map vm;
  po::store(po::parse_command_line(argc, argv, opts), vm);
  if (vm.count("help")) {
    std::cout << "usage: headlab-bench-eap [options]\n" << opts;
    return 0;
  }
  po::notify(vm);
  c.d_head = c.d_model / c.n_heads;
  c.n_ctx = std::max(T, 8);
  c.validate();
  auto be = make_cpu_backend(threads);
  Transformer model(c, *be);
  model.init_gpt2(1);
  const TaskData task = random_task(c, B, T, 2);
  const EdgeGraph g(c);
  std::printf("model: %d layers, d_model %d, %d heads, d_mlp %d, d_vocab %d; batch %d x %d tokens; %d threads\n",
              c.n_layers, c.d_model, c.n_heads, c.d_mlp, c.d_vocab, B, T, threads);
  std::printf("graph: %d sources, %d destinations, %lld edges\n", g.n_src(), g.n_dst(), (long long)g.n_edges());

  // One forward+backward of the model on the clean batch, the metric's gradient as dlogits.
  const std::vector<float> dlogits = [&] {
    model.forward(task.clean.data(), B, T);
    std::vector<float> buf;
    const TaskBatch b = task_batches(task, B)[0];
    return loss_gradient(MetricKind::logit_diff, host_logits(model, buf), b.metric_targets(c.d_vocab));
  }();
  const Seconds fb = fastest(repeats, [&] {
    model.forward(task.clean.data(), B, T);
    model.backward_from_logits(dlogits.data());
  });
  EdgeAttributionOptions eap;
  eap.batch_size = B;
  EdgeScores eap_scores{g}, ig_scores{g};
  const Seconds t_eap = fastest(repeats, [&] { eap_scores = attribute_edges(model, task, eap); });
  EdgeAttributionOptions ig = eap;
  ig.method = EdgeMethod::ig_inputs;
  ig.ig_steps = K;
  const Seconds t_ig = fastest(repeats, [&] { ig_scores = attribute_edges(model, task, ig); });
  // The edge graph's own forward+backward: every head reads its own q, k and v input and the MLPs
  // their hook_mlp_in copy, and the backward captures the gradient at every destination (and forms
  // no parameter gradient, which no score needs). Any EAP over this graph runs it at least once;
  // EAP's other costs are the corrupted forward and the scores product.
  Seconds graph_fb, cache, add;
  {
    EdgePatcher patcher(model, g);
    const TaskBatch b = task_batches(task, B)[0];
    EdgeMatrix sink = edge_matrix(g, 0.0f);
    cache = fastest(repeats, [&] { patcher.cache_corrupted(b.corrupted, B, T); });
    MaskedRunOptions clean;
    clean.gradients = true;
    graph_fb = fastest(repeats, [&] {
      patcher.forward(b.clean, clean);
      patcher.backward(dlogits.data());
    });
    add = fastest(repeats, [&] { patcher.add_edge_scores(sink, 1.0); });
  }
  std::printf("%-34s %10s %10s %12s %9s   %s\n", "method", "wall s", "CPU s", "x fwd+bwd", "x graph's", "target");
  std::printf("%-34s %10.4f %10.4f %12.2f %9.2f\n", "forward+backward (one batch)", fb.wall, fb.cpu, 1.0,
              fb.wall / graph_fb.wall);
  std::printf("%-34s %10.4f %10.4f %12.2f %9.2f\n", "the graph's forward+backward", graph_fb.wall, graph_fb.cpu,
              graph_fb.wall / fb.wall, 1.0);
  std::printf("%-34s %10.4f %10.4f %12.2f %9.2f\n", "  corrupted forward, sources kept", cache.wall, cache.cpu,
              cache.wall / fb.wall, cache.wall / graph_fb.wall);
  std::printf("%-34s %10.4f %10.4f %12.2f %9.2f\n", "  scores product", add.wall, add.cpu, add.wall / fb.wall,
              add.wall / graph_fb.wall);
  std::printf("%-34s %10.4f %10.4f %12.2f %9.2f   <= 3\n", "EAP", t_eap.wall, t_eap.cpu, t_eap.wall / fb.wall,
              t_eap.wall / graph_fb.wall);
  std::printf("%-34s %10.4f %10.4f %12.2f %9.2f   <= %d\n", ("EAP-IG-inputs K=" + std::to_string(K)).c_str(), t_ig.wall,
              t_ig.cpu, t_ig.wall / fb.wall, t_ig.wall / graph_fb.wall, K + 2);
  if (acdc) {
    AcdcOptions ao;
    ao.threshold = acdc_threshold;
    ao.batch_size = B;
    AcdcResult r{g};
    const Seconds t_acdc = fastest(1, [&] { r = run_acdc(model, task, ao); });
    std::printf(
        "%-34s %10.4f %10.4f %12.2f %9.2f   (%lld masked forwards, %.2fx fwd+bwd each; %lld edges tried, "
        "%lld kept)\n",
        ("ACDC tau=" + std::to_string(acdc_threshold)).c_str(), t_acdc.wall, t_acdc.cpu, t_acdc.wall / fb.wall,
        t_acdc.wall / graph_fb.wall, (long long)r.forwards, t_acdc.wall / fb.wall / double(r.forwards),
        (long long)r.edges_tested, (long long)count_edges(g, r.keep));
  }
  std::printf("peak resident memory: %.1f MiB (model %.1f MiB of float32 parameters)\n", peak_rss_mib(),
              double(model.params_to_host().size()) * 4.0 / (1 << 20));
  if (!out_dir.empty()) {
    Checkpoint ck;
    ck.config = c;
    ck.params = model.params_to_host();
    write_checkpoint(out_dir + "/model.h5", ck);
    h5::AtomicFile f(out_dir + "/batch.h5");
    h5::Group root = f.file();
    root.write<int32_t>("clean", task.clean.data(), {B, T});
    root.write<int32_t>("corrupted", task.corrupted.data(), {B, T});
    root.write<int32_t>("answer", task.answer);
    root.write<int32_t>("wrong_answer", task.wrong_answer);
    root.set_attr("ig_steps", int64_t(K));
    root.set_attr("headlab_fwd_bwd_wall", fb.wall);
    root.set_attr("headlab_ig_wall", t_ig.wall);
    root.write<float>("ig_scores", ig_scores.scores.data(), {g.n_src(), g.n_dst()});
    f.commit();
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_command("headlab-bench-eap", [&] { return run(argc, argv); });
}
