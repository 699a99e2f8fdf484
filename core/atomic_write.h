// Files appear whole or not at all: each is written to a hidden temporary beside its target
// (".NAME.tmp": the same folder, so the rename is atomic, and no `ls` or `step_*.h5` glob shows it)
// and renamed into place once complete.
#pragma once
#include <functional>
#include <ostream>
#include <string>

namespace headlab {

// "dir/.name.tmp" for "dir/name"; a name that is already hidden just gains ".tmp".
std::string hidden_temporary_path(const std::string& path);

// Writes path through hidden_temporary_path(path): `write` fills the stream (binary). InputError
// naming path when the folder cannot be written, the write fails (disk full) or the rename fails; no
// file is left.
void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write);
// Writes `text` to path through hidden_temporary_path(path). InputError naming path when the
// folder cannot be written, the write fails (disk full) or the rename fails; no file is left.
void write_text_file_atomically(const std::string& path, const std::string& text);

}  // namespace headlab
