#!/usr/bin/python3
"""An independent float64 PyTorch reference for headlab's edge methods, from the published definitions.

The graph is EAP-IG's (Hanna et al. 2024): sources input (blocks.0.hook_resid_pre), every head's
result (hook_result) and every MLP's output (hook_mlp_out); destinations every head's q, k and v
inputs (each head normalises its own copy, TransformerLens' use_split_qkv_input), every MLP's input
(hook_mlp_in) and the logits. Here each destination's input is formed as auto-circuit forms it:
the sum over the sources it can read of mask * out_this_run + (1 - mask) * out_corrupted, plus the
attention biases b_O of the layers before it (no source owns them). Then:
  - the masked forward's logits for a given mask;
  - EAP (Syed et al. 2023): score[u, v] = sum over rows, positions, d_model of
    (out_u(corrupted) - out_u(clean)) * d loss / d in_v at the clean run, divided by the rows;
  - EAP-IG-inputs: the same with the gradient averaged over runs whose input is
    corrupted + k/K (clean - corrupted), k = 0..K-1;
  - EAP-IG-activations (the reference implementation's get_scores_ig_activations): for each layer
    node (the input, one layer's heads together, one MLP) and k = 1..K, a clean run whose node output
    is replaced by the constant corrupted + k/K (clean - corrupted); the gradient averaged over all
    those runs;
  - EAP-IG clean-corrupted: the gradient averaged over the clean and the corrupted runs;
with loss = -logit_diff, -prob, -prob_diff (greater-than: the probability of the years above the
start year minus that of the years at or below it) or KL(clean || run) at each row's answer position.

    python3 edge_reference.py CKPT.h5 INPUTS.h5 OUT.h5 [CKPT.h5 INPUTS.h5 OUT.h5 ...]
"""
import math
import os
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "model"))
import tl_reference as tl  # noqa: E402

torch.set_default_dtype(torch.float64)


def graph_shape(cfg):
    L, H, m = cfg["n_layers"], cfg["n_heads"], 0 if cfg["attn_only"] else 1
    return 1 + L * (H + m), L * (3 * H + m) + 1


def readable(cfg, dst):
    """How many sources (a prefix) destination dst reads."""
    L, H, m = cfg["n_layers"], cfg["n_heads"], 0 if cfg["attn_only"] else 1
    n_src, _ = graph_shape(cfg)
    if dst == L * (3 * H + m):
        return n_src
    layer, within = divmod(dst, 3 * H + m)
    before = 1 + layer * (H + m)
    return before if within < 3 * H else before + H


def run(cfg, P, tokens, mask=None, corrupted=None, input_value=None, replace=None):
    """One forward through the graph. Returns logits, the source outputs and the destination inputs
    (each with retain_grad, for EAP's gradients). replace: {source index: the value its output takes}."""
    replace = replace or {}

    def emit(value):
        outs.append(replace.get(len(outs), value))

    L, H, m = cfg["n_layers"], cfg["n_heads"], 0 if cfg["attn_only"] else 1
    B, T = tokens.shape
    x = P["embed.W_E"][tokens]
    if cfg["pos"] == "standard":
        x = x + P["pos_embed.W_pos"][:T][None]
    if input_value is not None:
        x = input_value
    outs, ins = [x], []
    bias = torch.zeros_like(x)  # b_O of the layers so far: carried by the residual, owned by no source

    def dst_input(d):
        n = readable(cfg, d)
        total = bias.clone()
        for s in range(n):
            if mask is None:
                total = total + outs[s]
            else:
                total = total + mask[s, d] * outs[s] + (1 - mask[s, d]) * corrupted[s]
        total.retain_grad() if total.requires_grad else None
        ins.append(total)
        return total

    mask_causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for l in range(L):
        p = f"blocks.{l}."
        qkv = []
        for which, (W, b) in enumerate((("W_Q", "b_Q"), ("W_K", "b_K"), ("W_V", "b_V"))):
            per_head = []
            for h in range(H):
                xin = dst_input(l * (3 * H + m) + which * H + h)
                n = tl.norm(xin, P.get(p + "ln1.w"), P.get(p + "ln1.b"), cfg["norm"], cfg["eps"])
                per_head.append(n @ P[p + "attn." + W][h] + P[p + "attn." + b][h])
            qkv.append(torch.stack(per_head, dim=2))  # [B, T, H, dh]
        q, k, v = qkv
        if cfg["pos"] == "rotary":
            q, k = tl.rotary(q, cfg["rotary_base"]), tl.rotary(k, cfg["rotary_base"])
        scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(cfg["d_head"])
        pattern = scores.masked_fill(~mask_causal, float("-inf")).softmax(-1)
        z = torch.einsum("bhqk,bkhd->bqhd", pattern, v)
        for h in range(H):
            emit(z[:, :, h] @ P[p + "attn.W_O"][h])
        bias = bias + P[p + "attn.b_O"]
        if m:
            xin = dst_input(l * (3 * H + 1) + 3 * H)
            n = tl.norm(xin, P.get(p + "ln2.w"), P.get(p + "ln2.b"), cfg["norm"], cfg["eps"])
            emit(tl.act(n @ P[p + "mlp.W_in"] + P[p + "mlp.b_in"], cfg["act_fn"]) @ P[p + "mlp.W_out"]
                 + P[p + "mlp.b_out"])
    final = dst_input(L * (3 * H + m))
    h = tl.norm(final, P.get("ln_final.w"), P.get("ln_final.b"), cfg["norm"], cfg["eps"])
    return h @ P["unembed.W_U"] + P["unembed.b_U"], outs, ins


def loss_of(kind, logits, t, ref_logprobs):
    """Sum over rows of the loss form at each row's answer position."""
    rows = torch.arange(logits.shape[0])
    at = logits[rows, t["answer_pos"]]  # [B, V]
    if kind == "logit_diff":
        return -(at[rows, t["answer"]] - at[rows, t["wrong"]]).sum()
    logp = at.log_softmax(-1)
    if kind == "prob":
        return -logp[rows, t["answer"]].exp().sum()
    if kind == "prob_diff":
        total = 0
        for b in range(logits.shape[0]):
            p = logp[b].exp()
            years = t["year_tokens"]
            s = int(t["start_yy"][b])
            above = [int(y) for y in years[s + 1:] if y >= 0]
            below = [int(y) for y in years[:s + 1] if y >= 0]
            total = total - (p[above].sum() - p[below].sum())
        return total
    return (ref_logprobs.exp() * (ref_logprobs - logp)).sum()


def scores_from(cfg, deltas, grads):
    n_src, n_dst = graph_shape(cfg)
    S = np.zeros((n_src, n_dst))
    for d in range(n_dst):
        for s in range(readable(cfg, d)):
            S[s, d] = float((deltas[s] * grads[d]).sum())
    return S


def gradients(cfg, P, t, kind, ref, tokens=None, input_value=None, replace=None):
    if input_value is not None:
        input_value = input_value.detach().requires_grad_(True)
    logits, _, ins = run(cfg, P, tokens if tokens is not None else t["clean"], input_value=input_value,
                         replace=replace)
    for x in ins:
        if not x.requires_grad:
            x.requires_grad_(True)
    loss = loss_of(kind, logits, t, ref)
    grads = torch.autograd.grad(loss, ins, allow_unused=True)
    return [g if g is not None else torch.zeros_like(x) for g, x in zip(grads, ins)]


def with_leaf_params(P):
    return {k: v.clone().requires_grad_(True) for k, v in P.items()}


def score(ckpt, inputs, out_path):
    with h5py.File(ckpt, "r") as f:
        cfg = tl.read_config(f)
        P = {name: torch.tensor(np.asarray(f["params"][name], dtype=np.float64)) for name in f["params"]}
    if cfg["tied"]:
        P["unembed.W_U"] = P["embed.W_E"].T.clone()
    P = with_leaf_params(P)  # every activation then carries a graph, so inputs have gradients
    out = {}
    with h5py.File(inputs, "r") as f:
        g = f["edges"]
        answer_pos = torch.tensor(np.asarray(g["answer_pos"], dtype=np.int64))
        T = int(answer_pos.max()) + 1
        t = dict(clean=torch.tensor(np.asarray(g["rows"], dtype=np.int64))[:, :T],
                 corrupted=torch.tensor(np.asarray(g["corrupted_rows"], dtype=np.int64))[:, :T],
                 answer=torch.tensor(np.asarray(g["answer"], dtype=np.int64)),
                 wrong=torch.tensor(np.asarray(g["wrong_answer"], dtype=np.int64)), answer_pos=answer_pos)
        mask = torch.tensor(np.asarray(g["mask"], dtype=np.float64))
        K = int(g.attrs["ig_steps"])
        t["year_tokens"] = np.asarray(g["year_tokens"], dtype=np.int64)
        t["start_yy"] = np.asarray(g["start_yy"], dtype=np.int64)
    L, H, m = cfg["n_layers"], cfg["n_heads"], 0 if cfg["attn_only"] else 1
    layer_nodes = [[0]]  # the input, then per layer its heads together and its MLP
    for l in range(L):
        first = 1 + l * (H + m)
        layer_nodes.append(list(range(first, first + H)))
        if m:
            layer_nodes.append([first + H])
    n = t["clean"].shape[0]
    clean_logits, clean_outs, _ = run(cfg, P, t["clean"])
    corr_logits, corr_outs, _ = run(cfg, P, t["corrupted"])
    clean_outs = [o.detach() for o in clean_outs]
    corr_outs = [o.detach() for o in corr_outs]
    rows = torch.arange(n)
    ref = clean_logits.detach()[rows, answer_pos].log_softmax(-1)
    masked_logits, _, _ = run(cfg, P, t["clean"], mask=mask, corrupted=corr_outs)
    out["masked/logits"] = masked_logits.detach().numpy()
    deltas = [c - o for c, o in zip(corr_outs, clean_outs)]
    for kind in ("logit_diff", "prob", "kl", "prob_diff"):
        g_clean = gradients(cfg, P, t, kind, ref)
        out[f"eap/{kind}"] = scores_from(cfg, deltas, g_clean) / n
        g_corr = gradients(cfg, P, t, kind, ref, tokens=t["corrupted"])
        avg = [(a + b) / 2 for a, b in zip(g_clean, g_corr)]
        out[f"clean_corrupted/{kind}"] = scores_from(cfg, deltas, avg) / n
        total = None
        for k in range(K):
            x = corr_outs[0] + (k / K) * (clean_outs[0] - corr_outs[0])
            gk = gradients(cfg, P, t, kind, ref, input_value=x)
            total = gk if total is None else [a + b for a, b in zip(total, gk)]
        out[f"ig/{kind}"] = scores_from(cfg, deltas, [x / K for x in total]) / n
        total, runs = None, 0
        for node in layer_nodes:
            for k in range(1, K + 1):
                alpha = k / K
                values = {s: corr_outs[s] + alpha * (clean_outs[s] - corr_outs[s]) for s in node}
                if node == [0]:
                    gk = gradients(cfg, P, t, kind, ref, input_value=values[0])
                else:
                    gk = gradients(cfg, P, t, kind, ref, replace=values)
                total = gk if total is None else [a + b for a, b in zip(total, gk)]
                runs += 1
        out[f"ig_activations/{kind}"] = scores_from(cfg, deltas, [x / runs for x in total]) / n
    with h5py.File(out_path, "w") as f:
        for name, value in out.items():
            f[name] = value


def main():
    args = sys.argv[1:]
    if not args or len(args) % 3:
        sys.exit("usage: edge_reference.py CKPT.h5 INPUTS.h5 OUT.h5 [CKPT.h5 INPUTS.h5 OUT.h5 ...]")
    for i in range(0, len(args), 3):
        score(*args[i:i + 3])


if __name__ == "__main__":
    main()
