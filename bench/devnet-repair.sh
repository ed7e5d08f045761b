#!/usr/bin/env bash
# Repair in a real devnet (issue 6 target): 6 miners, a file with 3 replicas;
# SIGKILL two of the three miners holding its shard and count the verifier's
# epochs until the indexer lists three proven replicas again (none on a killed
# miner); then SIGKILL the third original holder and check that get returns the
# file byte for byte. Epochs are the verifier's (5 s in the devnet): the kill's
# epoch is the one under way at the kill (from the genesis and epoch the
# verifier logs at its start), the repair's the highest PoRep epoch of the new
# replicas (stat --json "proven_epoch").
# Usage: bash bench/devnet-repair.sh [SIZE_KIB=1024]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
size=${1:-1024}
bin=$here/bin
(cd "$here" && go build -o "$bin/" ./cmd/...)
dir=$(mktemp -d /tmp/devnet-repair.XXXXXX)
trap '"$bin/ppstore" devnet stop --dir "$dir" >/dev/null 2>&1 || true; [ -n "${KEEP:-}" ] || rm -rf "$dir"' EXIT
"$bin/ppstore" devnet start --dir "$dir" --miners 6 --bin "$bin" --metrics=false >/dev/null 2>&1
cfg=$dir/client.toml
pp() { "$bin/ppstore" "$@"; }
head -c $((size * 1024)) /dev/urandom > "$dir/in.bin"
cid=$(pp put --config "$cfg" --replicas 3 -q "$dir/in.bin")

# proven DEAD...: prints the shard's holders if it has 3 proven replicas at the
# indexer on none of DEAD, with the highest verifier PoRep epoch; else "no".
proven() {
  pp stat --config "$cfg" --json "$cid" 2>/dev/null | python3 -c '
import json, sys
dead = set(sys.argv[1:])
st = json.load(sys.stdin)
reps = [r for s in st["shards"] for r in s["replicas"]]
ok = len(st["shards"]) == 1 and len(reps) == 3 and all(r["status"] == "proven" and r["miner"] not in dead for r in reps)
print(" ".join(r["miner"] for r in reps) + " %d" % max(r.get("proven_epoch", 0) for r in reps) if ok else "no")' "$@"
}
wait_proven() { # wait_proven SECONDS DEAD...
  local until=$(( $(date +%s) + $1 )) out; shift
  while :; do
    out=$(proven "$@")
    [ "$out" != no ] && { echo "$out"; return; }
    [ "$(date +%s)" -lt "$until" ] || { echo "timeout" >&2; pp stat --config "$cfg" "$cid" >&2; exit 1; }
    sleep 0.2
  done
}
epoch_now() { # the verifier's epoch under way
  python3 -c '
import re, sys, time, datetime
line = open(sys.argv[1]).readline()
g = datetime.datetime.strptime(re.search(r"genesis=(\S+)", line).group(1), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()
m = re.search(r"epoch=(\d+(?:\.\d+)?)(ms|s|m)\b", line)
ep = float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60}[m.group(2)]
print(int((time.time() - g) // ep) + 1)' "$dir/verifier/log"
}
miner_pid() { # miner_pid PEER
  pp devnet status --dir "$dir" --json | python3 -c '
import json, sys
for r in json.load(sys.stdin):
    if r["peer"] == sys.argv[1]: print(r["pid"])' "$1"
}

read -r h1 h2 h3 _ <<< "$(wait_proven 120)"
p1=$(miner_pid "$h1"); p2=$(miner_pid "$h2"); p3=$(miner_pid "$h3")
kill -9 "$p1" "$p2"
e0=$(epoch_now); t0=$(date +%s.%N)
r0=$(ls "$dir/verifier/rounds" | sed -n 's/^0*\([0-9][0-9]*\)\.round$/\1/p' | sort -n | tail -1)
echo "kill: epoch under way $e0, last round judged $r0" >&2
read -r n1 n2 n3 e1 <<< "$(wait_proven 300 "$h1" "$h2")"
t1=$(date +%s.%N)
kill -9 "$p3"
pp get --config "$cfg" -q "$cid" -o "$dir/out.bin"
cmp "$dir/in.bin" "$dir/out.bin"
awk -v e0="$e0" -v e1="$e1" -v t0="$t0" -v t1="$t1" -v kib="$size" 'BEGIN {
  printf "file %d KiB, 3 replicas: killed 2 of 3 holders in epoch %d; 3 proven replicas again in epoch %d: %d epochs (%.1f s); get after the third holder was killed: identical\n", kib, e0, e1, e1 - e0, t1 - t0 }'
