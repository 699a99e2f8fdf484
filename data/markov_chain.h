// A Markov chain over K states whose transition rows are drawn from a symmetric Dirichlet(alpha), with
// its stationary distribution: the Markov task draws one per row (Edelman et al. 2024), the trigger
// task one global bigram shared by every row (Bietti et al. 2023).
#pragma once
#include <cstddef>
#include <vector>

#include "core/seeded_rng.h"

namespace headlab {

struct MarkovChain {
  size_t states = 0;
  std::vector<double> P;   // [states, states] row-major: P[i * states + j] = p(next = j | now = i)
  std::vector<double> pi;  // [states]: the stationary distribution, pi P = pi

  // A state drawn from pi (a walk's first), and the state after `from`.
  size_t start(SeededRng& rng) const { return rng.categorical(pi); }
  size_t step(SeededRng& rng, size_t from) const { return rng.categorical(P.data() + from * states, states); }
};

// Draws P row by row (each row one Dirichlet draw, in order) and solves for pi.
MarkovChain draw_markov_chain(SeededRng& rng, size_t states, double alpha);

}  // namespace headlab
