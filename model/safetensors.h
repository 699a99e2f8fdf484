// Hugging Face's safetensors format, read and written by headlab itself: an 8-byte little-endian
// header length N, N bytes of JSON ({name: {dtype, shape, data_offsets: [begin, end]}, optional
// "__metadata__": {string: string}}), then the raw little-endian arrays, offsets counted from the end
// of the header. Opening checks every size and offset against the file's size before anything is
// read or allocated: a header that lies (a length past the end, offsets outside the data, a shape
// whose size disagrees with its byte range, overlapping tensors) is an InputError naming the file.
#pragma once
#include <cstdint>
#include <map>
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
