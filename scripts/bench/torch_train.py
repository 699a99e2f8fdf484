#!/usr/bin/python3
"""PyTorch baseline for scripts/bench/train_throughput.sh: the same model shape, the same
training step (forward, mean next-token cross-entropy, backward, AdamW), on random tokens.

    python3 torch_train.py --shape toy|small|gpt2 --threads 2 --steps 20 [--bf16]

Prints one line: `torch <shape> tokens/s <x> gflops <y> blas <name>`.
"""
import argparse
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

SHAPES = {
    # name: n_layers, d_model, n_heads, d_mlp (0 = attention-only), n_ctx, d_vocab, batch
    "toy": (2, 128, 4, 0, 128, 512, 32),
    "small": (4, 256, 8, 1024, 256, 4096, 16),
    "gpt2": (12, 768, 12, 3072, 256, 50257, 4),
}


class Block(nn.Module):
    def __init__(self, d, h, m):
        super().__init__()
        self.h = h
        self.ln1 = nn.LayerNorm(d, eps=1e-5)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.m = m
        if m:
            self.ln2 = nn.LayerNorm(d, eps=1e-5)
            self.fc = nn.Linear(d, m)
            self.out = nn.Linear(m, d)

    def forward(self, x):
        B, T, D = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(D, dim=2)
        q, k, v = (t.view(B, T, self.h, D // self.h).transpose(1, 2) for t in (q, k, v))
        # The explicit form (PyTorch 1.13 has no fused CPU attention kernel worth using here).
        att = (q @ k.transpose(-2, -1)) / math.sqrt(D // self.h)
        mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        z = (att @ v).transpose(1, 2).reshape(B, T, D)
        x = x + self.proj(z)
        if self.m:
            x = x + self.out(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))
        return x


class Model(nn.Module):
    def __init__(self, L, d, h, m, n_ctx, V):
        super().__init__()
        self.wte = nn.Embedding(V, d)
        self.wpe = nn.Embedding(n_ctx, d)
        self.blocks = nn.ModuleList([Block(d, h, m) for _ in range(L)])
        self.lnf = nn.LayerNorm(d, eps=1e-5)
        self.head = nn.Linear(d, V)

    def forward(self, idx):
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(T))
        for b in self.blocks:
            x = b(x)
        return self.head(self.lnf(x))


def blas_name():
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "blas" in line.lower() or "mkl" in line.lower()}
        names = sorted({l.rsplit("/", 1)[-1] for l in libs if l.startswith("/")})
        return ",".join(names) or "unknown"
    except OSError:
        return "unknown"


def model_flops_per_token(L, d, h, m, n_ctx, V):
    # 6 x matmul parameters + attention (6 x L x n_ctx x d for forward + backward), as llm.c counts.
    mlp = 2 * d * m if m else 0
    matmul_params = L * (4 * d * d + mlp) + d * V
    return 6 * matmul_params + 6 * L * n_ctx * d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", choices=SHAPES, required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--bf16", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    L, d, h, m, n_ctx, V, B = SHAPES[a.shape]
    model = Model(L, d, h, m, n_ctx, V)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.1)
    data = torch.randint(0, V, (B, n_ctx + 1))
    x, y = data[:, :-1], data[:, 1:]

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
            logits = model(x)
            loss = F.cross_entropy(logits.float().view(-1, V), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(a.warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    dt = time.perf_counter() - t0
    tps = a.steps * B * n_ctx / dt
    gflops = tps * model_flops_per_token(L, d, h, m, n_ctx, V) / 1e9
    print(f"torch {a.shape} tokens/s {tps:.1f} gflops {gflops:.1f} blas {blas_name()}"
          f" dtype {'bf16-autocast' if a.bf16 else 'f32'}")


if __name__ == "__main__":
    main()
