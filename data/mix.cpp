#include "data/mix.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "core/seeded_rng.h"
#include "data/tokenizer.h"

namespace headlab {
namespace {

// Appends `count` rows of seq_len tokens from the source to tokens/mask (both [rows, seq_len]).
void draw_rows(const TokenDataset& src, const std::string& path, int64_t count, int64_t seq_len, int32_t pad,
               SeededRng& rng, std::vector<int32_t>& tokens, std::vector<uint8_t>& mask) {
  if (count == 0) return;
  if (src.kind == DatasetKind::stream) {
    if (src.n_tokens() < seq_len)
      throw InputError(path, "the stream holds " + std::to_string(src.n_tokens()) + " tokens, fewer than --seq-len " +
                                 std::to_string(seq_len));
    for (int64_t r = 0; r < count; ++r) {
      const int64_t offset = int64_t(rng.below(uint64_t(src.n_tokens() - seq_len + 1)));
      tokens.insert(tokens.end(), src.tokens.begin() + offset, src.tokens.begin() + offset + seq_len);
      mask.insert(mask.end(), size_t(seq_len), 1);
    }
    return;
  }
  if (src.seq_len > seq_len)
    throw InputError("--seq-len",
                     path + " has rows of " + std::to_string(src.seq_len) + " tokens; --seq-len must be at least that");
  std::vector<int64_t> order(size_t(src.n_seq));
  for (int64_t r = 0, k = int64_t(order.size()); r < count; ++r, ++k) {
    if (k == int64_t(order.size())) {  // a new pass over the rows
      for (size_t i = 0; i < order.size(); ++i) order[i] = int64_t(i);
      rng.shuffle(order);
      k = 0;
    }
    const int64_t row = order[size_t(k)] * src.seq_len;
    tokens.insert(tokens.end(), src.tokens.begin() + row, src.tokens.begin() + row + src.seq_len);
    tokens.insert(tokens.end(), size_t(seq_len - src.seq_len), pad);
    if (src.loss_mask.empty())
      mask.insert(mask.end(), size_t(src.seq_len), 1);
    else
      mask.insert(mask.end(), src.loss_mask.begin() + row, src.loss_mask.begin() + row + src.seq_len);
    mask.insert(mask.end(), size_t(seq_len - src.seq_len), 0);
  }
}

}  // namespace

MixSource parse_mix_source(const std::string& text) {
  MixSource s;
  const size_t colon = text.rfind(':');
  s.path = text.substr(0, colon);
  if (colon == std::string::npos) return s;
  const std::string weight = text.substr(colon + 1);
  size_t used = 0;
  try {
    s.weight = std::stod(weight, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != weight.size() || !std::isfinite(s.weight) || s.weight < 0)
    throw InputError("--source " + text, "expected FILE or FILE:WEIGHT with a weight >= 0");
  return s;
}

std::vector<int64_t> rows_per_weight(const std::vector<double>& weights, int64_t n_seq) {
  double total = 0;
  for (double w : weights) {
    if (!(w >= 0) || !std::isfinite(w)) throw InputError("--source", "weights must be finite and >= 0");
    total += w;
  }
  if (total <= 0) throw InputError("--source", "at least one weight must be positive");
  std::vector<int64_t> rows(weights.size());
  std::vector<std::pair<double, size_t>> remainders;
  int64_t given = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    const double exact = double(n_seq) * weights[i] / total;
    rows[i] = int64_t(std::floor(exact));
    given += rows[i];
    remainders.push_back({-(exact - double(rows[i])), i});  // largest remainder first, then lower index
  }
  std::sort(remainders.begin(), remainders.end());
  for (size_t k = 0; given < n_seq; ++k, ++given) ++rows[remainders[k % remainders.size()].second];
  return rows;
}

MixedDataset mix_datasets(const MixOptions& options) {
  if (options.sources.empty()) throw InputError("--source", "give at least one dataset to mix");
  if (options.n_seq <= 0 || options.n_seq > 10'000'000)
    throw InputError("--n", "the number of rows must be 1 to 10,000,000, got " + std::to_string(options.n_seq));
  if (options.seq_len < 2 || options.seq_len > 1'000'000)
    throw InputError("--seq-len", "expected 2 to 1,000,000, got " + std::to_string(options.seq_len));
  if (double(options.n_seq) * double(options.seq_len) > double(kMaxBuiltTokens))
    throw InputError("--n / --seq-len", std::to_string(options.n_seq) + " rows of " + std::to_string(options.seq_len) +
                                            " tokens exceed the " + std::to_string(kMaxBuiltTokens) +
                                            " tokens one file may hold; mix fewer rows per file");
  std::vector<TokenDataset> sources;
  std::vector<double> weights;
  for (const MixSource& s : options.sources) {
    sources.push_back(read_token_dataset(s.path));
    weights.push_back(s.weight);
    const TokenDataset& src = sources.back();
    if (src.n_tokens() == 0)
      throw InputError(s.path, src.kind == DatasetKind::stream ? "the stream holds no tokens"
                                                               : "holds no rows of tokens (expected at least one)");
    const TokenDataset& first = sources.front();
    if (sources.back().tokenizer_json.empty())
      throw InputError(s.path, "has no tokenizer attribute; mixing needs one (for PAD, and to check ids agree)");
    if (sources.back().tokenizer_json != first.tokenizer_json || sources.back().d_vocab != first.d_vocab)
      throw InputError(s.path, "its tokenizer differs from " + options.sources.front().path +
                                   "'s; mixed rows must share one tokenizer (build tasks with --tokenizer)");
  }
  const std::unique_ptr<Tokenizer> tokenizer =
      tokenizer_from_json(sources.front().tokenizer_json, options.sources.front().path + ": tokenizer");
  MixedDataset mixed;
  mixed.rows_per_source = rows_per_weight(weights, options.n_seq);
  SeededRng rng(options.seed);
  std::vector<int32_t> tokens, source_of_row;
  std::vector<uint8_t> mask;
  for (size_t s = 0; s < sources.size(); ++s) {
    draw_rows(sources[s], options.sources[s].path, mixed.rows_per_source[s], options.seq_len, tokenizer->special().pad,
              rng, tokens, mask);
    source_of_row.insert(source_of_row.end(), size_t(mixed.rows_per_source[s]), int32_t(s));
  }
  std::vector<size_t> order(size_t(options.n_seq));
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  rng.shuffle(order);
  TokenDataset& ds = mixed.data;
  ds.kind = DatasetKind::sequences;
  ds.d_vocab = sources.front().d_vocab;
  ds.tokenizer_json = sources.front().tokenizer_json;
  ds.n_seq = options.n_seq;
  ds.seq_len = options.seq_len;
  const size_t L = size_t(options.seq_len);
  ds.tokens.resize(order.size() * L);
  ds.loss_mask.resize(order.size() * L);
  std::vector<int32_t>& source_label = ds.labels["source"];
  source_label.resize(order.size() * L);
  nlohmann::json described = nlohmann::json::array();
  for (size_t s = 0; s < sources.size(); ++s)
    described.push_back(
        {{"path", options.sources[s].path}, {"weight", weights[s]}, {"rows", mixed.rows_per_source[s]}});
  ds.source = "headlab-data mix " + described.dump();
  for (size_t i = 0; i < order.size(); ++i) {
    std::copy_n(tokens.begin() + order[i] * L, L, ds.tokens.begin() + i * L);
    std::copy_n(mask.begin() + order[i] * L, L, ds.loss_mask.begin() + i * L);
    std::fill_n(source_label.begin() + i * L, L, source_of_row[order[i]]);
  }
  std::vector<std::string> names;
  for (const MixSource& s : options.sources) names.push_back(s.path);
  mixed.annotations.label_names["source"] = names;
  mixed.annotations.attributes["sources"] = described.dump();
  return mixed;
}

}  // namespace headlab
