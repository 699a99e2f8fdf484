"""The outside reference for headlab-model import --hf: a small random GPT-2 written in Hugging Face's
layout (config.json + model.safetensors, written with numpy, json and struct: no safetensors package
needed), and its logits from a float64 GPT-2 forward computed straight from those HF arrays (Conv1D
weights [in, out], fused c_attn, tied lm_head), without any TransformerLens conversion.

usage: hf_gpt2_reference.py write DIR        writes DIR/hf/{config.json,model.safetensors},
                                              DIR/tokens.h5 (/tokens [B, T]) and DIR/reference.h5 (/logits)
       hf_gpt2_reference.py write-sharded DIR   after write: DIR/hf_sharded, the same config and tensors
                                              in 3 shards + model.safetensors.index.json, as
                                              transformers' save_pretrained(max_shard_size=...) lays them out
       hf_gpt2_reference.py check-export DIR EXPORTED.safetensors
                                              checks headlab's TL-named export against the HF arrays
"""
import json
import os
import struct
import sys

import h5py
import numpy as np

L, D, H, V, N_CTX, B, T = 2, 32, 4, 61, 16, 3, 16
DH = D // H
M = 4 * D


def hf_arrays(seed=5):
    rng = np.random.default_rng(seed)
    a = {}
    a["wte.weight"] = rng.normal(0, 0.3, (V, D))
    a["wpe.weight"] = rng.normal(0, 0.1, (N_CTX, D))
    for l in range(L):
        p = "h.%d." % l
        a[p + "ln_1.weight"] = 1 + rng.normal(0, 0.2, D)
        a[p + "ln_1.bias"] = rng.normal(0, 0.2, D)
        a[p + "attn.c_attn.weight"] = rng.normal(0, 0.3, (D, 3 * D))
        a[p + "attn.c_attn.bias"] = rng.normal(0, 0.2, 3 * D)
        a[p + "attn.c_proj.weight"] = rng.normal(0, 0.2, (D, D))
        a[p + "attn.c_proj.bias"] = rng.normal(0, 0.1, D)
        a[p + "ln_2.weight"] = 1 + rng.normal(0, 0.2, D)
        a[p + "ln_2.bias"] = rng.normal(0, 0.2, D)
        a[p + "mlp.c_fc.weight"] = rng.normal(0, 0.2, (D, M))
        a[p + "mlp.c_fc.bias"] = rng.normal(0, 0.1, M)
        a[p + "mlp.c_proj.weight"] = rng.normal(0, 0.2, (M, D))
        a[p + "mlp.c_proj.bias"] = rng.normal(0, 0.1, D)
    a["ln_f.weight"] = 1 + rng.normal(0, 0.2, D)
    a["ln_f.bias"] = rng.normal(0, 0.2, D)
    return {k: v.astype(np.float32) for k, v in a.items()}


def write_safetensors(path, arrays):
    header, offset, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for name, arr in arrays.items():
        raw = np.ascontiguousarray(arr).astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)


def read_safetensors(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        out[name] = np.frombuffer(data[b:end], dtype="<f4").reshape(e["shape"]).astype(np.float64)
    return out


def layer_norm(x, w, b, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def gelu_new(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def gpt2_forward(a, tokens):
    a = {k: v.astype(np.float64) for k, v in a.items()}
    x = a["wte.weight"][tokens] + a["wpe.weight"][np.arange(tokens.shape[1])]
    mask = np.triu(np.ones((tokens.shape[1], tokens.shape[1]), dtype=bool), 1)
    for l in range(L):
        p = "h.%d." % l
        h = layer_norm(x, a[p + "ln_1.weight"], a[p + "ln_1.bias"])
        qkv = h @ a[p + "attn.c_attn.weight"] + a[p + "attn.c_attn.bias"]
        q, k, v = np.split(qkv, 3, axis=-1)
        split = lambda t: t.reshape(t.shape[0], t.shape[1], H, DH).transpose(0, 2, 1, 3)
        q, k, v = split(q), split(k), split(v)
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(DH)
        scores = np.where(mask, -np.inf, scores)
        scores = scores - scores.max(-1, keepdims=True)
        pattern = np.exp(scores)
        pattern /= pattern.sum(-1, keepdims=True)
        z = (pattern @ v).transpose(0, 2, 1, 3).reshape(x.shape)
        x = x + z @ a[p + "attn.c_proj.weight"] + a[p + "attn.c_proj.bias"]
        h = layer_norm(x, a[p + "ln_2.weight"], a[p + "ln_2.bias"])
        x = x + gelu_new(h @ a[p + "mlp.c_fc.weight"] + a[p + "mlp.c_fc.bias"]) @ a[p + "mlp.c_proj.weight"] + a[
            p + "mlp.c_proj.bias"]
    x = layer_norm(x, a["ln_f.weight"], a["ln_f.bias"])
    return x @ a["wte.weight"].T


def write(out):
    os.makedirs(os.path.join(out, "hf"), exist_ok=True)
    config = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "n_layer": L, "n_embd": D, "n_head": H,
              "n_positions": N_CTX, "n_ctx": N_CTX, "vocab_size": V, "activation_function": "gelu_new",
              "layer_norm_epsilon": 1e-5, "n_inner": None, "scale_attn_weights": True}
    with open(os.path.join(out, "hf", "config.json"), "w") as f:
        json.dump(config, f)
    a = hf_arrays()
    stored = dict(a)
    # What transformers' save_pretrained adds: the causal-mask buffers (older versions) and lm_head.
    for l in range(L):
        stored["h.%d.attn.bias" % l] = np.tril(np.ones((1, 1, N_CTX, N_CTX), dtype=np.float32))
    stored["lm_head.weight"] = a["wte.weight"]
    write_safetensors(os.path.join(out, "hf", "model.safetensors"), {"transformer." + k if not k.startswith("lm_head")
                                                                     else k: v for k, v in stored.items()})
    tokens = np.random.default_rng(9).integers(0, V, (B, T))
    with h5py.File(os.path.join(out, "tokens.h5"), "w") as f:
        f["tokens"] = tokens.astype(np.int32)
    with h5py.File(os.path.join(out, "reference.h5"), "w") as f:
        back = read_safetensors(os.path.join(out, "hf", "model.safetensors"))
        back = {k[len("transformer."):] if k.startswith("transformer.") else k: v for k, v in back.items()}
        f["logits"] = gpt2_forward(back, tokens)


def write_sharded(out):
    """Cuts the single file's tensors, in its order, into 3 shards of about equal bytes."""
    src = os.path.join(out, "hf")
    dst = os.path.join(out, "hf_sharded")
    os.makedirs(dst, exist_ok=True)
    with open(os.path.join(src, "config.json")) as f:
        config = f.read()
    with open(os.path.join(dst, "config.json"), "w") as f:
        f.write(config)
    with open(os.path.join(src, "model.safetensors"), "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    arrays = read_safetensors(os.path.join(src, "model.safetensors"))
    names = [k for k in header if k != "__metadata__"]
    total = sum(arrays[k].size * 4 for k in names)
    n_shards, shards, size = 3, [[]], 0
    for name in names:
        if size >= total * len(shards) / n_shards and len(shards) < n_shards:
            shards.append([])
        shards[-1].append(name)
        size += arrays[name].size * 4
    weight_map = {}
    for i, group in enumerate(shards):
        file = "model-%05d-of-%05d.safetensors" % (i + 1, len(shards))
        write_safetensors(os.path.join(dst, file), {k: arrays[k].astype(np.float32) for k in group})
        weight_map.update({k: file for k in group})
    with open(os.path.join(dst, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    print("wrote %d shards of %d tensors" % (len(shards), len(names)))


def check_export(out, exported):
    a = {k: v.astype(np.float64) for k, v in hf_arrays().items()}
    e = read_safetensors(exported)
    expect = {"embed.W_E": a["wte.weight"], "pos_embed.W_pos": a["wpe.weight"],
              "ln_final.w": a["ln_f.weight"], "ln_final.b": a["ln_f.bias"],
              "unembed.W_U": a["wte.weight"].T, "unembed.b_U": np.zeros(V)}
    for l in range(L):
        p, t = "h.%d." % l, "blocks.%d." % l
        w, b = a[p + "attn.c_attn.weight"], a[p + "attn.c_attn.bias"]
        for i, n in enumerate("QKV"):
            expect[t + "attn.W_" + n] = w[:, i * D:(i + 1) * D].reshape(D, H, DH).transpose(1, 0, 2)
            expect[t + "attn.b_" + n] = b[i * D:(i + 1) * D].reshape(H, DH)
        expect[t + "attn.W_O"] = a[p + "attn.c_proj.weight"].reshape(H, DH, D)
        expect[t + "attn.b_O"] = a[p + "attn.c_proj.bias"]
        expect[t + "ln1.w"], expect[t + "ln1.b"] = a[p + "ln_1.weight"], a[p + "ln_1.bias"]
        expect[t + "ln2.w"], expect[t + "ln2.b"] = a[p + "ln_2.weight"], a[p + "ln_2.bias"]
        expect[t + "mlp.W_in"], expect[t + "mlp.b_in"] = a[p + "mlp.c_fc.weight"], a[p + "mlp.c_fc.bias"]
        expect[t + "mlp.W_out"], expect[t + "mlp.b_out"] = a[p + "mlp.c_proj.weight"], a[p + "mlp.c_proj.bias"]
    if sorted(expect) != sorted(e):
        print("names differ: missing %s, extra %s" % (sorted(set(expect) - set(e)), sorted(set(e) - set(expect))))
        sys.exit(1)
    for name, want in expect.items():
        if e[name].shape != want.shape or np.abs(e[name] - want).max() > 0:
            print("%s differs (shape %s vs %s)" % (name, e[name].shape, want.shape))
            sys.exit(1)
    print("export ok: %d entries" % len(e))


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2])
    elif sys.argv[1] == "write-sharded":
        write_sharded(sys.argv[2])
    else:
        check_export(sys.argv[2], sys.argv[3])
