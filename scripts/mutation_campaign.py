#!/usr/bin/env python3
"""Feeds damaged inputs to the commands, as a damaged disk or a truncated download would.

Makes valid files with the commands themselves (a token dataset, a trained checkpoint, an INI
config, two tokenizers), then for each kind writes --count mutated copies (bit flips, overwritten
and inserted bytes, deleted ranges, truncation, duplicated blocks; in HDF5 files mostly outside
the raw array data, where the structure is) and runs the commands that read that kind on each.

Every run must end with exit status 0 or 2; a 2 must print exactly one line
`headlab-<tool>: error: ...` in printable ASCII. Anything else (a signal, exit 1, a sanitizer
report, more than one line, raw bytes, a run past --timeout) is a failure: the input is kept under
--keep and the command printed. Prints counts, the slowest run and the largest peak memory.

  scripts/mutation_campaign.py [--build build] [--count 1000] [--kinds checkpoint,dataset,config,tokenizer]
                               [--seed 1] [--timeout 60] [--keep DIR] [--jobs 1]
Exit status: 0 when every run was fine, 1 otherwise, 77 when the commands are not built.
"""
import argparse
import concurrent.futures
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time


def find_tool(build, tool):
    for path in (os.path.join(build, "bin", tool), os.path.join(build, tool.split("-", 1)[1], tool)):
        if os.access(path, os.X_OK):
            return path
    return None


# The peak memory of a command is measured by GNU time, a small parent of its own: a child forked from
# this Python process starts with Python's resident size as its high-water mark, and exec keeps it.
GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


def run(cmd, timeout):
    """(exit status or -signal, stderr bytes, seconds, peak RSS in KiB (-1: not measured), timed out)."""
    start = time.monotonic()
    fd, rss_file = tempfile.mkstemp(prefix="headlab-rss-")
    os.close(fd)
    full = [GNU_TIME, "-f", "%M", "-o", rss_file] + cmd if GNU_TIME else cmd
    p = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         start_new_session=True)
    killed = []

    def kill():
        killed.append(1)
        try:
            os.killpg(p.pid, signal.SIGKILL)  # time and the command it runs
        except ProcessLookupError:
            pass

    timer = threading.Timer(timeout, kill)
    timer.start()
    err = p.stderr.read()
    code = p.wait()
    timer.cancel()
    rss = -1
    if GNU_TIME:
        with open(rss_file) as f:
            words = f.read().split()
        # "Command terminated by signal N" (time then exits 128 + N) or "... non-zero status N", then %M.
        if "signal" in words and words.index("signal") + 1 < len(words):
            code = -int(words[words.index("signal") + 1])
        if words and words[-1].isdigit():
            rss = int(words[-1])
    os.remove(rss_file)
    return code, err, time.monotonic() - start, rss, bool(killed)


def raw_data_ranges(path):
    """Byte ranges of contiguous array data (h5py), so that most mutations hit the structure."""
    try:
        import h5py
    except ImportError:
        return []
    ranges = []
    try:
        with h5py.File(path, "r") as f:
            def visit(_, obj):
                if isinstance(obj, h5py.Dataset):
                    offset = obj.id.get_offset()
                    if offset is not None:
                        ranges.append((offset, offset + obj.id.get_storage_size()))
            f.visititems(visit)
    except Exception:
        return []
    return sorted(ranges)


def mutate_binary(data, rng, avoid):
    data = bytearray(data)
    def position():
        for _ in range(50):
            p = rng.randrange(len(data))
            if rng.random() < 0.25 or not any(a <= p < b for a, b in avoid):
                return p
        return rng.randrange(len(data))
    for _ in range(rng.choice([1, 1, 1, 2, 3, 5, 8])):
        op = rng.random()
        p = position()
        if op < 0.35:
            data[p] ^= 1 << rng.randrange(8)
        elif op < 0.6:
            data[p] = rng.choice([0, 0xFF, 0x7F, 0x80, rng.randrange(256)])
        elif op < 0.75:
            n = rng.randrange(1, 17)
            data[p:p + n] = bytes([rng.choice([0, 0xFF, rng.randrange(256)])]) * len(data[p:p + n])
        elif op < 0.85:
            n = rng.randrange(1, 9)
            data[p:p + n] = (rng.randrange(1 << 63)).to_bytes(8, "little")[:len(data[p:p + n])]
        elif op < 0.93:
            del data[p:p + rng.randrange(1, 64)]
        else:
            data = data[:p]
            break
    return bytes(data)


def mutate_text(data, rng):
    data = bytearray(data)
    for _ in range(rng.choice([1, 1, 2, 3, 5])):
        if not data:
            data = bytearray(b"\x00")
        op = rng.random()
        p = rng.randrange(len(data))
        if op < 0.2:
            data[p] ^= 1 << rng.randrange(8)
        elif op < 0.4:
            data[p:p] = bytes([rng.choice([0, 0x1B, 0x7F, 0x80, 0xBD, 0xFF, 0xC3, 0x0A, 0x0D, rng.randrange(256)])])
        elif op < 0.55:
            del data[p:p + rng.randrange(1, 16)]
        elif op < 0.7:  # a digit run replaced with a big or negative number
            while p < len(data) and not chr(data[p]).isdigit():
                p += 1
            q = p
            while q < len(data) and chr(data[q]).isdigit():
                q += 1
            data[p:q] = rng.choice([b"0", b"-1", b"99999999999", b"4294967296", b"1e308", b"nan", b"2147483647"])
        elif op < 0.8:
            q = rng.randrange(len(data))
            a, b = min(p, q), max(p, q)
            data[p:p] = data[a:b + 1][:4096]
        elif op < 0.9:
            data[p:p] = rng.choice([b"[", b"]", b"{", b"}", b"\"", b"=", b",", b":", b"\\u0000", b"\\ud800", b"[[[[[[[["])
        else:
            data = data[:p]
    return bytes(data)


def make_seeds(tools, d):
    """Valid inputs, made by the commands; returns {kind: [paths]} and a few fixed files."""
    def ok(cmd):
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if r.returncode != 0:
            sys.exit("mutation_campaign: making a seed failed: %s\n%s" % (" ".join(cmd), r.stderr.decode(errors="replace")))
    ds, tok = os.path.join(d, "ioi.h5"), os.path.join(d, "ioi_tokenizer.json")
    ok([tools["data"], "task", "ioi", "--n", "8", "--seed", "1", "--out", ds, "--save-tokenizer", tok])
    ds2 = os.path.join(d, "ioi_mixed.h5")  # another shape of the same vocabulary (run reads both)
    ok([tools["data"], "mix", "--source", ds, "--n", "5", "--seq-len", "24", "--seed", "2", "--out", ds2])
    text = os.path.join(d, "text.txt")
    with open(text, "w") as f:
        f.write("the cat sat on the mat, the dog sat on the log; caf\u00e9 na\u00efve\n" * 4)
    bpe = os.path.join(d, "bpe.json")
    ok([tools["data"], "tokenizer", "train", "--input", text, "--vocab-size", "270", "--out", bpe])
    ini = os.path.join(d, "toy.ini")
    with open(ini, "w") as f:
        f.write("; a toy model\n[model]\nn_layers = 1\nd_model = 16\nn_heads = 2\nd_mlp = 32\n"
                "n_ctx = 24\nact_fn = gelu_new\n\n[train]\nsteps = 2\nbatch_size = 2\nlr = 1e-3\nseed = 3\n")
    run_dir = os.path.join(d, "run")
    ok([tools["train"], "--config", ini, "--data", ds, "--out", run_dir, "--threads", "1", "--log-every", "1"])
    ckpt = os.path.join(run_dir, "final.h5")
    return {"checkpoint": [ckpt], "dataset": [ds, ds2], "config": [ini], "tokenizer": [tok, bpe]}, ckpt, ds


def commands(kind, tools, path, good_ckpt, good_ds, work, i):
    out = os.path.join(work, "out%d.h5" % i)
    if kind == "checkpoint":
        return [[tools["model"], "info", path],
                [tools["model"], "info", path],
                [tools["model"], "run", "--checkpoint", path, "--tokens", good_ds, "--out", out, "--threads", "1"]][i % 3]
    if kind == "dataset":
        return [[tools["data"], "mix", "--source", path, "--n", "2", "--seq-len", "64", "--out", out],
                [tools["model"], "run", "--checkpoint", good_ckpt, "--tokens", path, "--out", out, "--threads", "1"],
                [tools["data"], "mix", "--source", path, "--n", "2", "--seq-len", "64", "--out", out],
                [tools["train"], "--data", path, "--out", os.path.join(work, "r%d" % i), "--steps", "1",
                 "--batch-size", "2", "--model.n_layers", "1", "--model.d_model", "16", "--model.n_heads", "2",
                 "--model.d_mlp", "16", "--threads", "1"]][i % 4]
    if kind == "config":
        return [[tools["train"], "--config", path, "--data", good_ds, "--out", os.path.join(work, "r%d" % i),
                 "--steps", "1", "--threads", "1"],
                [tools["model"], "init", "--config", path, "--seed", "1", "--out", out]][i % 2]
    encode = [tools["data"], "tokenizer", "encode", "--tokenizer", path, "--text", "Then David and Helen argued at the river"]
    if i % 2 == 1 or (i // 2) % 2 == 0:  # odd: the BPE (too few whole names for a task); half the word lists
        return encode
    return [tools["data"], "task", "ioi", "--n", "2", "--tokenizer", path, "--out", out]


def well_formed(err):
    lines = err.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return (len(lines) == 1 and lines[0].startswith(b"headlab-") and b": error: " in lines[0]
            and all(0x20 <= c < 0x7F for c in lines[0]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--count", type=int, default=1000, help="mutated files per kind")
    ap.add_argument("--kinds", default="checkpoint,dataset,config,tokenizer")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds one run may take")
    ap.add_argument("--keep", default="", help="folder for the inputs that failed")
    ap.add_argument("--jobs", type=int, default=1, help="runs at once")
    args = ap.parse_args()

    tools = {t: find_tool(args.build, "headlab-" + t) for t in ("data", "model", "train")}
    if not all(tools.values()):
        print("mutation_campaign: the commands are not built in %s" % args.build)
        return 77
    rng = random.Random(args.seed)
    work = tempfile.mkdtemp(prefix="headlab-mutate-")
    failures = 0
    try:
        os.makedirs(os.path.join(work, "seeds"))
        seeds, good_ckpt, good_ds = make_seeds(tools, os.path.join(work, "seeds"))
        # The commands must accept the valid files, or the damaged ones test nothing.
        for kind in args.kinds.split(","):
            for i, src in enumerate(seeds[kind] * 4):
                cmd = commands(kind, tools, src, good_ckpt, good_ds, work, i)
                code, err, _, _, _ = run(cmd, args.timeout)
                if code != 0:
                    sys.exit("mutation_campaign: a valid %s fails: %s\n%s" % (kind, " ".join(cmd), err.decode(errors="replace")))
                shutil.rmtree(os.path.join(work, "r%d" % i), ignore_errors=True)
        for kind in args.kinds.split(","):
            originals = [(p, open(p, "rb").read(), raw_data_ranges(p) if kind in ("checkpoint", "dataset") else [])
                         for p in seeds[kind]]
            counts = {"exit 0": 0, "exit 2": 0, "failed": 0}
            slowest, peak = (0.0, ""), (0, "")
            started = time.monotonic()

            def one(i, bad, src):
                path = os.path.join(work, "input_%d%s" % (i, os.path.splitext(src)[1]))
                with open(path, "wb") as f:
                    f.write(bad)
                cmd = commands(kind, tools, path, good_ckpt, good_ds, work, i)
                result = run(cmd, args.timeout)
                return i, path, src, cmd, result

            def finish(i, path, src, cmd, result):
                nonlocal_failures = 0
                code, err, secs, rss, timed_out = result
                name = os.path.basename(cmd[0]) + " " + cmd[1]
                fine = not timed_out and (code == 0 or (code == 2 and well_formed(err)))
                if not fine:
                    nonlocal_failures = 1
                    why = "timed out" if timed_out else ("signal %d" % -code if code < 0 else "exit %d" % code)
                    kept = path
                    if args.keep:
                        os.makedirs(args.keep, exist_ok=True)
                        kept = os.path.join(args.keep, "%s_%d%s" % (kind, i, os.path.splitext(src)[1]))
                        shutil.copy(path, kept)
                    print("FAIL %s (%s, %.1f s): %s\n  %s" % (kind, why, secs, " ".join(cmd).replace(path, kept),
                          err.decode(errors="backslashreplace")[-2000:].replace("\n", "\n  ")), flush=True)
                os.remove(path)
                shutil.rmtree(os.path.join(work, "r%d" % i), ignore_errors=True)
                out = os.path.join(work, "out%d.h5" % i)
                if os.path.exists(out):
                    os.remove(out)
                return fine, code, secs, rss, name, nonlocal_failures

            with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
                futures = []
                for i in range(args.count):
                    src, data, avoid = originals[i % len(originals)]
                    bad = mutate_binary(data, rng, avoid) if kind in ("checkpoint", "dataset") else mutate_text(data, rng)
                    futures.append(pool.submit(one, i, bad, src))
                for fut in futures:
                    fine, code, secs, rss, name, failed = finish(*fut.result())
                    failures += failed
                    counts["exit %d" % code if fine else "failed"] += 1
                    if secs > slowest[0]:
                        slowest = (secs, name)
                    if rss > peak[0]:
                        peak = (rss, name)
            print("%-10s %5d inputs: %5d exit 0, %5d exit 2, %d failed; %.0f s; slowest %.2f s (%s); "
                  "peak RSS %s (%s)" % (kind, args.count, counts["exit 0"], counts["exit 2"], counts["failed"],
                                        time.monotonic() - started, slowest[0], slowest[1],
                                        "%d MiB" % (peak[0] // 1024) if peak[0] > 0 else "not measured (no /usr/bin/time)",
                                        peak[1]), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
