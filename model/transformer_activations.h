// Private to the transformer's .cpp files: the activations one forward keeps for backward.
#pragma once
#include <algorithm>
#include <vector>

#include "model/transformer.h"

namespace headlab {

// Everything forward keeps for backward, plus scratch, sized for one (B, T). Backend memory.
struct Transformer::Activations {
  struct Block {
    float* ln1_out = nullptr;    // [BT, D] (null when normalization_type = none: ln1_out is resid_pre)
    float* ln1_mean = nullptr;   // [BT]
    float* ln1_rstd = nullptr;   // [BT]
    float* qkv = nullptr;        // [B, T, 3, H, dh] after rotary
    float* pattern = nullptr;    // [B, H, T, T]
    float* z = nullptr;          // [B, T, H, dh]
    float* resid_mid = nullptr;  // [BT, D] (MLP models)
    float *ln2_out = nullptr, *ln2_mean = nullptr, *ln2_rstd = nullptr;
    float* mlp_pre = nullptr;   // [BT, M]
    float* mlp_post = nullptr;  // [BT, M]
    // hook_mlp_in [BT, D]: the MLP's own copy of resid_mid, formed only when hooked (allocated on
    // first use); mlp_in_used says whether the last forward of this block read it.
    float* mlp_in = nullptr;
    bool mlp_in_used = false;
    // Whether the last forward ran the split q/k/v path (a forward hook on a q/k/v input asked):
    // its backward must then go through the per-head copies it kept.
    bool qkv_split = false;
  };
  Backend& be;
  std::vector<void*> owned;
  int B = 0, T = 0;
  int32_t* tokens = nullptr;   // [BT]
  int32_t* targets = nullptr;  // [BT]
  std::vector<float*> resid;   // L+1 × [BT, D]; resid[l] = resid_pre of block l, resid[L] = final
  std::vector<Block> blocks;
  float *lnf_out = nullptr, *lnf_mean = nullptr, *lnf_rstd = nullptr;
  bool norm_changed_by_hook = false;  // a forward hook changed a norm's scale or normalized value
  float* logits = nullptr;            // [BT, V]; turned into dlogits in place by backward
  float* lse = nullptr;               // [BT]
  float* losses = nullptr;            // [BT]
  float* dloss = nullptr;             // [BT]
  float* ones = nullptr;              // [max(BT, D)] of 1: a broadcasting operand for matmul
  // scratch
  float* out_D = nullptr;     // [BT, D]: attention / MLP output before the residual add
  float* dresid = nullptr;    // [BT, D]
  float* dtmp = nullptr;      // [BT, D]
  float* dnorm = nullptr;     // [BT, D]
  float* dqkv = nullptr;      // [BT, 3 H dh]
  float* dpattern = nullptr;  // [B, H, T, T]
  float* dz = nullptr;        // [BT, H dh]
  float* dmlp_a = nullptr;    // [BT, M]
  float* dmlp_b = nullptr;    // [BT, M]
  // hook scratch, grown on demand (not in `owned`: a larger request replaces it)
  float* hook_buf = nullptr;
  int64_t hook_buf_size = 0;
  float* hook_buf2 = nullptr;
  int64_t hook_buf2_size = 0;
  float* hook_buf3 = nullptr;
  int64_t hook_buf3_size = 0;
  // Split q/k/v inputs (only when a hook asks for hook_{q,k,v}_input of a block): per block, per
  // which (q, k, v) and head, the head's own input [BT, D], its normalised input [BT, D] and the
  // norm's statistics [BT]. Allocated on first use, kept with the activations.
  struct SplitInputs {
    std::vector<float*> x, ln_out, mean, rstd;  // index (which * H + h)
    float* dw = nullptr;                        // [D, dh] scratch for one slice's weight gradient
    float* gw = nullptr;                        // [D, dh] scratch
  };
  std::vector<SplitInputs> split;  // per block; empty vectors until used

  explicit Activations(Backend& b) : be(b) {}
  Activations(const Activations&) = delete;
  Activations& operator=(const Activations&) = delete;
  ~Activations() {
    for (void* p : owned) be.free_bytes(p);
    if (hook_buf) be.free_bytes(hook_buf);
    if (hook_buf2) be.free_bytes(hook_buf2);
    if (hook_buf3) be.free_bytes(hook_buf3);
  }
  float* f(int64_t n) {
    void* p = be.alloc_bytes(size_t(std::max<int64_t>(n, 1)) * sizeof(float));
    owned.push_back(p);
    return static_cast<float*>(p);
  }
  int32_t* i32(int64_t n) {
    void* p = be.alloc_bytes(size_t(std::max<int64_t>(n, 1)) * sizeof(int32_t));
    owned.push_back(p);
    return static_cast<int32_t*>(p);
  }
  float* scratch(float*& buf, int64_t& size, int64_t n) {
    if (size < n) {
      if (buf) be.free_bytes(buf);
      buf = static_cast<float*>(be.alloc_bytes(size_t(n) * sizeof(float)));
      size = n;
    }
    return buf;
  }
};

}  // namespace headlab
