#!/usr/bin/python3
"""Rows like headlab-train's builtin:induction task, as a token dataset file (headlab.tokens):
BOS (0), then at each position either a fresh token (uniform over 1..d_vocab-1) or, with
probability copy_prob from position 2 on, the start of a copy of 4 to 16 earlier tokens from a
random earlier place. labels/copy: 0 fresh, 1 first token of a copy, 2 later token of a copy
(predictable by induction).

    python3 scripts/induction_rows.py OUT.h5 [n_seq] [seq_len] [d_vocab] [seed]
"""
import sys

import h5py
import numpy as np


def main():
    out = sys.argv[1]
    n_seq = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    seq_len = int(sys.argv[3]) if len(sys.argv) > 3 else 65
    d_vocab = int(sys.argv[4]) if len(sys.argv) > 4 else 128
    seed = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    rng = np.random.default_rng(seed)
    tokens = np.zeros((n_seq, seq_len), dtype=np.int32)
    copy = np.zeros((n_seq, seq_len), dtype=np.int32)
    for r in range(n_seq):
        t = 1
        while t < seq_len:
            if t >= 2 and rng.random() < 0.2:
                m = int(rng.integers(4, 17))
                s = int(rng.integers(1, t))
                for j in range(m):
                    if t + j >= seq_len:
                        break
                    tokens[r, t + j] = tokens[r, s + j]
                    copy[r, t + j] = 1 if j == 0 else 2
                t += m
            else:
                tokens[r, t] = int(rng.integers(1, d_vocab))
                t += 1
    with h5py.File(out, "w") as f:
        f.attrs["format"] = "headlab.tokens"
        f.attrs["format_version"] = 1
        f.attrs["kind"] = "sequences"
        f.attrs["d_vocab"] = d_vocab
        f.attrs["source"] = f"induction rows (scripts/induction_rows.py, seed {seed})"
        f["tokens"] = tokens
        f.create_group("labels")["copy"] = copy


if __name__ == "__main__":
    main()
