// The CPU backend's plumbing (devices, memory, element-wise ops), bitwise determinism of the
// reductions behind parameter gradients, and the vectorisable exp that the softmaxes use.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "core/errors.h"
#include "model/backend.h"
#include "model/cpu/vector_math.h"
#include "tests/model/cpu_test_util.h"

namespace headlab {
namespace {

using testing::all_near;
using testing::random_floats;

TEST(CpuBackendTest, ParsesDeviceNamesAndRejectsOthers) {
  EXPECT_EQ(parse_device("cpu"), Device::cpu);
  EXPECT_EQ(parse_device("cuda"), Device::cuda);
  EXPECT_THROW(parse_device("gpu"), InputError);
  EXPECT_THROW(parse_device("CPU"), InputError);
  EXPECT_EQ(to_string(Device::cpu), "cpu");
  EXPECT_EQ(to_string(Device::cuda), "cuda");
}

TEST(CpuBackendTest, MakesCpuBackendWithThreadCountInName) {
  auto be = make_backend(Device::cpu, 2);
  EXPECT_EQ(be->device(), Device::cpu);
  EXPECT_EQ(be->name().rfind("cpu (2 threads, oneDNN ", 0), 0u) << be->name();
  EXPECT_THROW(make_cpu_backend(-1), InputError);
  EXPECT_THROW(make_cpu_backend(100000), InputError);  // would crash creating the OpenMP team
}

#ifndef HEADLAB_HAVE_CUDA
TEST(CpuBackendTest, CudaWithoutCudaBuildIsInputError) { EXPECT_THROW(make_backend(Device::cuda), InputError); }
#endif

TEST(CpuBackendTest, AllocationsAreAlignedAndZeroed) {
  auto be = make_cpu_backend(1);
  for (size_t bytes : {size_t{0}, size_t{1}, size_t{100}, size_t{1} << 20}) {
    auto* p = static_cast<unsigned char*>(be->alloc_bytes(bytes));
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
    for (size_t i = 0; i < bytes; ++i) ASSERT_EQ(p[i], 0) << "byte " << i << " of " << bytes;
    be->free_bytes(p);
  }
}

TEST(CpuBackendTest, ReusedLargeBlocksComeBackZeroedAndOtherSizesReleaseThem) {
  auto be = make_cpu_backend(1);
  const size_t big = size_t(3) << 20;
  auto* first = static_cast<unsigned char*>(be->alloc_bytes(big));
  std::memset(first, 0xAB, big);
  be->free_bytes(first);
  // The same size again: the kept block, zeroed as every allocation is.
  auto* again = static_cast<unsigned char*>(be->alloc_bytes(big));
  EXPECT_EQ(again, first);
  for (size_t i = 0; i < big; ++i) ASSERT_EQ(again[i], 0) << "byte " << i;
  be->free_bytes(again);
  // Another large size releases what is kept (the pool never adds to the peak): all usable.
  auto* other = static_cast<unsigned char*>(be->alloc_bytes(big + 64));
  for (size_t i = 0; i < big + 64; ++i) ASSERT_EQ(other[i], 0) << "byte " << i;
  auto* third = static_cast<unsigned char*>(be->alloc_bytes(big));
  std::memset(third, 1, big);
  std::memset(other, 1, big + 64);
  be->free_bytes(other);
  be->free_bytes(third);
  be->free_bytes(nullptr);
}

TEST(CpuBackendTest, CopiesAndFillZero) {
  auto be = make_cpu_backend(1);
  const std::vector<float> src = random_floats(37, 1);
  auto* dev = static_cast<float*>(be->alloc_bytes(37 * sizeof(float)));
  auto* dev2 = static_cast<float*>(be->alloc_bytes(37 * sizeof(float)));
  be->copy_from_host(dev, src.data(), 37 * sizeof(float));
  be->copy(dev2, dev, 37 * sizeof(float));
  std::vector<float> back(37);
  be->copy_to_host(back.data(), dev2, 37 * sizeof(float));
  EXPECT_EQ(back, src);
  be->fill_zero(dev2, 37 * sizeof(float));
  be->copy_to_host(back.data(), dev2, 37 * sizeof(float));
  EXPECT_EQ(back, std::vector<float>(37, 0.0f));
  be->free_bytes(dev);
  be->free_bytes(dev2);
}

TEST(CpuElementwiseTest, AddScaleAndAxpyMatchReference) {
  auto be = make_cpu_backend(2);
  const int64_t n = 1037;
  const std::vector<float> a = random_floats(n, 2), b = random_floats(n, 3);
  std::vector<double> sum(n), scaled(n), axpy(n);
  for (int64_t i = 0; i < n; ++i) {
    sum[i] = double(a[i]) + b[i];
    scaled[i] = double(a[i]) * -1.5;
    axpy[i] = double(a[i]) + 0.25 * b[i];
  }
  std::vector<float> out(n);
  be->add(out.data(), a.data(), b.data(), n);
  EXPECT_TRUE(all_near(out, sum, 1e-7, 0.0));
  out = a;
  be->add_inplace(out.data(), b.data(), n);
  EXPECT_TRUE(all_near(out, sum, 1e-7, 0.0));
  out = a;
  be->scale_inplace(out.data(), -1.5f, n);
  EXPECT_TRUE(all_near(out, scaled, 1e-7, 0.0));
  out = a;
  be->axpy(out.data(), 0.25f, b.data(), n);
  EXPECT_TRUE(all_near(out, axpy, 1e-7, 1e-7));
}

// Training must be bitwise reproducible: every reduction into a parameter gradient gives the
// same bits when run again, and (by its column split) for any thread count.
TEST(CpuDeterminismTest, ParameterGradientReductionsRepeatBitForBit) {
  const int64_t N = 515, C = 768, V = 50, B = 5, T = 103;  // N = B*T rows
  const std::vector<float> inp = random_floats(N * C, 1), dout = random_floats(N * C, 2);
  const std::vector<float> weight = random_floats(C, 3), bias = random_floats(C, 4);
  std::vector<int32_t> tokens(N);
  for (int64_t i = 0; i < N; ++i) tokens[i] = static_cast<int32_t>((i * 7) % V);

  auto run_all = [&](int threads) {
    auto be = make_cpu_backend(threads);
    std::vector<float> out(N * C), mean(N), rstd(N), dinp(N * C), dw(C), db(C), drms(C), dbias(C), dW_E(V * C),
        dW_pos(T * C);
    be->layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), weight.data(), bias.data(), N, C, 1e-5f);
    be->layernorm_backward(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), weight.data(), mean.data(),
                           rstd.data(), N, C);
    be->rmsnorm_forward(out.data(), rstd.data(), inp.data(), weight.data(), N, C, 1e-5f);
    be->rmsnorm_backward(dinp.data(), drms.data(), dout.data(), inp.data(), weight.data(), rstd.data(), N, C);
    be->bias_backward(dbias.data(), dout.data(), N, C);
    be->embedding_backward(dW_E.data(), dout.data(), tokens.data(), N, C);
    be->pos_embedding_backward(dW_pos.data(), dout.data(), B, T, C);
    const double norm = be->sum_squares(dout.data(), N * C);
    return std::make_pair(std::vector<std::vector<float>>{dw, db, drms, dbias, dW_E, dW_pos}, norm);
  };
  const auto first = run_all(2);
  const auto again = run_all(2), one_thread = run_all(1);
  EXPECT_EQ(again.first, first.first);
  EXPECT_EQ(std::memcmp(&again.second, &first.second, sizeof(double)), 0);
  EXPECT_EQ(one_thread.first, first.first);
  EXPECT_EQ(std::memcmp(&one_thread.second, &first.second, sizeof(double)), 0);
}

TEST(CpuVectorMathTest, ExpIsWithinTwoUlpOfStdExp) {
  for (float x = -87.0f; x < 88.0f; x += 0.0137f) {
    const float expected = std::exp(x);
    const float got = cpu::exp_simd(x);
    ASSERT_LE(std::abs(got - expected), 2.0f * (std::nextafter(expected, INFINITY) - expected)) << "x=" << x;
  }
  EXPECT_EQ(cpu::exp_simd(0.0f), 1.0f);
  EXPECT_EQ(cpu::exp_simd(-100.0f), 0.0f);
  EXPECT_EQ(cpu::exp_simd(-std::numeric_limits<float>::infinity()), 0.0f);
  EXPECT_TRUE(std::isnan(cpu::exp_simd(std::numeric_limits<float>::quiet_NaN())));
}

TEST(CpuVectorMathTest, TanhAndSigmoidMatchStd) {
  for (float x = -20.0f; x < 20.0f; x += 0.0071f) {
    ASSERT_NEAR(cpu::tanh_simd(x), std::tanh(x), 2e-7) << "x=" << x;
    ASSERT_NEAR(cpu::sigmoid_simd(x), 1.0 / (1.0 + std::exp(-double(x))), 2e-7) << "x=" << x;
  }
}

}  // namespace
}  // namespace headlab
