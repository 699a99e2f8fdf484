// The check File::open runs before it opens a file in this process: a child process opens the
// file and walks it (every link, object header, attribute value, dataset layout and chunked
// data), leaving where it is in a shared page and a refusal in a pipe. HDF5 trusts the pointers a file holds (a
// variable-length string's global-heap id, a B-tree node's address) and a damaged one can crash
// the library itself; in the child that crash costs the child only, and the parent turns it into
// an InputError. Once the child got through, the parent's own reads touch the same structures.
#include <fcntl.h>
#include <hdf5.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>
#include <set>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/h5_file.h"
#include "core/sanitizers.h"

// Set where a sanitizer runtime is linked in: its report of a crash ends in this callback.
extern "C" void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

namespace headlab::h5 {
namespace {

OpenCheckLimits g_limits;

// Exit codes of the child, besides 0 (walked to the end).
constexpr int kRefused = 3;  // a policy refusal (external storage ...): the message follows "E"
constexpr int kCrashed = 4;  // a sanitizer's report of a crash in the child

// ------------------------------------------------------------------ the child's side

// Where the child is: written into a page shared with the parent (no system call per step: the
// walk visits hundreds of objects), read by the parent after the child ended. A refusal goes
// through the pipe.
struct SharedPage {
  static constexpr size_t kBytes = 4096;
  char* text = nullptr;
  SharedPage() {
    void* p = ::mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw InternalError(std::string("mmap of a shared page failed: ") + std::strerror(errno));
    text = static_cast<char*>(p);
    text[0] = '\0';
  }
  ~SharedPage() { ::munmap(text, kBytes); }
  SharedPage(const SharedPage&) = delete;
  SharedPage& operator=(const SharedPage&) = delete;
};

class Reporter {
 public:
  Reporter(int fd, char* where) : fd_(fd), where_(where) {}
  void at(const std::string& where) {
    const size_t n = std::min(where.size(), SharedPage::kBytes - 1);
    std::memcpy(where_, where.data(), n);
    where_[n] = '\0';
  }
  [[noreturn]] void refuse(const std::string& why) {
    const char* p = why.data();
    size_t left = why.size();
    while (left > 0) {
      const ssize_t n = ::write(fd_, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      p += n;
      left -= size_t(n);
    }
    ::_exit(kRefused);
  }

 private:
  int fd_;
  char* where_;
};

// What the last failed HDF5 call's error stack says: whether it ran out of memory (the child's
// address-space limit, which the parent must not meet again reading the same object), whether a
// filter failed (a compression the build lacks, or damaged compressed bytes: the parent reports
// those in its own words), and the innermost description (the most specific one).
struct FailedCall {
  bool memory = false;
  bool filter = false;
  std::string detail;
};

herr_t note_error(unsigned, const H5E_error2_t* e, void* out) {
  auto* failed = static_cast<FailedCall*>(out);
  if (e->maj_num == H5E_RESOURCE) failed->memory = true;
  if (e->maj_num == H5E_PLINE) failed->filter = true;
  if (e->desc && *e->desc) failed->detail = e->desc;
  return 0;
}

// The memory type the walk reads numbers as: the file type's native twin, or for the types HDF5
// has none for (16-bit floats) float32 and int64.
hid_t memory_type_for(hid_t type) {
  const hid_t native = H5Tget_native_type(type, H5T_DIR_ASCEND);
  if (native >= 0) return native;
  H5Eclear2(H5E_DEFAULT);
  return H5Tcopy(H5Tget_class(type) == H5T_FLOAT ? H5T_NATIVE_FLOAT : H5T_NATIVE_LLONG);
}

class Walker {
 public:
  Walker(Reporter& report, int64_t memory_limit) : report_(report), memory_limit_(memory_limit) {}

  void group(hid_t g, const std::string& path, int depth) {
    if (depth > 64) report_.refuse("groups nested deeper than 64 levels at " + path);
    attributes(g, path);
    H5G_info_t info;
    if (!ok(H5Gget_info(g, &info), path)) return;
    for (hsize_t i = 0; i < info.nlinks; ++i) {
      report_.at(path + " link #" + std::to_string(i));
      const ssize_t n = H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
      if (!ok(n, path) || n > (1 << 16)) continue;
      std::string name(size_t(n) + 1, '\0');
      if (!ok(H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(), H5P_DEFAULT), path))
        continue;
      name.resize(size_t(n));
      link(g, name, (path == "/" ? "/" : path + "/") + name, depth);
    }
  }

 private:
  // A read that fails here on a file HDF5 opened means damaged metadata (a bad checksum, a pointer
  // out of the file, an undecodable message): the file is refused here, because the parent's reads
  // take other paths through the same damage (by name where the walk goes by index, in another
  // order), and one of those paths may be a loop inside the library that never ends (a global heap
  // object of size 0). Filter failures are the parent's to report in its own words.
  bool ok(int64_t status, const std::string& where) {
    if (status >= 0) return true;
    FailedCall failed;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, note_error, &failed);
    H5Eclear2(H5E_DEFAULT);
    if (failed.memory) report_.refuse("reading " + where + " needs more than " + mib(memory_limit_) + " of memory");
    if (failed.filter) return false;
    report_.refuse("reading " + where + " failed: " + (failed.detail.empty() ? "HDF5 error" : failed.detail));
  }
  static std::string mib(int64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

  void link(hid_t g, const std::string& name, const std::string& path, int depth) {
    report_.at(path);
    H5L_info_t info;
    if (!ok(H5Lget_info(g, name.c_str(), &info, H5P_DEFAULT), path)) return;
    if (info.type == H5L_TYPE_EXTERNAL || (info.type != H5L_TYPE_HARD && info.type != H5L_TYPE_SOFT))
      report_.refuse("expected links within the file; " + path + " links to another file");
    // How the parent looks a name up: link by link, then the object.
    if (H5Lexists(g, name.c_str(), H5P_DEFAULT) <= 0 || H5Oexists_by_name(g, name.c_str(), H5P_DEFAULT) <= 0) {
      H5Eclear2(H5E_DEFAULT);
      return;
    }
    if (info.type == H5L_TYPE_SOFT) return;  // its target is walked through its hard link
    H5O_info_t oinfo;
    if (!ok(H5Oget_info_by_name(g, name.c_str(), &oinfo, H5P_DEFAULT), path)) return;
    if (!seen_.insert(oinfo.addr).second) return;  // a second hard link (or a cycle)
    const hid_t obj = H5Oopen(g, name.c_str(), H5P_DEFAULT);
    if (!ok(obj, path)) return;
    const H5I_type_t kind = H5Iget_type(obj);
    if (kind == H5I_GROUP) {
      group(obj, path, depth + 1);
    } else if (kind == H5I_DATASET) {
      attributes(obj, path);
      dataset(obj, path);
    } else {
      attributes(obj, path);
    }
    H5Oclose(obj);
  }

  void attributes(hid_t obj, const std::string& path) {
    H5O_info_t info;
    if (!ok(H5Oget_info(obj, &info), path)) return;
    for (hsize_t i = 0; i < info.num_attrs; ++i) {
      const std::string at = path + " attribute #" + std::to_string(i);
      report_.at(at);
      const hid_t a = H5Aopen_by_idx(obj, ".", H5_INDEX_NAME, H5_ITER_INC, i, H5P_DEFAULT, H5P_DEFAULT);
      if (!ok(a, at)) continue;
      std::string name;
      const ssize_t n = H5Aget_name(a, 0, nullptr);
      if (n > 0 && n < (1 << 16)) {
        name.assign(size_t(n) + 1, '\0');
        H5Aget_name(a, name.size(), name.data());
        name.resize(size_t(n));
        report_.at(path + " attribute " + name);
        H5Aexists(obj, name.c_str());  // the parent finds attributes by name
        H5Eclear2(H5E_DEFAULT);
      }
      attribute(a, path + " attribute " + name);
      H5Aclose(a);
    }
  }

  // The value of a one-element attribute, read as the parent reads it (the parent reads no
  // other kind); of others only the type and shape.
  void attribute(hid_t a, const std::string& at) {
    const hid_t type = H5Aget_type(a), space = H5Aget_space(a);
    if (ok(type, at) && ok(space, at) && H5Sget_simple_extent_npoints(space) == 1) {
      const H5T_class_t cls = H5Tget_class(type);
      if (cls == H5T_STRING) {
        text(
            type, at, [&](hid_t mem, void* buf) { return H5Aread(a, mem, buf); }, space);
      } else if (cls == H5T_INTEGER || cls == H5T_FLOAT || cls == H5T_ENUM) {
        const hid_t native = memory_type_for(type);
        if (ok(native, at) && H5Tget_size(native) <= 64) {
          unsigned char value[64];
          ok(H5Aread(a, native, value), at);
        }
        if (native >= 0) H5Tclose(native);
      }
    }
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
  }

  template <class Read>
  void text(hid_t type, const std::string& at, Read read, hid_t space) {
    const htri_t variable = H5Tis_variable_str(type);
    if (variable > 0) {
      const hid_t mem = H5Tcopy(H5T_C_S1);
      if (!ok(mem, at)) return;
      H5Tset_size(mem, H5T_VARIABLE);
      H5Tset_cset(mem, H5Tget_cset(type));
      char* value = nullptr;
      if (ok(read(mem, static_cast<void*>(&value)), at) && value) {
        volatile size_t n = std::strlen(value);  // the parent copies it into a std::string
        (void)n;
        H5Dvlen_reclaim(mem, space, H5P_DEFAULT, &value);
      }
      H5Tclose(mem);
    } else if (variable == 0) {
      const size_t size = H5Tget_size(type);
      if (size > size_t(memory_limit_)) report_.refuse(at + " declares a string of " + std::to_string(size) + " bytes");
      const hid_t mem = H5Tcopy(type);
      if (!ok(mem, at)) return;
      std::string buf;
      try {
        buf.assign(size, '\0');
      } catch (const std::bad_alloc&) {
        report_.refuse("reading " + at + " needs more than " + mib(memory_limit_) + " of memory");
      }
      ok(read(mem, static_cast<void*>(buf.data())), at);
      H5Tclose(mem);
    } else {
      ok(variable, at);
    }
  }

  void dataset(hid_t d, const std::string& path) {
    const hid_t dcpl = H5Dget_create_plist(d);
    if (!ok(dcpl, path)) return;
    const int external = H5Pget_external_count(dcpl);
    const H5D_layout_t layout = H5Pget_layout(dcpl);
    const int filters = H5Pget_nfilters(dcpl);
    for (int i = 0; i < filters; ++i) {
      unsigned flags = 0, config = 0;
      size_t n_values = 8;
      unsigned values[8];
      char name[64];
      H5Pget_filter2(dcpl, unsigned(i), &flags, &n_values, values, sizeof name, name, &config);
    }
    std::vector<hsize_t> chunk(33, 0);
    const int chunk_rank = layout == H5D_CHUNKED ? H5Pget_chunk(dcpl, 32, chunk.data()) : -1;
    H5Pclose(dcpl);
    H5Eclear2(H5E_DEFAULT);
    if (external > 0) report_.refuse("expected the data within the file; " + path + " keeps it in other files");
    if (layout == H5D_VIRTUAL) report_.refuse("expected the data within the file; " + path + " is a virtual dataset");

    const hid_t type = H5Dget_type(d), space = H5Dget_space(d);
    if (ok(type, path) && ok(space, path)) {
      const H5T_class_t cls = H5Tget_class(type);
      const int rank = H5Sget_simple_extent_ndims(space);
      if (cls == H5T_STRING && rank == 0) {
        text(
            type, path, [&](hid_t mem, void* buf) { return H5Dread(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf); },
            space);
      } else if ((cls == H5T_INTEGER || cls == H5T_FLOAT) && rank >= 0 && rank <= 32) {
        // Contiguous data is one block at an address HDF5 checks against the file's end; chunked
        // data is found through an index the file holds, and compact data sits in the header.
        if (layout == H5D_CHUNKED && chunk_rank == rank) chunks(d, type, space, rank, chunk, path);
        if (layout == H5D_COMPACT) compact(d, type, space, path);
      }
    }
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
  }

  void compact(hid_t d, hid_t type, hid_t space, const std::string& path) {
    const hid_t native = memory_type_for(type);
    if (!ok(native, path)) return;
    const hssize_t n = H5Sget_simple_extent_npoints(space);
    const size_t bytes = size_t(std::max<hssize_t>(n, 0)) * H5Tget_size(native);
    if (n > 0 && bytes <= (size_t(1) << 20)) {  // compact data is at most 64 KiB
      std::vector<unsigned char> buf(bytes);
      ok(H5Dread(d, native, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()), path);
    }
    H5Tclose(native);
  }

  // Every chunk the file holds, through the filters, as the parent's reads go: the index lookup,
  // the chunk's bytes, the decompression. Chunks never written (declared but empty parts of a
  // dataset) are not visited: HDF5 fills them without reading the file.
  void chunks(hid_t d, hid_t type, hid_t space, int rank, const std::vector<hsize_t>& chunk, const std::string& path) {
    const hid_t native = memory_type_for(type);
    if (!ok(native, path)) return;
    std::vector<hsize_t> dims(size_t(rank) + 1, 1);
    hsize_t n_chunks = 0;
    double chunk_bytes = double(H5Tget_size(native));
    for (int i = 0; i < rank; ++i) chunk_bytes *= double(chunk[size_t(i)]);
    if (chunk_bytes > double(memory_limit_))
      report_.refuse("reading " + path + " needs more than " + mib(memory_limit_) + " of memory (chunks of " +
                     std::to_string(int64_t(chunk_bytes)) + " bytes)");
    if (H5Sget_simple_extent_dims(space, dims.data(), nullptr) < 0 ||
        !ok(H5Dget_num_chunks(d, space, &n_chunks), path)) {
      H5Tclose(native);
      return;
    }
    std::vector<unsigned char> buf(static_cast<size_t>(chunk_bytes));
    std::vector<hsize_t> offset(size_t(rank) + 1, 0), count(size_t(rank), 1);
    const hid_t file_space = H5Scopy(space);
    for (hsize_t c = 0; c < n_chunks && file_space >= 0; ++c) {
      unsigned mask = 0;
      haddr_t addr = 0;
      hsize_t size = 0;
      if (!ok(H5Dget_chunk_info(d, space, c, offset.data(), &mask, &addr, &size), path)) break;
      hsize_t n = 1;
      bool inside = true;
      for (int i = 0; i < rank; ++i) {
        inside = inside && offset[size_t(i)] < dims[size_t(i)];
        count[size_t(i)] = inside ? std::min(chunk[size_t(i)], dims[size_t(i)] - offset[size_t(i)]) : 0;
        n *= count[size_t(i)];
      }
      if (!inside || n == 0) continue;
      const hid_t mem_space = H5Screate_simple(1, &n, nullptr);
      const bool read =
          mem_space >= 0 &&
          H5Sselect_hyperslab(file_space, H5S_SELECT_SET, offset.data(), nullptr, count.data(), nullptr) >= 0 &&
          ok(H5Dread(d, native, mem_space, file_space, H5P_DEFAULT, buf.data()), path);
      if (mem_space >= 0) H5Sclose(mem_space);
      if (!read) break;  // the parent will meet the same failure and report it
    }
    if (file_space >= 0) H5Sclose(file_space);
    H5Tclose(native);
  }

  Reporter& report_;
  int64_t memory_limit_;
  std::set<haddr_t> seen_;
};

void die_quietly() { ::_exit(kCrashed); }

// The size of this process's address space now, from /proc (0 when unknown).
uint64_t address_space_bytes() {
  const int fd = ::open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[128] = {0};
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return 0;
  return std::strtoull(buf, nullptr, 10) * uint64_t(::sysconf(_SC_PAGE_SIZE));
}

[[noreturn]] void child(const std::string& path, int fd, char* where, hid_t fapl, const OpenCheckLimits& limits) {
  // A crash is the expected outcome here: no core file, no sanitizer report on the terminal, no
  // inherited crash handler (a fuzzer's would save the input as its own crash).
  for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS, SIGXCPU}) ::signal(sig, SIG_DFL);
  if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(die_quietly);
  struct rlimit no_core = {0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
  if (!std::getenv("HEADLAB_H5_CHECK_STDERR")) {
    const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null >= 0) {
      ::dup2(null, STDOUT_FILENO);
      ::dup2(null, STDERR_FILENO);
    }
  }
  if (!kUnderShadowSanitizer) {
    if (const uint64_t now = address_space_bytes(); now > 0) {
      const rlim_t cap = rlim_t(now + uint64_t(limits.memory_bytes));
      struct rlimit as = {cap, cap};
      ::setrlimit(RLIMIT_AS, &as);
    }
  }
  Reporter report(fd, where);
  report.at("opening the file");
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl);
  if (f < 0) ::_exit(0);  // the parent's own open fails the same way, with its message
  // The root group through the file's own id, as the parent reaches it (opening "/" as a group
  // takes a different path, which can fail where the parent's succeeds).
  try {
    Walker(report, limits.memory_bytes).group(f, "/", 0);
  } catch (const std::bad_alloc&) {
    report.refuse("reading it needs more than " + std::to_string(limits.memory_bytes >> 20) + " MiB of memory");
  }
  // No closing: HDF5's clean-up is the parent's business, and exiting is enough here.
  ::_exit(0);
}

// ------------------------------------------------------------------ the parent's side

std::string signal_name(int sig) {
  switch (sig) {
    case SIGSEGV:
      return "SIGSEGV";
    case SIGBUS:
      return "SIGBUS";
    case SIGABRT:
      return "SIGABRT";
    case SIGFPE:
      return "SIGFPE";
    case SIGILL:
      return "SIGILL";
    case SIGKILL:
      return "SIGKILL";
    case SIGXCPU:
      return "SIGXCPU";
  }
  return "signal " + std::to_string(sig);
}

}  // namespace

void set_open_check_limits(const OpenCheckLimits& limits) { g_limits = limits; }
const OpenCheckLimits& open_check_limits() { return g_limits; }

void check_in_child(const std::string& path, int64_t fapl_id) {
  const hid_t fapl = hid_t(fapl_id);
  const OpenCheckLimits limits = g_limits;
  if (!limits.enabled) return;
  struct stat st;
  const double size = ::stat(path.c_str(), &st) == 0 ? double(st.st_size) : 0.0;
  const double seconds = limits.seconds + size / limits.bytes_per_second;

  SharedPage page;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw InternalError(path + ": pipe() failed: " + std::strerror(errno));
  std::fflush(nullptr);  // nothing buffered twice
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    throw InternalError(path + ": fork() failed: " + std::strerror(err));
  }
  if (pid == 0) {
    ::close(fds[0]);
    child(path, fds[1], page.text, fapl, limits);
  }
  ::close(fds[1]);

  // Wait for the pipe to close (the child ended) or for time to run out; a refusal comes first.
  std::string refusal;
  bool timed_out = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    struct pollfd p = {fds[0], POLLIN, 0};
    const int r = ::poll(&p, 1, int(std::min<int64_t>(left.count(), 1000)));
    if (r <= 0) continue;
    char buf[4096];
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (refusal.size() < 4096) refusal.append(buf, size_t(n));
  }
  ::close(fds[0]);
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  std::string where(page.text, ::strnlen(page.text, SharedPage::kBytes));
  if (where.empty()) where = "the file";
  if (where == "/") where = "the root group";
  if (timed_out) {
    char secs[32];
    std::snprintf(secs, sizeof secs, "%.0f", seconds);
    throw InputError(path, std::string("damaged HDF5 file (reading ") + where + " took longer than " + secs + " s)");
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
  if (WIFEXITED(status) && WEXITSTATUS(status) == kRefused && !refusal.empty())
    throw InputError(path, "damaged HDF5 file (" + refusal + ")");
  const std::string how =
      WIFSIGNALED(status) ? signal_name(WTERMSIG(status)) : "exit status " + std::to_string(WEXITSTATUS(status));
  throw InputError(path, "damaged HDF5 file (reading " + where + " crashed the HDF5 library: " + how + ")");
}

}  // namespace headlab::h5
