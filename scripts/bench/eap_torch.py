#!/usr/bin/python3
"""EAP-IG-inputs in PyTorch float32, the peer of headlab's in scripts/bench/eap.sh.

Same graph, same sum as headlab: sources are the input (embeddings), every head's output and every
MLP's output; destinations every head's q, k and v inputs (each head's own copy of the residual, as
TransformerLens' use_split_qkv_input), every MLP's input and the logits. EAP-IG-inputs runs K clean
forwards whose embedding is corrupted + k/K (clean - corrupted), k = 0..K-1, takes the gradient of
-logit_diff at every destination with autograd (activations only: no parameter gradients, the
cheaper choice) and adds (corrupted - clean source output) . gradient for every edge at once with
one einsum per destination group. The scores are checked against headlab's (written by
headlab-bench-eap --out-dir) before the timing is trusted.

    python3 eap_torch.py DIR [--threads 2] [--repeats 3]
Reads DIR/model.h5 (a headlab checkpoint: LN, gelu_new, learned positions, untied) and DIR/batch.h5.
"""
import argparse
import math
import time

import h5py
import numpy as np
import torch


def load(dir_):
    with h5py.File(dir_ + "/model.h5", "r") as f:
        a = f["config"].attrs
        text = lambda k: a[k].decode() if isinstance(a[k], bytes) else str(a[k])
        cfg = dict(L=int(a["n_layers"]), D=int(a["d_model"]), H=int(a["n_heads"]), dh=int(a["d_head"]),
                   attn_only=bool(int(a["attn_only"])), eps=float(a["eps"]))
        assert text("normalization_type") == "LN" and text("act_fn") == "gelu_new"
        assert text("positional_embedding_type") == "standard" and not int(a["tie_embeddings"])
        P = {k: torch.tensor(np.asarray(f["params"][k], dtype=np.float32)) for k in f["params"]}
    with h5py.File(dir_ + "/batch.h5", "r") as f:
        batch = {k: torch.tensor(np.asarray(f[k]).astype(np.int64)) for k in ("clean", "corrupted", "answer",
                                                                               "wrong_answer")}
        batch["K"] = int(f.attrs["ig_steps"])
        batch["headlab_ig_wall"] = float(f.attrs["headlab_ig_wall"])
        batch["headlab_fwd_bwd_wall"] = float(f.attrs["headlab_fwd_bwd_wall"])
        batch["headlab_scores"] = np.asarray(f["ig_scores"], dtype=np.float64)
    return cfg, P, batch


def layer_norm(x, w, b, eps):
    x = x - x.mean(-1, keepdim=True)
    return x / (x.pow(2).mean(-1, keepdim=True) + eps).sqrt() * w + b


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def forward(cfg, P, tokens, input_value=None):
    """Returns logits, the source outputs (input [B,T,D], per layer heads [B,T,H,D] and MLP [B,T,D])
    and the destination inputs grouped per layer: (q [B,T,H,D], k, v, mlp_in [B,T,D]) and the final
    residual."""
    L, H, D = cfg["L"], cfg["H"], cfg["D"]
    B, T = tokens.shape
    x = P["embed.W_E"][tokens] + P["pos_embed.W_pos"][:T][None] if input_value is None else input_value
    sources, dests = [x], []
    resid = x
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    for l in range(L):
        p = f"blocks.{l}."
        ins = [resid.unsqueeze(2).expand(B, T, H, D) for _ in range(3)]  # each head's own q, k, v input
        qkv = []
        for x_in, w in zip(ins, ("Q", "K", "V")):
            n = layer_norm(x_in, P[p + "ln1.w"], P[p + "ln1.b"], cfg["eps"])
            qkv.append(torch.einsum("bthd,hde->bthe", n, P[p + "attn.W_" + w]) + P[p + "attn.b_" + w])
        q, k, v = qkv
        scores = torch.einsum("bqhe,bkhe->bhqk", q, k) / math.sqrt(cfg["dh"])
        pattern = scores.masked_fill(~causal, float("-inf")).softmax(-1)
        z = torch.einsum("bhqk,bkhe->bqhe", pattern, v)
        result = torch.einsum("bqhe,hed->bqhd", z, P[p + "attn.W_O"])  # [B, T, H, D]
        sources.append(result)
        resid = resid + result.sum(2) + P[p + "attn.b_O"]
        mlp_in = None
        if not cfg["attn_only"]:
            mlp_in = resid.clone()  # the MLP's own copy: its gradient is the MLP branch's only
            n = layer_norm(mlp_in, P[p + "ln2.w"], P[p + "ln2.b"], cfg["eps"])
            out = gelu_new(n @ P[p + "mlp.W_in"] + P[p + "mlp.b_in"]) @ P[p + "mlp.W_out"] + P[p + "mlp.b_out"]
            sources.append(out)
            resid = resid + out
        dests.append((*ins, mlp_in))
    dests.append(resid)
    h = layer_norm(resid, P["ln_final.w"], P["ln_final.b"], cfg["eps"])
    return h @ P["unembed.W_U"] + P["unembed.b_U"], sources, dests


def as_rows(sources):
    """[B, T, n_src, D]: the sources in graph order."""
    return torch.cat([s if s.dim() == 4 else s.unsqueeze(2) for s in sources], dim=2)


def eap_ig(cfg, P, batch):
    L, H, K = cfg["L"], cfg["H"], batch["K"]
    m = 0 if cfg["attn_only"] else 1
    with torch.no_grad():
        _, corr_src, _ = forward(cfg, P, batch["corrupted"])
        _, clean_src, _ = forward(cfg, P, batch["clean"])
        delta = as_rows(corr_src) - as_rows(clean_src)  # [B, T, n_src, D]
    n_src, n_dst = 1 + L * (H + m), L * (3 * H + m) + 1
    scores = torch.zeros(n_src, n_dst)
    rows = torch.arange(batch["clean"].shape[0])
    pos = batch["clean"].shape[1] - 1
    for k in range(K):
        x = (corr_src[0] + (k / K) * (clean_src[0] - corr_src[0])).requires_grad_(True)
        logits, _, dests = forward(cfg, P, batch["clean"], input_value=x)
        at = logits[rows, pos]
        loss = -(at[rows, batch["answer"]] - at[rows, batch["wrong_answer"]]).sum()
        flat = [t for group in dests[:-1] for t in group if t is not None] + [dests[-1]]
        grads = torch.autograd.grad(loss, flat)
        i = 0
        for l in range(L):
            readable = 1 + l * (H + m)
            first = l * (3 * H + m)
            for w in range(3):  # q, k, v of every head at once: [n_read, H]
                scores[:readable, first + w * H:first + (w + 1) * H] += torch.einsum(
                    "bthd,btsd->sh", grads[i], delta[:, :, :readable])
                i += 1
            if m:
                scores[:readable + H, first + 3 * H] += torch.einsum("btd,btsd->s", grads[i], delta[:, :, :readable + H])
                i += 1
        scores[:, n_dst - 1] += torch.einsum("btd,btsd->s", grads[i], delta)
    return scores / (K * batch["clean"].shape[0])


def fastest(repeats, f):
    f()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg, P, batch = load(args.dir)
    ours = eap_ig(cfg, P, batch).double().numpy()
    theirs = batch["headlab_scores"]
    scale = np.abs(theirs).max()
    err = np.abs(ours - theirs).max() / scale
    print(f"PyTorch {torch.__version__} float32, {torch.get_num_threads()} threads: EAP-IG-inputs K={batch['K']}, "
          f"scores agree with headlab's to {err:.1e} of the largest |score|")
    if err > 1e-3:
        raise SystemExit("the PyTorch scores differ from headlab's: the timing compares different computations")
    PG = {k: v.clone().requires_grad_(True) for k, v in P.items()}

    def fwd_bwd():
        logits, _, _ = forward(cfg, PG, batch["clean"])
        rows = torch.arange(logits.shape[0])
        at = logits[rows, -1]
        (-(at[rows, batch["answer"]] - at[rows, batch["wrong_answer"]]).sum()).backward()

    t_fb = fastest(args.repeats, fwd_bwd)
    t_ig = fastest(args.repeats, lambda: eap_ig(cfg, P, batch))
    print(f"  PyTorch forward+backward (parameter gradients) {t_fb:.4f} s; EAP-IG {t_ig:.4f} s = {t_ig / t_fb:.2f}x its "
          f"forward+backward")
    print(f"  headlab EAP-IG {batch['headlab_ig_wall']:.4f} s: PyTorch / headlab = {t_ig / batch['headlab_ig_wall']:.2f}x "
          f"(target >= 2)")


if __name__ == "__main__":
    main()
