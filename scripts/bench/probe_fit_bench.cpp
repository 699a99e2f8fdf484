// Probe training time for one shape (scripts/bench/probes.sh runs it beside scikit-learn on the same
// data): multinomial logistic regression with L2 by L-BFGS on n x d float32 features of `classes`
// Gaussian clusters. Writes the data with --write-data so that the reference fits the same matrix.
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <random>

#include "core/h5_file.h"
#include "model/backend.h"
#include "probes/linear_models.h"

using namespace headlab;
namespace po = boost::program_options;

int main(int argc, char** argv) {
  int64_t n = 200000, d = 256;
  int classes = 12, threads = 0;
  double l2 = 1e-4, tol = 1e-5;
  std::string data_path;
  po::options_description opts("probe_fit_bench");
  opts.add_options()("help", "this help")("n", po::value(&n)->default_value(n), "rows")(
      "d", po::value(&d)->default_value(d), "features")("classes", po::value(&classes)->default_value(classes),
                                                        "classes")(
      "l2", po::value(&l2)->default_value(l2), "L2 strength lambda (scikit-learn C = 1 / (lambda n))")(
      "tol", po::value(&tol)->default_value(tol), "stop at max |gradient of the mean objective| <= tol")(
      "threads", po::value(&threads)->default_value(0), "CPU threads (0 = all)")("write-data", po::value(&data_path),
                                                                                 "write X, y here for the reference");
  po::variables_map vm;
  po::store(po::parse_command_line(argc, argv, opts), vm);
  po::notify(vm);
  if (vm.count("help")) {
    std::cout << opts;
    return 0;
  }
  std::mt19937_64 rng(1);
  std::normal_distribution<float> g;
  std::vector<float> centres(size_t(classes * d)), X(size_t(n * d));
  for (float& c : centres) c = 0.15f * g(rng);
  std::vector<int32_t> y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    y[size_t(i)] = int32_t(rng() % uint64_t(classes));
    for (int64_t j = 0; j < d; ++j) X[size_t(i * d + j)] = centres[size_t(y[size_t(i)] * d + j)] + g(rng);
  }
  if (!data_path.empty()) {
    h5::AtomicFile f(data_path);
    f.file().write<float>("X", X.data(), {n, d});
    f.file().write<int32_t>("y", y);
    f.file().set_attr("l2", l2);
    f.commit();
  }
  auto be = make_cpu_backend(threads);
  LbfgsOptions o;
  o.gradient_tolerance = tol;
  const auto t0 = std::chrono::steady_clock::now();
  const LinearFit fit = fit_logistic(*be, X.data(), y.data(), n, d, classes, l2, o);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double acc = accuracy(predict_classes(*be, fit, X.data(), n), y.data(), n);
  std::printf("headlab  fit %.3f s, %d iterations, objective %.6f, train accuracy %.4f (%s, %s)\n", seconds,
              fit.iterations, fit.objective, acc, be->name().c_str(), fit.converged ? "converged" : "not converged");
  return 0;
}
