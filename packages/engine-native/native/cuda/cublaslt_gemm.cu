// The only file that talks to cuBLASLt. Row-major Y[M,N] = X[M,K]·W[N,K]ᵀ is the column-major product
// Yᶜ[N,M] = (Wᶜ[K,N])ᵀ · Xᶜ[K,M], so A = W with transa = T and B = X with transb = N.
#include <cublasLt.h>

#include <string>

#include "../common/engine.h"
#include "../common/memory_plan.h"
#include "cuda_check.h"
#include "gemm.h"

namespace grail {
namespace cuda {
namespace {

void lt_check(cublasStatus_t st, const char* what, int line) {
  if (st == CUBLAS_STATUS_SUCCESS) return;
  if (st == CUBLAS_STATUS_ALLOC_FAILED) {
    throw EngineException("out_of_memory", std::string("cuBLASLt could not allocate memory in ") + what);
  }
  throw EngineException("cuda_error", std::string("cuBLASLt error ") + std::to_string(static_cast<int>(st)) + " in " +
                                          what + " (cublaslt_gemm.cu:" + std::to_string(line) + ")");
}
#define LT_CHECK(expr) lt_check((expr), #expr, __LINE__)

}  // namespace

struct LtGemm::Plan {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  ~Plan() {
    if (op) cublasLtMatmulDescDestroy(op);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (c) cublasLtMatrixLayoutDestroy(c);
  }
};

LtGemm::LtGemm(cudaStream_t stream) : stream_(stream) {
  cublasLtHandle_t h;
  LT_CHECK(cublasLtCreate(&h));
  handle_ = h;
  workspaceBytes_ = kGemmWorkspaceBytes;
  CUDA_CHECK(cudaMalloc(&workspace_, workspaceBytes_));
}

LtGemm::~LtGemm() {
  plans_.clear();
  if (workspace_) cudaFree(workspace_);
  if (handle_) cublasLtDestroy(static_cast<cublasLtHandle_t>(handle_));
}

void LtGemm::run(const __nv_bfloat16* X, int64_t M, int K, const __nv_bfloat16* W, int N, const __nv_bfloat16* bias,
                 __nv_bfloat16* Y, int64_t ldy) {
  if (M == 0) return;
  auto key = std::make_tuple(M, K, N, ldy, bias != nullptr);
  auto it = plans_.find(key);
  if (it == plans_.end()) {
    if (plans_.size() >= 512) plans_.clear();  // batch sizes vary; keep the cache bounded
    auto plan = std::make_unique<Plan>();
    LT_CHECK(cublasLtMatmulDescCreate(&plan->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    LT_CHECK(cublasLtMatmulDescSetAttribute(plan->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    LT_CHECK(cublasLtMatmulDescSetAttribute(plan->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    if (bias != nullptr) {
      const cublasLtEpilogue_t ep = CUBLASLT_EPILOGUE_BIAS;
      LT_CHECK(cublasLtMatmulDescSetAttribute(plan->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &ep, sizeof ep));
      const cudaDataType_t bt = CUDA_R_16BF;
      LT_CHECK(cublasLtMatmulDescSetAttribute(plan->op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt, sizeof bt));
    }
    LT_CHECK(cublasLtMatrixLayoutCreate(&plan->a, CUDA_R_16BF, K, N, K));
    LT_CHECK(cublasLtMatrixLayoutCreate(&plan->b, CUDA_R_16BF, K, M, K));
    LT_CHECK(cublasLtMatrixLayoutCreate(&plan->c, CUDA_R_16BF, N, M, ldy));
    cublasLtMatmulPreference_t pref;
    LT_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    LT_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspaceBytes_,
                                                  sizeof workspaceBytes_));
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    const cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(static_cast<cublasLtHandle_t>(handle_), plan->op,
                                                             plan->a, plan->b, plan->c, plan->c, pref, 1, &result,
                                                             &found);
    cublasLtMatmulPreferenceDestroy(pref);
    LT_CHECK(st);
    if (found == 0) {
      throw EngineException("cuda_error", "cuBLASLt has no algorithm for a bf16 GEMM of M=" + std::to_string(M) +
                                              " N=" + std::to_string(N) + " K=" + std::to_string(K));
    }
    plan->algo = result.algo;
    it = plans_.emplace(key, std::move(plan)).first;
  }
  Plan& p = *it->second;
  if (bias != nullptr) {
    LT_CHECK(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
  }
  const float alpha = 1.f, beta = 0.f;
  LT_CHECK(cublasLtMatmul(static_cast<cublasLtHandle_t>(handle_), p.op, &alpha, W, p.a, X, p.b, &beta, Y, p.c, Y, p.c,
                          &p.algo, workspace_, workspaceBytes_, stream_));
}

}  // namespace cuda
}  // namespace grail
