// Where the commands put what they write, one rule for headlab-data and headlab-circuits:
//  - a missing parent folder of an output is created (like mkdir -p), as TransformerLens and SAELens
//    users expect; a path that cannot become a file (it is a folder, or lies under a file or an
//    unwritable folder) is an InputError naming the option, found before any work is done;
//  - files that belong together (an .h5 and its .svg; a dataset and its tokenizer; a report folder)
//    appear whole or not at all: a command that fails half-way leaves none of them.
#pragma once
#include <string>
#include <vector>

namespace headlab {

// The one pre-flight check of an output path, run before any work so that a bad destination fails
// first and leaves nothing. InputError("<what> <path>", ...) (just "<path>" when `what` is empty)
// unless `path` can be written as a file: it is not a folder, nor an existing device or FIFO (the
// rename into place would replace it), and the nearest existing folder above it is a folder in
// which a file can be created (missing folders between are created when writing). Creates nothing.
void check_output_file(const std::string& path, const std::string& what);
// The same for a folder of outputs: `dir` is a folder already, or can be created.
void check_output_dir(const std::string& dir, const std::string& what);
// InputError("<what> <path>", ...) when `path` is the same file as the input `input_path` (given by
// option `input_what`): writing the result would destroy what it was computed from.
void check_not_input(const std::string& path, const std::string& what, const std::string& input_path,
                     const std::string& input_what);
// Creates the folders above `path` (mkdir -p). InputError naming `what` when that fails.
void make_parent_dirs(const std::string& path, const std::string& what);

// Finished files that belong together: removed again when this goes out of scope without keep(), so
// a command that throws after writing the first of them leaves none.
class OutputFiles {
 public:
  OutputFiles() = default;
  OutputFiles(const OutputFiles&) = delete;
  OutputFiles& operator=(const OutputFiles&) = delete;
  ~OutputFiles();
  void add(const std::string& path);
  void keep() { keep_ = true; }

 private:
  std::vector<std::string> paths_;
  bool keep_ = false;
};

// A folder of outputs written whole. Files go under path() (a hidden folder beside `dir`, on the same
// file system); commit() moves every entry into `dir` (created), replacing entries of the same
// name. Without commit() the staging folder is removed, and `dir` is left as it was.
class StagedDir {
 public:
  StagedDir(const std::string& dir, const std::string& what);
  StagedDir(const StagedDir&) = delete;
  StagedDir& operator=(const StagedDir&) = delete;
  ~StagedDir();
  const std::string& path() const { return staging_; }
  void commit();

 private:
  std::string dir_, what_, staging_;
  bool committed_ = false;
};

}  // namespace headlab
