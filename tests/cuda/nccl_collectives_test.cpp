// The CUDA backend's collectives (NCCL): one rank's sum leaves its buffer as it is, and two
// processes on two GPUs each end with the sum of both buffers, bit for bit the float sum. Skipped
// without a GPU, without NCCL in the build, and (the second) on a machine with fewer than two GPUs:
// NCCL refuses two ranks of one communicator on the same device.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/errors.h"
#include "model/backend.h"

namespace headlab {
namespace {

std::unique_ptr<Backend> cuda_or_skip_reason(int ordinal, std::string* why) {
  try {
    return make_cuda_backend(ordinal);
  } catch (const InputError& e) {
    *why = e.what();
    return nullptr;
  }
}

std::vector<float> values(int seed, size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = float((i * 2654435761u + unsigned(seed) * 40503u) % 1000) / 37.0f - 13.0f;
  return v;
}

// The round trip of `host` through all_reduce_sum on `be`, joined as rank `rank` of `size`.
std::vector<float> summed(Backend& be, const std::string& id, int rank, int size, const std::vector<float>& host) {
  be.join_collective(id, rank, size);
  float* d = static_cast<float*>(be.alloc_bytes(host.size() * sizeof(float)));
  be.copy_from_host(d, host.data(), host.size() * sizeof(float));
  be.all_reduce_sum(d, int64_t(host.size()));
  std::vector<float> out(host.size());
  be.copy_to_host(out.data(), d, out.size() * sizeof(float));
  be.free_bytes(d);
  return out;
}

TEST(CudaCollectivesTest, OneRanksSumLeavesItsBuffer) {
  std::string why;
  auto be = cuda_or_skip_reason(0, &why);
  if (!be) GTEST_SKIP() << why;
  const std::string id = be->collective_id();
  if (id.empty()) GTEST_SKIP() << "headlab was built without NCCL";
  const std::vector<float> v = values(1, 100003);
  EXPECT_EQ(summed(*be, id, 0, 1, v), v);
}

TEST(CudaCollectivesTest, TwoProcessesOnTwoGpusEachGetTheSum) {
  // Counted without touching CUDA: a process that forks after initialising CUDA cannot use it in the child.
  int gpus = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/driver/nvidia/gpus", ec)) gpus += e.exists() ? 1 : 0;
  if (gpus < 2) GTEST_SKIP() << "needs two GPUs (" << gpus << " here)";
  int to_child[2];
  ASSERT_EQ(::pipe(to_child), 0);
  const size_t n = 1 << 20;
  const std::vector<float> a = values(1, n), b = values(2, n);
  std::vector<float> expected(n);
  for (size_t i = 0; i < n; ++i) expected[i] = a[i] + b[i];
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // rank 1 on GPU 1: reads the id, sums, reports through its exit status
    ::close(to_child[1]);
    std::string id(128, '\0');
    size_t got = 0;
    while (got < id.size()) {
      const ssize_t r = ::read(to_child[0], id.data() + got, id.size() - got);
      if (r <= 0) ::_exit(3);
      got += size_t(r);
    }
    try {
      auto be = make_cuda_backend(1);
      ::_exit(summed(*be, id, 1, 2, b) == expected ? 0 : 1);
    } catch (...) {
      ::_exit(2);
    }
  }
  ::close(to_child[0]);
  auto be = make_cuda_backend(0);
  const std::string id = be->collective_id();
  if (id.empty()) {
    ::close(to_child[1]);
    ::waitpid(child, nullptr, 0);
    GTEST_SKIP() << "headlab was built without NCCL";
  }
  ASSERT_EQ(id.size(), 128u);
  ASSERT_EQ(::write(to_child[1], id.data(), id.size()), ssize_t(id.size()));
  ::close(to_child[1]);
  EXPECT_EQ(summed(*be, id, 0, 2, a), expected);
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "rank 1's exit status " << status;
}

}  // namespace
}  // namespace headlab
