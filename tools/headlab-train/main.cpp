// headlab-train: train a transformer on a token dataset or a built-in task (repeat, induction).
// Options on the command line or in an INI file (--config): [model] keys are ModelConfig's field
// names (--model.<field> on the command line), [train] keys the training options (batch-size or
// batch_size). The command line wins over the file; with --resume, the checkpoint's own options
// are the base and only options given now override them (see open_session for which may differ;
// model options may be repeated but must equal the checkpoint's).
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cctype>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>
#include <type_traits>
#include <variant>

#include "core/h5_file.h"
#include "core/hash.h"
#include "model/checkpoint.h"
#include "tools/common/command_main.h"
#include "tools/common/model_options.h"
#include "tools/headlab-train/config_file.h"
#include "tools/headlab-train/head_tracker.h"
#include "train/output_dir.h"
#include "train/progress.h"
#include "train/rank_group.h"
#include "train/schedule.h"
#include "train/session.h"
#include "train/trainer.h"

namespace po = boost::program_options;
using namespace headlab;

namespace {

const char* kUsage =
    "usage: headlab-train --data FILE.h5|builtin:repeat|builtin:induction --out DIR [options]\n"
    "       headlab-train --resume DIR/checkpoints/step_NNNNNN.h5 [--steps N] [options]\n"
    "Trains a transformer; writes DIR/metrics.jsonl, DIR/checkpoints/step_NNNNNN.h5 and DIR/final.h5.\n"
    "builtin:repeat generates rows (BOS, r_1..r_n, r_1..r_n) from the seed, n = --repeat-half-len; with\n"
    "--repeat-min-half-len below it, n varies from row to row and shorter rows start with random noise.\n"
    "builtin:induction generates random tokens in which spans of earlier tokens recur at random distances\n"
    "(--induction-*); a 2-layer attention-only model forms an induction circuit on it after a plateau\n"
    "(phase change near step 450, about 75 s at 1 thread with --track-heads):\n"
    "  headlab-train --data builtin:induction --out DIR --model.attn_only true --model.d_model 64\n"
    "    --model.n_heads 4 --model.d_head 16 --model.d_vocab 128 --steps 6000 --batch-size 32 --lr 1e-3\n"
    "    --weight-decay 0 --threads 1 --checkpoint-schedule log --track-heads DIR/heads.h5 --track-every 50\n";

// The options given (command line or file) over `o`.
void apply_given(const po::variables_map& vm, TrainOptions& o) {
  for (const TrainOption& option : train_option_table()) {
    if (!vm.count(option.name)) continue;
    const po::variable_value& v = vm[option.name];
    const std::string flag = std::string("--") + option.name;
    std::visit(
        [&](auto member) {
          auto& field = o.*member;
          using T = std::decay_t<decltype(field)>;
          if constexpr (std::is_same_v<T, uint64_t>)
            field = v.as<cli::Unsigned>().value;  // "-1" is refused, not read as 2^64 - 1
          else if constexpr (std::is_same_v<T, OptimizerKind>)
            field = parse_optimizer(v.as<std::string>(), flag);
          else if constexpr (std::is_same_v<T, LrShape>)
            field = parse_lr_shape(v.as<std::string>(), flag);
          else if constexpr (std::is_same_v<T, CheckpointSpacing>)
            field = parse_checkpoint_spacing(v.as<std::string>(), flag);
          else
            field = v.as<T>();
        },
        option.field);
  }
}

bool given(const po::variables_map& vm, const char* name) { return vm.count(name) && !vm[name].defaulted(); }

ModelRequest model_request(const po::variables_map& vm, const cli::ModelOptionValues& mv,
                           const po::options_description& model_desc) {
  ModelRequest r;
  for (const auto& opt : model_desc.options()) r.any_given = r.any_given || given(vm, opt->long_name().c_str());
  r.n_ctx_given = given(vm, "model.n_ctx");
  r.d_vocab_given = given(vm, "model.d_vocab");
  r.config = cli::model_config_from(mv);
  return r;
}

// With --resume or --init the model is the checkpoint's. Model options (command line or [model])
// that say what the checkpoint says are fine — a resume may repeat the original command line —
// and then dropped; one that says otherwise is an input error naming it.
void check_model_options_match(const po::variables_map& vm, const cli::ModelOptionValues& mv, ModelRequest& request,
                               const std::string& path) {
  if (!request.any_given || ::access(path.c_str(), F_OK) != 0) return;  // a missing file is reported later
  const ModelConfig c = read_checkpoint_config(path);
  auto same = [&](const char* field, const std::string& asked, const std::string& has) {
    const std::string name = std::string("model.") + field;
    if (given(vm, name.c_str()) && asked != has)
      throw InputError("--" + name, "is " + asked + ", but the model in " + path + " has " + field + " = " + has +
                                        "; a resumed or --init run keeps the checkpoint's model (leave out --" + name +
                                        ")");
  };
  auto num = [](double x) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", x);
    return std::string(buf);
  };
  auto yes_no = [](bool b) { return std::string(b ? "true" : "false"); };
  same("n_layers", std::to_string(mv.cfg.n_layers), std::to_string(c.n_layers));
  same("d_model", std::to_string(mv.cfg.d_model), std::to_string(c.d_model));
  same("n_heads", std::to_string(mv.cfg.n_heads), std::to_string(c.n_heads));
  same("d_head", std::to_string(mv.d_head), std::to_string(c.d_head));
  same("d_mlp", std::to_string(mv.cfg.d_mlp), std::to_string(c.d_mlp));
  same("n_ctx", std::to_string(mv.cfg.n_ctx), std::to_string(c.n_ctx));
  same("d_vocab", std::to_string(mv.cfg.d_vocab), std::to_string(c.d_vocab));
  same("act_fn", to_string(parse_act_fn(mv.act_fn, "--model.act_fn")), to_string(c.act_fn));
  same("normalization_type", to_string(parse_normalization(mv.normalization_type, "--model.normalization_type")),
       to_string(c.normalization_type));
  same("attn_only", yes_no(mv.cfg.attn_only), yes_no(c.attn_only));
  same("positional_embedding_type",
       to_string(parse_positional(mv.positional_embedding_type, "--model.positional_embedding_type")),
       to_string(c.positional_embedding_type));
  same("tie_embeddings", yes_no(mv.cfg.tie_embeddings), yes_no(c.tie_embeddings));
  same("rotary_base", num(mv.cfg.rotary_base), num(c.rotary_base));
  same("eps", num(mv.cfg.eps), num(c.eps));
  request.any_given = false;  // every one given agrees with the checkpoint
}

// SIGINT or SIGTERM: the run stops after the step under way (and its checkpoint, when one is due
// there), its metrics line written, and says which checkpoint to resume from; a second signal
// kills it at once (SA_RESETHAND). No extra checkpoint is written for the stop, so the folder
// holds what an uninterrupted run's holds up to that step, and a resume repeats the steps since
// the last checkpoint bit for bit.
volatile std::sig_atomic_t g_stop_signal = 0;
extern "C" void on_stop_signal(int sig) { g_stop_signal = sig; }

struct Interrupted {
  int signal;
  int64_t step;
};

class StopOnSignal : public TrainObserver {
 public:
  StopOnSignal(const TrainOptions& o, RankGroup& ranks)
      : checkpoints_(o), stop_at_(o.stop_at), steps_(o.steps), ranks_(ranks) {
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
  }
  void on_step(const StepRecord& r, Transformer&) override {
    const bool checkpoint_due = checkpoints_.due(r.step) || r.step == stop_at_ || r.step == steps_;
    if (!checkpoint_due && stop_signal()) throw Interrupted{stop_signal_, r.step};
  }
  void on_checkpoint(int64_t step, const std::string&) override {
    if (step != steps_ && stop_signal()) throw Interrupted{stop_signal_, step};  // at --steps: done anyway
  }

 private:
  // Whether a stop was asked, agreed by every rank (mpirun passes a signal to each at its own
  // moment: they must stop at the same step, or the others would wait for the one that stopped).
  bool stop_signal() {
    double seen[2] = {g_stop_signal ? 1.0 : 0.0, double(g_stop_signal)};
    ranks_.sum(seen, 2);
    if (seen[0] > 0) stop_signal_ = g_stop_signal ? int(g_stop_signal) : int(seen[1] / seen[0]);
    return seen[0] > 0;
  }
  CheckpointSchedule checkpoints_;
  int64_t stop_at_, steps_;
  RankGroup& ranks_;
  int stop_signal_ = 0;
};

// Whether two --out spellings are one directory ("run", "run/", "./run").
bool same_directory(const std::string& a, const std::string& b) {
  std::error_code ec;
  if (std::filesystem::equivalent(a, b, ec)) return true;
  return std::filesystem::weakly_canonical(std::filesystem::absolute(a, ec), ec) ==
         std::filesystem::weakly_canonical(std::filesystem::absolute(b, ec), ec);
}

// The run's options: the checkpoint's with --resume, the ones given (command line, then --config)
// on top. `notes` collects what the command should tell the person.
TrainOptions assemble_options(const po::variables_map& vm, const cli::ModelOptionValues& mv,
                              const po::options_description& model_desc, std::vector<std::string>& notes) {
  if (vm.count("init") && vm.count("resume"))  // before either file is read
    throw InputError("--init", "cannot be combined with --resume (a resumed run has its weights)");
  TrainOptions o = vm.count("resume") ? resumed_options(vm["resume"].as<std::string>()) : TrainOptions{};
  const std::string stored_out = o.out;
  apply_given(vm, o);
  o.model = model_request(vm, mv, model_desc);
  if (!o.resume.empty() || !o.init.empty())
    check_model_options_match(vm, mv, o.model, o.resume.empty() ? o.init : o.resume);
  if (o.out.empty()) throw InputError("--out", "is required: the directory for checkpoints and metrics.jsonl");
  // A resume into the run's own --out goes on tracking heads as it did; one into another --out is
  // a branch, and would otherwise trim the original run's file to the branch point.
  if (!o.resume.empty() && !vm.count("track-heads") && !o.track_heads.empty() && !same_directory(o.out, stored_out)) {
    notes.push_back("the run in " + o.resume + " tracked heads in " + o.track_heads +
                    "; this run in another --out does not (give --track-heads FILE.h5 to track it)");
    o.track_heads.clear();
  }
  if (vm.count("track-every") && o.track_heads.empty())
    throw InputError("--track-every", "is the spacing of --track-heads FILE.h5, which is not given");
  if (vm.count("eval-every") && o.eval_every > 0 && o.val_data.empty() && !o.uses_builtin())
    throw InputError("--eval-every",
                     "there is no validation data to evaluate: give --val-data FILE.h5 (a built-in "
                     "--data validates on fresh rows of its own)");
  return o;
}

// Trains the opened session to the end (or --stop-at), with the progress line, head tracking and
// a clean stop on SIGINT / SIGTERM.
int train(TrainSession& session) {
  const TrainOptions& o = session.options;
  const bool writer = session.ranks->rank() == 0;  // rank 0 alone writes files and prints
  std::unique_ptr<HeadTracker> tracker;            // before the Trainer: its errors come before any file is written
  if (!o.track_heads.empty() && writer) {
    std::remove(h5::AtomicFile::temporary_path(o.track_heads).c_str());  // what a kill during a rewrite left
    HeadTrackerOptions t;
    t.path = o.track_heads;
    t.every = o.track_every;
    tracker = std::make_unique<HeadTracker>(session.model->config(), session.tokenizer_json, t, session.step);
  }
  Trainer trainer(session);
  ProgressReporter progress(stdout, writer && isatty(fileno(stdout)) != 0);
  if (writer) trainer.add_observer(&progress);
  if (tracker) {
    std::error_code ec;  // a folder of its own, created as --out is (check_output_paths vetted the path)
    const std::filesystem::path folder = std::filesystem::path(o.track_heads).parent_path();
    if (!folder.empty()) std::filesystem::create_directories(folder, ec);
    if (ec) throw InputError("--track-heads " + o.track_heads, "cannot create its directory: " + ec.message());
    trainer.add_observer(tracker.get());
  }
  StopOnSignal stop(o, *session.ranks);
  trainer.add_observer(&stop);
  TrainResult result;
  try {
    result = trainer.run();
  } catch (const Interrupted& i) {
    progress.finish();
    std::fflush(stdout);
    const std::string next = session.last_checkpoint.empty()
                                 ? "no checkpoint was written yet: start it again"
                                 : "resume with --resume " + session.last_checkpoint + " --out " + o.out;
    if (writer)
      std::fprintf(stderr, "headlab-train: stopped by %s after step %lld; %s\n",
                   i.signal == SIGINT ? "SIGINT" : "SIGTERM", (long long)i.step, next.c_str());
    std::signal(i.signal, SIG_DFL);  // end as the signal would have: the shell sees it
    std::raise(i.signal);
    return 128 + i.signal;
  }
  progress.finish();
  if (!writer) return 0;
  if (result.finished && result.losses.empty())
    std::printf("done: %lld steps; wrote %s/final.h5\n", (long long)result.step, o.out.c_str());
  else if (result.finished)
    std::printf("done: %lld steps, final loss %.4f; wrote %s/final.h5\n", (long long)result.step, result.losses.back(),
                o.out.c_str());
  else
    std::printf("stopped at step %lld; resume with --resume %s\n", (long long)result.step,
                session.last_checkpoint.c_str());
  if (tracker)
    std::printf("head scores at %zu steps in %s (headlab-circuits formation --track %s)\n",
                tracker->track().points.size(), o.track_heads.c_str(), o.track_heads.c_str());
  return 0;
}

// What the command line asks for: the run to train and what to tell the person; no run for --help.
struct Setup {
  std::optional<TrainSession> session;
  std::vector<std::string> notes;
};

Reduction parse_reduction(const std::string& s) {
  if (s == "mpi") return Reduction::mpi;
  if (s == "ordered") return Reduction::ordered;
  if (s == "overlap") return Reduction::overlap;
  if (s == "overlap-thread") return Reduction::overlap_thread;
  throw InputError("--allreduce", "expected mpi, ordered, overlap or overlap-thread, got '" + s + "'");
}

// --threads 0 (every core) under mpirun: the machine's cores shared by the ranks on it.
int threads_per_rank() {
  const char* local = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
  const int ranks_here = std::max(1, local ? std::atoi(local) : 1);
  return std::max(1, int(std::thread::hardware_concurrency()) / ranks_here);
}

// What every rank must agree on: the run's options (data and --init fingerprints included), the
// step and the weights it starts from, and how gradients are summed (ranks that split them into
// other sums would wait on each other's collectives).
std::string run_fingerprint(const TrainSession& s) {
  const std::vector<float> params = s.model->params_to_host();
  return checkpoint_options_json(s) + " weights " +
         std::to_string(fnv1a(kFnv1aOffset, params.data(), params.size() * sizeof(float))) + " step " +
         std::to_string(s.step) + " allreduce " + std::to_string(int(s.reduction)) + " bucket " +
         std::to_string(s.bucket_floats);
}

// Parses the command line, reads the inputs and builds the run.
Setup set_up(int argc, char** argv, RankGroup& ranks) {
  cli::ModelOptionValues mv;
  po::options_description general("general");
  general.add_options()("help,h", "this help")("config", po::value<std::string>(),
                                               "INI file: [model] and [train] sections")(
      "allreduce", po::value<std::string>(),
      "under mpirun: how the ranks sum gradients: mpi (MPI_Allreduce after the backward) | ordered (in rank "
      "order: the same bits run after run for a number of ranks) | overlap (MPI_Iallreduce of each bucket of "
      "layers as soon as the backward has finished it, moved along at each block) | overlap-thread (the same "
      "buckets summed by a thread of their own) (default mpi)")(
      "allreduce-bucket-mb", po::value<double>()->default_value(0),
      "--allreduce overlap(-thread): layers summed together until a bucket holds this many MiB of gradients (0: each "
      "block on its own)");
  po::options_description model_desc(
      "model options ([model] section of --config; not with --init / --resume; n_ctx and d_vocab not given "
      "come from the data)");
  cli::add_model_options(model_desc, mv);
  po::options_description all;
  all.add(general).add(train_command::training_options()).add(model_desc).add(train_command::head_formation_options());

  po::variables_map vm;
  // Stray words are collected (Boost drops them silently without a positional description).
  po::options_description with_words;
  with_words.add(all).add_options()("unexpected-word", po::value<std::vector<std::string>>());
  po::positional_options_description words;
  words.add("unexpected-word", -1);
  po::store(po::command_line_parser(argc, argv).options(with_words).positional(words).run(), vm);
  if (vm.count("unexpected-word"))
    throw InputError("command line: '" + vm["unexpected-word"].as<std::vector<std::string>>().front() + "'",
                     "unexpected word (options start with --; see --help)");
  if (vm.count("help")) {
    if (ranks.rank() == 0) std::cout << kUsage << "\n" << all << "\n";
    return {};
  }
  if (vm.count("config")) {
    const std::string path = vm["config"].as<std::string>();
    try {  // a bad value in the file is the file's error, not the command line's
      po::store(train_command::parse_config_file(path, all), vm);
    } catch (const po::error& e) {
      throw InputError("--config " + path, e.what());
    }
  }
  po::notify(vm);

  Setup setup;
  TrainOptions options = assemble_options(vm, mv, model_desc, setup.notes);
  const Reduction reduction = parse_reduction(vm.count("allreduce") ? vm["allreduce"].as<std::string>() : "mpi");
  const double bucket_mb = vm["allreduce-bucket-mb"].as<double>();
  if (!(bucket_mb >= 0 && bucket_mb <= 1e6)) {
    char shown[32];
    std::snprintf(shown, sizeof shown, "%g", bucket_mb);
    throw InputError(std::string("--allreduce-bucket-mb ") + shown, "expected a size in MiB in [0, 1e6]");
  }
  if (options.batch_size % ranks.size() != 0)
    throw InputError("--batch-size " + std::to_string(options.batch_size),
                     "is the global batch, shared by the " + std::to_string(ranks.size()) +
                         " ranks: it must be a multiple of their number");
  if (ranks.size() > 1 && options.threads == 0) options.threads = threads_per_rank();
  setup.session.emplace(open_session(options, options.device == "cuda" ? ranks.local_rank() : 0));
  setup.session->ranks = &ranks;
  setup.session->reduction = reduction;
  setup.session->bucket_floats = int64_t(bucket_mb * 1024 * 1024 / sizeof(float));
  if (ranks.rank() == 0) check_output_paths(*setup.session);
  return setup;
}

// Every rank sets its run up; then they agree: the first rank's error ends them all (exit 2),
// printed once, by rank 0, naming the rank; so does a rank started on other options, data or
// weights than rank 0's. One process: errors go straight to the command's handler.
int train_main(int argc, char** argv, RankGroup& ranks) {
  Setup setup;
  if (ranks.size() == 1) {
    setup = set_up(argc, argv, ranks);
  } else {
    std::string error;
    try {
      setup = set_up(argc, argv, ranks);
    } catch (const InputError& e) {
      error = e.what();
    } catch (const po::error& e) {
      error = std::string("command line: ") + e.what();
    }
    error = ranks.first_error(error);
    if (error.empty() && setup.session) {
      const int other = ranks.first_disagreeing(run_fingerprint(*setup.session));
      if (other >= 0)
        error = "rank " + std::to_string(other) +
                ": started on other options, data or weights than rank 0 (every rank must run the same command "
                "on the same files)";
    }
    if (!error.empty()) {
      if (ranks.rank() == 0) throw InputError("mpirun -np " + std::to_string(ranks.size()), error);
      return 2;
    }
  }
  if (!setup.session) return 0;  // --help
  TrainSession& session = *setup.session;
  if (ranks.rank() == 0) {
    for (const std::string& w : session.warnings)
      std::fprintf(stderr, "headlab-train: warning: %s\n", cli::one_line(w.c_str()).c_str());
    const ModelConfig& c = session.model->config();
    std::string start = session.step > 0 ? "resuming at step " + std::to_string(session.step) : "from step 0";
    if (session.step > 0 && session.step == session.options.steps)
      start += ", which is --steps: nothing left to train, only final.h5 to write";
    std::string where = session.backend->name();
    if (ranks.size() > 1) where = std::to_string(ranks.size()) + " MPI ranks, each on " + where;
    std::printf("headlab-train: %lld parameters (%d layers, d_model %d, %d heads, n_ctx %d, d_vocab %d) on %s; %s\n",
                (long long)c.n_params(), c.n_layers, c.d_model, c.n_heads, c.n_ctx, c.d_vocab, where.c_str(),
                start.c_str());
    for (const std::string& n : setup.notes) std::printf("note: %s\n", n.c_str());
    if (session.data_from_disk)
      std::printf(
          "note: --data is read from the file as training goes (windows and rows read ahead on a thread), "
          "not held in memory\n");
    std::fflush(stdout);
  }
  if (ranks.size() == 1) return train(session);
  // Several ranks: an error every rank meets at the same step (a diverged loss: the summed gradients
  // are the same everywhere) is printed by rank 0 alone; an error of one rank alone (rank 0 failing
  // to write a checkpoint) cannot wait for the others, which are inside a collective: that rank
  // prints it and ends the whole job (MPI_Abort, exit 2).
  try {
    return train(session);
  } catch (const TrainingDiverged&) {
    if (ranks.rank() == 0) throw;
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "headlab-train: error: rank %d: %s\n", ranks.rank(), cli::one_line(e.what()).c_str());
    std::fflush(stderr);
    ranks.abort(2);
  }
  return 2;  // not reached: abort ends the process
}

}  // namespace

int main(int argc, char** argv) {
  std::unique_ptr<RankGroup> ranks;
  const int code = cli::run_command("headlab-train", [&] {
    ranks = make_rank_group();
    return 0;
  });
  if (code != 0) return code;
  return cli::run_command("headlab-train", [&] { return train_main(argc, argv, *ranks); });
}
