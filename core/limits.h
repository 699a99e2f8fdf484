// Sizes more than one layer must agree on, kept below them all so that no layer has to ask another.
#pragma once

namespace headlab {

// The largest vocabulary: a model's d_vocab (ModelLimits) and a trained BPE's vocab size share it, so
// that every tokenizer headlab-data can train fits a model headlab-train can build.
constexpr int kMaxVocabSize = 1 << 24;

}  // namespace headlab
