#!/usr/bin/python3
"""The induction features of an attention-output SAE, from `headlab-probes sae features` and
`headlab-circuits heads` on the same model.

The family is finding 17's (scripts/reproduce/findings/17_attention_sae.sh): a live feature whose top
contexts are, in at least 3 of 4, a token that already occurred earlier in the context window (an
induction head attends to the token after that earlier copy). Prints how many live features are in
the family and on which heads their decoder rows load most, then the N members with the largest
single-head share, each with its top contexts and the tokens its decoder direction promotes.

    sae_induction_features.py FEATURES.json HEADS.json [N] [--json OUT.json]
"""
import json
import sys


def repeated_share(feature):
    hits = []
    for c in feature["contexts"]:
        i = c["position"] - c["first_position"]
        hits.append(c["token_ids"][i] in c["token_ids"][:i])
    return sum(hits) / len(hits)


def after_earlier_copy(c):
    """The token that followed the latest earlier copy of the current token, inside the window."""
    i = c["position"] - c["first_position"]
    ids = c["token_ids"]
    earlier = [j for j in range(i) if ids[j] == ids[i]]
    return c["tokens"][earlier[-1] + 1] if earlier else None


def main(argv):
    out_json = None
    if "--json" in argv:
        at = argv.index("--json")
        out_json = argv[at + 1]
        argv = argv[:at] + argv[at + 2:]
    features = json.load(open(argv[1]))
    heads = json.load(open(argv[2]))
    shown = int(argv[3]) if len(argv) > 3 else 3
    induction = [r["head"] for r in heads["roles"] if r["role"] == "induction head"]
    live = [f for f in features["features"] if f["contexts"]]
    family = [f for f in live if repeated_share(f) >= 0.75]
    on_induction = [f for f in family if f["top_head"] in induction]
    by_head = {}
    for f in family:
        by_head[f["top_head"]] = by_head.get(f["top_head"], 0) + 1
    print(f"induction heads (headlab-circuits heads): {' '.join(induction) or 'none'}")
    print(f"induction family (top contexts a repeated token in >= 3 of 4): {len(family)} of {len(live)} live features, "
          f"{len(on_induction)} loading most on an induction head; by head: "
          + " ".join(f"{h} {n}" for h, n in sorted(by_head.items())))
    family.sort(key=lambda f: (-max(f["head_share"].values()), f["feature"]))
    picked = []
    seen_heads = set()
    # The most head-specific members, one per head first so that every head is shown.
    for f in family:
        if f["top_head"] not in seen_heads and len(picked) < shown:
            picked.append(f)
            seen_heads.add(f["top_head"])
    for f in family:
        if len(picked) >= shown:
            break
        if f not in picked:
            picked.append(f)
    for f in picked:
        shares = " ".join(f"{h} {s:.2f}" for h, s in sorted(f["head_share"].items()))
        promoted = " ".join(f"{p['token']} {p['logit']:+.2f}" for p in f["promoted"][:3])
        print(f"feature {f['feature']}: density {f['density']:.4f}, head shares {shares}; promotes {promoted}")
        for c in f["contexts"][:3]:
            i = c["position"] - c["first_position"]
            text = " ".join(f"[{t}]" if j == i else t for j, t in enumerate(c["tokens"]))
            after = after_earlier_copy(c)
            note = f"earlier copy followed by {after}" if after else "earlier copy before the window"
            print(f"  {c['activation']:5.2f}  {text}   ({note})")
    if out_json:
        json.dump({"induction_heads": induction, "live": len(live), "family": len(family),
                   "on_induction_heads": len(on_induction), "by_head": by_head,
                   "shown": [f["feature"] for f in picked]}, open(out_json, "w"), indent=1)


if __name__ == "__main__":
    main(sys.argv)
