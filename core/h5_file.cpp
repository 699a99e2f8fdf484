#include "core/h5_file.h"

#include "core/atomic_write.h"

#include <fcntl.h>
#include <hdf5.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <type_traits>

#include "core/errors.h"
#include "core/memory.h"

static_assert(std::is_same<hid_t, int64_t>::value, "h5_file.h stores hid_t as int64_t");

namespace headlab::h5 {

struct Object {
  hid_t id = -1;
  herr_t (*close)(hid_t) = nullptr;
  Object(hid_t i, herr_t (*c)(hid_t)) : id(i), close(c) {}
  ~Object() {
    if (id >= 0) close(id);
  }
};

namespace {

// No HDF5 clean-up at exit: every file is closed by its owner before then, and after a close that
// failed (disk full) HDF5 1.10 keeps a dangling file id that its exit handler crashes on, turning
// the command's one error line into a segfault. H5dont_atexit only works before the library
// starts, hence at static initialisation (and again in quiet(), where it is a no-op if too late).
const bool kNoHdf5Atexit = H5dont_atexit() >= 0;

// HDF5 prints its error stack to stderr by default; headlab reports errors itself. The setting is
// per thread in a thread-safe HDF5 build, hence once per thread.
void quiet() {
  static const bool no_atexit = kNoHdf5Atexit || H5dont_atexit() >= 0;
  (void)no_atexit;
  // A file must not make HDF5 load a plugin library or open another file through a link.
  static const bool contained = H5PLset_loading_state(0) >= 0 && H5Lunregister(H5L_TYPE_EXTERNAL) >= 0;
  (void)contained;
  static thread_local bool done = false;
  if (!done) {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    done = true;
  }
}

// A locally owned id: dataspace, datatype, property list, dataset or attribute.
class Id {
 public:
  Id(hid_t id, herr_t (*close)(hid_t), const std::string& what) : id_(id), close_(close) {
    if (id < 0) throw InternalError(what);
  }
  ~Id() {
    if (id_ >= 0) close_(id_);
  }
  Id(const Id&) = delete;
  Id& operator=(const Id&) = delete;
  operator hid_t() const { return id_; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

void check(herr_t status, const std::string& what) {
  if (status < 0) throw InternalError(what);
}

// The 16-bit float layouts, built once (HDF5 has no predefined ones before 1.14.4); h5py defines
// its float16 the same way. bfloat16 is float32 with the low 16 mantissa bits dropped.
hid_t half_type(DType t) {
  auto make = [](size_t exponent_bits, size_t mantissa_bits, size_t bias) {
    hid_t type = H5Tcopy(H5T_IEEE_F32LE);
    if (type < 0 || H5Tset_fields(type, 15, mantissa_bits, exponent_bits, 0, mantissa_bits) < 0 ||
        H5Tset_size(type, 2) < 0 || H5Tset_ebias(type, bias) < 0)
      throw InternalError("h5: cannot define a 16-bit float type");
    return type;
  };
  static const hid_t f16 = make(5, 10, 15), bf16 = make(8, 7, 127);
  return t == DType::f16 ? f16 : bf16;
}

// An id read from the file's metadata (a dataset's type, an attribute): when HDF5 cannot make it,
// the file is damaged, an input error like any other of its faults.
hid_t readable(hid_t id, const std::string& at) {
  if (id < 0) throw InputError(at, "expected readable metadata (damaged file?)");
  return id;
}

hid_t memory_type(DType t) {
  switch (t) {
    case DType::f16:
    case DType::bf16:
      return half_type(t);
    case DType::f32:
      return H5T_NATIVE_FLOAT;
    case DType::f64:
      return H5T_NATIVE_DOUBLE;
    case DType::i32:
      return H5T_NATIVE_INT32;
    case DType::i64:
      return H5T_NATIVE_INT64;
    case DType::u8:
      return H5T_NATIVE_UINT8;
    case DType::u16:
      return H5T_NATIVE_UINT16;
    case DType::u32:
      return H5T_NATIVE_UINT32;
    case DType::u64:
      return H5T_NATIVE_UINT64;
  }
  throw InternalError("h5: unknown DType");
}

// Little-endian on disk whatever the machine, as numpy and h5py default to.
hid_t disk_type(DType t) {
  switch (t) {
    case DType::f16:
    case DType::bf16:
      return half_type(t);
    case DType::f32:
      return H5T_IEEE_F32LE;
    case DType::f64:
      return H5T_IEEE_F64LE;
    case DType::i32:
      return H5T_STD_I32LE;
    case DType::i64:
      return H5T_STD_I64LE;
    case DType::u8:
      return H5T_STD_U8LE;
    case DType::u16:
      return H5T_STD_U16LE;
    case DType::u32:
      return H5T_STD_U32LE;
    case DType::u64:
      return H5T_STD_U64LE;
  }
  throw InternalError("h5: unknown DType");
}

bool is_float(DType t) { return t == DType::f32 || t == DType::f64 || t == DType::f16 || t == DType::bf16; }

std::string describe_type(hid_t type) {
  const H5T_class_t cls = H5Tget_class(type);
  const std::string bits = std::to_string(8 * H5Tget_size(type));
  switch (cls) {
    case H5T_INTEGER:
      return (H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int") + bits;
    case H5T_FLOAT:
      return "float" + bits;
    case H5T_STRING:
      return "a string";
    case H5T_ENUM:
      return "an enum";
    case H5T_COMPOUND:
      return "a compound type";
    default:
      return "a non-numeric type";
  }
}

// Aborts a conversion that would clip (HDF5's default is to clip silently) and remembers why.
H5T_conv_ret_t on_conversion_exception(H5T_conv_except_t kind, hid_t, hid_t, void*, void*, void* overflow) {
  if (kind == H5T_CONV_EXCEPT_RANGE_HI || kind == H5T_CONV_EXCEPT_RANGE_LOW) {
    *static_cast<bool*>(overflow) = true;
    return H5T_CONV_ABORT;
  }
  return H5T_CONV_UNHANDLED;
}

struct Transfer {
  bool overflow = false;
  Id plist{H5Pcreate(H5P_DATASET_XFER), H5Pclose, "h5: H5Pcreate(dataset transfer) failed"};
  Transfer() {
    check(H5Pset_type_conv_cb(plist, on_conversion_exception, &overflow), "h5: H5Pset_type_conv_cb failed");
  }
};

// True when every component of `name` exists and the last resolves to an object.
bool path_exists(hid_t loc, const std::string& name) {
  if (name.empty()) return false;
  for (size_t slash = name.find('/', 1); slash != std::string::npos; slash = name.find('/', slash + 1))
    if (H5Lexists(loc, name.substr(0, slash).c_str(), H5P_DEFAULT) <= 0) return false;
  if (name != "/" && H5Lexists(loc, name.c_str(), H5P_DEFAULT) <= 0) return false;
  return H5Oexists_by_name(loc, name.c_str(), H5P_DEFAULT) > 0;
}

H5I_type_t object_kind(hid_t loc, const std::string& name) {
  if (!path_exists(loc, name)) return H5I_BADID;
  hid_t obj = H5Oopen(loc, name.c_str(), H5P_DEFAULT);
  if (obj < 0) return H5I_BADID;
  H5I_type_t kind = H5Iget_type(obj);
  H5Oclose(obj);
  return kind;
}

hid_t open_dataset(hid_t loc, const std::string& name, const std::string& where) {
  const H5I_type_t kind = object_kind(loc, name);
  if (kind == H5I_BADID) throw InputError(where, "expected a dataset; there is none");
  if (kind != H5I_DATASET) throw InputError(where, "expected a dataset; found a group");
  hid_t d = H5Dopen2(loc, name.c_str(), H5P_DEFAULT);
  if (d < 0) throw InputError(where, "expected a readable dataset (damaged file?)");
  return d;
}

Shape space_shape(hid_t space, const std::string& where) {
  const H5S_class_t cls = H5Sget_simple_extent_type(space);
  if (cls == H5S_SCALAR) return {};
  if (cls != H5S_SIMPLE) throw InputError(where, "expected an array; found an empty dataspace");
  const int rank = H5Sget_simple_extent_ndims(space);
  if (rank < 0) throw InputError(where, "expected an array; its shape is unreadable");
  std::vector<hsize_t> dims(size_t(rank) + 1);
  if (H5Sget_simple_extent_dims(space, dims.data(), nullptr) < 0)
    throw InputError(where, "expected an array; its shape is unreadable");
  // Bounded so that numel() and byte counts stay exact in int64 everywhere.
  constexpr hsize_t kMaxElements = hsize_t(1) << 62;
  hsize_t n = 1;
  for (int i = 0; i < rank; ++i) {
    if (dims[size_t(i)] > kMaxElements || (dims[size_t(i)] > 0 && n > kMaxElements / dims[size_t(i)])) {
      std::string shape = "[";
      for (int j = 0; j < rank; ++j) shape += (j ? ", " : "") + std::to_string(dims[size_t(j)]);
      throw InputError(where, "expected an array of at most 2^62 elements; found shape " + shape + "]");
    }
    n *= dims[size_t(i)];
  }
  return Shape(dims.begin(), dims.begin() + rank);
}

Shape dataset_shape(hid_t dset, const std::string& where) {
  Id space(readable(H5Dget_space(dset), where), H5Sclose, where + ": H5Dget_space failed");
  return space_shape(space, where);
}

// Reading converts widths within a kind, never integers <-> floats.
void check_kind(hid_t file_type, DType mem, const std::string& where) {
  const H5T_class_t cls = H5Tget_class(file_type);
  if (is_float(mem) && cls != H5T_FLOAT)
    throw InputError(where, "expected floating-point data (" + to_string(mem) + "); found " + describe_type(file_type));
  if (!is_float(mem) && cls != H5T_INTEGER)
    throw InputError(where, "expected integer data (" + to_string(mem) + "); found " + describe_type(file_type));
}

std::vector<hsize_t> to_hsize(const Shape& s) { return std::vector<hsize_t>(s.begin(), s.end()); }

hid_t new_space(const Shape& shape) {
  if (shape.empty()) return H5Screate(H5S_SCALAR);
  std::vector<hsize_t> dims = to_hsize(shape);
  return H5Screate_simple(int(dims.size()), dims.data(), nullptr);
}

hid_t link_plist() {  // creates intermediate groups ("labels/pos_tag")
  hid_t p = H5Pcreate(H5P_LINK_CREATE);
  if (p >= 0 && H5Pset_create_intermediate_group(p, 1) < 0) {
    H5Pclose(p);
    return -1;
  }
  return p;
}

// Creation properties of a new dataset or group: no modification times in its header, so that
// the same contents make the same bytes (a resumed run's checkpoints compare equal, byte for
// byte, with an uninterrupted run's).
hid_t creation_plist(hid_t cls) {
  hid_t p = H5Pcreate(cls);
  if (p >= 0 && H5Pset_obj_track_times(p, false) < 0) {
    H5Pclose(p);
    return -1;
  }
  return p;
}

// The missing groups on the way to `name` ("labels" of "labels/pos_tag"), made here with the
// creation properties above rather than by HDF5's intermediate-group option, which would give them
// modification times.
void make_parents(hid_t loc, const std::string& name, const std::string& at) {
  for (size_t slash = name.find('/', 1); slash != std::string::npos; slash = name.find('/', slash + 1)) {
    const std::string parent = name.substr(0, slash);
    if (H5Lexists(loc, parent.c_str(), H5P_DEFAULT) > 0) continue;
    Id gcpl(creation_plist(H5P_GROUP_CREATE), H5Pclose, at + ": group creation property list failed");
    Id g(H5Gcreate2(loc, parent.c_str(), H5P_DEFAULT, gcpl, H5P_DEFAULT), H5Gclose,
         at + ": cannot create the group " + parent);
  }
}

hid_t text_type(H5T_cset_t cset) {  // a variable-length string
  hid_t t = H5Tcopy(H5T_C_S1);
  if (t >= 0 && (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, cset) < 0)) {
    H5Tclose(t);
    return -1;
  }
  return t;
}

// Text from a one-element string dataset or attribute; `read(memory_type, buffer)` does the I/O.
template <class Read>
std::string read_text(hid_t file_type, hid_t space, const std::string& where, Read read) {
  if (H5Tget_class(file_type) != H5T_STRING)
    throw InputError(where, "expected a string; found " + describe_type(file_type));
  if (H5Sget_simple_extent_npoints(space) != 1) throw InputError(where, "expected a single string; found an array");
  const htri_t variable = H5Tis_variable_str(file_type);
  if (variable < 0) throw InputError(where, "expected a string; its type is unreadable");
  if (variable > 0) {
    Id mem(text_type(H5Tget_cset(file_type)), H5Tclose, where + ": making a string type failed");
    char* text = nullptr;
    if (read(hid_t(mem), static_cast<void*>(&text)) < 0)
      throw InputError(where, "expected readable text (damaged file?)");
    std::string out = text ? text : "";
    H5Dvlen_reclaim(mem, space, H5P_DEFAULT, &text);
    return out;
  }
  Id mem(readable(H5Tcopy(file_type), where), H5Tclose, where + ": H5Tcopy failed");
  std::string buf(H5Tget_size(file_type), '\0');
  if (read(hid_t(mem), static_cast<void*>(buf.data())) < 0)
    throw InputError(where, "expected readable text (damaged file?)");
  buf.resize(std::min(buf.size(), buf.find('\0')));
  if (H5Tget_strpad(file_type) == H5T_STR_SPACEPAD) buf.erase(buf.find_last_not_of(' ') + 1);
  return buf;
}

std::string join(const std::string& dir, const std::string& name) {
  if (name.empty()) return dir;
  if (name[0] == '/') return name;
  return dir == "/" ? "/" + name : dir + "/" + name;
}

}  // namespace

std::string to_string(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + (shape[i] < 0 ? "*" : std::to_string(shape[i]));
  return s + "]";
}

int64_t numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    if (__builtin_mul_overflow(n, d, &n))
      throw InternalError("the shape " + to_string(shape) + " has more elements than an int64 counts");
  return n;
}

std::string to_string(DType t) {
  switch (t) {
    case DType::f32:
      return "float32";
    case DType::f64:
      return "float64";
    case DType::i32:
      return "int32";
    case DType::i64:
      return "int64";
    case DType::u8:
      return "uint8";
    case DType::u16:
      return "uint16";
    case DType::u32:
      return "uint32";
    case DType::u64:
      return "uint64";
    case DType::f16:
      return "float16";
    case DType::bf16:
      return "bfloat16";
  }
  return "?";
}

// ---------------------------------------------------------------- Group: structure

int64_t Group::id() const {
  if (!obj_ || obj_->id < 0) throw InternalError(file_ + ": used after the file was closed");
  return obj_->id;
}

std::string Group::where(const std::string& name) const { return file_ + ": " + join(path_, name); }
std::string Group::attr_where(const std::string& name) const { return file_ + ": " + path_ + " attribute " + name; }

bool Group::exists(const std::string& name) const {
  quiet();
  return path_exists(id(), name);
}
bool Group::is_dataset(const std::string& name) const { return object_kind(id(), name) == H5I_DATASET; }
bool Group::is_group(const std::string& name) const { return object_kind(id(), name) == H5I_GROUP; }

std::vector<std::string> Group::children() const {
  quiet();
  H5G_info_t info;
  if (H5Gget_info(id(), &info) < 0) throw InputError(where(""), "expected a readable group (damaged file?)");
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    ssize_t n = H5Lget_name_by_idx(id(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    if (n < 0) throw InputError(where(""), "expected readable link names (damaged file?)");
    std::string name(size_t(n) + 1, '\0');
    if (H5Lget_name_by_idx(id(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(), H5P_DEFAULT) < 0)
      throw InputError(where(""), "expected readable link names (damaged file?)");
    name.resize(size_t(n));
    names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

Group Group::group(const std::string& name) const {
  quiet();
  const H5I_type_t kind = object_kind(id(), name);
  if (kind == H5I_BADID) throw InputError(where(name), "expected a group; there is none");
  if (kind != H5I_GROUP) throw InputError(where(name), "expected a group; found a dataset");
  hid_t g = H5Gopen2(id(), name.c_str(), H5P_DEFAULT);
  if (g < 0) throw InputError(where(name), "expected a readable group (damaged file?)");
  return Group(std::make_shared<Object>(g, H5Gclose), file_, join(path_, name));
}

Group Group::create_group(const std::string& name) {
  quiet();
  make_parents(id(), name, where(name));
  Id lcpl(link_plist(), H5Pclose, where(name) + ": link property list failed");
  Id gcpl(creation_plist(H5P_GROUP_CREATE), H5Pclose, where(name) + ": group creation property list failed");
  hid_t g = H5Gcreate2(id(), name.c_str(), lcpl, gcpl, H5P_DEFAULT);
  if (g < 0) throw InternalError(where(name) + ": cannot create the group (does it exist already?)");
  return Group(std::make_shared<Object>(g, H5Gclose), file_, join(path_, name));
}

void Group::remove(const std::string& name) {
  quiet();
  check(H5Ldelete(id(), name.c_str(), H5P_DEFAULT), where(name) + ": cannot remove it (does it exist?)");
}

// ---------------------------------------------------------------- Group: numeric datasets

void Group::create_raw(const std::string& name, DType mem, const Shape& shape, const DatasetOptions& opt) {
  quiet();
  for (int64_t d : shape)
    if (d < 0) throw InternalError(where(name) + ": negative dimension in " + to_string(shape));
  if (opt.deflate != 0 && (opt.chunk_rows <= 0 || opt.deflate < 0 || opt.deflate > 9))
    throw InternalError(where(name) + ": deflate needs chunk_rows > 0 and a level in 1..9");
  if (exists(name)) remove(name);

  Id space(new_space(shape), H5Sclose, where(name) + ": H5Screate failed");
  Id dcpl(creation_plist(H5P_DATASET_CREATE), H5Pclose, where(name) + ": H5Pcreate failed");
  // Not numel(): a test writes shapes of more than 2^63 elements, as a hostile file may declare them.
  const bool empty = std::find(shape.begin(), shape.end(), int64_t(0)) != shape.end();
  if (opt.chunk_rows > 0 && !shape.empty() && !empty) {
    std::vector<hsize_t> chunk = to_hsize(shape);
    chunk[0] = hsize_t(std::min(opt.chunk_rows, shape[0]));
    check(H5Pset_chunk(dcpl, int(chunk.size()), chunk.data()), where(name) + ": H5Pset_chunk failed");
    if (opt.deflate > 0 && H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0) {
      check(H5Pset_shuffle(dcpl), where(name) + ": H5Pset_shuffle failed");
      check(H5Pset_deflate(dcpl, unsigned(opt.deflate)), where(name) + ": H5Pset_deflate failed");
    }
  }
  make_parents(id(), name, where(name));
  Id lcpl(link_plist(), H5Pclose, where(name) + ": link property list failed");
  Id d(H5Dcreate2(id(), name.c_str(), disk_type(opt.stored_as.value_or(mem)), space, lcpl, dcpl, H5P_DEFAULT), H5Dclose,
       where(name) + ": cannot create the dataset");
}

void Group::write_raw(const std::string& name, DType mem, const void* data, const Shape& shape,
                      const DatasetOptions& opt) {
  create_raw(name, mem, shape, opt);
  if (numel(shape) == 0) return;
  Id d(H5Dopen2(id(), name.c_str(), H5P_DEFAULT), H5Dclose, where(name) + ": cannot reopen the new dataset");
  Transfer xfer;
  if (H5Dwrite(d, memory_type(mem), H5S_ALL, H5S_ALL, xfer.plist, data) < 0)
    throw InternalError(where(name) +
                        (xfer.overflow ? ": a value does not fit the stored type" : ": writing failed (disk full?)"));
}

void Group::rows_raw(const std::string& name, DType mem, int64_t first_row, int64_t n_rows, void* data,
                     bool write) const {
  quiet();
  const std::string at = where(name);
  Id d(open_dataset(id(), name, at), H5Dclose, at);
  const Shape s = dataset_shape(d, at);
  if (s.empty()) throw InputError(at, "expected an array with rows; found a scalar");
  if (first_row < 0 || n_rows < 0 || first_row + n_rows > s[0])
    throw InputError(at, "expected rows within [0, " + std::to_string(s[0]) + "); asked for [" +
                             std::to_string(first_row) + ", " + std::to_string(first_row + n_rows) + ")");
  Id type(readable(H5Dget_type(d), at), H5Tclose, at);
  if (!write) check_kind(type, mem, at);
  if (n_rows == 0 || numel(s) == 0) return;

  std::vector<hsize_t> start(s.size(), 0), count = to_hsize(s);
  start[0] = hsize_t(first_row);
  count[0] = hsize_t(n_rows);
  Id file_space(readable(H5Dget_space(d), at), H5Sclose, at);
  check(H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr),
        at + ": H5Sselect_hyperslab failed");
  Id mem_space(H5Screate_simple(int(count.size()), count.data(), nullptr), H5Sclose, at + ": H5Screate failed");
  Transfer xfer;
  if (write) {
    if (H5Dwrite(d, memory_type(mem), mem_space, file_space, xfer.plist, data) < 0)
      throw InternalError(at +
                          (xfer.overflow ? ": a value does not fit the stored type" : ": writing failed (disk full?)"));
  } else if (H5Dread(d, memory_type(mem), mem_space, file_space, xfer.plist, data) < 0) {
    throw InputError(at, xfer.overflow ? "expected values that fit " + to_string(mem) + "; one does not"
                                       : "expected readable data (damaged or truncated file?)");
  }
}

Shape Group::shape(const std::string& name) const {
  quiet();
  Id d(open_dataset(id(), name, where(name)), H5Dclose, where(name));
  return dataset_shape(d, where(name));
}

DType Group::dtype(const std::string& name) const {
  quiet();
  Id d(open_dataset(id(), name, where(name)), H5Dclose, where(name));
  Id type(readable(H5Dget_type(d), where(name)), H5Tclose, where(name));
  const H5T_class_t cls = H5Tget_class(type);
  const size_t size = H5Tget_size(type);
  if (cls == H5T_FLOAT && size == 4) return DType::f32;
  if (cls == H5T_FLOAT && size == 8) return DType::f64;
  if (cls == H5T_FLOAT && size == 2) return H5Tget_ebias(type) == 127 ? DType::bf16 : DType::f16;
  if (cls == H5T_INTEGER) {
    const bool is_signed = H5Tget_sign(type) != H5T_SGN_NONE;
    if (is_signed && size == 4) return DType::i32;
    if (is_signed && size == 8) return DType::i64;
    if (!is_signed && size == 1) return DType::u8;
    if (!is_signed && size == 2) return DType::u16;
    if (!is_signed && size == 4) return DType::u32;
    if (!is_signed && size == 8) return DType::u64;
  }
  throw InputError(where(name),
                   "expected float16/32/64, bfloat16, int32/64 or uint8/16/32/64 data; found " + describe_type(type));
}

void Group::require_memory_for(const std::string& name, const Shape& shape, DType type) const {
  const double bytes = double(numel(shape)) * double(H5Tget_size(memory_type(type)));
  require_memory(bytes, where(name), "reading " + to_string(shape) + " as " + to_string(type));
}

Shape Group::shape_matching(const std::string& name, const Shape& expected) const {
  const Shape s = shape(name);
  bool ok = s.size() == expected.size();
  for (size_t i = 0; ok && i < s.size(); ++i) ok = expected[i] < 0 || expected[i] == s[i];
  if (!ok) throw InputError(where(name), "expected shape " + to_string(expected) + "; found " + to_string(s));
  return s;
}

void Group::read_raw(const std::string& name, DType mem, void* out, const Shape& exact) const {
  quiet();
  const std::string at = where(name);
  Id d(open_dataset(id(), name, at), H5Dclose, at);
  const Shape s = dataset_shape(d, at);
  if (s != exact) throw InputError(at, "expected shape " + to_string(exact) + "; found " + to_string(s));
  Id type(readable(H5Dget_type(d), at), H5Tclose, at);
  check_kind(type, mem, at);
  if (numel(s) == 0) return;
  Transfer xfer;
  if (H5Dread(d, memory_type(mem), H5S_ALL, H5S_ALL, xfer.plist, out) < 0)
    throw InputError(at, xfer.overflow ? "expected values that fit " + to_string(mem) + "; one does not"
                                       : "expected readable data (damaged or truncated file?)");
}

// ---------------------------------------------------------------- Group: text datasets

void Group::write_string(const std::string& name, const std::string& text) {
  quiet();
  const std::string at = where(name);
  if (exists(name)) remove(name);
  Id type(text_type(H5T_CSET_UTF8), H5Tclose, at + ": making a string type failed");
  Id space(H5Screate(H5S_SCALAR), H5Sclose, at + ": H5Screate failed");
  make_parents(id(), name, at);
  Id lcpl(link_plist(), H5Pclose, at + ": link property list failed");
  Id dcpl(creation_plist(H5P_DATASET_CREATE), H5Pclose, at + ": H5Pcreate failed");
  Id d(H5Dcreate2(id(), name.c_str(), type, space, lcpl, dcpl, H5P_DEFAULT), H5Dclose,
       at + ": cannot create the dataset");
  const char* p = text.c_str();
  check(H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, &p), at + ": writing failed (disk full?)");
}

std::string Group::read_string(const std::string& name) const {
  quiet();
  const std::string at = where(name);
  Id d(open_dataset(id(), name, at), H5Dclose, at);
  Id type(readable(H5Dget_type(d), at), H5Tclose, at);
  Id space(readable(H5Dget_space(d), at), H5Sclose, at);
  return read_text(type, space, at,
                   [&](hid_t mem, void* buf) { return H5Dread(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf); });
}

// ---------------------------------------------------------------- Group: attributes

namespace {
void write_attr(hid_t loc, const std::string& name, hid_t file_type, hid_t mem_type, const void* value,
                const std::string& at) {
  if (H5Aexists(loc, name.c_str()) > 0) check(H5Adelete(loc, name.c_str()), at + ": H5Adelete failed");
  Id space(H5Screate(H5S_SCALAR), H5Sclose, at + ": H5Screate failed");
  Id a(H5Acreate2(loc, name.c_str(), file_type, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose,
       at + ": cannot create the attribute");
  check(H5Awrite(a, mem_type, value), at + ": writing failed (disk full?)");
}

// An open attribute holding one value; InputError when it is missing or an array.
struct ScalarAttr {
  Id attr, type;
  ScalarAttr(hid_t loc, const std::string& name, const std::string& at)
      : attr(readable(H5Aopen(loc, name.c_str(), H5P_DEFAULT), at), H5Aclose, at),
        type(readable(H5Aget_type(attr), at), H5Tclose, at) {
    Id space(readable(H5Aget_space(attr), at), H5Sclose, at);
    if (H5Sget_simple_extent_npoints(space) != 1) throw InputError(at, "expected a single value; found an array");
  }
  H5T_class_t cls() const { return H5Tget_class(type); }
};

ScalarAttr open_attr(hid_t loc, const std::string& name, const std::string& at) {
  htri_t present = H5Aexists(loc, name.c_str());
  if (present <= 0) throw InputError(at, "expected an attribute; there is none");
  return ScalarAttr(loc, name, at);
}
}  // namespace

bool Group::has_attr(const std::string& name) const {
  quiet();
  return H5Aexists(id(), name.c_str()) > 0;
}

void Group::remove_attr(const std::string& name) {
  quiet();
  check(H5Adelete(id(), name.c_str()), attr_where(name) + ": cannot remove it (does it exist?)");
}

void Group::set_attr(const std::string& name, const std::string& value) {
  quiet();
  Id type(text_type(H5T_CSET_UTF8), H5Tclose, attr_where(name) + ": making a string type failed");
  const char* p = value.c_str();
  write_attr(id(), name, type, type, &p, attr_where(name));
}
void Group::set_attr(const std::string& name, int64_t value) {
  quiet();
  write_attr(id(), name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value, attr_where(name));
}
void Group::set_attr(const std::string& name, bool value) {
  quiet();
  const int8_t v = value ? 1 : 0;
  write_attr(id(), name, H5T_STD_I8LE, H5T_NATIVE_INT8, &v, attr_where(name));
}
void Group::set_attr(const std::string& name, float value) {
  quiet();
  write_attr(id(), name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, &value, attr_where(name));
}
void Group::set_attr(const std::string& name, double value) {
  quiet();
  write_attr(id(), name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value, attr_where(name));
}

std::string Group::attr_string(const std::string& name) const {
  quiet();
  const std::string at = attr_where(name);
  ScalarAttr a = open_attr(id(), name, at);
  Id space(readable(H5Aget_space(a.attr), at), H5Sclose, at);
  return read_text(a.type, space, at, [&](hid_t mem, void* buf) { return H5Aread(a.attr, mem, buf); });
}

int64_t Group::attr_int(const std::string& name) const {
  quiet();
  const std::string at = attr_where(name);
  ScalarAttr a = open_attr(id(), name, at);
  if (a.cls() != H5T_INTEGER) throw InputError(at, "expected an integer; found " + describe_type(a.type));
  if (H5Tget_sign(a.type) == H5T_SGN_NONE && H5Tget_size(a.type) == 8) {
    uint64_t v = 0;  // H5Aread has no conversion callback: check the one value that can overflow
    if (H5Aread(a.attr, H5T_NATIVE_UINT64, &v) < 0) throw InputError(at, "expected a readable integer");
    if (v > uint64_t(INT64_MAX)) throw InputError(at, "expected an integer below 2^63; found " + std::to_string(v));
    return int64_t(v);
  }
  int64_t v = 0;
  if (H5Aread(a.attr, H5T_NATIVE_INT64, &v) < 0) throw InputError(at, "expected a readable integer");
  return v;
}

double Group::attr_float(const std::string& name) const {
  quiet();
  const std::string at = attr_where(name);
  ScalarAttr a = open_attr(id(), name, at);
  if (a.cls() != H5T_FLOAT && a.cls() != H5T_INTEGER)
    throw InputError(at, "expected a number; found " + describe_type(a.type));
  double v = 0;
  if (H5Aread(a.attr, H5T_NATIVE_DOUBLE, &v) < 0) throw InputError(at, "expected a readable number");
  return v;
}

bool Group::attr_bool(const std::string& name) const {
  quiet();
  const std::string at = attr_where(name);
  int64_t v = 0;
  {
    ScalarAttr a = open_attr(id(), name, at);
    // h5py stores a numpy bool as an int8 enum {FALSE, TRUE}; read its raw byte.
    if (a.cls() == H5T_ENUM && H5Tget_size(a.type) == 1) {
      int8_t raw = 0;
      Id native(readable(H5Tget_native_type(a.type, H5T_DIR_ASCEND), at), H5Tclose, at);
      if (H5Aread(a.attr, native, &raw) < 0) throw InputError(at, "expected a readable boolean");
      v = raw;
    } else {
      v = attr_int(name);
    }
  }
  if (v != 0 && v != 1) throw InputError(at, "expected 0 or 1; found " + std::to_string(v));
  return v == 1;
}

// ---------------------------------------------------------------- File

File File::create(const std::string& path) {
  quiet();
  Id fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, path + ": H5Pcreate(file access) failed");
#if H5_VERSION_GE(1, 10, 7)
  // Lock where the file system supports it; go on unlocked where it does not (some NFS mounts).
  check(H5Pset_file_locking(fapl, true, true), path + ": H5Pset_file_locking failed");
#endif
  // The newest format HDF5 1.10 writes: checksummed metadata (h5py and HDF5 >= 1.10 read it).
  check(H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_V110), path + ": H5Pset_libver_bounds failed");
  // The root group without modification times, like every group and dataset (creation_plist).
  Id fcpl(H5Pcreate(H5P_FILE_CREATE), H5Pclose, path + ": H5Pcreate(file creation) failed");
  check(H5Pset_obj_track_times(fcpl, false), path + ": H5Pset_obj_track_times failed");
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl, fapl);
  if (f < 0) throw InputError(path, "cannot create the file (does its directory exist, and is it writable?)");
  return File(std::make_shared<Object>(f, H5Fclose), path, "/");
}

File File::open(const std::string& path, Access access) {
  quiet();
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    throw InputError(path, std::string("expected an HDF5 file: ") + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) throw InputError(path, "expected an HDF5 file; found a directory");
  // Reading a FIFO would wait for a writer for ever; a device is never an HDF5 file.
  if (!S_ISREG(st.st_mode))
    throw InputError(path, "expected an HDF5 file; this is not a regular file (a device or FIFO?)");
  if (H5Fis_hdf5(path.c_str()) <= 0) throw InputError(path, "expected an HDF5 file; this is not one");
  Id fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, path + ": H5Pcreate(file access) failed");
#if H5_VERSION_GE(1, 10, 7)
  check(H5Pset_file_locking(fapl, true, true), path + ": H5Pset_file_locking failed");
#endif
  check_in_child(path, fapl);
  hid_t f = H5Fopen(path.c_str(), access == Access::read_only ? H5F_ACC_RDONLY : H5F_ACC_RDWR, fapl);
  if (f < 0)
    throw InputError(path, "expected an HDF5 file that can be opened (damaged, read-only, or locked by a writer?)");
  return File(std::make_shared<Object>(f, H5Fclose), path, "/");
}

void File::close() {
  if (!obj_ || obj_->id < 0) return;
  quiet();
  const hid_t f = obj_->id;
  obj_->id = -1;  // copies of this root group see a closed file from now on
  const herr_t flushed = H5Fflush(f, H5F_SCOPE_GLOBAL);
  const herr_t closed = H5Fclose(f);
  if (flushed < 0 || closed < 0) throw InternalError(file_ + ": flushing and closing failed (disk full?)");
}

// ---------------------------------------------------------------- AtomicFile

std::string AtomicFile::temporary_path(const std::string& path) { return hidden_temporary_path(path); }

AtomicFile::AtomicFile(const std::string& path) : path_(path), tmp_path_(temporary_path(path)) {
  if (path.empty()) throw InputError("output file", "expected a file name; got an empty one");
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    throw InputError(path, "expected a file name to write; this is a directory");
  // The rename would replace a device or a FIFO (as root, /dev/null itself) with the file.
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    throw InputError(path, "expected a file name to write; this exists and is not a regular file (a device or FIFO?)");
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw InputError(path, "cannot write it: the directory " + dir + " does not exist");
  try {
    file_.emplace(File::create(tmp_path_));
  } catch (const InputError&) {
    throw InputError(path, "cannot write it: creating " + tmp_path_ + " failed (is " + dir + " writable?)");
  }
}

AtomicFile::~AtomicFile() {
  if (committed_) return;
  file_.reset();
  std::remove(tmp_path_.c_str());
}

void AtomicFile::commit() {
  if (committed_ || !file_) throw InternalError(path_ + ": AtomicFile committed twice");
  file_->close();
  file_.reset();
  // The bytes reach the disk before the name does, so a crash leaves the old file or the new one.
  int fd = ::open(tmp_path_.c_str(), O_RDONLY);
  if (fd < 0 || ::fsync(fd) != 0) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    throw InternalError(tmp_path_ + ": fsync failed: " + std::strerror(err));
  }
  ::close(fd);
  if (std::rename(tmp_path_.c_str(), path_.c_str()) != 0)
    throw InputError(path_, std::string("cannot rename the finished file into place: ") + std::strerror(errno));
  committed_ = true;
}

// ---------------------------------------------------------------- format attributes

void set_format(Group& g, const std::string& format, int64_t version) {
  g.set_attr("format", format);
  g.set_attr("format_version", version);
}

int64_t check_format(const Group& g, const std::string& expected, int64_t max_version) {
  if (!g.has_attr("format"))
    throw InputError(g.attr_where("format"), "expected '" + expected + "'; there is none (not a headlab file?)");
  const std::string format = g.attr_string("format");
  if (format != expected)
    throw InputError(g.attr_where("format"), "expected '" + expected + "'; found '" + format + "'");
  const int64_t version = g.attr_int("format_version");
  if (version < 1 || version > max_version)
    throw InputError(g.attr_where("format_version"), "expected 1 to " + std::to_string(max_version) +
                                                         " (what this headlab reads); found " +
                                                         std::to_string(version));
  return version;
}

}  // namespace headlab::h5
