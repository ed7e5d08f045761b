#!/usr/bin/env bash
# make demo: start a whole region on this machine, store a file with three
# replicas, fetch it back from several miners at once, and compare.
set -euo pipefail
dir=${1:-.devnet/demo}
size_mib=${DEMO_MIB:-64}
here=$(cd "$(dirname "$0")/.." && pwd)
pp="$here/bin/ppstore"
cfg="$dir/client.toml"

# Every demo starts a new region: one left by an earlier demo (kept with
# KEEP=1, or made by an older ppstore) is stopped and removed first.
if [ -e "$dir" ]; then
  echo "== removing the region of an earlier demo in $dir"
  "$pp" devnet stop --dir "$dir" >/dev/null 2>&1 || true
  rm -rf "$dir"
fi
echo "== starting a region in $dir (bootstrap, indexer, verifier, 6 miners, sidechain, zkstore)"
"$pp" devnet start --dir "$dir" --miners 6
trap '[ "${KEEP:-0}" = 1 ] || { echo "== stopping the region (KEEP=1 keeps it running)"; "$pp" devnet stop --dir "$dir"; }' EXIT
"$pp" devnet status --dir "$dir"

work=$(mktemp -d)
head -c $((size_mib << 20)) /dev/urandom > "$work/original.bin"
echo
echo "== put: $size_mib MiB, 3 replicas, uploaded once"
cid=$("$pp" --config "$cfg" put --replicas 3 "$work/original.bin" | tail -n 1)
echo "CID $cid"
echo
echo "== stat (first shards)"
"$pp" --config "$cfg" stat "$cid" > "$work/stat.txt"
head -n 8 "$work/stat.txt"
echo
echo "== get: pieces from every miner at once, each checked"
"$pp" --config "$cfg" get --stats "$cid" -o "$work/copy.bin"
if cmp "$work/original.bin" "$work/copy.bin"; then
  echo "== identical: $(sha256sum < "$work/copy.bin" | cut -c1-16)…"
else
  echo "== MISMATCH" >&2; exit 1
fi
echo
echo "== ls"
"$pp" --config "$cfg" ls
echo
echo "== wallet: the client's balance, proven against the root the sidechain accepted"
"$pp" --config "$cfg" wallet balance
echo "== miner-1's wallet: the verifier pays each passed proof of its replicas (settled every 30 s)"
for _ in $(seq 1 90); do
  if "$pp" --config "$cfg" --identity "$dir/miner-1" wallet balance --json 2>/dev/null | grep -Eq '"proven": *[1-9]'; then break; fi
  sleep 1
done
"$pp" --config "$cfg" --identity "$dir/miner-1" wallet balance
rm -rf "$work"
