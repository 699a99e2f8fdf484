// headlab-bench-train-step: times full CPU training steps (zero grads, forward + loss, backward,
// AdamW over the arena) for the benchmark shapes of scripts/bench/train_throughput.sh and prints
// tokens/s, achieved GFLOP/s and where the time goes.
//
// FLOPs are counted as llm.c and torch_train.py count them: 6 x matmul parameters + 6 x layers x
// n_ctx x d_model per token. Each shape runs `--repeats` timed runs of `--steps` steps after
// `--warmup` steps; the best run is reported (the machine is shared: the best run is the one
// least disturbed), with the process CPU time beside it and the load average before and after.
#include <omp.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "core/errors.h"
#include "model/backend.h"
#include "model/params.h"
#include "model/transformer.h"
#include "scripts/bench/timing_backend.h"

namespace po = boost::program_options;
using namespace headlab;

namespace {

struct Shape {
  std::string name;
  int n_layers, d_model, n_heads, d_mlp, n_ctx, d_vocab, batch;  // d_mlp 0: attention-only
  int default_steps;
};

// The shapes of torch_train.py (toy, small, the GPT-2-124M shape), in the same order of fields.
const std::vector<Shape> kShapes = {
    {"toy", 2, 128, 4, 0, 128, 512, 32, 30},
    {"small", 4, 256, 8, 1024, 256, 4096, 16, 8},
    {"gpt2", 12, 768, 12, 3072, 256, 50257, 4, 3},
};

ModelConfig config_for(const Shape& s) {
  ModelConfig c;  // GPT-2 style: LayerNorm, gelu_new, learned positions, untied unembedding
  c.n_layers = s.n_layers;
  c.d_model = s.d_model;
  c.n_heads = s.n_heads;
  c.d_head = s.d_model / s.n_heads;
  c.attn_only = s.d_mlp == 0;
  c.d_mlp = s.d_mlp == 0 ? 4 * s.d_model : s.d_mlp;
  c.n_ctx = s.n_ctx;
  c.d_vocab = s.d_vocab;
  return c;
}

double flops_per_token(const Shape& s) {
  const double d = s.d_model, mlp = s.d_mlp ? 2.0 * d * s.d_mlp : 0.0;
  const double matmul_params = s.n_layers * (4.0 * d * d + mlp) + d * s.d_vocab;
  return 6.0 * matmul_params + 6.0 * s.n_layers * s.n_ctx * d;
}

double wall_now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
double cpu_now() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}
std::string load_average() {
  std::ifstream f("/proc/loadavg");
  std::string one;
  f >> one;
  return one.empty() ? "?" : one;
}

// Seconds per phase over a run of steps.
struct Phases {
  double zero = 0, forward_loss = 0, backward = 0, optimizer = 0;
  double total() const { return zero + forward_loss + backward + optimizer; }
};

// One model with its AdamW state, stepping on one fixed random batch (as torch_train.py does).
class StepRunner {
 public:
  StepRunner(const Shape& s, Backend& be, uint64_t seed) : shape_(s), model_(config_for(s), be), be_(be) {
    model_.init_gpt2(seed);
    const int64_t n = model_.table().arena_size();
    m_ = static_cast<float*>(be_.alloc_bytes(size_t(n) * sizeof(float)));
    v_ = static_cast<float*>(be_.alloc_bytes(size_t(n) * sizeof(float)));
    std::mt19937_64 rng(seed + 1);
    std::vector<int32_t> row(size_t(s.n_ctx) + 1);
    for (int b = 0; b < s.batch; ++b) {
      for (auto& t : row) t = int32_t(rng() % uint64_t(s.d_vocab));
      tokens_.insert(tokens_.end(), row.begin(), row.end() - 1);
      targets_.insert(targets_.end(), row.begin() + 1, row.end());
    }
  }
  ~StepRunner() {
    be_.free_bytes(m_);
    be_.free_bytes(v_);
  }

  // One training step; adds its phases' wall time into `p`. Returns the loss.
  float step(Phases& p) {
    double t0 = wall_now();
    model_.zero_grads();
    double t1 = wall_now();
    const float loss = model_.forward_loss(tokens_.data(), targets_.data(), shape_.batch, shape_.n_ctx);
    double t2 = wall_now();
    model_.backward();
    double t3 = wall_now();
    ++step_;
    // AdamW as train/optimizer.cpp runs it: decay on matrices only, one call per storage tensor.
    for (const StorageInfo& s : model_.table().storage()) {
      const float wd = s.kind == ParamKind::matrix ? 0.1f : 0.0f;
      be_.adamw_update(model_.params() + s.offset, model_.grads() + s.offset, m_ + s.offset, v_ + s.offset, s.size,
                       1e-4f, 0.9f, 0.999f, 1e-8f, wd, step_, 1.0f);
    }
    double t4 = wall_now();
    p.zero += t1 - t0;
    p.forward_loss += t2 - t1;
    p.backward += t3 - t2;
    p.optimizer += t4 - t3;
    return loss;
  }

 private:
  const Shape& shape_;
  Transformer model_;
  Backend& be_;
  float* m_ = nullptr;
  float* v_ = nullptr;
  int64_t step_ = 0;
  std::vector<int32_t> tokens_, targets_;  // [batch, n_ctx]
};

struct RunResult {
  double wall = 0, cpu = 0;
  Phases phases;
};

void print_kernels(const bench::TimingBackend& timing, int steps) {
  std::vector<std::pair<std::string, bench::TimingBackend::Total>> rows(timing.totals().begin(), timing.totals().end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
  double total = 0;
  for (const auto& r : rows) total += r.second.seconds;
  std::printf("  %-44s %9s %6s %11s %7s %9s %13s\n", "kernel", "ms/step", "share", "cpu ms/step", "calls", "GFLOP/s",
              "GFLOP/cpu-s");
  for (const auto& [name, t] : rows) {
    const double ms = 1e3 * t.seconds / steps;
    if (ms < 0.01 * 1e3 * total / steps / 100) continue;  // under 0.01% of the step
    std::printf("  %-44s %9.2f %5.1f%% %11.2f %7.1f", name.c_str(), ms, 100 * t.seconds / total,
                1e3 * t.cpu_seconds / steps, double(t.calls) / steps);
    if (t.flops > 0)
      std::printf(" %9.1f %13.1f\n", t.flops / t.seconds / 1e9, t.flops / t.cpu_seconds / 1e9);
    else
      std::printf("\n");
  }
}

void bench_shape(const Shape& s, int threads, int steps, int warmup, int repeats, bool kernels) {
  auto cpu = make_cpu_backend(threads);
  bench::TimingBackend timing(*cpu);
  Backend& be = kernels ? static_cast<Backend&>(timing) : *cpu;
  StepRunner runner(s, be, 1234);
  Phases ignored;
  const std::string load_before = load_average();
  // The losses of the first and the last step: the same every run (a check that the step trains
  // and is deterministic; the per-step losses are in the runner's order, not the best run's).
  const float first_loss = runner.step(ignored);
  float last_loss = first_loss;
  for (int i = 1; i < warmup; ++i) runner.step(ignored);
  timing.reset();
  RunResult best;
  best.wall = 1e300;
  for (int r = 0; r < repeats; ++r) {
    RunResult run;
    const double w0 = wall_now(), c0 = cpu_now();
    for (int i = 0; i < steps; ++i) last_loss = runner.step(run.phases);
    run.wall = wall_now() - w0;
    run.cpu = cpu_now() - c0;
    if (run.wall < best.wall) best = run;
  }
  const double tokens = double(steps) * s.batch * s.n_ctx;
  const double tps = tokens / best.wall;
  std::printf(
      "headlab %s threads %d steps %d tokens/s %.1f gflops %.1f cpu_s_per_step %.3f loss %.4f->%.4f "
      "load %s->%s\n",
      s.name.c_str(), threads, steps, tps, tps * flops_per_token(s) / 1e9, best.cpu / steps, first_loss, last_loss,
      load_before.c_str(), load_average().c_str());
  const Phases& p = best.phases;
  std::printf("  phases (ms/step, best run): zero_grads %.2f  forward+loss %.2f  backward %.2f  adamw %.2f\n",
              1e3 * p.zero / steps, 1e3 * p.forward_loss / steps, 1e3 * p.backward / steps, 1e3 * p.optimizer / steps);
  if (kernels) print_kernels(timing, steps * repeats);
  std::fflush(stdout);
}

int run(int argc, char** argv) {
  std::string shape = "all";
  int threads = 2, steps = 0, warmup = 2, repeats = 3;
  po::options_description o("usage: headlab-bench-train-step [options]");
  o.add_options()("help", "this help")("shape", po::value(&shape)->default_value(shape), "toy | small | gpt2 | all")(
      "threads", po::value(&threads)->default_value(threads), "OpenMP threads")(
      "steps", po::value(&steps)->default_value(steps), "timed steps per run (0: the shape's default)")(
      "warmup", po::value(&warmup)->default_value(warmup), "untimed steps first (at least 1 is run)")(
      "repeats", po::value(&repeats)->default_value(repeats), "timed runs; the best is reported")(
      "kernels", "time every backend call and print the per-kernel breakdown (over all runs)");
  po::variables_map vm;
  po::store(po::parse_command_line(argc, argv, o), vm);
  po::notify(vm);
  if (vm.count("help")) {
    std::cout << o;
    return 0;
  }
  if (threads < 1) throw InputError("--threads " + std::to_string(threads), "expected 1 or more");
  if (steps < 0 || warmup < 0 || repeats < 1) throw InputError("--steps/--warmup/--repeats", "out of range");
  bool found = false;
  for (const Shape& s : kShapes) {
    if (shape != "all" && shape != s.name) continue;
    found = true;
    bench_shape(s, threads, steps > 0 ? steps : s.default_steps, warmup, repeats, vm.count("kernels") > 0);
  }
  if (!found) throw InputError("--shape " + shape, "expected toy, small, gpt2 or all");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const InputError& e) {
    std::fprintf(stderr, "headlab-bench-train-step: error: %s\n", e.what());
    return 2;
  } catch (const po::error& e) {
    std::fprintf(stderr, "headlab-bench-train-step: error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "headlab-bench-train-step: error: %s\n", e.what());
    return 1;
  }
}
