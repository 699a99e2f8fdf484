#include "data/text_corpus.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/errors.h"

namespace fs = std::filesystem;

namespace headlab {
namespace {

bool is_jsonl_name(const std::string& path) {
  const std::string ext = fs::path(path).extension().string();
  return ext == ".jsonl" || ext == ".ndjson";
}

bool hidden(const fs::path& p) {
  const std::string name = p.filename().string();
  return !name.empty() && name[0] == '.';
}

void check_not_binary(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw InputError(path, std::string("cannot open: ") + std::strerror(errno));
  char head[8192];
  const size_t n = std::fread(head, 1, sizeof head, f);
  std::fclose(f);
  if (std::memchr(head, '\0', n))
    throw InputError(path, "looks binary (a NUL byte in its first 8 KiB); give text files only");
}

// A place to end a piece: just before a ' ' that follows a non-space and precedes an ASCII letter.
size_t safe_cut(const std::string& s, size_t limit) {
  for (size_t i = std::min(limit, s.size() - 1); i > 1; --i) {
    const unsigned char before = (unsigned char)s[i - 1], after = (unsigned char)s[i + 1];
    if (s[i] == ' ' && before != ' ' && !(before >= '\t' && before <= '\r') && before < 0x80 &&
        ((after | 0x20) >= 'a' && (after | 0x20) <= 'z'))
      return i;
  }
  return 0;
}

}  // namespace

std::vector<CorpusFile> list_corpus_files(const std::vector<std::string>& inputs, TextFormat format) {
  if (inputs.empty()) throw InputError("--input", "give at least one file, folder or - (standard input)");
  std::vector<CorpusFile> files;
  auto add_file = [&](const std::string& path) {
    CorpusFile f;
    f.path = path;
    f.jsonl = format == TextFormat::jsonl || (format == TextFormat::auto_detect && is_jsonl_name(path));
    std::error_code ec;
    f.bytes = fs::file_size(path, ec);
    if (ec) throw InputError(path, "cannot read its size: " + ec.message());
    check_not_binary(path);
    files.push_back(f);
  };
  for (const std::string& input : inputs) {
    if (input == "-") {
      if (std::count_if(files.begin(), files.end(), [](const CorpusFile& f) { return f.path == "-"; }))
        throw InputError("--input -", "standard input can be read once");
      files.push_back({"-", format == TextFormat::jsonl, 0});
      continue;
    }
    std::error_code ec;
    const fs::file_status st = fs::status(input, ec);
    if (ec || !fs::exists(st)) throw InputError(input, "no such file or folder");
    if (fs::is_directory(st)) {
      std::vector<std::string> found;
      for (auto it = fs::recursive_directory_iterator(input, fs::directory_options::skip_permission_denied, ec);
           it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (ec) throw InputError(input, "cannot list it: " + ec.message());
        if (hidden(it->path())) {
          if (it->is_directory()) it.disable_recursion_pending();
          continue;
        }
        if (it->is_regular_file()) found.push_back(it->path().string());
      }
      if (found.empty()) throw InputError(input, "the folder holds no files");
      std::sort(found.begin(), found.end());
      for (const std::string& p : found) add_file(p);
    } else if (fs::is_regular_file(st)) {
      add_file(input);
    } else {
      throw InputError(input, "not a regular file or folder");
    }
  }
  return files;
}

DocumentReader::DocumentReader(std::vector<CorpusFile> files, std::string text_field, size_t piece_bytes)
    : files_(std::move(files)), field_(std::move(text_field)), piece_bytes_(piece_bytes) {}

DocumentReader::~DocumentReader() {
  if (in_ && !in_is_stdin_) std::fclose(in_);
}

bool DocumentReader::open_next_file() {
  if (in_ && !in_is_stdin_) std::fclose(in_);
  in_ = nullptr;
  if (file_index_ >= files_.size()) return false;
  const CorpusFile& f = files_[file_index_++];
  in_is_stdin_ = f.path == "-";
  in_ = in_is_stdin_ ? stdin : std::fopen(f.path.c_str(), "rb");
  if (!in_) throw InputError(f.path, std::string("cannot open: ") + std::strerror(errno));
  carry_.clear();
  line_no_ = 0;
  file_offset_ = 0;
  new_document_ = true;
  return true;
}

bool DocumentReader::next(TextPiece& piece) {
  for (;;) {
    if (!in_ && !open_next_file()) return false;
    const bool got = files_[file_index_ - 1].jsonl ? next_jsonl_piece(piece) : next_text_piece(piece);
    if (got) return true;
    if (!open_next_file()) return false;
  }
}

bool DocumentReader::next_text_piece(TextPiece& piece) {
  std::string buf = std::move(carry_);
  carry_.clear();
  const size_t want = piece_bytes_ + 1024;
  while (buf.size() < want) {
    const size_t old = buf.size();
    buf.resize(want);
    const size_t n = std::fread(&buf[old], 1, want - old, in_);
    buf.resize(old + n);
    bytes_read_ += n;
    if (n == 0) break;
  }
  if (buf.empty()) {
    // An empty file is still a document: it then holds only its BOS.
    if (!new_document_) return false;
  }
  if (buf.size() >= want) {
    const size_t cut = safe_cut(buf, piece_bytes_);
    if (cut > 0) {
      carry_ = buf.substr(cut);
      buf.resize(cut);
    }  // no safe place in this window: the piece is the whole window
  }
  // The read reserved a whole piece: a small file would otherwise keep 1 MiB per document in the batch.
  if (buf.capacity() > 2 * buf.size() + 4096) buf.shrink_to_fit();
  const std::string& path = files_[file_index_ - 1].path;
  piece.where = path == "-" ? std::string("standard input") : path;
  if (const void* nul = std::memchr(buf.data(), '\0', buf.size()))
    throw InputError(piece.where,
                     "looks binary (a NUL byte at offset " +
                         std::to_string(file_offset_ + uint64_t(static_cast<const char*>(nul) - buf.data())) +
                         "); give text files only");
  file_offset_ += buf.size();
  if (new_document_) ++document_;
  piece.text = std::move(buf);
  piece.document = document_;
  piece.starts_document = new_document_;
  new_document_ = false;
  return true;
}

bool DocumentReader::next_jsonl_piece(TextPiece& piece) {
  for (;;) {
    char* raw = nullptr;
    size_t capacity = 0;
    const ssize_t n = ::getline(&raw, &capacity, in_);
    if (n < 0) {
      std::free(raw);
      return false;
    }
    std::string line(raw, size_t(n));
    std::free(raw);
    bytes_read_ += uint64_t(n);
    if (!line.empty() && line.back() == '\n') line.pop_back();
    ++line_no_;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = files_[file_index_ - 1].path + " line " + std::to_string(line_no_);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception&) {
      throw InputError(where, "not valid JSON (a JSONL file has one JSON object per line)");
    }
    if (!j.is_object() || !j.contains(field_))
      throw InputError(where, "has no field '" + field_ + "' (choose the field with --text-field)");
    if (!j[field_].is_string()) throw InputError(where, "field '" + field_ + "' is not a string");
    piece.text = j[field_].get<std::string>();
    piece.where = where;
    piece.document = ++document_;
    piece.starts_document = true;
    return true;
  }
}

}  // namespace headlab
