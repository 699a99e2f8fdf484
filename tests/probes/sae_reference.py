#!/usr/bin/python3
"""An outside reference for headlab's SAE training steps: the same losses in float64 PyTorch.

    python3 sae_reference.py RUN.h5 OUT.h5

The losses are written here from their published definitions, as SAELens (6.x) trains them:
  - every architecture: sae_in = x - b_dec; hidden_pre = sae_in @ W_enc + b_enc;
    mse = (sae_out - x).pow(2).sum(-1).mean()
  - standard (relu): feature_acts = relu(hidden_pre); l1 = (coef * (acts * W_dec.norm(dim=1)).norm(p=1, dim=-1)).mean()
  - topk: hidden_pre *= W_dec.norm(dim=-1) (rescale_acts_by_decoder_norm); top k per row, then relu;
    decode (acts / W_dec.norm) @ W_dec + b_dec; AuxK: k_aux = d_in // 2, scale = min(n_dead / k_aux, 1),
    k_aux = min(k_aux, n_dead); the top k_aux dead hidden_pre (no relu) decoded the same way (with
    b_dec) against the detached residual x - sae_out; coef * scale * (recons - residual)^2.sum(-1).mean()
  - batchtopk: as topk, but relu first and the k * B largest of the flattened batch
  - jumprelu: threshold = exp(log_threshold); acts = x * (x > threshold) with the straight-through
    threshold gradient -(threshold / bw) * rect((x - threshold) / bw) * grad; L0 = sum of the step
    function, whose threshold gradient is -(1 / bw) * rect(...) * grad; rect(u) = 1 on (-0.5, 0.5)

RUN.h5 (written by sae_reference_test.cpp): attributes arch, d_in, d_sae, k, bandwidth,
aux_coefficient, rescale, beta1, beta2, eps, grad_clip, steps; datasets x [S, B, d_in] (the
scaled rows), dead [S, d_sae] (uint8), coef [S], lr [S], params [S, P] (headlab's arena before each
step: W_enc | b_enc | W_dec | b_dec | log_threshold), grads [S, P] (headlab's gradients).

OUT.h5: loss [S, 4] (mse, sparsity, aux, total) and grads [S, P], both at headlab's params of each
step in float64; replay [S, P]: torch.optim.Adam + clip_grad_norm_ fed headlab's own gradients from
params[0], the weights after each step.
"""
import sys

import h5py
import numpy as np
import torch

torch.set_default_dtype(torch.float64)


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def split(flat, d_in, d_sae, jump):
    shapes = [("W_enc", (d_in, d_sae)), ("b_enc", (d_sae,)), ("W_dec", (d_sae, d_in)), ("b_dec", (d_in,))]
    if jump:
        shapes.append(("log_threshold", (d_sae,)))
    out, o = {}, 0
    for name, shape in shapes:
        n = int(np.prod(shape))
        out[name] = torch.tensor(flat[o:o + n].reshape(shape), requires_grad=True)
        o += n
    return out


def rect(u):
    return ((u > -0.5) & (u < 0.5)).to(u)


class JumpReLUFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, threshold, bw):
        ctx.save_for_backward(x, threshold)
        ctx.bw = bw
        return x * (x > threshold).to(x)

    @staticmethod
    def backward(ctx, g):
        x, threshold = ctx.saved_tensors
        bw = ctx.bw
        return (x > threshold).to(x) * g, (-(threshold / bw) * rect((x - threshold) / bw) * g).sum(0), None


class StepFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, threshold, bw):
        ctx.save_for_backward(x, threshold)
        ctx.bw = bw
        return (x > threshold).to(x)

    @staticmethod
    def backward(ctx, g):
        x, threshold = ctx.saved_tensors
        bw = ctx.bw
        return None, (-(1.0 / bw) * rect((x - threshold) / bw) * g).sum(0), None


def topk_acts(h, k):
    top = torch.topk(h, k, dim=-1)
    return torch.zeros_like(h).scatter(-1, top.indices, torch.relu(top.values))


def batchtopk_acts(h, k):
    a = torch.relu(h).flatten()
    top = torch.topk(a, int(k * h.shape[0]))
    return torch.zeros_like(a).scatter(-1, top.indices, top.values).reshape(h.shape)


def losses(p, x, dead, coef, run):
    arch, d_in = run["arch"], run["d_in"]
    zero = torch.zeros((), dtype=torch.float64)
    h = (x - p["b_dec"]) @ p["W_enc"] + p["b_enc"]
    norms = p["W_dec"].norm(dim=-1)
    sparsity, aux = zero, zero
    if arch == "relu":
        acts = torch.relu(h)
        out = acts @ p["W_dec"] + p["b_dec"]
        sparsity = (coef * (acts * p["W_dec"].norm(dim=1)).norm(p=1, dim=-1)).mean()
    elif arch == "jumprelu":
        t = torch.exp(p["log_threshold"])
        acts = JumpReLUFn.apply(h, t, run["bandwidth"])
        out = acts @ p["W_dec"] + p["b_dec"]
        sparsity = (coef * StepFn.apply(h, t, run["bandwidth"]).sum(-1)).mean()
    else:
        if run["rescale"]:
            h = h * norms

        def decode(a):
            if run["rescale"]:
                a = a * (1 / norms)
            return a @ p["W_dec"] + p["b_dec"]

        acts = topk_acts(h, run["k"]) if arch == "topk" else batchtopk_acts(h, run["k"])
        out = decode(acts)
        n_dead = int(dead.sum())
        if n_dead > 0 and run["aux_coefficient"] > 0:
            k_aux = max(d_in // 2, 1)
            scale = min(n_dead / k_aux, 1.0)
            k_aux = min(k_aux, n_dead)
            masked = torch.where(dead[None], h, torch.tensor(-float("inf")))
            top = masked.topk(k_aux, dim=-1, sorted=False)
            aux_acts = torch.zeros_like(h).scatter(-1, top.indices, top.values)
            residual = (x - out).detach()
            aux = run["aux_coefficient"] * scale * (decode(aux_acts) - residual).pow(2).sum(-1).mean()
    mse = (out - x).pow(2).sum(-1).mean()
    return mse, sparsity, aux


def main(run_path, out_path):
    with h5py.File(run_path, "r") as f:
        a = f.attrs
        run = {"arch": text(a["arch"])}
        for key in ("d_in", "d_sae", "k", "steps", "rescale"):
            run[key] = int(a[key])
        for key in ("bandwidth", "aux_coefficient", "beta1", "beta2", "eps", "grad_clip"):
            run[key] = float(a[key])
        xs = np.asarray(f["x"], dtype=np.float64)
        deads = np.asarray(f["dead"]).astype(bool)
        coefs = np.asarray(f["coef"], dtype=np.float64)
        lrs = np.asarray(f["lr"], dtype=np.float64)
        params = np.asarray(f["params"], dtype=np.float64)
        hgrads = np.asarray(f["grads"], dtype=np.float64)
    S, P = params.shape
    jump = run["arch"] == "jumprelu"
    out_loss = np.zeros((S, 4))
    out_grads = np.zeros((S, P))
    for s in range(S):
        p = split(params[s], run["d_in"], run["d_sae"], jump)
        mse, sp, aux = losses(p, torch.tensor(xs[s]), torch.tensor(deads[s]), coefs[s], run)
        total = mse + sp + aux
        total.backward()
        out_loss[s] = [mse.item(), float(sp), float(aux), total.item()]
        out_grads[s] = np.concatenate([p[n].grad.detach().numpy().ravel() for n in p])

    # Replay: torch's Adam and clipping fed headlab's gradients.
    w = torch.tensor(params[0].copy(), requires_grad=True)
    opt = torch.optim.Adam([w], lr=lrs[0], betas=(run["beta1"], run["beta2"]), eps=run["eps"])
    replay = np.zeros((S, P))
    for s in range(S):
        for group in opt.param_groups:
            group["lr"] = lrs[s]
        w.grad = torch.tensor(hgrads[s].copy())
        if run["grad_clip"] > 0:
            torch.nn.utils.clip_grad_norm_([w], run["grad_clip"])
        opt.step()
        replay[s] = w.detach().numpy()

    with h5py.File(out_path, "w") as f:
        f.attrs["format"] = "headlab.sae_reference_out"
        f["loss"] = out_loss
        f["grads"] = out_grads
        f["replay"] = replay


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
