// Hugging Face's safetensors format, read and written by headlab itself: an 8-byte little-endian
// header length N, N bytes of JSON ({name: {dtype, shape, data_offsets: [begin, end]}, optional
// "__metadata__": {string: string}}), then the raw little-endian arrays, offsets counted from the end
// of the header. Opening checks every size and offset against the file's size before anything is
// read or allocated: a header that lies (a length past the end, offsets outside the data, a shape
// whose size disagrees with its byte range, overlapping tensors) is an InputError naming the file.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace headlab {

struct SafetensorsTensor {
  std::string name;
  std::string dtype;  // "F32", "F16", "BF16", "F64", "I64" ...
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte range in the data section

  int64_t numel() const;
};

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);
  const std::string& path() const { return path_; }
  const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // nullptr when absent.
  const SafetensorsTensor* find(const std::string& name) const;
  // The tensor's values as float32, converted from F32, F16, BF16 or F64 (others: InputError).
  std::vector<float> read_f32(const SafetensorsTensor& t) const;

 private:
  std::string path_;
  uint64_t data_start_ = 0;
  std::vector<SafetensorsTensor> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Hugging Face's sharded layout: model.safetensors.index.json ({"metadata": {...}, "weight_map":
// {tensor name: shard file name}}) beside the shard files. Returns the weight_map. InputError naming
// the index when it is not JSON, has no weight_map object, maps a name to anything but a string, is
// empty, or names a shard that is not a plain file name in the index's own folder (a path separator,
// "." or "..": a shard cannot lie outside the model's folder). Reads nothing but the index.
std::map<std::string, std::string> read_safetensors_index(const std::string& path);

// One safetensors file, or the shards of an index, seen as one table of tensors.
class SafetensorsSet {
 public:
  static SafetensorsSet open_file(const std::string& path);
  // Opens every shard the index names (headers only) and checks that the index and the shards agree:
  // InputError naming the index for a shard that is missing or refused, a tensor the index places
  // in a shard that does not hold it, a tensor a shard holds that the index does not list, and a
  // tensor held by two shards.
  static SafetensorsSet open_index(const std::string& index_path);

  // What messages name: the file, or the index.
  const std::string& path() const { return path_; }
  struct Entry {
    const SafetensorsFile* file = nullptr;
    const SafetensorsTensor* tensor = nullptr;
  };
  // {nullptr, nullptr} when absent.
  Entry find(const std::string& name) const;
  // Every tensor, shard by shard in the order of their file names, each in its file's order.
  const std::vector<Entry>& entries() const { return entries_; }
  size_t n_files() const { return files_.size(); }

 private:
  std::string path_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::vector<Entry> entries_;
  std::map<std::string, size_t> by_name_;
};

struct SafetensorsArray {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> values;  // row-major, numel(shape) values
};

// Writes F32 arrays, in the given order, to a hidden temporary renamed into place. InputError naming
// path when it cannot be written.
void write_safetensors(const std::string& path, const std::vector<SafetensorsArray>& arrays,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace headlab
