// A small, checked RAII wrapper over the HDF5 C API: every array file headlab writes or reads
// (checkpoints, token datasets, activation stores, scores) goes through it.
//
// What it guarantees:
//  - every HDF5 call is checked, and HDF5's own error-stack printing is silenced;
//  - a failure the file is to blame for (not HDF5, missing dataset or attribute, wrong rank, shape
//    or type, unreadable data) throws InputError("<file>: <path in the file>", "<what was
//    expected>"); a failure of the system or of the caller (disk full, writing twice to a
//    closed file) throws InternalError;
//  - files are written through AtomicFile: "<dir>/.<name>.tmp", renamed into place on commit().
//
// Usage:
//   h5::AtomicFile out(path);
//   h5::Group params = out.file().create_group("params");
//   params.write<float>("embed.W_E", w.data(), {d_vocab, d_model});
//   out.file().set_attr("format", "headlab.checkpoint");
//   out.commit();
//
//   h5::File in = h5::File::open(path);
//   std::vector<float> w = in.group("params").read<float>("embed.W_E", {d_vocab, d_model});
//
// Names are paths relative to a group ("a/b" works; intermediate groups are created on write).
// Element types: float, double, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t, and the
// 16-bit floats Float16 (IEEE half) and BFloat16 (float32's upper half), held in memory as their
// bits: written and read without conversion, and readable as float (HDF5 converts) by anyone.
// Reading converts between widths of the same kind (uint16 on disk into int32 in memory, float64
// into float32) and throws InputError when a value does not fit; it never reads integers from a
// float dataset or floats from an integer one. Text is stored as variable-length UTF-8 strings
// (what h5py writes for a Python str, and reads back as str); fixed-length strings are read too.
// Files are written in HDF5 1.10's format (libver bounds v110): superblock, object headers,
// B-trees and heaps carry checksums that HDF5 verifies, so most damage to them is a clean error.
// Not for concurrent use of one file from several threads.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace headlab::h5 {

using Shape = std::vector<int64_t>;
std::string to_string(const Shape& shape);  // "[2, 3]"
int64_t numel(const Shape& shape);

enum class DType { f32, f64, i32, i64, u8, u16, u32, u64, f16, bf16 };
std::string to_string(DType t);  // "float32", "uint16", "bfloat16" ...

struct Float16 {
  uint16_t bits;
};
struct BFloat16 {
  uint16_t bits;
};

template <class T>
struct DTypeOf;
template <>
struct DTypeOf<float> {
  static constexpr DType value = DType::f32;
};
template <>
struct DTypeOf<double> {
  static constexpr DType value = DType::f64;
};
template <>
struct DTypeOf<int32_t> {
  static constexpr DType value = DType::i32;
};
template <>
struct DTypeOf<int64_t> {
  static constexpr DType value = DType::i64;
};
template <>
struct DTypeOf<uint8_t> {
  static constexpr DType value = DType::u8;
};
template <>
struct DTypeOf<uint16_t> {
  static constexpr DType value = DType::u16;
};
template <>
struct DTypeOf<uint32_t> {
  static constexpr DType value = DType::u32;
};
template <>
struct DTypeOf<uint64_t> {
  static constexpr DType value = DType::u64;
};
template <>
struct DTypeOf<Float16> {
  static constexpr DType value = DType::f16;
};
template <>
struct DTypeOf<BFloat16> {
  static constexpr DType value = DType::bf16;
};

// How a new dataset is laid out on disk. The default: contiguous, the memory's element type.
struct DatasetOptions {
  // > 0: chunked along dimension 0, this many rows per chunk (aim for 64 KiB to 1 MiB a chunk);
  // needed for compression and for reading rows of a large array cheaply. Empty arrays are
  // always stored contiguous.
  int64_t chunk_rows = 0;
  int deflate = 0;                 // 1..9: shuffle + gzip at this level (needs chunk_rows > 0)
  std::optional<DType> stored_as;  // the file's element type, when it differs from memory's
};

struct Object;  // one open HDF5 id, closed when the last Group sharing it goes

// A group of a file (the file's root for File). Cheap to copy; copies share the open id.
class Group {
 public:
  const std::string& file_path() const { return file_; }
  const std::string& path() const { return path_; }  // "/" or "/params" ...
  // "<file>: /params/embed.W_E" — the `what` of an InputError about child `name` ("" = this group).
  std::string where(const std::string& name) const;
  // "<file>: /config attribute n_layers" — the `what` of an InputError about attribute `name`.
  std::string attr_where(const std::string& name) const;

  // ---- structure
  bool exists(const std::string& name) const;  // any object at this path
  bool is_dataset(const std::string& name) const;
  bool is_group(const std::string& name) const;
  std::vector<std::string> children() const;    // names of the links in this group, sorted
  Group group(const std::string& name) const;   // InputError when missing or not a group
  Group create_group(const std::string& name);  // InternalError when it exists
  void remove(const std::string& name);         // unlink (the file does not shrink)

  // ---- numeric datasets. Writing replaces a dataset of the same name.
  template <class T>
  void write(const std::string& name, const T* data, const Shape& shape, const DatasetOptions& opt = {}) {
    write_raw(name, DTypeOf<T>::value, data, shape, opt);
  }
  template <class T>  // 1-D
  void write(const std::string& name, const std::vector<T>& data, const DatasetOptions& opt = {}) {
    write_raw(name, DTypeOf<T>::value, data.data(), {int64_t(data.size())}, opt);
  }
  // A dataset to fill by rows (create_dataset + write_rows), for arrays too big to hold at once.
  template <class T>
  void create_dataset(const std::string& name, const Shape& shape, const DatasetOptions& opt = {}) {
    create_raw(name, DTypeOf<T>::value, shape, opt);
  }
  // Rows [first_row, first_row + n_rows) along dimension 0; `data` holds n_rows full rows.
  template <class T>
  void write_rows(const std::string& name, int64_t first_row, const T* data, int64_t n_rows) {
    rows_raw(name, DTypeOf<T>::value, first_row, n_rows, const_cast<T*>(data), /*write=*/true);
  }

  // InputError when missing, not a dataset, or of more than 2^62 elements.
  Shape shape(const std::string& name) const;
  DType dtype(const std::string& name) const;  // InputError when not numeric
  // The whole dataset. `expected` checks rank and each dimension (-1 = any), else InputError.
  template <class T>
  std::vector<T> read(const std::string& name, const Shape& expected) const {
    Shape s = shape_matching(name, expected);
    require_memory_for(name, s, DTypeOf<T>::value);
    std::vector<T> out(size_t(numel(s)));
    read_raw(name, DTypeOf<T>::value, out.data(), s);
    return out;
  }
  template <class T>
  std::vector<T> read(const std::string& name, Shape* shape_out = nullptr) const {
    Shape s = shape(name);
    require_memory_for(name, s, DTypeOf<T>::value);
    std::vector<T> out(size_t(numel(s)));
    read_raw(name, DTypeOf<T>::value, out.data(), s);
    if (shape_out) *shape_out = s;
    return out;
  }
  // Into caller memory of exactly numel(shape) elements; InputError unless the shape is exact.
  template <class T>
  void read_into(const std::string& name, T* out, const Shape& shape) const {
    read_raw(name, DTypeOf<T>::value, out, shape);
  }
  template <class T>
  std::vector<T> read_rows(const std::string& name, int64_t first_row, int64_t n_rows) const {
    Shape s = shape(name);
    int64_t row = 1;
    for (size_t d = 1; d < s.size(); ++d) row *= s[d];
    if (!s.empty() && n_rows > 0 && n_rows <= s[0]) {
      s[0] = n_rows;
      require_memory_for(name, s, DTypeOf<T>::value);
    }
    std::vector<T> out(size_t(n_rows > 0 ? n_rows * row : 0));
    rows_raw(name, DTypeOf<T>::value, first_row, n_rows, out.data(), /*write=*/false);
    return out;
  }

  // Rows [first_row, first_row + n_rows) into caller memory of n_rows full rows.
  template <class T>
  void read_rows_into(const std::string& name, int64_t first_row, int64_t n_rows, T* out) const {
    rows_raw(name, DTypeOf<T>::value, first_row, n_rows, out, /*write=*/false);
  }

  // ---- text datasets (a scalar string: JSON, a tokenizer ...)
  void write_string(const std::string& name, const std::string& text);
  std::string read_string(const std::string& name) const;

  // ---- scalar attributes of this group. Setting replaces. bool is stored as int8 0/1, float as
  // float32, double as float64, integers as int64, text as a variable-length UTF-8 string.
  bool has_attr(const std::string& name) const;
  void remove_attr(const std::string& name);  // InternalError when there is none
  void set_attr(const std::string& name, const std::string& value);
  void set_attr(const std::string& name, const char* value) { set_attr(name, std::string(value)); }
  void set_attr(const std::string& name, int64_t value);
  void set_attr(const std::string& name, int value) { set_attr(name, int64_t(value)); }
  void set_attr(const std::string& name, bool value);
  void set_attr(const std::string& name, float value);
  void set_attr(const std::string& name, double value);
  // Each throws InputError (attr_where) when missing or of another kind.
  std::string attr_string(const std::string& name) const;
  int64_t attr_int(const std::string& name) const;   // any integer type that fits int64
  double attr_float(const std::string& name) const;  // any float or integer type
  bool attr_bool(const std::string& name) const;     // an integer 0 or 1

 protected:
  Group() = default;
  Group(std::shared_ptr<Object> obj, std::string file, std::string path)
      : obj_(std::move(obj)), file_(std::move(file)), path_(std::move(path)) {}
  int64_t id() const;  // the open hid_t

  std::shared_ptr<Object> obj_;
  std::string file_, path_;

 private:
  void write_raw(const std::string& name, DType mem, const void* data, const Shape& shape, const DatasetOptions& opt);
  void create_raw(const std::string& name, DType mem, const Shape& shape, const DatasetOptions& opt);
  void rows_raw(const std::string& name, DType mem, int64_t first_row, int64_t n_rows, void* data, bool write) const;
  void read_raw(const std::string& name, DType mem, void* out, const Shape& exact) const;
  Shape shape_matching(const std::string& name, const Shape& expected) const;
  // InputError naming the dataset when `shape` of `type` cannot fit in this machine's memory (a
  // damaged or hostile file can declare [10^9, 10^9] and store nothing), before allocating it.
  void require_memory_for(const std::string& name, const Shape& shape, DType type) const;
};

enum class Access { read_only, read_write };

// What File::open does before it opens a file in this process: a child process (fork) opens it
// and walks it (every link, object header and attribute value, every dataset's layout and
// filters, the data of every chunked dataset), and reports over a pipe how far it got. HDF5
// follows the pointers a file holds without checking all of them (a variable-length string's
// global-heap id, a B-tree node's address): a damaged file can crash the library itself, which
// in the child costs only the child. The parent then refuses the file with
//   InputError(path, "damaged HDF5 file (reading /config attribute act_fn crashed the HDF5
//   library: SIGSEGV)")
// and likewise when the walk takes longer than `seconds` + size / `bytes_per_second`, when it
// needs more than `memory_bytes` of memory beyond the process's own (not enforced under
// AddressSanitizer, whose shadow memory rules out an address-space limit), or when the file
// keeps data in other files (external links, external storage, virtual datasets). A file that
// passes is read by the parent along the same paths.
struct OpenCheckLimits {
  bool enabled = true;
  double seconds = 30;
  double bytes_per_second = 20e6;
  int64_t memory_bytes = int64_t(1) << 30;
};
void set_open_check_limits(const OpenCheckLimits& limits);  // process-wide (tests, fuzzers)
const OpenCheckLimits& open_check_limits();
// The check itself, with the file access property list File::open will use (an hid_t).
void check_in_child(const std::string& path, int64_t fapl);

class File : public Group {
 public:
  // A new, empty file (an existing one is truncated). InputError when it cannot be created.
  static File create(const std::string& path);
  // InputError when the file is missing, not HDF5, damaged (see OpenCheckLimits), or cannot be
  // opened.
  static File open(const std::string& path, Access access = Access::read_only);

  // Flushes and closes, checked (InternalError). The destructor closes quietly; groups opened
  // from the file must not be used after close().
  void close();

 private:
  using Group::Group;
};

// Writes temporary_path(path) and renames it to `path` on commit(); destroyed uncommitted (a throw
// midway), it removes the temporary file, so `path` is never a half-written file. The constructor
// throws InputError naming `path` when it is empty, a directory, or in a directory that does not
// exist, so a command fails before its work rather than after.
//
// The temporary is hidden and beside the target (the rename stays within one file system):
// "<dir>/.<name>.tmp", or "<dir>/<name>.tmp" when the name is hidden already. A process killed
// while writing leaves it behind, where neither `ls` nor a glob such as step_*.h5* shows it; the
// next write of the same path truncates it (a writer that wants it gone sooner removes it).
class AtomicFile {
 public:
  explicit AtomicFile(const std::string& path);
  static std::string temporary_path(const std::string& path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  File& file() { return *file_; }
  // Closes, syncs to disk, renames into place. InputError when the rename fails.
  void commit();

 private:
  std::string path_, tmp_path_;
  std::optional<File> file_;
  bool committed_ = false;
};

// Every headlab file carries string attribute `format` and integer attribute `format_version`.
void set_format(Group& g, const std::string& format, int64_t version);
// InputError (naming the attribute) unless `format` equals `expected` and 1 <= format_version
// <= max_version. Returns the version.
int64_t check_format(const Group& g, const std::string& expected, int64_t max_version);

}  // namespace headlab::h5
