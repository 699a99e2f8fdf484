#!/usr/bin/python3
"""Reads headlab-circuits eap --checkpoints output (PREFIX.h5: /steps, /scores [n, n_src, n_dst]) and
prints, as JSON, the strength of the final circuit at each checkpoint: the sum of the scores of the
TOP edges with the largest |score| at the last checkpoint, and the interval where it rises most.

    python3 edge_rise.py STEPS.h5 [TOP]
"""
import json
import sys

import h5py
import numpy as np


def main():
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    with h5py.File(sys.argv[1], "r") as f:
        steps = np.asarray(f["steps"][()]).astype(np.int64)
        scores = np.asarray(f["scores"][()], dtype=np.float64)
    flat = scores.reshape(len(steps), -1)
    order = np.argsort(-np.abs(flat[-1]))[:top]
    strength = flat[:, order].sum(axis=1)
    rises = np.diff(strength)
    i = int(np.argmax(rises)) if len(rises) else 0
    final = strength[-1]
    half = next((int(s) for s, v in zip(steps, strength) if abs(final) > 0 and v >= 0.5 * final), int(steps[-1]))
    print(json.dumps({
        "steps": steps.tolist(),
        "strength": strength.tolist(),
        "top_edges": top,
        "rise_from": int(steps[i]),
        "rise_to": int(steps[i + 1]) if len(rises) else int(steps[0]),
        "rise": float(rises[i]) if len(rises) else 0.0,
        "half_step": half,
        "final": float(final),
    }))


if __name__ == "__main__":
    main()
