#!/usr/bin/python3
"""An independent reference: TransformerLens' HookedTransformer math written directly in PyTorch.

Reads a headlab checkpoint (TransformerLens state_dict names and shapes) and a batch
(/tokens, /targets [B, T]), and writes the logits, the mean next-token loss and the gradient of
that loss for every parameter (float64 throughout) to an HDF5 file:
    python3 tl_reference.py CKPT.h5 BATCH.h5 OUT.h5
It follows TransformerLens' definitions: LayerNorm over d_model with eps, RMSNorm without bias,
attention scores scaled by 1/sqrt(d_head) with a causal mask, NeoX rotary ("rotate half") on the
whole head, gelu_new as the tanh approximation, logits = ln_final(x) @ W_U + b_U.
"""
import math
import sys

import h5py
import numpy as np
import torch

torch.set_default_dtype(torch.float64)


def read_config(f):
    a = f["config"].attrs
    def s(k):
        v = a[k]
        return v.decode() if isinstance(v, bytes) else str(v)
    return dict(n_layers=int(a["n_layers"]), d_model=int(a["d_model"]), n_heads=int(a["n_heads"]),
                d_head=int(a["d_head"]), d_mlp=int(a["d_mlp"]), n_ctx=int(a["n_ctx"]), d_vocab=int(a["d_vocab"]),
                act_fn=s("act_fn"), norm=s("normalization_type"), attn_only=bool(int(a["attn_only"])),
                pos=s("positional_embedding_type"), tied=bool(int(a["tie_embeddings"])),
                rotary_base=float(a["rotary_base"]), eps=float(a["eps"]))


def norm(x, w, b, kind, eps):
    if kind == "LN":
        x = x - x.mean(-1, keepdim=True)
        scale = (x.pow(2).mean(-1, keepdim=True) + eps).sqrt()
        return x / scale * w + b
    if kind == "RMS":
        scale = (x.pow(2).mean(-1, keepdim=True) + eps).sqrt()
        return x / scale * w
    return x


def act(x, fn):
    if fn == "gelu_new":
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))
    if fn == "gelu":
        return torch.nn.functional.gelu(x)
    if fn == "relu":
        return torch.relu(x)
    if fn == "silu":
        return torch.nn.functional.silu(x)
    raise ValueError(fn)


def rotary(x, base):  # x [B, T, H, dh]
    T, dh = x.shape[1], x.shape[3]
    half = dh // 2
    inv = base ** (-torch.arange(half, dtype=torch.float64) * 2.0 / dh)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]  # [T, half]
    cos, sin = ang.cos()[None, :, None, :], ang.sin()[None, :, None, :]
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


def forward(cfg, P, tokens):
    B, T = tokens.shape
    x = P["embed.W_E"][tokens]
    if cfg["pos"] == "standard":
        x = x + P["pos_embed.W_pos"][:T][None]
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for l in range(cfg["n_layers"]):
        p = f"blocks.{l}."
        h = norm(x, P.get(p + "ln1.w"), P.get(p + "ln1.b"), cfg["norm"], cfg["eps"])
        q = torch.einsum("btm,hmd->bthd", h, P[p + "attn.W_Q"]) + P[p + "attn.b_Q"]
        k = torch.einsum("btm,hmd->bthd", h, P[p + "attn.W_K"]) + P[p + "attn.b_K"]
        v = torch.einsum("btm,hmd->bthd", h, P[p + "attn.W_V"]) + P[p + "attn.b_V"]
        if cfg["pos"] == "rotary":
            q, k = rotary(q, cfg["rotary_base"]), rotary(k, cfg["rotary_base"])
        scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(cfg["d_head"])
        scores = scores.masked_fill(~mask, float("-inf"))
        pattern = scores.softmax(-1)
        z = torch.einsum("bhqk,bkhd->bqhd", pattern, v)
        attn_out = torch.einsum("bqhd,hdm->bqm", z, P[p + "attn.W_O"]) + P[p + "attn.b_O"]
        x = x + attn_out
        if not cfg["attn_only"]:
            h = norm(x, P.get(p + "ln2.w"), P.get(p + "ln2.b"), cfg["norm"], cfg["eps"])
            pre = h @ P[p + "mlp.W_in"] + P[p + "mlp.b_in"]
            x = x + act(pre, cfg["act_fn"]) @ P[p + "mlp.W_out"] + P[p + "mlp.b_out"]
    h = norm(x, P.get("ln_final.w"), P.get("ln_final.b"), cfg["norm"], cfg["eps"])
    W_U = P["embed.W_E"].T if cfg["tied"] else P["unembed.W_U"]
    return h @ W_U + P["unembed.b_U"]


def main():
    ckpt, batch, out = sys.argv[1:4]
    with h5py.File(ckpt, "r") as f:
        cfg = read_config(f)
        P = {name: torch.tensor(np.asarray(f["params"][name], dtype=np.float64), requires_grad=True)
             for name in f["params"]}
    if cfg["tied"]:
        del P["unembed.W_U"]  # the file's copy is W_E transposed; the model uses W_E
    with h5py.File(batch, "r") as f:
        tokens = torch.tensor(np.asarray(f["tokens"], dtype=np.int64))
        targets = torch.tensor(np.asarray(f["targets"], dtype=np.int64))
    logits = forward(cfg, P, tokens)
    valid = targets >= 0
    logp = logits.log_softmax(-1)
    loss = -(logp[valid].gather(-1, targets[valid][:, None])).mean()
    loss.backward()
    with h5py.File(out, "w") as f:
        f["logits"] = logits.detach().numpy()
        f["loss"] = loss.item()
        for name, t in P.items():
            f["grads/" + name] = t.grad.numpy()
        if cfg["tied"]:
            f["grads/unembed.W_U"] = P["embed.W_E"].grad.numpy().T
    print(f"loss {loss.item():.6f}")


if __name__ == "__main__":
    main()
