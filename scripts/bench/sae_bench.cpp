// SAE training throughput: `steps` timed steps (after 2 warm-up steps) of SaeTrainer on random
// rows, one architecture, one shape. Prints "arch A d_in D d_sae S batch B tokens/s T sec/step X".
// scripts/bench/sae.sh runs it beside the same SAE in PyTorch (sae_torch.py).
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "model/backend.h"
#include "probes/sae_trainer.h"

using namespace headlab;
namespace po = boost::program_options;

int main(int argc, char** argv) {
  std::string arch = "topk";
  int64_t d_in = 256, expansion = 16, batch = 4096, k = 32, steps = 10;
  int threads = 2;
  po::options_description opts("headlab-bench-sae");
  opts.add_options()("arch", po::value(&arch))("d-in", po::value(&d_in))("expansion", po::value(&expansion))(
      "batch", po::value(&batch))("k", po::value(&k))("steps", po::value(&steps))("threads", po::value(&threads));
  po::variables_map vm;
  po::store(po::parse_command_line(argc, argv, opts), vm);
  po::notify(vm);
  // Rows: 8 batches of Gaussian values, served round and round.
  const int64_t n_rows = 8 * batch;
  std::vector<float> rows(size_t(n_rows * d_in));
  std::mt19937_64 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (auto& v : rows) v = normal(rng);
  ArrayRows source(std::move(rows), d_in, 2);
  SaeConfig cfg;
  cfg.arch = parse_sae_arch(arch);
  cfg.d_in = d_in;
  cfg.d_sae = d_in * expansion;
  cfg.k = k;
  cfg.batch_size = batch;
  cfg.steps = steps + 2;
  cfg.l1_coefficient = 1.0;
  SaeTrainState st = new_sae_state(cfg, source, 4096);
  auto be = make_cpu_backend(threads);
  SaeTrainer trainer(st, *be);
  trainer.step(source);
  trainer.step(source);
  const auto t0 = std::chrono::steady_clock::now();
  double l0 = 0;
  for (int64_t s = 0; s < steps; ++s) l0 = trainer.step(source).result.l0;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("arch %s d_in %lld d_sae %lld batch %lld tokens/s %.0f sec/step %.4f l0 %.1f\n", arch.c_str(),
              (long long)d_in, (long long)cfg.d_sae, (long long)batch, double(steps * batch) / secs,
              secs / double(steps), l0);
  return 0;
}
