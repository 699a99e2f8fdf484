// A user's own text as documents, read in pieces so that no corpus is ever held in memory whole:
//  - a plain file is one document (any bytes but NUL: a NUL marks a binary file, which is refused: a
//    NUL in the first 8 KiB when the files are listed, one later when it is read);
//  - a JSONL file (.jsonl / .ndjson, or --format jsonl) is one document per non-empty line, the text in
//    a string field (default "text");
//  - a folder is every file under it, recursively, in path order (hidden files and folders skipped);
//  - "-" is standard input, read as one plain document (or JSONL with --format jsonl).
// Long documents come in pieces of about 1 MiB, each cut just before a space that follows a non-space
// and precedes an ASCII letter: a place where both pre-tokenizers end a chunk, so the pieces encode to
// exactly the ids of the whole.
#pragma once
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace headlab {

enum class TextFormat { auto_detect, text, jsonl };

struct CorpusFile {
  std::string path;  // "-" = standard input
  bool jsonl = false;
  uint64_t bytes = 0;  // 0 for standard input (unknown)
};

// The files the inputs name, checked (present, readable, not binary). InputError naming the input.
std::vector<CorpusFile> list_corpus_files(const std::vector<std::string>& inputs, TextFormat format);

struct TextPiece {
  std::string text;
  int64_t document = 0;  // index of the document, counted over all files
  bool starts_document = false;
  std::string where;  // for messages: the file, "FILE line N" for JSONL, "standard input"
};

class DocumentReader {
 public:
  DocumentReader(std::vector<CorpusFile> files, std::string text_field, size_t piece_bytes = size_t(1) << 20);
  ~DocumentReader();
  // The next piece, or false at the end. InputError for a JSONL line that is not JSON or lacks the field,
  // and for a NUL byte anywhere in a plain document (binary content past the first 8 KiB, or on
  // standard input).
  bool next(TextPiece& piece);
  uint64_t bytes_read() const { return bytes_read_; }
  int64_t documents() const { return document_ + 1; }

 private:
  bool open_next_file();
  bool next_text_piece(TextPiece& piece);
  bool next_jsonl_piece(TextPiece& piece);

  std::vector<CorpusFile> files_;
  std::string field_;
  size_t piece_bytes_;
  size_t file_index_ = 0;
  std::FILE* in_ = nullptr;
  bool in_is_stdin_ = false;
  bool new_document_ = false;
  std::string carry_;  // bytes read past the last cut, belonging to the next piece
  int64_t line_no_ = 0;
  uint64_t file_offset_ = 0;  // of the next piece's first byte in the current plain file
  int64_t document_ = -1;
  uint64_t bytes_read_ = 0;
};

}  // namespace headlab
