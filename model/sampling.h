// Sampling from the model: the next token from one position's logits, and a prompt continued token
// by token. headlab-model sample and steering's samples both go through here, so that they draw the
// same tokens for the same seed and refuse the same non-finite logits.
#pragma once
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "model/hooks.h"
#include "model/transformer.h"

namespace headlab {

// The next token from logits [d_vocab]: the first largest at temperature 0, else drawn from
// softmax(logits / temperature) with one 53-bit uniform of rng (the same token on every platform).
int32_t sample_token(const float* logits, int d_vocab, float temperature, std::mt19937_64& rng);

// Continues `prompt` by max_new tokens, running `hooks` on every forward; the model reads the last
// n_ctx tokens. InputError(what, ...) when the logits of a new token are not finite (finite weights
// can still overflow, and a NaN would make every choice meaningless), or the prompt is empty.
std::vector<int32_t> generate(Transformer& model, std::vector<int32_t> prompt, int max_new, float temperature,
                              uint64_t seed, HookSet* hooks = nullptr, const std::string& what = "model");

}  // namespace headlab
