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

Copying and composition are computed twice: on the checkpoint's weights as stored (the formulas
as published; what HookedTransformer.load_state_dict gives TransformerLens) and on the weights
processed as TransformerLens' load_and_process_state_dict does by default (fold_ln,
center_writing_weights, center_unembed). The succession score reads the processed weights (Gould
et al. work on TransformerLens-processed models; the circuit goes through the model's norms).

    python3 circuits_reference.py CKPT.h5 INPUTS.h5 OUT.h5 [CKPT.h5 INPUTS.h5 OUT.h5 ...]
"""
import math
import os
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

    patch: {(name, layer): fn(tensor) -> tensor} applied where the activation is formed
    (names: resid_pre, z)."""
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
        q = torch.einsum("btm,hmd->bthd", h, P[p + "attn.W_Q"]) + P[p + "attn.b_Q"]
        k = torch.einsum("btm,hmd->bthd", h, P[p + "attn.W_K"]) + P[p + "attn.b_K"]
        v = torch.einsum("btm,hmd->bthd", h, P[p + "attn.W_V"]) + P[p + "attn.b_V"]
        if cfg["pos"] == "rotary":
            q, k = tl.rotary(q, cfg["rotary_base"]), tl.rotary(k, cfg["rotary_base"])
        scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(cfg["d_head"])
        pattern = scores.masked_fill(~mask, float("-inf")).softmax(-1)
        c[("pattern", l)] = pattern
        z = hook("z", l, torch.einsum("bhqk,bkhd->bqhd", pattern, v))
        c[("z", l)] = z
        result = torch.einsum("bqhd,hdm->bqhm", z, P[p + "attn.W_O"])  # hook_result
        c[("result", l)] = result
        x = x + result.sum(2) + P[p + "attn.b_O"]
        if not cfg["attn_only"]:
            h = tl.norm(x, P.get(p + "ln2.w"), P.get(p + "ln2.b"), cfg["norm"], cfg["eps"])
            mlp_out = tl.act(h @ P[p + "mlp.W_in"] + P[p + "mlp.b_in"], cfg["act_fn"]) @ P[p + "mlp.W_out"] \
                + P[p + "mlp.b_out"]
            c[("mlp_out", l)] = mlp_out
            x = x + mlp_out
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


# ---- main ---------------------------------------------------------------------------------------

def score(ckpt, inputs, out_path):
    with h5py.File(ckpt, "r") as f:
        cfg = tl.read_config(f)
        P = {name: torch.tensor(np.asarray(f["params"][name], dtype=np.float64)) for name in f["params"]}
    if cfg["tied"]:
        P["unembed.W_U"] = P["embed.W_E"].T.clone()
    out = {}
    with h5py.File(inputs, "r") as f:
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
    with h5py.File(out_path, "w") as f:
        for name, value in out.items():
            f[name] = value


def main():
    args = sys.argv[1:]
    if not args or len(args) % 3:
        sys.exit("usage: circuits_reference.py CKPT.h5 INPUTS.h5 OUT.h5 [CKPT.h5 INPUTS.h5 OUT.h5 ...]")
    for i in range(0, len(args), 3):
        score(*args[i:i + 3])


if __name__ == "__main__":
    main()
