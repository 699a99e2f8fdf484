#!/usr/bin/python3
"""An induction task dataset for models trained on headlab-train's builtin:induction (BOS = 0, tokens
1..d_vocab-1, no tokenizer), in the form headlab-circuits reads (a sequences file with clean and
corrupted rows): each row is BOS, m random tokens, the same m tokens again; the answer is the last
token of the repeat, predicted at the position before it; the corrupted twin replaces the first copy
by fresh tokens, so only induction tells the two apart.

    python3 induction_task.py OUT.h5 N_ROWS M D_VOCAB SEED
"""
import sys

import h5py
import numpy as np


def main():
    out, n, m, d_vocab, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    rng = np.random.default_rng(seed)
    seq = 1 + 2 * m
    tokens = np.zeros((n, seq), dtype=np.int32)
    corrupted = np.zeros((n, seq), dtype=np.int32)
    answer = np.zeros(n, dtype=np.int32)
    wrong = np.zeros(n, dtype=np.int32)
    for r in range(n):
        first = rng.choice(np.arange(1, d_vocab), size=m, replace=False)
        fresh = rng.choice(np.setdiff1d(np.arange(1, d_vocab), first), size=m, replace=False)
        tokens[r] = np.concatenate([[0], first, first])
        corrupted[r] = np.concatenate([[0], fresh, first])
        answer[r] = first[-1]
        # The wrong answer: what the corrupted first copy would have the model copy.
        wrong[r] = fresh[-1]
    mask = np.zeros((n, seq), dtype=np.uint8)
    mask[:, -1] = 1
    with h5py.File(out, "w") as f:
        f["tokens"] = tokens
        f["corrupted"] = corrupted
        f["answer"] = answer
        f["wrong_answer"] = wrong
        f["answer_pos"] = np.full(n, seq - 2, dtype=np.int32)
        f["loss_mask"] = mask
        f.attrs["format"] = "headlab.tokens"
        f.attrs["format_version"] = 1
        f.attrs["kind"] = "sequences"
        f.attrs["d_vocab"] = d_vocab
        f.attrs["source"] = f"induction task rows (scripts/reproduce/induction_task.py, {m} tokens repeated, seed {seed})"


if __name__ == "__main__":
    main()
