#include "data/markov_chain.h"

#include <cmath>

namespace headlab {

MarkovChain draw_markov_chain(SeededRng& rng, size_t states, double alpha) {
  const size_t K = states;
  MarkovChain c;
  c.states = K;
  for (size_t i = 0; i < K; ++i) {
    const std::vector<double> row = rng.dirichlet(alpha, K);
    c.P.insert(c.P.end(), row.begin(), row.end());
  }
  // pi by power iteration on the lazy chain (I + P) / 2: it has the same stationary distributions and
  // is aperiodic, so the iteration converges whatever P is.
  c.pi.assign(K, 1.0 / double(K));
  std::vector<double> next(K);
  for (int it = 0; it < 10000; ++it) {
    for (size_t j = 0; j < K; ++j) next[j] = 0.5 * c.pi[j];
    for (size_t i = 0; i < K; ++i)
      for (size_t j = 0; j < K; ++j) next[j] += 0.5 * c.pi[i] * c.P[i * K + j];
    double change = 0;
    for (size_t j = 0; j < K; ++j) change += std::fabs(next[j] - c.pi[j]);
    c.pi.swap(next);
    if (change < 1e-15) break;
  }
  return c;
}

}  // namespace headlab
