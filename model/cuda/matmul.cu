// Matrix products through cuBLASLt (f32, and bf16 inputs with f32 accumulation), with a plan
// per shape built once: the descriptors and the algorithm cuBLASLt's heuristic picked. Reusing
// the same algorithm for the same shape also keeps results bitwise the same from step to step.
// cuBLAS (cublasGemmEx) is the fallback when cuBLASLt offers no algorithm.
//
// Row-major trick: cuBLAS is column-major, and a row-major X[r,c] is the column-major Xᵀ. So
// C = op(A)·op(B) (row-major) is computed as Cᵀ = op(B)ᵀ·op(A)ᵀ (column-major): cuBLAS's "A" is
// our B, its "B" is our A, and its m, n are our N, M.
#include <cuda_bf16.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "model/cuda/column_reduce.cuh"
#include "model/cuda/cuda_check.cuh"
#include "model/cuda/kernels.cuh"

namespace headlab::cuda {

namespace {

enum class Element { f32, bf16 };

int alignment_of(const void* p) {
  const auto v = reinterpret_cast<uintptr_t>(p);
  if (v == 0) return 256;
  return static_cast<int>(std::min<uintptr_t>(256, v & (~v + 1)));
}

struct PlanKey {
  Element element;
  int64_t M, N, K;
  Transpose ta, tb;
  bool bias_epilogue;
  int align_a, align_b, align_c;
  bool operator<(const PlanKey& o) const {
    return std::tie(element, M, N, K, ta, tb, bias_epilogue, align_a, align_b, align_c) <
           std::tie(o.element, o.M, o.N, o.K, o.ta, o.tb, o.bias_epilogue, o.align_a, o.align_b, o.align_c);
  }
};

// One shape's cuBLASLt objects. `has_algo` false: cuBLASLt offered nothing, use cuBLAS.
struct Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t layout_b = nullptr;  // cuBLAS's A: our B
  cublasLtMatrixLayout_t layout_a = nullptr;  // cuBLAS's B: our A
  cublasLtMatrixLayout_t layout_c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  bool has_algo = false;
  Plan() = default;
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;
  ~Plan() {
    if (layout_c) cublasLtMatrixLayoutDestroy(layout_c);
    if (layout_a) cublasLtMatrixLayoutDestroy(layout_a);
    if (layout_b) cublasLtMatrixLayoutDestroy(layout_b);
    if (desc) cublasLtMatmulDescDestroy(desc);
  }
};

}  // namespace

class MatmulPlanCache {
 public:
  Plan* find(const PlanKey& key) {
    auto it = plans_.find(key);
    return it == plans_.end() ? nullptr : it->second.get();
  }
  Plan* insert(const PlanKey& key, std::unique_ptr<Plan> plan) { return (plans_[key] = std::move(plan)).get(); }

 private:
  std::map<PlanKey, std::unique_ptr<Plan>> plans_;
};

namespace {

cudaDataType_t cuda_type(Element e) { return e == Element::f32 ? CUDA_R_32F : CUDA_R_16BF; }
cublasOperation_t cublas_op(Transpose t) { return t == Transpose::yes ? CUBLAS_OP_T : CUBLAS_OP_N; }

int checked_int(int64_t v, const char* what) {
  if (v < 0 || v > INT_MAX)
    throw InternalError(std::string("matmul: ") + what + " = " + std::to_string(v) + " does not fit cuBLAS's int");
  return static_cast<int>(v);
}

std::unique_ptr<Plan> build_plan(CudaContext& ctx, const PlanKey& key) {
  auto plan = std::make_unique<Plan>();
  const cudaDataType_t in_type = cuda_type(key.element);
  HEADLAB_CUBLAS_CHECK(cublasLtMatmulDescCreate(&plan->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t op_first = cublas_op(key.tb), op_second = cublas_op(key.ta);
  HEADLAB_CUBLAS_CHECK(
      cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_first, sizeof op_first));
  HEADLAB_CUBLAS_CHECK(
      cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_second, sizeof op_second));
  if (key.bias_epilogue) {
    const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
    HEADLAB_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof epilogue));
    const cudaDataType_t bias_type = CUDA_R_32F;
    HEADLAB_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type, sizeof bias_type));
  }
  // Stored shapes, column-major view: our B is [N,K] (ld N) or, transposed, [K,N] (ld K); our A
  // is [K,M] (ld K) or [M,K] (ld M); C is [N,M] (ld N).
  const uint64_t M = key.M, N = key.N, K = key.K;
  if (key.tb == Transpose::no)
    HEADLAB_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->layout_b, in_type, N, K, key.N));
  else
    HEADLAB_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->layout_b, in_type, K, N, key.K));
  if (key.ta == Transpose::no)
    HEADLAB_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->layout_a, in_type, K, M, key.K));
  else
    HEADLAB_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->layout_a, in_type, M, K, key.M));
  HEADLAB_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->layout_c, CUDA_R_32F, N, M, key.N));

  cublasLtMatmulPreference_t pref = nullptr;
  HEADLAB_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  const size_t workspace = ctx.lt_workspace_bytes();
  const uint32_t align_first = key.align_b, align_second = key.align_a, align_c = key.align_c;
  cublasStatus_t status = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                               &workspace, sizeof workspace);
  if (status == CUBLAS_STATUS_SUCCESS)
    status = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_first,
                                                  sizeof align_first);
  if (status == CUBLAS_STATUS_SUCCESS)
    status = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_second,
                                                  sizeof align_second);
  if (status == CUBLAS_STATUS_SUCCESS)
    status = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_c,
                                                  sizeof align_c);
  if (status == CUBLAS_STATUS_SUCCESS)
    status = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_c,
                                                  sizeof align_c);
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  if (status == CUBLAS_STATUS_SUCCESS)
    status = cublasLtMatmulAlgoGetHeuristic(ctx.cublas_lt(), plan->desc, plan->layout_b, plan->layout_a, plan->layout_c,
                                            plan->layout_c, pref, 1, &result, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  // No algorithm (or a shape cuBLASLt rejects) is not an error: cuBLAS takes the product.
  if (status == CUBLAS_STATUS_SUCCESS && found > 0 && result.state == CUBLAS_STATUS_SUCCESS) {
    plan->algo = result.algo;
    plan->has_algo = true;
  } else if (status != CUBLAS_STATUS_SUCCESS && status != CUBLAS_STATUS_NOT_SUPPORTED) {
    throw_cuda_failure(__FILE__, __LINE__, "cublasLtMatmulAlgoGetHeuristic", cublas_error_text(status));
  }
  return plan;
}

// C[M,N] += bias[N] broadcast over rows.
__global__ void add_bias_rows_kernel(float* C, const float* bias, int64_t M, int64_t N) {
  const int64_t total = M * N;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < total; i += int64_t{gridDim.x} * blockDim.x)
    C[i] += bias[i % N];
}

void add_bias_rows(CudaContext& ctx, float* C, const float* bias, int64_t M, int64_t N) {
  add_bias_rows_kernel<<<grid_for(M * N, 256), 256, 0, ctx.stream()>>>(C, bias, M, N);
  HEADLAB_CUDA_CHECK_LAUNCH("add_bias_rows_kernel");
}

void cublas_fallback(CudaContext& ctx, Element element, float* C, const void* A, const void* B, int64_t M, int64_t N,
                     int64_t K, Transpose ta, Transpose tb, float beta) {
  const float alpha = 1.0f;
  const int lda = checked_int(ta == Transpose::no ? K : M, "lda");
  const int ldb = checked_int(tb == Transpose::no ? N : K, "ldb");
  HEADLAB_CUBLAS_CHECK(cublasGemmEx(ctx.cublas(), cublas_op(tb), cublas_op(ta), checked_int(N, "N"),
                                    checked_int(M, "M"), checked_int(K, "K"), &alpha, B, cuda_type(element), ldb, A,
                                    cuda_type(element), lda, &beta, C, CUDA_R_32F, checked_int(N, "N"),
                                    CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

void matmul_any(CudaContext& ctx, Element element, float* C, const void* A, const void* B, const float* bias, int64_t M,
                int64_t N, int64_t K, Transpose ta, Transpose tb, Accumulate acc) {
  if (bias && acc == Accumulate::add) throw InternalError("matmul: a bias is only allowed with Accumulate::overwrite");
  if (M < 0 || N < 0 || K < 0) throw InternalError("matmul: negative dimension");
  if (M == 0 || N == 0) return;
  if (K == 0) {  // an empty sum: C = bias (or 0), or C unchanged
    if (acc == Accumulate::overwrite) {
      HEADLAB_CUDA_CHECK(cudaMemsetAsync(C, 0, sizeof(float) * M * N, ctx.stream()));
      if (bias) add_bias_rows(ctx, C, bias, M, N);
    }
    return;
  }
  const float alpha = 1.0f, beta = acc == Accumulate::add ? 1.0f : 0.0f;
  // The epilogue's bias read wants 16-byte alignment; otherwise the bias is a pass of its own.
  const bool bias_epilogue = bias && alignment_of(bias) >= 16;
  const PlanKey key{element, M, N, K, ta, tb, bias_epilogue, alignment_of(A), alignment_of(B), alignment_of(C)};
  auto& plans = ctx.matmul_plans();
  Plan* plan = plans.find(key);
  if (!plan) plan = plans.insert(key, build_plan(ctx, key));
  if (plan->has_algo) {
    if (bias_epilogue)
      HEADLAB_CUBLAS_CHECK(
          cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
    HEADLAB_CUBLAS_CHECK(cublasLtMatmul(ctx.cublas_lt(), plan->desc, &alpha, B, plan->layout_b, A, plan->layout_a,
                                        &beta, C, plan->layout_c, C, plan->layout_c, &plan->algo, ctx.lt_workspace(),
                                        ctx.lt_workspace_bytes(), ctx.stream()));
    if (bias && !bias_epilogue) add_bias_rows(ctx, C, bias, M, N);
  } else {
    cublas_fallback(ctx, element, C, A, B, M, N, K, ta, tb, beta);
    if (bias) add_bias_rows(ctx, C, bias, M, N);
  }
}

__global__ void f32_to_bf16_kernel(uint16_t* dst, const float* src, int64_t n) {
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    dst[i] = __bfloat16_as_ushort(__float2bfloat16_rn(src[i]));
}

}  // namespace

MatmulPlanCache* new_matmul_plan_cache() { return new MatmulPlanCache(); }
void delete_matmul_plan_cache(MatmulPlanCache* cache) { delete cache; }

void matmul_f32(CudaContext& ctx, float* C, const float* A, const float* B, const float* bias, int64_t M, int64_t N,
                int64_t K, Transpose ta, Transpose tb, Accumulate acc) {
  matmul_any(ctx, Element::f32, C, A, B, bias, M, N, K, ta, tb, acc);
}

void matmul_bf16(CudaContext& ctx, float* C, const uint16_t* A, const uint16_t* B, const float* bias, int64_t M,
                 int64_t N, int64_t K, Transpose ta, Transpose tb, Accumulate acc) {
  matmul_any(ctx, Element::bf16, C, A, B, bias, M, N, K, ta, tb, acc);
}

void convert_f32_to_bf16(CudaContext& ctx, uint16_t* dst, const float* src, int64_t n) {
  if (n <= 0) return;
  f32_to_bf16_kernel<<<grid_for(n, 256), 256, 0, ctx.stream()>>>(dst, src, n);
  HEADLAB_CUDA_CHECK_LAUNCH("f32_to_bf16_kernel");
}

void matmul_strided_batched(CudaContext& ctx, float* C, int64_t ldc, int64_t stride_c, StridedOperand A,
                            StridedOperand B, int64_t M, int64_t N, int64_t K, Transpose ta, Transpose tb, float alpha,
                            float beta, int64_t batch) {
  if (M == 0 || N == 0 || batch == 0) return;
  HEADLAB_CUBLAS_CHECK(cublasSgemmStridedBatched(
      ctx.cublas(), cublas_op(tb), cublas_op(ta), checked_int(N, "N"), checked_int(M, "M"), checked_int(K, "K"), &alpha,
      B.data, checked_int(B.ld, "ldb"), B.stride, A.data, checked_int(A.ld, "lda"), A.stride, &beta, C,
      checked_int(ldc, "ldc"), stride_c, checked_int(batch, "batch")));
}

void bias_backward(CudaContext& ctx, float* dbias, const float* dout, int64_t M, int64_t N) {
  column_sums_add<1>(ctx, ColumnOutputs<1>{{dbias}}, PlainRows{dout, N}, M, N);
}

}  // namespace headlab::cuda
