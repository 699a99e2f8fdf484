#!/usr/bin/python3
"""An independent reference for headlab's interpretability numbers, float64 PyTorch.

Written from the published definitions, not from headlab's code:
  - TransformerLens head_detector.detect_head: previous_token / duplicate_token / induction
    detection patterns, "mul" (sum(A * P) / sum(A)) and "abs" (1 - round(sum|A - P| / T, 3)) with
    exclude_bos / exclude_current_token, averaged over sequences;
  - the induction-stripe score of the TransformerLens Main Demo and ARENA: the mean of
    pattern.diagonal(offset = 1 - n) over batch and diagonal;
  - ARENA's first-token detector score: pattern[:, 0].mean() over every query row;
  - Olsson et al. 2022's in-context-learning score: loss(late) - loss(early);
  - Wu et al. 2024's retrieval score |g_h ∩ k| / |k| (top-1 attended position holds the emitted
    needle token);
  - Elhage et al. 2021's copying score sum(λ) / sum(|λ|) over the eigenvalues of the full OV
    circuit W_E W_V W_O W_U [d_vocab, d_vocab] (formed here in full);
  - Elhage et al. 2021's composition scores in their own column-vector convention
    (W_OV = W_O W_V, W_QK = W_Qᵀ W_K):  Q: ‖W_QKᵀ W_OV‖ / (‖W_QK‖ ‖W_OV‖),
    K: ‖W_QK W_OV‖ / (...), V: ‖W_OV2 W_OV1‖ / (...); TransformerLens' all_composition_scores
    (row-vector convention, L = OV, R = QK / QK.T / OV) is computed too and must agree;
  - Gould et al. 2023's succession score: the share of pairs whose effective OV circuit on
    MLP0(W_E t) ranks the successor first among the task's tokens;
  - direct logit attribution (Wang et al. 2022; TransformerLens apply_ln_to_stack + logit_attrs):
    each piece of the final residual, centred (LayerNorm) and divided by the clean run's
    ln_final.hook_scale, dotted with ln_final.w * (W_U[:, a] - W_U[:, b]);
  - the logit lens (nostalgebraist 2020): the final norm with each residual's own statistics,
    then W_U and b_U: the answer's probability and rank (logits strictly above it);
  - activation patching (denoising): the corrupted run with one clean activation patched in,
    metric normalised as (patched - corrupted) / (clean - corrupted), metrics batch means.

With an inputs file holding /methods (circuits_reference_methods_test.cpp), the task methods under
three metrics at the answer position — logit(answer) - logit(wrong), the answer's probability and
KL(clean || run) (TransformerLens / ACDC) — instead:
  - activation patching, denoising and noising (Heimersheim & Nanda 2024), every sweep: residual
    stream, attn_out and mlp_out by (layer, position); z, q, k, v (before rotary, TL's hook_q /
    hook_k) and pattern by (layer, head), and by (layer, head, position) (pattern: the query row);
  - path patching (Wang et al. 2022; ARENA's get_path_patch_head_to_final_resid_post and
    get_path_patch_head_to_heads): senders' z from the corrupted run, every other head's z frozen
    at its clean value, MLPs recomputed; scored there for the logits, or the receivers' q / k / v
    cached and patched into a fresh clean run; effect (patched - clean) / (clean - corrupted);
  - zero, mean (position by position over reference rows) and resample ablation of each head
    (hook_z), each layer's attention and each MLP (hook_mlp_out): metrics and next-token loss;
  - steering (ActAdd / mean-difference directions): mean(positive) - mean(negative) of one hook's
    per-position slices, then coefficient * direction added at every position.

Copying and composition are computed twice: on the checkpoint's weights as stored (the formulas
as published; what HookedTransformer.load_state_dict gives TransformerLens) and on the weights
processed as TransformerLens' load_and_process_state_dict does by default (fold_ln,
center_writing_weights, center_unembed). The succession score reads the processed weights (Gould
et al. work on TransformerLens-processed models; the circuit goes through the model's norms).

    python3 circuits_reference.py CKPT.h5 INPUTS.h5 OUT.h5 [CKPT.h5 INPUTS.h5 OUT.h5 ...]
"""
import math
import os
import re
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "model"))
import tl_reference as tl  # noqa: E402  (read_config, norm, act, rotary: TransformerLens' math)

torch.set_default_dtype(torch.float64)


# ---- the model, with a cache and patching -------------------------------------------------------

def norm_scale(x, kind, eps):
    """The norm's hook_scale [..., 1]: sqrt(mean(x'^2) + eps), x' centred for LayerNorm."""
    if kind == "LN":
        x = x - x.mean(-1, keepdim=True)
    return (x.pow(2).mean(-1, keepdim=True) + eps).sqrt()


def run(cfg, P, tokens, patch=None):
    """The forward of tl_reference.forward, keeping every activation the scores read.

    patch: {(name, layer): fn(tensor) -> tensor} applied where the activation is formed, names as
    TransformerLens' hooks: resid_pre, q, k, v (before rotary, as hook_q / hook_k), pattern, z,
    attn_out (with b_O), resid_mid, mlp_out, resid_post."""
    patch = patch or {}
    hook = lambda name, l, t: patch[(name, l)](t) if (name, l) in patch else t
    B, T = tokens.shape
    c = {}
    x = P["embed.W_E"][tokens]
    c["embed"] = x
    if cfg["pos"] == "standard":
        c["pos_embed"] = P["pos_embed.W_pos"][:T][None].expand(B, T, -1)
        x = x + c["pos_embed"]
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for l in range(cfg["n_layers"]):
        p = f"blocks.{l}."
        x = hook("resid_pre", l, x)
        c[("resid_pre", l)] = x
        h = tl.norm(x, P.get(p + "ln1.w"), P.get(p + "ln1.b"), cfg["norm"], cfg["eps"])
        q = hook("q", l, torch.einsum("btm,hmd->bthd", h, P[p + "attn.W_Q"]) + P[p + "attn.b_Q"])
        k = hook("k", l, torch.einsum("btm,hmd->bthd", h, P[p + "attn.W_K"]) + P[p + "attn.b_K"])
        v = hook("v", l, torch.einsum("btm,hmd->bthd", h, P[p + "attn.W_V"]) + P[p + "attn.b_V"])
        c[("q", l)], c[("k", l)], c[("v", l)] = q, k, v
        if cfg["pos"] == "rotary":
            q, k = tl.rotary(q, cfg["rotary_base"]), tl.rotary(k, cfg["rotary_base"])
        scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(cfg["d_head"])
        pattern = hook("pattern", l, scores.masked_fill(~mask, float("-inf")).softmax(-1))
        c[("pattern", l)] = pattern
        z = hook("z", l, torch.einsum("bhqk,bkhd->bqhd", pattern, v))
        c[("z", l)] = z
        result = torch.einsum("bqhd,hdm->bqhm", z, P[p + "attn.W_O"])  # hook_result
        c[("result", l)] = result
        attn_out = hook("attn_out", l, result.sum(2) + P[p + "attn.b_O"])
        c[("attn_out", l)] = attn_out
        x = x + attn_out
        if not cfg["attn_only"]:
            x = hook("resid_mid", l, x)
            c[("resid_mid", l)] = x
            h = tl.norm(x, P.get(p + "ln2.w"), P.get(p + "ln2.b"), cfg["norm"], cfg["eps"])
            mlp_out = tl.act(h @ P[p + "mlp.W_in"] + P[p + "mlp.b_in"], cfg["act_fn"]) @ P[p + "mlp.W_out"] \
                + P[p + "mlp.b_out"]
            mlp_out = hook("mlp_out", l, mlp_out)
            c[("mlp_out", l)] = mlp_out
            x = x + mlp_out
        x = hook("resid_post", l, x)
        c[("resid_post", l)] = x
    c["resid_final"] = x
    c["ln_final_scale"] = norm_scale(x, cfg["norm"], cfg["eps"])
    c["logits"] = unembed(cfg, P, x)
    return c


def unembed(cfg, P, x):
    """The final norm with x's own statistics, then W_U and b_U."""
    h = tl.norm(x, P.get("ln_final.w"), P.get("ln_final.b"), cfg["norm"], cfg["eps"])
    return h @ P["unembed.W_U"] + P["unembed.b_U"]


# ---- TransformerLens' head detector -------------------------------------------------------------

def detection_pattern(kind, tok):
    """get_{previous_token,duplicate_token,induction}_head_detection_pattern of one sequence."""
    T = tok.shape[0]
    if kind == "previous_token":
        p = torch.zeros(T, T)
        p[1:, :-1] = torch.eye(T - 1)
        return torch.tril(p)
    dup = (tok[None, :] == tok[:, None]).double()  # [q, k]: t_k == t_q
    dup.fill_diagonal_(0)
    dup = torch.tril(dup)
    if kind == "duplicate_token":
        return dup
    shifted = torch.roll(dup, shifts=1, dims=1)
    return torch.tril(torch.cat([torch.zeros(T, 1), shifted[:, 1:]], dim=1))


def similarity(A, P, exclude_bos, exclude_current, measure):
    """compute_head_attention_similarity_score, on copies (TL edits the cached pattern in place)."""
    A = A.clone()
    T = A.shape[0]
    if measure == "mul":
        if exclude_bos:
            A[:, 0] = 0
        if exclude_current:
            A.fill_diagonal_(0)
        return float((A * P).sum() / A.sum())
    d = (A - P).abs()
    if exclude_bos:
        d[:, 0] = 0
    if exclude_current:
        d.fill_diagonal_(0)
    return 1 - round(float(d.mean() * T), 3)


def detect_head(patterns, tokens, kind, exclude_bos, exclude_current, measure):
    """patterns: per layer [B, H, T, T]; the mean over sequences of each head's score -> [L, H]."""
    L, (B, H) = len(patterns), patterns[0].shape[:2]
    out = np.zeros((L, H))
    for b in range(B):
        P = detection_pattern(kind, tokens[b])
        for l in range(L):
            for h in range(H):
                out[l, h] += similarity(patterns[l][b, h], P, exclude_bos, exclude_current, measure) / B
    return out


# ---- the repeated-random-token probe ------------------------------------------------------------

def probe_scores(cfg, P, f, out):
    rows = torch.tensor(np.asarray(f["probe/tokens"], dtype=np.int64))  # [N, 1 + 2n]
    n = int(f["probe"].attrs["half_len"])
    early, late = int(f["probe"].attrs["icl_early"]), int(f["probe"].attrs["icl_late"])
    R = rows.shape[1]
    T = min(R, cfg["n_ctx"])
    tokens = rows[:, :T]
    c = run(cfg, P, tokens)
    patterns = [c[("pattern", l)] for l in range(cfg["n_layers"])]
    L = cfg["n_layers"]
    for measure in ("mul", "abs"):
        for excl in (False, True):
            tag = f"{measure}{'_excl' if excl else ''}"
            for kind in ("previous_token", "duplicate_token", "induction"):
                out[f"probe/{tag}/{kind}"] = detect_head(patterns, tokens, kind, excl, excl, measure)
    # TL Main Demo / ARENA: mean of the diagonal at offset 1 - n, over batch and diagonal.
    out["probe/induction_stripe"] = np.stack(
        [p.diagonal(offset=1 - n, dim1=-2, dim2=-1).mean(dim=(0, 2)).numpy() for p in patterns])
    # ARENA first_attn_detector: attention_pattern[:, 0].mean() (every query row), batch-averaged.
    out["probe/first_token"] = np.stack([p[..., :, 0].mean(dim=(0, 2)).numpy() for p in patterns])
    # Per-position next-token losses: loss[b, q] predicts rows[b, q + 1].
    logp = c["logits"].log_softmax(-1)
    m = min(T, R - 1)
    tgt = torch.zeros_like(tokens)
    tgt[:, :m] = rows[:, 1:m + 1]
    loss = -logp.gather(-1, tgt[..., None])[..., 0]  # [N, T]
    out["probe/icl_score"] = float((loss[:, late] - loss[:, early]).mean())
    out["probe/loss_first_half"] = float(loss[:, 0:n].mean())        # predicting r_1..r_n
    out["probe/loss_repeated_half"] = float(loss[:, n + 1:2 * n].mean())  # predicting r_2..r_n again
    # Retrieval on the probe: needle = positions 2..n, decoding = positions n+1..2n-1.
    pred = c["logits"].argmax(-1)
    out["probe/retrieval_repeat"] = retrieval(patterns, tokens, pred,
                                              needle=lambda b: list(range(2, n + 1)),
                                              decode=lambda b: list(range(n + 1, 2 * n)))


def retrieval(patterns, tokens, pred, needle, decode):
    """Wu et al. 2024: per sequence |g_h ∩ k| / |k|, k the needle's token set, g_h the needle tokens
    head h copy-pastes (w = the model's token at a decoding step is in k, and the top-1 attended
    position is a needle position holding w); the mean over sequences with a needle."""
    L, (B, H) = len(patterns), patterns[0].shape[:2]
    out, counted = np.zeros((L, H)), 0
    for b in range(B):
        npos = needle(b)
        k = {int(tokens[b, j]) for j in npos}
        if not k:
            continue
        counted += 1
        for l in range(L):
            top = patterns[l][b].argmax(-1)  # [H, T], first maximum
            for h in range(H):
                g = set()
                for q in decode(b):
                    w = int(pred[b, q])
                    j = int(top[h, q])
                    if w in k and j in npos and int(tokens[b, j]) == w:
                        g.add(w)
                out[l, h] += len(g & k) / len(k)
    return out / max(counted, 1)


def retrieval_rows(cfg, P, f, out):
    tokens = torch.tensor(np.asarray(f["retrieval/tokens"], dtype=np.int64))
    answer = np.asarray(f["retrieval/answer"])
    apos = np.asarray(f["retrieval/answer_pos"])
    c = run(cfg, P, tokens)
    patterns = [c[("pattern", l)] for l in range(cfg["n_layers"])]
    pred = c["logits"].argmax(-1)
    out["retrieval"] = retrieval(patterns, tokens, pred,
                                 needle=lambda b: [j for j in range(apos[b]) if tokens[b, j] == answer[b]],
                                 decode=lambda b: [int(apos[b])])


# ---- weights: TransformerLens' processing -------------------------------------------------------

def processed_weights(cfg, P):
    """load_and_process_state_dict(fold_ln=True, center_writing_weights=True, center_unembed=True):
    LN: ln weights folded into the reading matrices, which are then centred over d_model; W_E, W_O
    centred over d_model. RMS: weights folded only. Every model: W_U centred over the vocabulary."""
    W = {k: v.clone() for k, v in P.items()}
    L = cfg["n_layers"]
    if cfg["norm"] in ("LN", "RMS"):
        centre = cfg["norm"] == "LN"
        for l in range(L):
            p = f"blocks.{l}."
            for m in ("W_Q", "W_K", "W_V"):
                w = W[p + "attn." + m] * W[p + "ln1.w"][None, :, None]  # [H, D, dh]
                W[p + "attn." + m] = w - w.mean(1, keepdim=True) if centre else w
        w = W["unembed.W_U"] * W["ln_final.w"][:, None]
        W["unembed.W_U"] = w - w.mean(0, keepdim=True) if centre else w
    if cfg["norm"] == "LN":
        W["embed.W_E"] = W["embed.W_E"] - W["embed.W_E"].mean(-1, keepdim=True)
        for l in range(L):
            o = W[f"blocks.{l}.attn.W_O"]
            W[f"blocks.{l}.attn.W_O"] = o - o.mean(-1, keepdim=True)
    W["unembed.W_U"] = W["unembed.W_U"] - W["unembed.W_U"].mean(-1, keepdim=True)
    return W


def stacked(cfg, W, name):
    return torch.stack([W[f"blocks.{l}.attn.{name}"] for l in range(cfg["n_layers"])])  # [L, H, ...]


def copying(cfg, W):
    """Elhage et al.: eigenvalues λ of the full OV circuit; sum(λ) / sum(|λ|)."""
    WV, WO = stacked(cfg, W, "W_V"), stacked(cfg, W, "W_O")
    L, H = WV.shape[:2]
    out = np.zeros((L, H))
    for l in range(L):
        for h in range(H):
            full = W["embed.W_E"] @ WV[l, h] @ WO[l, h] @ W["unembed.W_U"]  # [V, V]
            lam = torch.linalg.eigvals(full)
            out[l, h] = float(lam.sum().real / lam.abs().sum())
    return out


def composition(cfg, W):
    """Elhage et al.'s three scores in their column-vector convention, and TransformerLens'
    all_composition_scores in its row-vector one; [L, H, L, H], 0 unless l2 > l1."""
    WQ, WK, WV, WO = (stacked(cfg, W, n) for n in ("W_Q", "W_K", "W_V", "W_O"))
    L, H = WQ.shape[:2]
    fro = torch.linalg.matrix_norm
    elhage = {m: np.zeros((L, H, L, H)) for m in "qkv"}
    tlens = {m: np.zeros((L, H, L, H)) for m in "qkv"}
    for l1 in range(L):
        for h1 in range(H):
            ov1 = WO[l1, h1].T @ WV[l1, h1].T  # Elhage W_OV: column vectors, [D, D]
            ov1_tl = WV[l1, h1] @ WO[l1, h1]    # TL OV: row vectors
            for l2 in range(l1 + 1, L):
                for h2 in range(H):
                    qk = WQ[l2, h2] @ WK[l2, h2].T  # Elhage W_QK = W_Qᵀ W_K with W_Q = TL W_Qᵀ
                    ov2 = WO[l2, h2].T @ WV[l2, h2].T
                    elhage["q"][l1, h1, l2, h2] = fro(qk.T @ ov1) / (fro(qk) * fro(ov1))
                    elhage["k"][l1, h1, l2, h2] = fro(qk @ ov1) / (fro(qk) * fro(ov1))
                    elhage["v"][l1, h1, l2, h2] = fro(ov2 @ ov1) / (fro(ov2) * fro(ov1))
                    qk_tl = WQ[l2, h2] @ WK[l2, h2].T
                    ov2_tl = WV[l2, h2] @ WO[l2, h2]
                    for m, right in (("q", qk_tl), ("k", qk_tl.T), ("v", ov2_tl)):
                        tlens[m][l1, h1, l2, h2] = fro(ov1_tl @ right) / (fro(ov1_tl) * fro(right))
    return elhage, tlens


def successor(cfg, P, W, f):
    """Gould et al.: the effective embedding MLP0(W_E t) = W_E t + MLP0(ln2(W_E t)) (attention
    layer 0 skipped), through ln1 without its weights (folded into W_V), then W_V W_O W_U of each
    head (processed weights); a hit when s(t) has the top logit among the candidates (ties: the
    smallest id)."""
    tok = np.asarray(f["successor/token"])
    succ = np.asarray(f["successor/successor"])
    cand = np.sort(np.asarray(f["successor/candidates"]))
    x = P["embed.W_E"][torch.tensor(tok, dtype=torch.int64)]  # [n, D]
    if not cfg["attn_only"]:
        h = tl.norm(x, P.get("blocks.0.ln2.w"), P.get("blocks.0.ln2.b"), cfg["norm"], cfg["eps"])
        x = x + tl.act(h @ P["blocks.0.mlp.W_in"] + P["blocks.0.mlp.b_in"], cfg["act_fn"]) @ P["blocks.0.mlp.W_out"] \
            + P["blocks.0.mlp.b_out"]
    if cfg["norm"] != "none":
        ones = torch.ones(cfg["d_model"])
        x = tl.norm(x, ones, 0 * ones, cfg["norm"], cfg["eps"])
    WV, WO = stacked(cfg, W, "W_V"), stacked(cfg, W, "W_O")
    L, H = WV.shape[:2]
    out = np.zeros((L, H))
    for l in range(L):
        for h in range(H):
            logits = (x @ WV[l, h] @ WO[l, h] @ W["unembed.W_U"])[:, torch.tensor(cand, dtype=torch.int64)]  # [n, C]
            best = cand[logits.argmax(-1).numpy()]
            out[l, h] = float((best == succ).mean())
    return out


# ---- task methods: DLA, logit lens, patching ----------------------------------------------------

def task_inputs(f):
    g = f["task"]
    return (torch.tensor(np.asarray(g["clean"], dtype=np.int64)),
            torch.tensor(np.asarray(g["corrupted"], dtype=np.int64)),
            torch.tensor(np.asarray(g["answer"], dtype=np.int64)),
            torch.tensor(np.asarray(g["wrong_answer"], dtype=np.int64)),
            torch.tensor(np.asarray(g["answer_pos"], dtype=np.int64)))


def at_answer(t, apos):
    """t [B, T, ...] -> [B, ...] at each row's answer position."""
    return t[torch.arange(t.shape[0]), apos]


def logit_diff(logits, ans, wrong, apos):
    row = at_answer(logits, apos)
    b = torch.arange(row.shape[0])
    return row[b, ans] - row[b, wrong]  # [B]


def dla(cfg, P, f, out):
    clean, _, ans, wrong, apos = task_inputs(f)
    c = run(cfg, P, clean)
    B = clean.shape[0]
    direction = (P["unembed.W_U"][:, ans] - P["unembed.W_U"][:, wrong]).T  # [B, D]
    if cfg["norm"] != "none":
        direction = direction * P["ln_final.w"]
        scale = at_answer(c["ln_final_scale"], apos)  # [B, 1]
    else:
        scale = torch.ones(B, 1)

    def attribute(piece):  # piece [B, ..., D] at the answer position -> mean over rows [...]
        if cfg["norm"] == "LN":
            piece = piece - piece.mean(-1, keepdim=True)
        s = scale.view(B, *([1] * (piece.dim() - 1)))
        d = direction.view(B, *([1] * (piece.dim() - 2)), -1)
        return ((piece / s) * d).sum(-1).mean(0)

    L = cfg["n_layers"]
    out["dla/heads"] = np.stack([attribute(at_answer(c[("result", l)], apos)).numpy() for l in range(L)])
    if not cfg["attn_only"]:
        out["dla/mlps"] = np.array([float(attribute(at_answer(c[("mlp_out", l)], apos))) for l in range(L)])
    out["dla/embed"] = float(attribute(at_answer(c["embed"], apos)))
    if "pos_embed" in c:
        out["dla/pos_embed"] = float(attribute(at_answer(c["pos_embed"], apos)))
    out["dla/logit_diff"] = float(logit_diff(c["logits"], ans, wrong, apos).mean())


def logit_lens(cfg, P, f, out):
    clean, _, ans, _, apos = task_inputs(f)
    c = run(cfg, P, clean)
    L, B = cfg["n_layers"], clean.shape[0]
    points = [c[("resid_pre", l)] for l in range(L)] + [c["resid_final"]]
    prob, rank = np.zeros((L + 1, B)), np.zeros((L + 1, B))
    for i, x in enumerate(points):
        logits = unembed(cfg, P, at_answer(x, apos))  # [B, V]
        a = logits[torch.arange(B), ans]
        prob[i] = logits.softmax(-1)[torch.arange(B), ans].numpy()
        rank[i] = (logits > a[:, None]).sum(-1).double().numpy()
    out["lens/prob"] = prob
    out["lens/rank"] = rank


def patching(cfg, P, f, out):
    """Denoising sweeps: the corrupted run with the clean resid_pre of one (layer, position), or
    the clean hook_z of one (layer, head) at every position, patched in."""
    clean, corrupted, ans, wrong, apos = task_inputs(f)
    cc = run(cfg, P, clean)
    metric = lambda c: float(logit_diff(c["logits"], ans, wrong, apos).mean())
    m_clean, m_corr = metric(cc), metric(run(cfg, P, corrupted))
    normalise = lambda m: (m - m_corr) / (m_clean - m_corr)
    L, T, H = cfg["n_layers"], clean.shape[1], cfg["n_heads"]

    def put(src, sel):
        def fn(t):
            t = t.clone()
            t[sel] = src[sel]
            return t
        return fn

    resid = np.zeros((L, T))
    for l in range(L):
        for p in range(T):
            src = cc[("resid_pre", l)]
            resid[l, p] = normalise(metric(run(cfg, P, corrupted, {("resid_pre", l): put(src, (slice(None), p))})))
    z = np.zeros((L, H))
    for l in range(L):
        for h in range(H):
            src = cc[("z", l)]
            z[l, h] = normalise(metric(run(cfg, P, corrupted, {("z", l): put(src, (slice(None), slice(None), h))})))
    out["patch/clean"] = m_clean
    out["patch/corrupted"] = m_corr
    out["patch/resid_pre"] = resid
    out["patch/z"] = z


# ---- methods on a task: metrics, sweeps, path patching, ablation, steering ----------------------

def read_task(g):
    """The task file's rows cut after the last answer position (later tokens cannot change any
    metric), and the next-token targets of the clean rows from the whole row: the prediction at
    position p is counted where loss_mask[p + 1] is set (docs/headlab-train.md), -1 elsewhere."""
    rows = torch.tensor(np.asarray(g["rows"], dtype=np.int64))  # [n, S]
    mask = torch.tensor(np.asarray(g["loss_mask"]) != 0)
    t = {name: torch.tensor(np.asarray(g[name], dtype=np.int64)) for name in ("answer", "wrong_answer", "answer_pos")}
    S, T = rows.shape[1], int(t["answer_pos"].max()) + 1
    t["clean"] = rows[:, :T]
    t["corrupted"] = torch.tensor(np.asarray(g["corrupted_rows"], dtype=np.int64))[:, :T]
    targets = torch.full((rows.shape[0], T), -1, dtype=torch.int64)
    for p in range(min(T, S - 1)):
        targets[:, p] = torch.where(mask[:, p + 1], rows[:, p + 1], torch.tensor(-1))
    t["targets"] = targets
    return t


def task_metrics(logits, t):
    """Each metric on logits [N * B, T, V] (N copies of the task's B rows, copy after copy) -> {metric: [N]},
    the mean over the rows of each copy. logit_diff = logit(answer) - logit(wrong_answer) and prob =
    softmax(logits)[answer] at answer_pos; kl = KL(clean || run) = sum_v p_clean (log p_clean - log p_run)
    of the next-token distributions at answer_pos (TransformerLens / ACDC's KL to the clean model)."""
    B = t["clean"].shape[0]
    N = logits.shape[0] // B
    rows = torch.arange(N * B)
    apos, ans, wrong = (t[k].repeat(N) for k in ("answer_pos", "answer", "wrong_answer"))
    row = logits[rows, apos]  # [N * B, V]
    logp = row.log_softmax(-1)
    ref = t["clean_logp"].repeat(N, 1)  # [N * B, V]
    per_row = {"logit_diff": row[rows, ans] - row[rows, wrong],
               "prob": logp[rows, ans].exp(),
               "kl": (ref.exp() * (ref - logp)).sum(-1)}
    return {k: v.view(N, B).mean(1) for k, v in per_row.items()}


def task_loss(logits, t):
    """Mean next-token cross-entropy of logits [N * B, T, V] against the task's targets (-1 = not
    counted) -> [N]."""
    B = t["clean"].shape[0]
    N = logits.shape[0] // B
    targets = t["targets"].repeat(N, 1)  # [N * B, T]
    counted = targets >= 0
    nll = -logits.log_softmax(-1).gather(-1, targets.clamp(min=0)[..., None])[..., 0] * counted
    return nll.view(N, -1).sum(1) / counted.view(N, -1).sum(1)


def select(site, rows, head, pos):
    """The index of one slice of the activation at `site`: batch rows, a head and/or a position
    (None = all). q, k, v, z are [B, T, H, d_head]; pattern [B, H, q, k] (position = query row);
    the residual stream, attn_out and mlp_out [B, T, D]."""
    h = slice(None) if head is None else head
    p = slice(None) if pos is None else pos
    if site in ("q", "k", "v", "z"):
        return (rows, p, h)
    if site == "pattern":
        return (rows, h, p)
    return (rows, p)


SWEEPS = {  # name: (site, by head, by position)
    "resid_pre": ("resid_pre", False, True), "resid_mid": ("resid_mid", False, True),
    "resid_post": ("resid_post", False, True), "attn_out": ("attn_out", False, True),
    "mlp_out": ("mlp_out", False, True),
    "z": ("z", True, False), "q": ("q", True, False), "k": ("k", True, False), "v": ("v", True, False),
    "pattern": ("pattern", True, False),
    "z_pos": ("z", True, True), "q_pos": ("q", True, True), "k_pos": ("k", True, True),
    "v_pos": ("v", True, True), "pattern_pos": ("pattern", True, True),
}


def sweep(cfg, P, t, base, source, name):
    """Activation patching: run `base` tokens with one slice of the `source` run patched in, for every
    (layer[, head][, position]) — all the patched runs as one batch of copies. -> {metric: array}."""
    site, by_head, by_pos = SWEEPS[name]
    L, H, T = cfg["n_layers"], cfg["n_heads"], base.shape[1]
    heads = range(H) if by_head else [None]
    positions = range(T) if by_pos else [None]
    elems = [(l, h, p) for l in range(L) for h in heads for p in positions]
    B = base.shape[0]

    def patch_layer(l):
        def fn(x):
            x = x.clone()
            for i, (el, h, p) in enumerate(elems):
                if el == l:
                    x[select(site, slice(i * B, (i + 1) * B), h, p)] = source[(site, l)][select(site, slice(None), h, p)]
            return x
        return fn

    c = run(cfg, P, base.repeat(len(elems), 1), {(site, l): patch_layer(l) for l in range(L)})
    shape = [L] + ([H] if by_head else []) + ([T] if by_pos else [])
    return {m: v.view(*shape).numpy() for m, v in task_metrics(c["logits"], t).items()}


def patching_sweeps(cfg, P, t, out):
    """Denoising (the corrupted run, one clean piece patched in) and noising (the clean run, one
    corrupted piece patched in), each normalised (patched - corrupted) / (clean - corrupted)."""
    cc, cr = run(cfg, P, t["clean"]), run(cfg, P, t["corrupted"])
    clean, corrupted = task_metrics(cc["logits"], t), task_metrics(cr["logits"], t)
    for m in clean:
        out[f"sweep/clean/{m}"] = float(clean[m])
        out[f"sweep/corrupted/{m}"] = float(corrupted[m])
    for name, (site, _, _) in SWEEPS.items():
        if cfg["attn_only"] and site in ("resid_mid", "mlp_out"):
            continue
        for direction, base, source in (("denoising", t["corrupted"], cc), ("noising", t["clean"], cr)):
            for m, v in sweep(cfg, P, t, base, source, name).items():
                out[f"sweep/{direction}/{name}/{m}/metric"] = v
                out[f"sweep/{direction}/{name}/{m}/normalised"] = \
                    (v - float(corrupted[m])) / (float(clean[m]) - float(corrupted[m]))


def parse_heads(text):
    return [(int(a), int(b)) for a, b in re.findall(r"L(\d+)H(\d+)", text)]


def parse_receivers(text):
    """"L2H1:q,L2H3:kv,L3H0" -> [(layer, head, "q")...] (no suffix = q, k and v)."""
    out = []
    for item in text.split(","):
        head, _, inputs = item.partition(":")
        (l, h), = parse_heads(head)
        out += [(l, h, site) for site in (inputs or "qkv")]
    return out


def path_patch(cfg, P, t, cc, cr, senders, target):
    """Path patching (Wang et al. 2022; ARENA's get_path_patch_head_to_final_resid_post and
    get_path_patch_head_to_heads): run the clean input with the senders' z taken from the corrupted
    run and every other head's z frozen at its clean value (MLPs recomputed). To the logits: score
    that run. To receivers: cache the receivers' q / k / v in that run, then run the clean input
    again with only those replaced, everything downstream recomputed, and score it. -> {metric: mean};
    NaN where no sender sits in a layer before a receiver (no path)."""
    L = cfg["n_layers"]
    receivers = None if target == "logits" else parse_receivers(target)
    if receivers is not None and not any(sl < rl for sl, _ in senders for rl, _, _ in receivers):
        return {m: float("nan") for m in ("logit_diff", "prob", "kl")}

    def freeze(l):
        def fn(z):
            z = cc[("z", l)].clone()
            for sl, sh in senders:
                if sl == l:
                    z[:, :, sh] = cr[("z", l)][:, :, sh]
            return z
        return fn

    c2 = run(cfg, P, t["clean"], {("z", l): freeze(l) for l in range(L)})
    if receivers is None:
        return {m: float(v) for m, v in task_metrics(c2["logits"], t).items()}
    by_point = {}
    for l, h, site in receivers:
        by_point.setdefault((site, l), []).append(h)

    def receive(point, heads):
        def fn(x):
            x = x.clone()
            x[:, :, heads] = c2[point][:, :, heads]
            return x
        return fn

    c3 = run(cfg, P, t["clean"], {point: receive(point, heads) for point, heads in by_point.items()})
    return {m: float(v) for m, v in task_metrics(c3["logits"], t).items()}


def path_patching(cfg, P, t, g, out):
    cc, cr = run(cfg, P, t["clean"]), run(cfg, P, t["corrupted"])
    clean, corrupted = task_metrics(cc["logits"], t), task_metrics(cr["logits"], t)
    sender_sets = [parse_heads(s) for s in g.attrs["senders"].split("|")]
    for i, target in enumerate(g.attrs["targets"].split("|")):
        res = [path_patch(cfg, P, t, cc, cr, s, target) for s in sender_sets]
        for m in clean:
            metric = np.array([r[m] for r in res])
            span = float(clean[m]) - float(corrupted[m])
            out[f"path/{i}/{m}/metric"] = metric
            out[f"path/{i}/{m}/effect"] = (metric - float(clean[m])) / span  # 0 = nothing, -1 = everything


def ablation(cfg, P, t, g, out):
    """Each head ablated at hook_z (its z W_O leaves the residual stream; b_O stays), each layer's
    attention as all its heads at once, each MLP at hook_mlp_out, on the clean rows: zero; mean =
    the reference rows' mean activation at each position; resample = the activation of the
    reference row drawn for each task row. -> the metrics and the mean next-token loss."""
    L, H = cfg["n_layers"], cfg["n_heads"]
    ref = torch.tensor(np.asarray(g["reference"], dtype=np.int64))
    drawn = torch.tensor(np.asarray(g["resample_rows"], dtype=np.int64))
    cc = run(cfg, P, t["clean"])
    for m, v in task_metrics(cc["logits"], t).items():
        out[f"ablation/clean/{m}"] = float(v)
    out["ablation/clean/loss"] = float(task_loss(cc["logits"], t))
    cm, cs = run(cfg, P, ref), run(cfg, P, ref[drawn])
    sources = {"zero": lambda point: torch.zeros_like(cc[point]),
               "mean": lambda point: cm[point].mean(0, keepdim=True).expand_as(cc[point]),
               "resample": lambda point: cs[point]}
    for kind, source in sources.items():
        def replaced(point, head=None):
            def fn(x):
                x = x.clone()
                idx = (slice(None), slice(None), head) if head is not None else (slice(None),)
                x[idx] = source(point)[idx]
                return x
            return {point: fn}
        cases = {"heads": [replaced(("z", l), h) for l in range(L) for h in range(H)],
                 "attn": [replaced(("z", l)) for l in range(L)]}
        if not cfg["attn_only"]:
            cases["mlp"] = [replaced(("mlp_out", l)) for l in range(L)]
        for part, patches in cases.items():
            scores = {m: [] for m in ("logit_diff", "prob", "kl", "loss")}
            for patch in patches:
                c = run(cfg, P, t["clean"], patch)
                for m, v in task_metrics(c["logits"], t).items():
                    scores[m].append(float(v))
                scores["loss"].append(float(task_loss(c["logits"], t)))
            for m, v in scores.items():
                out[f"ablation/{kind}/{part}/{m}"] = np.array(v)


def hook_site(name):
    """"blocks.1.attn.hook_z" -> ("z", 1)."""
    l, site = re.fullmatch(r"blocks\.(\d+)\.(?:attn\.)?hook_(\w+)", name).groups()
    return site, int(l)


def steering(cfg, P, t, g, out):
    """ActAdd (Turner et al. 2023): the mean-difference direction at one hook, mean(positive) -
    mean(negative) over every prompt position (or each prompt's last), a prompt being a row up to
    its answer position; then the task scored with coefficient * direction added at every position."""
    for name in g:
        s = g[name]
        point = hook_site(s.attrs["hook"])

        def mean_slice(tokens, apos):
            tokens = torch.tensor(np.asarray(tokens, dtype=np.int64))
            apos = np.asarray(apos)
            a = run(cfg, P, tokens[:, :int(apos.max()) + 1])[point]
            a = a.reshape(a.shape[0], a.shape[1], -1)  # [n, T, width]
            first = lambda b: 0 if s.attrs["positions"] == "all" else int(apos[b])
            return torch.cat([a[b, first(b):int(apos[b]) + 1] for b in range(a.shape[0])]).mean(0)

        out[f"steer/{name}/direction"] = (mean_slice(s["positive"], s["positive_answer_pos"]) -
                                          mean_slice(s["negative"], s["negative_answer_pos"])).numpy()
        direction = torch.tensor(np.asarray(s["direction"], dtype=np.float64))  # headlab's, as used
        scores = {m: [] for m in ("logit_diff", "prob", "kl", "loss")}
        for coefficient in np.asarray(s["coefficients"], dtype=np.float64):
            add = lambda x: x + coefficient * direction.view(x.shape[2:])
            c = run(cfg, P, t["clean"], {point: add})
            for m, v in task_metrics(c["logits"], t).items():
                scores[m].append(float(v))
            scores["loss"].append(float(task_loss(c["logits"], t)))
        for m, v in scores.items():
            out[f"steer/{name}/{m}"] = np.array(v)


def methods(cfg, P, f, out):
    g = f["methods"]
    t = read_task(g["task"])
    t["clean_logp"] = at_answer(run(cfg, P, t["clean"])["logits"], t["answer_pos"]).log_softmax(-1)
    patching_sweeps(cfg, P, t, out)
    path_patching(cfg, P, t, g["path"], out)
    ablation(cfg, P, t, g["ablation"], out)
    steering(cfg, P, t, g["steer"], out)


# ---- main ---------------------------------------------------------------------------------------

def score(ckpt, inputs, out_path):
    with h5py.File(ckpt, "r") as f:
        cfg = tl.read_config(f)
        P = {name: torch.tensor(np.asarray(f["params"][name], dtype=np.float64)) for name in f["params"]}
    if cfg["tied"]:
        P["unembed.W_U"] = P["embed.W_E"].T.clone()
    out = {}
    with h5py.File(inputs, "r") as f:
        if "methods" in f:  # the task methods alone (circuits_reference_methods_test.cpp)
            methods(cfg, P, f, out)
        else:
            head_and_task_scores(cfg, P, f, out)
    with h5py.File(out_path, "w") as f:
        for name, value in out.items():
            f[name] = value


def head_and_task_scores(cfg, P, f, out):
    probe_scores(cfg, P, f, out)
    W = processed_weights(cfg, P)
    for processing, weights in (("none", P), ("transformer_lens", W)):
        out[f"copying/{processing}"] = copying(cfg, weights)
        elhage, tlens = composition(cfg, weights)
        for m in "qkv":
            out[f"composition/{processing}/{m}"] = elhage[m]
            out[f"composition_tl/{processing}/{m}"] = tlens[m]
    if "successor" in f:
        out["successor"] = successor(cfg, P, W, f)
    if "retrieval" in f:
        retrieval_rows(cfg, P, f, out)
    if "task" in f:
        dla(cfg, P, f, out)
        logit_lens(cfg, P, f, out)
        patching(cfg, P, f, out)


def main():
    args = sys.argv[1:]
    if not args or len(args) % 3:
        sys.exit("usage: circuits_reference.py CKPT.h5 INPUTS.h5 OUT.h5 [CKPT.h5 INPUTS.h5 OUT.h5 ...]")
    for i in range(0, len(args), 3):
        score(*args[i:i + 3])


if __name__ == "__main__":
    main()
