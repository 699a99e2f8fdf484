// The ranks of MPI_COMM_WORLD (built only where CMake finds MPI: HEADLAB_HAVE_MPI).
#ifdef HEADLAB_HAVE_MPI
// The C API only: Open MPI would otherwise compile in its deprecated C++ bindings.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <limits>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/errors.h"
#include "train/rank_group.h"

namespace headlab {
namespace {

void check(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int n = 0;
  MPI_Error_string(code, text, &n);
  throw InternalError(std::string(what) + " failed: " + std::string(text, size_t(n)));
}

// Launched by mpirun (Open MPI, or a PMI launcher such as srun)? A plain launch is one rank and
// leaves MPI alone: Open MPI's singleton start would spawn a daemon for nothing.
bool launched_by_mpirun() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK"})
    if (std::getenv(v)) return true;
  return false;
}

int env_int(const char* name, int otherwise) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : otherwise;
}

class MpiWorld : public RankGroup {
 public:
  MpiWorld() {
    int provided = 0;
    // Serialized: the sums' thread (start_sum on_thread) calls MPI while the main thread computes.
    check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided), "MPI_Init_thread");
    thread_allowed_ = provided >= MPI_THREAD_SERIALIZED;
    // Errors come back as codes (turned into exceptions), not as MPI's own abort.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    check(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
    check(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
    local_rank_ = env_int("OMPI_COMM_WORLD_LOCAL_RANK", env_int("MPI_LOCALRANKID", env_int("SLURM_LOCALID", rank_)));
  }
  ~MpiWorld() override {
    if (worker_.joinable()) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
      }
      cv_.notify_all();
      worker_.join();
    }
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  bool is_mpi() const override { return true; }
  [[noreturn]] void abort(int code) override {
    MPI_Abort(MPI_COMM_WORLD, code);
    std::exit(code);
  }

  void sum(float* data, int64_t n, Backend& backend, Reduction how) override {
    if (size_ == 1 || n == 0) return;
    // A GPU's memory: summed there by the backend's own collectives (NCCL) where it has them.
    if (backend.device() != Device::cpu && how != Reduction::ordered && joined_collectives(backend)) {
      backend.all_reduce_sum(data, n);
      return;
    }
    // Host memory: MPI reads and writes the buffer itself. A GPU's otherwise: staged through the host.
    float* host = data;
    if (backend.device() != Device::cpu) {
      staging_.resize(size_t(n));
      backend.copy_to_host(staging_.data(), data, size_t(n) * sizeof(float));
      host = staging_.data();
    }
    if (how != Reduction::ordered)
      for (int64_t done = 0; done < n;) {
        const int count = int(std::min<int64_t>(n - done, int64_t(1) << 30));
        check(MPI_Allreduce(MPI_IN_PLACE, host + done, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
        done += count;
      }
    else
      ordered_sum(host, n);
    if (host != data) backend.copy_from_host(data, host, size_t(n) * sizeof(float));
  }

  void start_sum(float* data, int64_t n, bool on_thread) override {
    if (size_ == 1) return;
    if (on_thread && thread_allowed_) {
      if (!worker_.joinable()) worker_ = std::thread([this] { work(); });
      {
        std::lock_guard<std::mutex> lock(mu_);
        queue_.emplace_back(data, n);
      }
      cv_.notify_all();
      return;
    }
    for (int64_t done = 0; done < n;) {
      const int count = int(std::min<int64_t>(n - done, int64_t(1) << 30));
      requests_.push_back(MPI_REQUEST_NULL);
      check(MPI_Iallreduce(MPI_IN_PLACE, data + done, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &requests_.back()),
            "MPI_Iallreduce");
      done += count;
    }
  }

  void progress_sums() override {
    if (requests_.empty()) return;
    int done = 0;
    check(MPI_Testall(int(requests_.size()), requests_.data(), &done, MPI_STATUSES_IGNORE), "MPI_Testall");
    if (done) requests_.clear();
  }

  // As bounded as a blocking MPI_Allreduce: a rank that dies ends the job through mpirun.
  void wait_sums() override {
    if (worker_.joinable()) {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return queue_.empty() && !busy_; });
      const int code = error_;
      error_ = MPI_SUCCESS;
      lock.unlock();
      check(code, "MPI_Allreduce");
    }
    if (requests_.empty()) return;
    const int code = MPI_Waitall(int(requests_.size()), requests_.data(), MPI_STATUSES_IGNORE);
    requests_.clear();
    check(code, "MPI_Waitall");
  }

  void sum(double* data, int64_t n) override {
    if (size_ == 1 || n == 0) return;
    std::vector<double> all(size_t(n) * size_t(size_));
    check(MPI_Allgather(data, int(n), MPI_DOUBLE, all.data(), int(n), MPI_DOUBLE, MPI_COMM_WORLD), "MPI_Allgather");
    for (int64_t i = 0; i < n; ++i) {
      double s = 0;
      for (int r = 0; r < size_; ++r) s += all[size_t(r) * size_t(n) + size_t(i)];
      data[i] = s;
    }
  }

  int first_disagreeing(const std::string& text) override {
    std::string mine = text, root = text;
    int length = int(root.size());
    check(MPI_Bcast(&length, 1, MPI_INT, 0, MPI_COMM_WORLD), "MPI_Bcast");
    root.resize(size_t(length));
    check(MPI_Bcast(root.data(), length, MPI_CHAR, 0, MPI_COMM_WORLD), "MPI_Bcast");
    int differs = mine != root ? rank_ : size_;
    int first = size_;
    check(MPI_Allreduce(&differs, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD), "MPI_Allreduce");
    return first == size_ ? -1 : first;
  }

  std::string first_error(const std::string& mine) override {
    int failed = mine.empty() ? size_ : rank_;
    int first = size_;
    check(MPI_Allreduce(&failed, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD), "MPI_Allreduce");
    if (first == size_) return "";
    std::string text = rank_ == first ? mine : std::string();
    int length = int(text.size());
    check(MPI_Bcast(&length, 1, MPI_INT, first, MPI_COMM_WORLD), "MPI_Bcast");
    text.resize(size_t(length));
    check(MPI_Bcast(text.data(), length, MPI_CHAR, first, MPI_COMM_WORLD), "MPI_Bcast");
    return "rank " + std::to_string(first) + ": " + text;
  }

  std::vector<std::string> gather(const std::string& mine) override {
    if (mine.size() > size_t(std::numeric_limits<int>::max()))
      throw InternalError("gather: " + std::to_string(mine.size()) + " bytes from one rank (at most 2 GiB)");
    const int length = int(mine.size());
    std::vector<int> lengths(rank_ == 0 ? size_t(size_) : 0), offsets(lengths.size(), 0);
    check(MPI_Gather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, 0, MPI_COMM_WORLD), "MPI_Gather");
    std::string all;
    if (rank_ == 0) {
      int64_t total = 0;
      for (int r = 0; r < size_; ++r) offsets[size_t(r)] = int(total), total += lengths[size_t(r)];
      if (total > int64_t(std::numeric_limits<int>::max()))
        throw InternalError("gather: " + std::to_string(total) + " bytes from all ranks (at most 2 GiB)");
      all.resize(size_t(total));
    }
    check(MPI_Gatherv(mine.data(), length, MPI_CHAR, all.data(), lengths.data(), offsets.data(), MPI_CHAR, 0,
                      MPI_COMM_WORLD),
          "MPI_Gatherv");
    std::vector<std::string> out;
    for (int r = 0; r < int(lengths.size()); ++r)
      out.push_back(all.substr(size_t(offsets[size_t(r)]), size_t(lengths[size_t(r)])));
    return out;
  }

  void send_to_root(const float* data, int64_t n) override {
    for (int64_t done = 0; done < n;) {
      const int count = int(std::min<int64_t>(n - done, int64_t(1) << 30));
      check(MPI_Send(data + done, count, MPI_FLOAT, 0, kToRootTag, MPI_COMM_WORLD), "MPI_Send");
      done += count;
    }
  }

  void receive_from(int from, float* data, int64_t n) override {
    for (int64_t done = 0; done < n;) {
      const int count = int(std::min<int64_t>(n - done, int64_t(1) << 30));
      check(MPI_Recv(data + done, count, MPI_FLOAT, from, kToRootTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE), "MPI_Recv");
      done += count;
    }
  }

 private:
  static constexpr int kToRootTag = 17;

  // Whether `backend` sums across the ranks itself: on first use rank 0 asks it for an id (NCCL's
  // unique id), MPI carries it to every rank, and all join; an empty id (no NCCL) means no.
  bool joined_collectives(Backend& backend) {
    if (collective_backend_ == &backend) return true;
    if (collectives_tried_) return false;
    collectives_tried_ = true;
    std::string id = rank_ == 0 ? backend.collective_id() : std::string();
    int length = int(id.size());
    check(MPI_Bcast(&length, 1, MPI_INT, 0, MPI_COMM_WORLD), "MPI_Bcast");
    if (length == 0) return false;
    id.resize(size_t(length));
    check(MPI_Bcast(id.data(), length, MPI_CHAR, 0, MPI_COMM_WORLD), "MPI_Bcast");
    backend.join_collective(id, rank_, size_);
    collective_backend_ = &backend;
    return true;
  }

  // Chunk by chunk: rank 0 gathers every rank's chunk, adds them in rank order, broadcasts the sum.
  void ordered_sum(float* data, int64_t n) {
    constexpr int64_t kChunk = int64_t(1) << 20;
    std::vector<float> gathered(rank_ == 0 ? size_t(kChunk) * size_t(size_) : 0);
    for (int64_t done = 0; done < n; done += kChunk) {
      const int count = int(std::min(kChunk, n - done));
      check(MPI_Gather(data + done, count, MPI_FLOAT, gathered.data(), count, MPI_FLOAT, 0, MPI_COMM_WORLD),
            "MPI_Gather");
      if (rank_ == 0)
        for (int i = 0; i < count; ++i) {
          float s = gathered[size_t(i)];
          for (int r = 1; r < size_; ++r) s += gathered[size_t(r) * size_t(count) + size_t(i)];
          data[done + i] = s;
        }
      check(MPI_Bcast(data + done, count, MPI_FLOAT, 0, MPI_COMM_WORLD), "MPI_Bcast");
    }
  }

  // The sums' thread: a blocking MPI_Allreduce of each sum started on it, in order, while the main
  // thread computes; the main thread makes no MPI call until wait_sums has seen the queue empty, so
  // MPI_THREAD_SERIALIZED holds. A rank that dies ends the job through mpirun, as for any sum.
  void work() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;
      const std::pair<float*, int64_t> job = queue_.front();
      queue_.pop_front();
      busy_ = true;
      lock.unlock();
      int code = MPI_SUCCESS;
      for (int64_t done = 0; done < job.second && code == MPI_SUCCESS;) {
        const int count = int(std::min<int64_t>(job.second - done, int64_t(1) << 30));
        code = MPI_Allreduce(MPI_IN_PLACE, job.first + done, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        done += count;
      }
      lock.lock();
      busy_ = false;
      if (code != MPI_SUCCESS && error_ == MPI_SUCCESS) error_ = code;
      cv_.notify_all();
    }
  }
  bool thread_allowed_ = false;
  std::thread worker_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<float*, int64_t>> queue_;
  bool busy_ = false, stop_ = false;
  int error_ = MPI_SUCCESS;

  int rank_ = 0, size_ = 1, local_rank_ = 0;
  std::vector<float> staging_;
  std::vector<MPI_Request> requests_;  // the started sums not yet waited for
  Backend* collective_backend_ = nullptr;
  bool collectives_tried_ = false;
};

}  // namespace

std::unique_ptr<RankGroup> make_rank_group() {
  if (!launched_by_mpirun()) return single_process_group();
  return std::make_unique<MpiWorld>();
}

bool built_with_mpi() { return true; }

}  // namespace headlab
#endif  // HEADLAB_HAVE_MPI
