// The cost of each circuits method as a multiple of one forward pass on the same batch, and the
// memory of a full cache (every hook point the model can cache). Built as bench_circuits_cost by
// circuits/CMakeLists.txt; scripts/bench/circuits_cost.sh builds and runs it.
//
// A sweep's cost should be (its patched forwards + 2 unpatched runs) forwards: a residual sweep over
// L layers and P positions is L*P + 2. The "x forward" column is measured time / one forward's time;
// "per run" divides that by the forwards the method ran, so values above 1 are hook overhead.
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

#include "circuits/ablation.h"
#include "circuits/dla.h"
#include "circuits/interventions.h"
#include "circuits/patching.h"
#include "circuits/path_patching.h"
#include "model/backend.h"
#include "model/transformer.h"
#include "tools/common/command_main.h"

using namespace headlab;
namespace po = boost::program_options;

namespace {

// Wall-clock and process CPU seconds. On a shared machine the CPU time (with --threads 1) is the
// steadier measure: it does not count the time other processes hold the cores.
struct Seconds {
  double wall = 0, cpu = 0;
};

double cpu_now() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + double(t.tv_nsec) * 1e-9;
}

Seconds seconds_of(const std::function<void()>& f) {
  const double c0 = cpu_now();
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return {std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), cpu_now() - c0};
}

// The fastest of `repeats` timed calls (each measure on its own), after one untimed warm-up:
// the least disturbed estimate of the call's own cost.
Seconds fastest(int repeats, const std::function<void()>& f) {
  f();
  Seconds best{1e30, 1e30};
  for (int i = 0; i < repeats; ++i) {
    const Seconds s = seconds_of(f);
    best.wall = std::min(best.wall, s.wall);
    best.cpu = std::min(best.cpu, s.cpu);
  }
  return best;
}

double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / 1024.0;  // kilobytes on Linux
}

TaskData random_task(const ModelConfig& c, int B, int T, uint64_t seed) {
  std::mt19937_64 rng(seed);
  TaskData t;
  t.what = "random task";
  t.n = B;
  t.T = T;
  for (int i = 0; i < B * T; ++i) t.clean.push_back(int32_t(rng() % uint64_t(c.d_vocab)));
  t.corrupted = t.clean;
  for (int b = 0; b < B; ++b)  // the twins differ in the first half
    for (int p = 1; p < T / 2; p += 2) t.corrupted[size_t(b * T + p)] = int32_t(rng() % uint64_t(c.d_vocab));
  for (int b = 0; b < B; ++b) {
    t.answer.push_back(int32_t(rng() % uint64_t(c.d_vocab)));
    t.wrong_answer.push_back(int32_t((t.answer.back() + 1) % c.d_vocab));
    t.answer_pos.push_back(T - 1);
  }
  t.targets.assign(size_t(B * T), -1);
  for (int b = 0; b < B; ++b)
    for (int p = 0; p + 1 < T; ++p) t.targets[size_t(b * T + p)] = t.clean[size_t(b * T + p + 1)];
  return t;
}

struct Row {
  std::string name;
  int64_t forwards;  // forward passes the method ran
  Seconds time;
};

// Every method once on the task's one batch.
std::vector<Row> time_methods(Transformer& model, const TaskData& task) {
  const ModelConfig& c = model.config();
  const int B = int(task.n);
  const int64_t L = c.n_layers;
  std::vector<Row> rows;
  PatchOptions popt;
  popt.batch_size = B;
  for (const char* name : {"resid_pre", "attn_out", "mlp_out", "z", "z_pos", "q", "k", "v", "pattern"}) {
    if (c.attn_only && std::string(name) == "mlp_out") continue;
    PatchReport r;
    const Seconds s = seconds_of([&] { r = run_patching(model, task, {parse_patch_sweep(name, c)}, popt); });
    rows.push_back({std::string("patch ") + name, r.forwards, s});
  }
  PathPatchOptions ppopt;
  ppopt.batch_size = B;
  std::vector<std::vector<HeadRef>> each;
  for (HeadRef h : all_heads(c)) each.push_back({h});
  {
    PathPatchReport r;
    const Seconds s = seconds_of(
        [&] { r = run_path_patching(model, task, each, parse_path_target("logits", c, "receivers"), ppopt); });
    rows.push_back({"path-patch each head -> logits", r.forwards, s});
    const std::string receiver = "L" + std::to_string(L - 1) + "H0:q";
    const Seconds s2 = seconds_of(
        [&] { r = run_path_patching(model, task, each, parse_path_target(receiver, c, "receivers"), ppopt); });
    rows.push_back({"path-patch each head -> " + receiver, r.forwards, s2});
  }
  for (AblationKind k : {AblationKind::zero, AblationKind::mean}) {
    AblationOptions aopt;
    aopt.kind = k;
    aopt.batch_size = B;
    AblationReport r;
    const Seconds s = seconds_of([&] { r = run_ablation(model, task, aopt); });
    rows.push_back({"ablate " + to_string(k) + " (heads + layers)", r.forwards + (k == AblationKind::mean ? 1 : 0), s});
  }
  rows.push_back({"dla", 1, seconds_of([&] { direct_logit_attribution(model, task, B); })});
  rows.push_back({"logit-lens", 1, seconds_of([&] { logit_lens(model, task, B); })});

  return rows;
}

int run(int argc, char** argv) {
  ModelConfig c;
  int B = 8, T = 24, threads = 0, repeats = 7;
  std::string only;
  po::options_description opts("bench_circuits_cost");
  opts.add_options()("help", "this help")("n-layers", po::value<int>(&c.n_layers)->default_value(4), "layers")(
      "d-model", po::value<int>(&c.d_model)->default_value(128), "d_model")(
      "n-heads", po::value<int>(&c.n_heads)->default_value(4), "heads (d_head = d_model / n_heads)")(
      "d-mlp", po::value<int>(&c.d_mlp)->default_value(512), "MLP width")(
      "d-vocab", po::value<int>(&c.d_vocab)->default_value(512), "vocabulary")(
      "attn-only", po::value<bool>(&c.attn_only)->default_value(false), "attention-only blocks")(
      "batch", po::value<int>(&B)->default_value(B), "rows in the batch")(
      "seq-len", po::value<int>(&T)->default_value(T), "positions")(
      "threads", po::value<int>(&threads)->default_value(0), "CPU threads (0 = all)")(
      "repeats", po::value<int>(&repeats)->default_value(repeats), "timed forwards (the fastest counts)");
  po::variables_map vm;
  po::store(po::parse_command_line(argc, argv, opts), vm);
  if (vm.count("help")) {
    std::printf("%s", "usage: bench_circuits_cost [options]\n");
    opts.print(std::cout);
    return 0;
  }
  po::notify(vm);
  c.d_head = c.d_model / c.n_heads;
  c.n_ctx = T;
  c.validate();
  auto be = make_cpu_backend(threads);
  Transformer model(c, *be);
  model.init_gpt2(1);
  const TaskData task = random_task(c, B, T, 2);
  const int64_t L = c.n_layers, H = c.n_heads;

  const Seconds fwd = fastest(repeats, [&] { model.forward(task.clean.data(), B, T); });
  HookSet empty;
  const Seconds fwd_empty = fastest(repeats, [&] { model.forward(task.clean.data(), B, T, &empty); });
  std::vector<HookPoint> cacheable;
  for (HookPoint p : all_hook_points(c))
    if (p.site != HookSite::q_input && p.site != HookSite::k_input && p.site != HookSite::v_input)
      cacheable.push_back(p);
  const double rss_before = peak_rss_mib();
  double cache_mib = 0;
  const Seconds full_cache = fastest(3, [&] {
    auto cache = run_with_cache(model, task.clean.data(), B, T, cacheable);
    cache_mib = 0;
    for (const auto& [point, t] : cache) cache_mib += double(t->numel()) * 4 / (1 << 20);
  });
  const double rss_after = peak_rss_mib();

  std::printf("model: n_layers %d, d_model %d, n_heads %d, d_mlp %d, d_vocab %d%s; batch %d x %d positions; %s\n",
              c.n_layers, c.d_model, c.n_heads, c.attn_only ? 0 : c.d_mlp, c.d_vocab, c.attn_only ? " (attn-only)" : "",
              B, T, be->name().c_str());
  std::printf("one forward: %.2f ms cpu, %.2f ms wall (with an empty HookSet: %.2f ms cpu, %.2f ms wall)\n",
              fwd.cpu * 1e3, fwd.wall * 1e3, fwd_empty.cpu * 1e3, fwd_empty.wall * 1e3);
  std::printf(
      "full cache: %zu hook points, %.2f MiB of activations (%.1f KiB per token); run_with_cache = %.2f "
      "forwards (cpu); peak RSS %.0f MiB (%.0f MiB before the first full cache)\n",
      cacheable.size(), cache_mib, cache_mib * 1024 / double(B * T), full_cache.cpu / fwd.cpu, rss_after, rss_before);

  const std::vector<Row> rows = time_methods(model, task);
  std::printf("\n%-36s %9s %12s %12s %12s\n", "method", "forwards", "cpu (s)", "x forward", "x fwd / run");
  for (const Row& r : rows)
    std::printf("%-36s %9lld %12.3f %12.1f %12.2f\n", r.name.c_str(), (long long)r.forwards, r.time.cpu,
                r.time.cpu / fwd.cpu, r.time.cpu / fwd.cpu / double(r.forwards));
  std::printf(
      "\nexpected forwards: patch by (layer, position) L*P + 2 = %lld; by (layer, head) L*H + 2 = %lld; "
      "by (layer, head, position) L*H*P + 2 = %lld\n",
      (long long)(L * T + 2), (long long)(L * H + 2), (long long)(L * H * T + 2));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_command("bench_circuits_cost", [&] { return run(argc, argv); });
}
