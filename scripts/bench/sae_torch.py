#!/usr/bin/python3
"""The same SAE training step in PyTorch (f32, CPU), as SAELens computes it: encode
(x - b_dec) @ W_enc + b_enc; relu / topk (with rescale_acts_by_decoder_norm) / batchtopk / jumprelu;
dense decode; MSE summed over d_in and averaged over the batch; the sparsity term; backward;
clip_grad_norm_(1.0); torch.optim.Adam. Prints the same line as headlab-bench-sae.

    sae_torch.py ARCH D_IN EXPANSION BATCH K STEPS THREADS
"""
import sys
import time

import torch


def main():
    arch, d_in, exp, batch, k, steps, threads = sys.argv[1], *map(int, sys.argv[2:8])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    d_sae = d_in * exp
    W_dec = torch.nn.init.kaiming_uniform_(torch.empty(d_sae, d_in))
    W_dec = (W_dec / W_dec.norm(dim=-1, keepdim=True) * 0.1)
    params = {
        "W_enc": W_dec.t().clone().requires_grad_(),
        "b_enc": torch.zeros(d_sae, requires_grad=True),
        "W_dec": W_dec.clone().requires_grad_(),
        "b_dec": torch.zeros(d_in, requires_grad=True),
    }
    if arch == "jumprelu":
        params["log_threshold"] = torch.full((d_sae,), float(torch.log(torch.tensor(0.01))), requires_grad=True)
    opt = torch.optim.Adam(params.values(), lr=3e-4)
    rows = torch.randn(8 * batch, d_in)
    rows *= (d_in ** 0.5) / rows.norm(dim=-1).mean()
    bw = 0.05

    class JumpReLU(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, t):
            ctx.save_for_backward(x, t)
            return x * (x > t)

        @staticmethod
        def backward(ctx, g):
            x, t = ctx.saved_tensors
            rect = (((x - t) / bw).abs() < 0.5).to(x)
            return (x > t) * g, (-(t / bw) * rect * g).sum(0)

    class Step(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, t):
            ctx.save_for_backward(x, t)
            return (x > t).to(x)

        @staticmethod
        def backward(ctx, g):
            x, t = ctx.saved_tensors
            rect = (((x - t) / bw).abs() < 0.5).to(x)
            return None, (-(1 / bw) * rect * g).sum(0)

    def step(i):
        p = params
        x = rows[(i % 8) * batch:(i % 8 + 1) * batch]
        h = (x - p["b_dec"]) @ p["W_enc"] + p["b_enc"]
        extra = 0.0
        if arch == "relu":
            a = torch.relu(h)
            out = a @ p["W_dec"] + p["b_dec"]
            extra = (a * p["W_dec"].norm(dim=1)).sum(-1).mean()
        elif arch == "jumprelu":
            t = torch.exp(p["log_threshold"])
            a = JumpReLU.apply(h, t)
            out = a @ p["W_dec"] + p["b_dec"]
            extra = Step.apply(h, t).sum(-1).mean()
        else:
            n = p["W_dec"].norm(dim=-1)
            h = h * n
            if arch == "topk":
                top = torch.topk(h, k, dim=-1)
                a = torch.zeros_like(h).scatter(-1, top.indices, torch.relu(top.values))
            else:
                flat = torch.relu(h).flatten()
                top = torch.topk(flat, k * batch)
                a = torch.zeros_like(flat).scatter(-1, top.indices, top.values).reshape(h.shape)
            out = (a * (1 / n)) @ p["W_dec"] + p["b_dec"]
        loss = (out - x).pow(2).sum(-1).mean() + extra
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params.values(), 1.0)
        opt.step()
        return (a > 0).float().sum(-1).mean().item()

    step(0)
    step(1)
    t0 = time.perf_counter()
    for i in range(steps):
        l0 = step(i + 2)
    secs = time.perf_counter() - t0
    print(f"arch {arch} d_in {d_in} d_sae {d_sae} batch {batch} tokens/s {steps * batch / secs:.0f} "
          f"sec/step {secs / steps:.4f} l0 {l0:.1f}")


if __name__ == "__main__":
    main()
