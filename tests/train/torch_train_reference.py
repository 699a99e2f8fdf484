#!/usr/bin/python3
"""An outside reference for headlab's training step: the same steps taken by PyTorch.

    python3 torch_train_reference.py RUN.h5 OUT.h5

RUN.h5 (written by torch_train_reference_test.cpp):
  attributes  format "headlab.train_reference_run", format_version 1, checkpoint (the path of a
              headlab checkpoint holding the initial weights), optimizer "adamw" | "sgd", schedule
              "constant" | "cosine", lr, min_lr, beta1, beta2, eps, weight_decay, grad_clip
              (float64 holding headlab's float32 values), warmup, steps (int)
  /tokens, /targets      int32 [S, A, B, T]: step, micro-batch, row, position; target -1 = ignored
  /headlab/grads/<name>  float32 [S, *shape] (optional): headlab's gradient at each step (the mean
                         over the step's micro-batches, before clipping), TransformerLens shapes
  /headlab/params/<name> float32 [S, *shape] (optional, not read here): headlab's weights after
                         each step, for comparing by hand

OUT.h5 (float64), attributes format "headlab.train_reference_out", format_version 1:
  /lr [S]                 the documented schedule (train/schedule.h), step s = the s-th update
  /lr_nanogpt [S]         nanoGPT's get_lr(it = s - 1) with warmup_iters = warmup - 1 and
                          lr_decay_iters = steps - 1: the same curve, counted from 0 (cosine only;
                          NaN for a constant schedule)
  /lr_llmc [S]            llm.c's get_learning_rate(step = s - 1): the same warmup, but its cosine
                          starts one update later and stops short of min_lr (cosine only; for
                          comparison, not checked)
  /train/loss [S], /train/grad_norm [S], /train/clip_coef [S], /train/params/<name> [S, *shape],
  /train/grads/<name> [S, *shape] (clipped: the gradient each update used):
        S steps from the checkpoint's weights, every step's forward and backward in float64
        (tl_reference.forward, autograd), the loss of each micro-batch divided by A before its
        backward (so the gradient is the mean over micro-batches, as nanoGPT accumulates),
        torch.nn.utils.clip_grad_norm_, then torch.optim.AdamW / torch.optim.SGD; params after
        each step
  /replay/grad_norm [S], /replay/params/<name> [S, *shape] (with /headlab/grads): the optimizer
        alone, fed headlab's own gradients: clip_grad_norm_ and the torch optimizer in float64

Weight decay, by name, as headlab documents it (docs/headlab-train.md, "--weight-decay"): the matrices of attention,
MLP and an untied unembedding decay; biases, norm weights and biases, and the embeddings (W_E, and
a W_U tied to it, W_pos) do not. That is minGPT's rule; nanoGPT and llm.c decay every tensor of
two or more dimensions, embeddings included, and TransformerLens' train() decays everything. SGD is torch.optim.SGD without momentum: weight decay is added to
the (clipped) gradient, p -= lr (g + wd p).
"""
import math
import os
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "model"))
import tl_reference  # noqa: E402  (the float64 TransformerLens-math forward; sets float64 default)

DECAYED_SUFFIXES = ("attn.W_Q", "attn.W_K", "attn.W_V", "attn.W_O", "mlp.W_in", "mlp.W_out", "unembed.W_U")


def decays(name):
    return name.endswith(DECAYED_SUFFIXES)


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def read_run(path):
    with h5py.File(path, "r") as f:
        a = f.attrs
        if text(a["format"]) != "headlab.train_reference_run" or int(a["format_version"]) != 1:
            raise SystemExit(f"{path}: not a headlab.train_reference_run file, version 1")
        run = {k: (text(a[k]) if k in ("checkpoint", "optimizer", "schedule") else float(a[k]))
               for k in ("checkpoint", "optimizer", "schedule", "lr", "min_lr", "beta1", "beta2", "eps",
                         "weight_decay", "grad_clip", "warmup", "steps")}
        run["warmup"], run["steps"] = int(run["warmup"]), int(run["steps"])
        run["tokens"] = np.asarray(f["tokens"], dtype=np.int64)
        run["targets"] = np.asarray(f["targets"], dtype=np.int64)
        run["headlab_grads"] = ({name: np.asarray(f["headlab/grads"][name], dtype=np.float64)
                                 for name in f["headlab/grads"]} if "headlab/grads" in f else None)
    return run


def read_weights(path):
    with h5py.File(path, "r") as f:
        cfg = tl_reference.read_config(f)
        P = {name: np.asarray(f["params"][name], dtype=np.float64) for name in f["params"]}
    if cfg["tied"]:
        del P["unembed.W_U"]  # the file's copy is W_E transposed; the model uses W_E
    return cfg, P


# ---- learning-rate schedules; step s is 1-based (the s-th update)

def lr_documented(run, s):
    lr, min_lr, W, N = run["lr"], run["min_lr"], run["warmup"], run["steps"]
    if s <= W:
        return lr * s / W
    if run["schedule"] == "constant" or N <= W:
        return lr
    progress = min(1.0, (s - W) / (N - W))
    return min_lr + 0.5 * (lr - min_lr) * (1.0 + math.cos(math.pi * progress))


def lr_nanogpt(run, s):
    """nanoGPT's get_lr, which counts iterations from 0, with the settings that name headlab's run."""
    lr, min_lr = run["lr"], run["min_lr"]
    it, warmup_iters, lr_decay_iters = s - 1, run["warmup"] - 1, run["steps"] - 1
    if it < warmup_iters:
        return lr * (it + 1) / (warmup_iters + 1)
    if it > lr_decay_iters:
        return min_lr
    decay_ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * decay_ratio)) * (lr - min_lr)


def lr_llmc(run, s):
    """llm.c's get_learning_rate (llmc/schedulers.h), which counts steps from 0."""
    lr, min_lr, W, N = run["lr"], run["min_lr"], run["warmup"], run["steps"]
    step = s - 1
    if step < W:
        return lr * (step + 1) / W
    decay_ratio = (step - W) / (N - W)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * decay_ratio)) * (lr - min_lr)


# ---- the torch side

def make_optimizer(run, P):
    names = list(P)
    groups = [{"params": [P[n] for n in names if decays(n)], "weight_decay": run["weight_decay"]},
              {"params": [P[n] for n in names if not decays(n)], "weight_decay": 0.0}]
    if run["optimizer"] == "adamw":
        return torch.optim.AdamW(groups, lr=run["lr"], betas=(run["beta1"], run["beta2"]), eps=run["eps"])
    if run["optimizer"] == "sgd":
        return torch.optim.SGD(groups, lr=run["lr"], momentum=0.0)
    raise SystemExit("unknown optimizer " + run["optimizer"])


def clip_and_step(run, P, optimizer, lr):
    """clip_grad_norm_ (or the norm alone when clipping is off), the step; returns norm, coefficient."""
    params = list(P.values())
    if run["grad_clip"] > 0:
        norm = float(torch.nn.utils.clip_grad_norm_(params, run["grad_clip"]))
        coef = min(1.0, run["grad_clip"] / (norm + 1e-6))
    else:
        norm = float(torch.norm(torch.stack([p.grad.norm() for p in params])))
        coef = 1.0
    for group in optimizer.param_groups:
        group["lr"] = lr
    optimizer.step()
    return norm, coef


def train(run, cfg, weights, lrs):
    """Every step in float64 from the initial weights: losses, norms and the weights after each."""
    P = {n: torch.tensor(w, requires_grad=True) for n, w in weights.items()}
    optimizer = make_optimizer(run, P)
    S, A = run["tokens"].shape[:2]
    out = {"loss": [], "grad_norm": [], "clip_coef": [], "params": {n: [] for n in P}, "grads": {n: [] for n in P}}
    for s in range(S):
        optimizer.zero_grad(set_to_none=False)
        micro_losses = []
        for k in range(A):
            tokens = torch.tensor(run["tokens"][s, k])
            targets = torch.tensor(run["targets"][s, k])
            logits = tl_reference.forward(cfg, P, tokens)
            valid = targets >= 0
            loss = -(logits.log_softmax(-1)[valid].gather(-1, targets[valid][:, None])).mean()
            (loss / A).backward()
            micro_losses.append(loss.item())
        norm, coef = clip_and_step(run, P, optimizer, lrs[s])
        for n, p in P.items():  # clipped, as the optimizer took them
            out["grads"][n].append(p.grad.numpy().copy())
        out["loss"].append(sum(micro_losses) / A)
        out["grad_norm"].append(norm)
        out["clip_coef"].append(coef)
        for n, p in P.items():
            out["params"][n].append(p.detach().numpy().copy())
    return out


def replay(run, weights, lrs):
    """The optimizer alone, given headlab's gradients: what torch does with exactly those."""
    P = {n: torch.tensor(w, requires_grad=True) for n, w in weights.items()}
    optimizer = make_optimizer(run, P)
    grads = run["headlab_grads"]
    out = {"grad_norm": [], "params": {n: [] for n in P}}
    for s in range(len(lrs)):
        for n, p in P.items():
            p.grad = torch.tensor(grads[n][s])
        norm, _ = clip_and_step(run, P, optimizer, lrs[s])
        out["grad_norm"].append(norm)
        for n, p in P.items():
            out["params"][n].append(p.detach().numpy().copy())
    return out


def write_steps(f, prefix, arrays, tied):
    for n, steps in arrays.items():
        f[prefix + n] = np.stack(steps)
        if tied and n == "embed.W_E":
            f[prefix + "unembed.W_U"] = np.stack(steps).transpose(0, 2, 1)


def main():
    run_path, out_path = sys.argv[1:3]
    run = read_run(run_path)
    cfg, weights = read_weights(run["checkpoint"])
    S = run["tokens"].shape[0]
    steps = range(1, S + 1)
    lrs = [lr_documented(run, s) for s in steps]
    trained = train(run, cfg, weights, lrs)
    replayed = replay(run, weights, lrs) if run["headlab_grads"] is not None else None
    with h5py.File(out_path, "w") as f:
        f.attrs["format"] = "headlab.train_reference_out"
        f.attrs["format_version"] = 1
        f["lr"] = np.array(lrs)
        cosine = run["schedule"] == "cosine" and run["steps"] > run["warmup"]
        f["lr_nanogpt"] = np.array([lr_nanogpt(run, s) if cosine else math.nan for s in steps])
        f["lr_llmc"] = np.array([lr_llmc(run, s) if cosine else math.nan for s in steps])
        for key in ("loss", "grad_norm", "clip_coef"):
            f["train/" + key] = np.array(trained[key])
        write_steps(f, "train/params/", trained["params"], cfg["tied"])
        write_steps(f, "train/grads/", trained["grads"], cfg["tied"])
        if replayed:
            f["replay/grad_norm"] = np.array(replayed["grad_norm"])
            write_steps(f, "replay/params/", replayed["params"], cfg["tied"])
    print("loss " + " ".join(f"{x:.6f}" for x in trained["loss"]))
    print("grad_norm " + " ".join(f"{x:.6f}" for x in trained["grad_norm"]))
    print("clip_coef " + " ".join(f"{x:.6f}" for x in trained["clip_coef"]))


if __name__ == "__main__":
    main()
