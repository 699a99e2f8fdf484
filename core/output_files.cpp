#include "core/output_files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/errors.h"

namespace headlab {
namespace fs = std::filesystem;
namespace {

fs::path absolute_path(const std::string& path) {
  std::error_code ec;
  fs::path p = fs::absolute(fs::path(path), ec);
  if (ec) p = fs::path(path);
  p = p.lexically_normal();
  if (p.filename().empty() && p.has_parent_path() && p != p.root_path()) p = p.parent_path();  // "dir/" -> "dir"
  return p;
}

// The folder `p` is, or the nearest existing one above it.
fs::path nearest_existing(fs::path p) {
  std::error_code ec;
  while (!fs::exists(p, ec) && p.has_parent_path() && p != p.parent_path()) p = p.parent_path();
  return p;
}

// Why `path` cannot be created below `dir`, the nearest existing folder above it, or "" when it can
// (a real try: permissions, read-only mounts and pseudo file systems such as /proc all answer here;
// the probe file is removed at once).
std::string cannot_create_in(const fs::path& dir, const std::string& path) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return "cannot create " + path + ": " + dir.string() + " is not a directory";
  const fs::path probe = dir / (".headlab-write-probe-" + std::to_string(::getpid()));
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return "";
    return "cannot create files in " + dir.string() + ": " + std::strerror(errno);
  }
  ::close(fd);
  ::unlink(probe.c_str());
  return "";
}

std::string named(const std::string& what, const std::string& path) { return what.empty() ? path : what + " " + path; }

}  // namespace

void check_output_file(const std::string& path, const std::string& what) {
  if (path.empty()) throw InputError(what.empty() ? "output file" : what, "expected a file name; got an empty one");
  const std::string subject = named(what, path);
  if (path.back() == '/') throw InputError(subject, "expected a file name to write, not a folder (it ends in /)");
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);  // follows links: a link to a file is fine
  if (fs::is_directory(st))
    throw InputError(subject, "expected a file name to write, not a folder; " + path + " is a directory");
  // The rename into place would replace a device or a FIFO (as root, /dev/null itself).
  if (fs::exists(st) && !fs::is_regular_file(st))
    throw InputError(
        subject, "expected a file name to write; " + path + " exists and is not a regular file (a device or FIFO?)");
  const std::string why = cannot_create_in(nearest_existing(absolute_path(path).parent_path()), path);
  if (!why.empty()) throw InputError(subject, why);
}

void check_output_dir(const std::string& dir, const std::string& what) {
  if (dir.empty()) throw InputError(what.empty() ? "output folder" : what, "expected a folder name; got an empty one");
  const std::string subject = named(what, dir);
  const fs::path p = absolute_path(dir);
  std::error_code ec;
  if (fs::exists(p, ec) && !fs::is_directory(p, ec))
    throw InputError(subject, "expected a directory; " + dir + " is not one (a missing one is created)");
  const std::string why = cannot_create_in(nearest_existing(p), dir);
  if (!why.empty()) throw InputError(subject, why);
}

void check_not_input(const std::string& path, const std::string& what, const std::string& input_path,
                     const std::string& input_what) {
  std::error_code ec;
  if (!input_path.empty() && fs::exists(path, ec) && fs::equivalent(path, input_path, ec))
    throw InputError(what + " " + path, "is the " + input_what + " file; writing there would replace the input");
}

void make_parent_dirs(const std::string& path, const std::string& what) {
  const fs::path parent = absolute_path(path).parent_path();
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec || !fs::is_directory(parent, ec))
    throw InputError(what + " " + path, "cannot create the folder " + parent.string() + ": " +
                                            (ec ? ec.message() : "a file is in the way"));
}

OutputFiles::~OutputFiles() {
  if (keep_) return;
  for (const std::string& p : paths_) std::remove(p.c_str());
}

void OutputFiles::add(const std::string& path) { paths_.push_back(path); }

StagedDir::StagedDir(const std::string& dir, const std::string& what) : dir_(dir), what_(what) {
  check_output_dir(dir, what);
  const fs::path target = absolute_path(dir);
  const std::string name = target.filename().empty() ? "headlab-output" : target.filename().string();
  const fs::path staging = target.parent_path() / ("." + name + ".partial-" + std::to_string(::getpid()));
  std::error_code ec;
  fs::remove_all(staging, ec);
  fs::create_directories(staging, ec);
  if (ec) throw InputError(what + " " + dir, "cannot create the folder " + staging.string() + ": " + ec.message());
  staging_ = staging.string();
}

StagedDir::~StagedDir() {
  if (committed_) return;
  std::error_code ec;
  fs::remove_all(staging_, ec);
}

void StagedDir::commit() {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec || !fs::is_directory(dir_, ec))
    throw InputError(what_ + " " + dir_, "cannot create the folder: " + (ec ? ec.message() : "a file is in the way"));
  std::vector<fs::path> entries;  // listed first: the loop empties the folder it would iterate
  for (fs::directory_iterator it(staging_, ec), end; !ec && it != end; it.increment(ec)) entries.push_back(it->path());
  if (ec) throw InputError(what_ + " " + dir_, "cannot list the finished files: " + ec.message());
  for (const fs::path& from : entries) {
    const fs::path to = fs::path(dir_) / from.filename();
    if (fs::is_directory(from, ec) && fs::is_directory(to, ec)) fs::remove_all(to, ec);  // replaced whole
    fs::rename(from, to, ec);
    if (ec) throw InputError(what_ + " " + dir_, "cannot move " + to.string() + " into place: " + ec.message());
  }
  fs::remove_all(staging_, ec);
  committed_ = true;
}

}  // namespace headlab
