#include "model/safetensors.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/atomic_write.h"
#include "core/errors.h"

namespace headlab {
namespace {

// A header larger than this is not a tensor index (Hugging Face's own reader caps it at 100 MB).
constexpr uint64_t kMaxHeaderBytes = 100u << 20;

int dtype_bytes(const std::string& dtype) {
  if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
  if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
  if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16") return 2;
  if (dtype == "I8" || dtype == "U8" || dtype == "BOOL" || dtype == "F8_E4M3" || dtype == "F8_E5M2") return 1;
  return 0;
}

float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      uint32_t m = mant;
      do {
        ++e;
        m <<= 1;
      } while (!(m & 0x400));
      bits = sign | uint32_t(127 - 15 - e) << 23 | (m & 0x3ff) << 13;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | mant << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace

int64_t SafetensorsTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) throw InputError(path, std::string("cannot open: ") + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw InputError(path, "not a regular file (expected a .safetensors file)");
  const uint64_t file_size = uint64_t(st.st_size);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, std::string("cannot open: ") + std::strerror(errno));
  if (file_size < 8) throw InputError(path, "not a safetensors file: shorter than its 8-byte header length");
  unsigned char len_bytes[8];
  in.read(reinterpret_cast<char*>(len_bytes), 8);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = header_len << 8 | len_bytes[i];
  if (header_len > file_size - 8)
    throw InputError(path, "safetensors header length " + std::to_string(header_len) + " runs past the end of the " +
                               std::to_string(file_size) + "-byte file");
  if (header_len > kMaxHeaderBytes)
    throw InputError(path, "safetensors header length " + std::to_string(header_len) + " is over 100 MB");
  std::string header(header_len, '\0');
  in.read(header.data(), std::streamsize(header_len));
  if (!in) throw InputError(path, "cannot read the safetensors header");
  data_start_ = 8 + header_len;
  const uint64_t data_size = file_size - data_start_;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(header);
  } catch (const nlohmann::json::exception&) {
    throw InputError(path, "the safetensors header is not valid JSON");
  }
  if (!j.is_object()) throw InputError(path, "the safetensors header is not a JSON object");
  for (const auto& [name, entry] : j.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) throw InputError(path, "__metadata__ is not an object");
      for (const auto& [k, v] : entry.items())
        if (v.is_string()) metadata_[k] = v.get<std::string>();
      continue;
    }
    const std::string what = "tensor '" + name + "'";
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") || !entry.contains("data_offsets") ||
        !entry["dtype"].is_string() || !entry["shape"].is_array() || !entry["data_offsets"].is_array() ||
        entry["data_offsets"].size() != 2)
      throw InputError(path, what + ": expected {dtype, shape, data_offsets: [begin, end]}");
    SafetensorsTensor t;
    t.name = name;
    t.dtype = entry["dtype"].get<std::string>();
    const int bytes = dtype_bytes(t.dtype);
    if (bytes == 0) throw InputError(path, what + ": unknown dtype '" + t.dtype + "'");
    // The element count, kept below the data size at every step so that no product overflows.
    uint64_t numel = 1;
    for (const auto& d : entry["shape"]) {
      if (!d.is_number_unsigned()) throw InputError(path, what + ": shape entries must be integers >= 0");
      const uint64_t dim = d.get<uint64_t>();
      if (dim != 0 && numel > data_size / dim)
        numel = data_size + 1;  // too big either way
      else
        numel *= dim;
      t.shape.push_back(int64_t(std::min<uint64_t>(dim, uint64_t(INT64_MAX))));
    }
    for (const auto& o : entry["data_offsets"])
      if (!o.is_number_unsigned()) throw InputError(path, what + ": data_offsets must be integers >= 0");
    t.begin = entry["data_offsets"][0].get<uint64_t>();
    t.end = entry["data_offsets"][1].get<uint64_t>();
    if (t.begin > t.end || t.end > data_size)
      throw InputError(path, what + ": data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
                                 "] lie outside the " + std::to_string(data_size) + " bytes of data");
    if (numel > data_size || numel * uint64_t(bytes) != t.end - t.begin)
      throw InputError(path, what + ": its shape and dtype need a different byte count than data_offsets give (" +
                                 std::to_string(t.end - t.begin) + " bytes)");
    tensors_.push_back(std::move(t));
  }
  std::vector<const SafetensorsTensor*> by_offset;
  for (const auto& t : tensors_) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const SafetensorsTensor* a, const SafetensorsTensor* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i)
    if (by_offset[i]->begin < by_offset[i - 1]->end)
      throw InputError(path, "tensors '" + by_offset[i - 1]->name + "' and '" + by_offset[i]->name + "' overlap");
}

const SafetensorsTensor* SafetensorsFile::find(const std::string& name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

std::vector<float> SafetensorsFile::read_f32(const SafetensorsTensor& t) const {
  const int bytes = dtype_bytes(t.dtype);
  if (t.dtype != "F32" && t.dtype != "F16" && t.dtype != "BF16" && t.dtype != "F64")
    throw InputError(path_, "tensor '" + t.name + "' has dtype " + t.dtype + "; expected F32, F16, BF16 or F64");
  const uint64_t n = (t.end - t.begin) / uint64_t(bytes);
  std::ifstream in(path_, std::ios::binary);
  in.seekg(std::streamoff(data_start_ + t.begin));
  std::vector<unsigned char> raw(t.end - t.begin);
  in.read(reinterpret_cast<char*>(raw.data()), std::streamsize(raw.size()));
  if (!in) throw InputError(path_, "cannot read tensor '" + t.name + "' (the file changed or is damaged)");
  std::vector<float> out(n);
  for (uint64_t i = 0; i < n; ++i) {
    const unsigned char* p = raw.data() + i * uint64_t(bytes);
    if (bytes == 4) {
      const uint32_t b = uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
      std::memcpy(&out[i], &b, 4);
    } else if (bytes == 8) {
      uint64_t b = 0;
      for (int k = 7; k >= 0; --k) b = b << 8 | p[k];
      double d;
      std::memcpy(&d, &b, 8);
      out[i] = float(d);
    } else if (t.dtype == "BF16") {
      const uint32_t b = (uint32_t(p[0]) | uint32_t(p[1]) << 8) << 16;
      std::memcpy(&out[i], &b, 4);
    } else {
      out[i] = half_to_float(uint16_t(p[0] | p[1] << 8));
    }
  }
  return out;
}

std::map<std::string, std::string> read_safetensors_index(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) throw InputError(path, std::string("cannot open: ") + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw InputError(path, "not a regular file (expected a safetensors index)");
  if (uint64_t(st.st_size) > kMaxHeaderBytes) throw InputError(path, "over 100 MB: not a safetensors index");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, std::string("cannot open: ") + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::exception&) {
    throw InputError(path, "not valid JSON (expected a safetensors index: {\"weight_map\": {tensor: shard file}})");
  }
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    throw InputError(path, "has no \"weight_map\" object (expected a safetensors index: {tensor: shard file})");
  std::map<std::string, std::string> map;
  for (const auto& [name, shard] : j["weight_map"].items()) {
    if (!shard.is_string())
      throw InputError(path, "weight_map entry '" + name + "' is " + shard.dump() + ", not a shard file name");
    const std::string file = shard.get<std::string>();
    // A shard is a file of the model's folder: no separator, no "." or "..", no NUL.
    if (file.empty() || file == "." || file == ".." || file.find_first_of(std::string("/\\\0", 3)) != std::string::npos)
      throw InputError(path, "weight_map entry '" + name + "' names shard '" + file +
                                 "': a shard must be a file name in the index's own folder");
    map[name] = file;
  }
  if (map.empty()) throw InputError(path, "weight_map is empty");
  return map;
}

SafetensorsSet SafetensorsSet::open_file(const std::string& path) {
  SafetensorsSet set;
  set.path_ = path;
  set.files_.push_back(std::make_unique<SafetensorsFile>(path));
  for (const SafetensorsTensor& t : set.files_.back()->tensors()) {
    set.by_name_[t.name] = set.entries_.size();
    set.entries_.push_back({set.files_.back().get(), &t});
  }
  return set;
}

SafetensorsSet SafetensorsSet::open_index(const std::string& index_path) {
  const std::map<std::string, std::string> weight_map = read_safetensors_index(index_path);
  const std::filesystem::path dir = std::filesystem::path(index_path).parent_path();
  std::map<std::string, std::vector<std::string>> names_by_shard;
  for (const auto& [name, shard] : weight_map) names_by_shard[shard].push_back(name);
  SafetensorsSet set;
  set.path_ = index_path;
  for (const auto& [shard, names] : names_by_shard) {
    const std::string shard_path = (dir / shard).string();
    std::error_code ec;
    if (!std::filesystem::is_regular_file(shard_path, ec))
      throw InputError(index_path, "names shard '" + shard + "' (for tensor '" + names.front() + "'), which is " +
                                       (std::filesystem::exists(shard_path, ec) ? "not a regular file" : "missing") +
                                       " in " + (dir.empty() ? std::string(".") : dir.string()));
    try {
      set.files_.push_back(std::make_unique<SafetensorsFile>(shard_path));
    } catch (const InputError& e) {
      throw InputError(index_path, std::string("shard refused: ") + e.what());
    }
  }
  std::map<std::string, std::string> holder;  // tensor -> the shard holding it
  for (size_t i = 0; i < set.files_.size(); ++i) {
    const std::string shard = std::next(names_by_shard.begin(), std::ptrdiff_t(i))->first;
    for (const SafetensorsTensor& t : set.files_[i]->tensors()) {
      const auto [seen, fresh] = holder.emplace(t.name, shard);
      if (!fresh)
        throw InputError(index_path,
                         "tensor '" + t.name + "' is in two shards, '" + seen->second + "' and '" + shard + "'");
      set.by_name_[t.name] = set.entries_.size();
      set.entries_.push_back({set.files_[i].get(), &t});
    }
  }
  for (const auto& [name, shard] : holder)
    if (!weight_map.count(name))
      throw InputError(index_path,
                       "shard '" + shard + "' holds tensor '" + name + "', which the weight_map does not list");
  for (const auto& [name, shard] : weight_map) {
    const auto held = holder.find(name);
    if (held == holder.end())
      throw InputError(index_path,
                       "the weight_map places tensor '" + name + "' in shard '" + shard + "', which does not hold it");
    if (held->second != shard)
      throw InputError(index_path, "the weight_map places tensor '" + name + "' in shard '" + shard +
                                       "'; it is in shard '" + held->second + "'");
  }
  return set;
}

SafetensorsSet::Entry SafetensorsSet::find(const std::string& name) const {
  const auto it = by_name_.find(name);
  return it == by_name_.end() ? Entry{} : entries_[it->second];
}

void write_safetensors(const std::string& path, const std::vector<SafetensorsArray>& arrays,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const SafetensorsArray& a : arrays) {
    int64_t n = 1;
    for (int64_t d : a.shape) n *= d;
    if (n != int64_t(a.values.size()))
      throw InternalError("write_safetensors: " + a.name + " has " + std::to_string(a.values.size()) +
                          " values for its shape");
    header[a.name] = {{"dtype", "F32"}, {"shape", a.shape}, {"data_offsets", {offset, offset + 4 * uint64_t(n)}}};
    offset += 4 * uint64_t(n);
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the data then starts 8-byte aligned, as the format advises
  write_file_atomically(path, [&](std::ostream& out) {
    unsigned char len[8];
    for (int i = 0; i < 8; ++i) len[i] = (unsigned char)(uint64_t(text.size()) >> (8 * i));
    out.write(reinterpret_cast<const char*>(len), 8);
    out << text;
    for (const SafetensorsArray& a : arrays) {
      std::vector<unsigned char> raw(a.values.size() * 4);
      for (size_t i = 0; i < a.values.size(); ++i) {
        uint32_t b;
        std::memcpy(&b, &a.values[i], 4);
        for (int k = 0; k < 4; ++k) raw[4 * i + k] = (unsigned char)(b >> (8 * k));
      }
      out.write(reinterpret_cast<const char*>(raw.data()), std::streamsize(raw.size()));
    }
  });
}

}  // namespace headlab
