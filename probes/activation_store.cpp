#include "probes/activation_store.h"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "core/lists.h"
#include "model/checkpoint.h"

namespace headlab {
namespace {

uint32_t bits_of(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}
float float_of(uint32_t u) {
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

h5::DType disk_dtype(StoredFloat t) {
  return t == StoredFloat::f16 ? h5::DType::f16 : t == StoredFloat::bf16 ? h5::DType::bf16 : h5::DType::f32;
}

// HDF5's default chunk cache is 1 MiB per dataset: a chunk that fits is assembled there and
// compressed once.
constexpr int64_t kChunkBytes = int64_t(1) << 20;

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> out;
  for (const std::string& item : split_list(text))
    if (!item.empty()) out.push_back(item);
  return out;
}

}  // namespace

StoredFloat parse_stored_float(const std::string& text, const std::string& what) {
  if (text == "float32") return StoredFloat::f32;
  if (text == "float16") return StoredFloat::f16;
  if (text == "bfloat16") return StoredFloat::bf16;
  throw InputError(what, "expected float32, float16 or bfloat16; got '" + text + "'");
}

std::string to_string(StoredFloat t) {
  return t == StoredFloat::f16 ? "float16" : t == StoredFloat::bf16 ? "bfloat16" : "float32";
}

uint16_t float_to_half(float x) {
  const uint32_t u = bits_of(x);
  const uint32_t sign = (u >> 16) & 0x8000u;
  const int exponent = int((u >> 23) & 0xffu);
  uint32_t mantissa = u & 0x7fffffu;
  if (exponent == 255) return uint16_t(sign | 0x7c00u | (mantissa ? 0x200u | (mantissa >> 13) : 0u));
  const int e = exponent - 127 + 15;
  if (e >= 31) return uint16_t(sign | 0x7c00u);
  if (e <= 0) {  // a subnormal half, or zero
    if (e < -10) return uint16_t(sign);
    mantissa |= 0x800000u;
    const int shift = 14 - e;
    uint32_t h = mantissa >> shift;
    const uint32_t rest = mantissa & ((1u << shift) - 1u), half = 1u << (shift - 1);
    if (rest > half || (rest == half && (h & 1u))) ++h;
    return uint16_t(sign | h);
  }
  uint32_t h = (uint32_t(e) << 10) | (mantissa >> 13);
  const uint32_t rest = mantissa & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // a carry into the exponent is right
  return uint16_t(sign | std::min(h, 0x7c00u));
}

float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
  if (exponent == 31) return float_of(sign | 0x7f800000u | (mantissa << 13));
  if (exponent == 0) {
    const float magnitude = float(mantissa) * (1.0f / 16777216.0f);  // mantissa * 2^-24
    return sign ? -magnitude : magnitude;
  }
  return float_of(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

uint16_t float_to_bfloat16(float x) {
  const uint32_t u = bits_of(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40u);  // a quiet NaN
  return uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

float bfloat16_to_float(uint16_t b) { return float_of(uint32_t(b) << 16); }

// ---------------------------------------------------------------- writing

ActivationStoreWriter::ActivationStoreWriter(const std::string& path, const StoreSpec& spec)
    : spec_(spec), file_(path) {
  if (spec.n_tokens < 0) throw InternalError("activation store: negative n_tokens");
  if (spec.deflate < 0 || spec.deflate > 9) throw InternalError("activation store: deflate level outside 0..9");
  const int64_t element = spec.dtype == StoredFloat::f32 ? 4 : 2;
  int64_t widest = 8;  // the int64 metadata rows
  for (const StoreHookSpec& h : spec.hooks) widest = std::max(widest, h.row_width() * element);
  chunk_rows_ = std::max<int64_t>(1, std::min<int64_t>(kChunkBytes / widest, 1 << 16));

  h5::File& f = file_.file();
  h5::set_format(f, kActivationStoreFormat, kActivationStoreVersion);
  std::string names;
  for (const StoreHookSpec& h : spec.hooks) names += (names.empty() ? "" : ",") + h.name;
  f.set_attr("n_tokens", spec.n_tokens);
  f.set_attr("hooks", names);
  f.set_attr("dtype", to_string(spec.dtype));
  const StoreProvenance& p = spec.provenance;
  f.set_attr("model_hash", p.model_hash);
  f.set_attr("checkpoint", p.checkpoint);
  f.set_attr("data", p.data);
  f.set_attr("positions", p.positions);
  f.set_attr("seq_len", p.seq_len);
  f.set_attr("label_names", p.label_names_json);
  if (p.config) {
    h5::Group config = f.create_group("config");
    write_config_group(config, *p.config);
  }

  h5::DatasetOptions opt;
  opt.chunk_rows = chunk_rows_;
  opt.deflate = spec.deflate;
  for (const StoreHookSpec& h : spec.hooks) {
    h5::Shape shape = {spec.n_tokens};
    shape.insert(shape.end(), h.row_shape.begin(), h.row_shape.end());
    h5::DatasetOptions as = opt;
    as.stored_as = disk_dtype(spec.dtype);
    f.create_dataset<float>(h.name, shape, as);
    staged_.emplace_back();
    staged_.back().reserve(size_t(chunk_rows_ * h.row_width()));
  }
  f.create_dataset<int32_t>("tokens", {spec.n_tokens}, opt);
  f.create_dataset<int32_t>("positions", {spec.n_tokens}, opt);
  f.create_dataset<int64_t>("rows", {spec.n_tokens}, opt);
  f.create_dataset<int64_t>("doc_ids", {spec.n_tokens}, opt);
  for (const std::string& l : spec.labels) f.create_dataset<int32_t>("labels/" + l, {spec.n_tokens}, opt);
  labels_.resize(spec.labels.size());
}

ActivationStoreWriter::~ActivationStoreWriter() = default;

void ActivationStoreWriter::append(int64_t count, const std::vector<const float*>& activations,
                                   const StoreTokenRows& meta) {
  if (activations.size() != spec_.hooks.size() || meta.labels.size() != spec_.labels.size())
    throw InternalError("activation store: append with the wrong number of arrays");
  if (count < 0 || appended_ + count > spec_.n_tokens)
    throw InternalError("activation store: more tokens appended than the store was made for");
  int64_t done = 0;
  while (done < count) {
    const int64_t buffered = appended_ - flushed_;
    const int64_t take = std::min(count - done, chunk_rows_ - buffered);
    for (size_t h = 0; h < spec_.hooks.size(); ++h) {
      const int64_t w = spec_.hooks[h].row_width();
      staged_[h].insert(staged_[h].end(), activations[h] + done * w, activations[h] + (done + take) * w);
    }
    tokens_.insert(tokens_.end(), meta.tokens + done, meta.tokens + done + take);
    positions_.insert(positions_.end(), meta.positions + done, meta.positions + done + take);
    rows_.insert(rows_.end(), meta.rows + done, meta.rows + done + take);
    doc_ids_.insert(doc_ids_.end(), meta.doc_ids + done, meta.doc_ids + done + take);
    for (size_t l = 0; l < labels_.size(); ++l)
      labels_[l].insert(labels_[l].end(), meta.labels[l] + done, meta.labels[l] + done + take);
    appended_ += take;
    done += take;
    if (appended_ - flushed_ == chunk_rows_) flush();
  }
}

void ActivationStoreWriter::flush() {
  const int64_t n = appended_ - flushed_;
  if (n == 0) return;
  h5::File& f = file_.file();
  for (size_t h = 0; h < spec_.hooks.size(); ++h) {
    const std::vector<float>& rows = staged_[h];
    if (spec_.dtype == StoredFloat::f32) {
      f.write_rows<float>(spec_.hooks[h].name, flushed_, rows.data(), n);
    } else {
      half_.resize(rows.size());
      const bool bf16 = spec_.dtype == StoredFloat::bf16;
      for (size_t i = 0; i < rows.size(); ++i) half_[i] = bf16 ? float_to_bfloat16(rows[i]) : float_to_half(rows[i]);
      if (bf16)
        f.write_rows<h5::BFloat16>(spec_.hooks[h].name, flushed_, reinterpret_cast<const h5::BFloat16*>(half_.data()),
                                   n);
      else
        f.write_rows<h5::Float16>(spec_.hooks[h].name, flushed_, reinterpret_cast<const h5::Float16*>(half_.data()), n);
    }
    staged_[h].clear();
  }
  f.write_rows<int32_t>("tokens", flushed_, tokens_.data(), n);
  f.write_rows<int32_t>("positions", flushed_, positions_.data(), n);
  f.write_rows<int64_t>("rows", flushed_, rows_.data(), n);
  f.write_rows<int64_t>("doc_ids", flushed_, doc_ids_.data(), n);
  for (size_t l = 0; l < labels_.size(); ++l) {
    f.write_rows<int32_t>("labels/" + spec_.labels[l], flushed_, labels_[l].data(), n);
    labels_[l].clear();
  }
  tokens_.clear();
  positions_.clear();
  rows_.clear();
  doc_ids_.clear();
  flushed_ = appended_;
}

void ActivationStoreWriter::commit() {
  if (appended_ != spec_.n_tokens)
    throw InternalError("activation store: " + std::to_string(appended_) + " of " + std::to_string(spec_.n_tokens) +
                        " tokens appended at commit");
  flush();
  file_.commit();
}

// ---------------------------------------------------------------- reading

ActivationStore::ActivationStore(const std::string& path) : path_(path), file_(h5::File::open(path)) {
  h5::check_format(file_, kActivationStoreFormat, kActivationStoreVersion);
  n_tokens_ = file_.attr_int("n_tokens");
  if (n_tokens_ < 0) throw InputError(file_.attr_where("n_tokens"), "expected a count >= 0");
  hooks_ = split_commas(file_.attr_string("hooks"));
  StoreProvenance& p = provenance_;
  p.model_hash = file_.attr_string("model_hash");
  p.checkpoint = file_.attr_string("checkpoint");
  p.data = file_.attr_string("data");
  p.positions = file_.attr_string("positions");
  p.seq_len = file_.attr_int("seq_len");
  p.label_names_json = file_.attr_string("label_names");
  if (file_.exists("config")) p.config = read_config_group(file_.group("config"));
  for (const std::string& h : hooks_) {
    const h5::Shape s = file_.shape(h);
    if (s.empty() || s[0] != n_tokens_)
      throw InputError(file_.where(h),
                       "expected [n_tokens = " + std::to_string(n_tokens_) + ", ...]; found " + h5::to_string(s));
    file_.dtype(h);  // a float type, checked now rather than at the first read
  }
  for (const char* name : {"tokens", "positions", "rows", "doc_ids"})
    if (file_.shape(name) != h5::Shape{n_tokens_})
      throw InputError(file_.where(name), "expected [n_tokens = " + std::to_string(n_tokens_) + "]; found " +
                                              h5::to_string(file_.shape(name)));
  for (const std::string& l : label_names())
    if (file_.group("labels").shape(l) != h5::Shape{n_tokens_})
      throw InputError(file_.where("labels/" + l), "expected one label per token, [" + std::to_string(n_tokens_) +
                                                       "]; found " + h5::to_string(file_.group("labels").shape(l)));
}

bool ActivationStore::has_hook(const std::string& hook) const {
  return std::find(hooks_.begin(), hooks_.end(), hook) != hooks_.end();
}

void ActivationStore::require_hook(const std::string& hook) const {
  if (has_hook(hook)) return;
  std::string there;
  for (const std::string& h : hooks_) there += (there.empty() ? "" : ", ") + h;
  throw InputError(path_ + ": /" + hook, "the store has no activations at this hook (it has " +
                                             (there.empty() ? std::string("none") : there) + ")");
}

h5::Shape ActivationStore::shape(const std::string& hook) const {
  require_hook(hook);
  return file_.shape(hook);
}

int64_t ActivationStore::row_width(const std::string& hook) const {
  const h5::Shape s = shape(hook);
  return h5::numel(h5::Shape(s.begin() + 1, s.end()));
}

StoredFloat ActivationStore::stored_as(const std::string& hook) const {
  require_hook(hook);
  const h5::DType t = file_.dtype(hook);
  return t == h5::DType::f16 ? StoredFloat::f16 : t == h5::DType::bf16 ? StoredFloat::bf16 : StoredFloat::f32;
}

void ActivationStore::read_rows(const std::string& hook, int64_t first, int64_t count, float* out) const {
  const StoredFloat t = stored_as(hook);
  if (t == StoredFloat::f32) {
    file_.read_rows_into<float>(hook, first, count, out);
    return;
  }
  const int64_t n = count * row_width(hook);
  std::vector<uint16_t> bits(size_t(std::max<int64_t>(n, 0)));
  if (t == StoredFloat::f16)
    file_.read_rows_into<h5::Float16>(hook, first, count, reinterpret_cast<h5::Float16*>(bits.data()));
  else
    file_.read_rows_into<h5::BFloat16>(hook, first, count, reinterpret_cast<h5::BFloat16*>(bits.data()));
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i)
    out[i] = t == StoredFloat::f16 ? half_to_float(bits[size_t(i)]) : bfloat16_to_float(bits[size_t(i)]);
}

std::vector<int32_t> ActivationStore::tokens() const { return file_.read<int32_t>("tokens", h5::Shape{n_tokens_}); }
std::vector<int32_t> ActivationStore::positions() const {
  return file_.read<int32_t>("positions", h5::Shape{n_tokens_});
}
std::vector<int64_t> ActivationStore::rows() const { return file_.read<int64_t>("rows", h5::Shape{n_tokens_}); }
std::vector<int64_t> ActivationStore::doc_ids() const { return file_.read<int64_t>("doc_ids", h5::Shape{n_tokens_}); }

std::vector<std::string> ActivationStore::label_names() const {
  if (!file_.is_group("labels")) return {};
  return file_.group("labels").children();
}

bool ActivationStore::has_label(const std::string& name) const {
  const std::vector<std::string> names = label_names();
  return std::find(names.begin(), names.end(), name) != names.end();
}

void ActivationStore::require_label(const std::string& name) const {
  if (has_label(name)) return;
  std::string there;
  for (const std::string& l : label_names()) there += (there.empty() ? "" : ", ") + l;
  throw InputError(path_ + ": /labels/" + name,
                   "the store has no such label (it has " + (there.empty() ? std::string("none") : there) + ")");
}

LabelKind ActivationStore::label_kind(const std::string& name) const {
  require_label(name);
  const h5::DType t = file_.dtype("labels/" + name);
  return t == h5::DType::f32 || t == h5::DType::f64 || t == h5::DType::f16 || t == h5::DType::bf16 ? LabelKind::scalar
                                                                                                   : LabelKind::classes;
}

std::vector<int32_t> ActivationStore::class_label(const std::string& name) const {
  if (label_kind(name) != LabelKind::classes)
    throw InputError(path_ + ": /labels/" + name, "expected integer class labels; found floating-point values");
  return file_.read<int32_t>("labels/" + name, h5::Shape{n_tokens_});
}

std::vector<float> ActivationStore::scalar_label(const std::string& name) const {
  if (label_kind(name) != LabelKind::scalar)
    throw InputError(path_ + ": /labels/" + name, "expected floating-point scalar labels; found integers");
  return file_.read<float>("labels/" + name, h5::Shape{n_tokens_});
}

std::vector<std::string> ActivationStore::class_names(const std::string& label) const {
  const nlohmann::json j = nlohmann::json::parse(provenance_.label_names_json, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains(label) || !j[label].is_array()) return {};
  std::vector<std::string> out;
  for (const auto& v : j[label]) out.push_back(v.is_string() ? v.get<std::string>() : v.dump());
  return out;
}

}  // namespace headlab
