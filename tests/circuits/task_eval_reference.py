"""Outside float64 reference for headlab's task evaluation (circuits/task_eval.h), from the definitions:
next-token accuracy and loss at positions of given roles, answer accuracy, the Markov strategies
(uniform, in-context unigram and bigram with add-alpha counts, the true transition row) scored by
KL(strategy || model renormalised over the states), and attention hit rates on labelled targets.

usage: task_eval_reference.py DATA.h5 MODEL_OUT.h5 ROLESETS OUT.json
MODEL_OUT.h5 holds /logits [n, T, V] and /patterns [L, n, H, T, T] of the model on the rows' first T
tokens (T = seq_len - 1); ROLESETS is comma-separated sets of role names joined by '+'.
"""
import json
import sys

import h5py
import numpy as np


def main():
    data_path, model_path, rolesets, out_path = sys.argv[1:5]
    d = h5py.File(data_path, "r")
    m = h5py.File(model_path, "r")
    tokens = d["tokens"][...].astype(np.int64)
    n, S = tokens.shape
    T = S - 1
    logits = m["logits"][...].astype(np.float64)
    logp = logits - logits.max(-1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(-1, keepdims=True))
    nxt = tokens[:, 1:]
    nll = -np.take_along_axis(logp, nxt[..., None], -1)[..., 0]  # [n, T]
    pred = logits.argmax(-1)
    out = {}
    mask = d["loss_mask"][...][:, 1:] != 0
    out["loss"] = float(nll[mask].mean())
    ans_pos = d["answer_pos"][...]
    out["answer_accuracy"] = float(np.mean(pred[np.arange(n), ans_pos] == d["answer"][...]))
    names = json.loads(d.attrs["label_names"])["role"]
    role = d["labels/role"][...][:, :T]
    out["roles"] = {}
    for rs in [r for r in rolesets.split(",") if r]:
        values = [names.index(x) for x in rs.split("+")]
        sel = np.isin(role, values)
        out["roles"][rs] = {
            "positions": int(sel.sum()),
            "accuracy": float(np.mean(pred[sel] == nxt[sel])) if sel.any() else None,
            "loss": float(nll[sel].mean()) if sel.any() else None,
        }
    if "task/transitions" in d:
        states = d["task/state_tokens"][...]
        K = len(states)
        alpha = json.loads(d.attrs["task_options"])["alpha"]
        P = d["task/transitions"][...]
        sums = np.zeros(4)
        count = 0
        for r in range(n):
            x = [list(states).index(t) for t in tokens[r, 1:T + 1]]  # states x_1 .. x_T at positions 1..T
            for p in range(1, T):  # predictions made at positions 1 .. T-1
                seen = x[:p]  # x_1 .. x_p
                q = np.exp(logits[r, p, states] - logits[r, p, states].max())
                q = q / q.sum()
                uni = (np.bincount(seen, minlength=K) + alpha) / (len(seen) + K * alpha)
                cur = seen[-1]
                nij = np.zeros(K)
                for a, b in zip(seen[:-1], seen[1:]):
                    if a == cur:
                        nij[b] += 1
                big = (nij + alpha) / (nij.sum() + K * alpha)
                for k, s in enumerate([np.full(K, 1.0 / K), uni, big, P[r, cur]]):
                    sums[k] += np.sum(np.where(s > 0, s * np.log(s / q), 0.0))
                count += 1
        out["strategies"] = {"positions": count, "kl": list(sums / count)}
    if "labels/attend_target" in d:
        target = d["labels/attend_target"][...][:, :T]
        pat = m["patterns"][...].astype(np.float64)  # [L, n, H, T, T]
        L, _, H = pat.shape[:3]
        hits = np.zeros((L, H))
        weight = np.zeros((L, H))
        count = 0
        for r in range(n):
            for q in range(T):
                k = target[r, q]
                if k < 0 or k > q:
                    continue
                count += 1
                for l in range(L):
                    for h in range(H):
                        row = pat[l, r, h, q, : q + 1]
                        hits[l, h] += int(np.argmax(row) == k)
                        weight[l, h] += row[k]
        out["attention"] = {"positions": count, "hit_rate": (hits / count).tolist(),
                            "target_weight": (weight / count).tolist()}
    with open(out_path, "w") as f:
        json.dump(out, f)


main()
