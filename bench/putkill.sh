#!/usr/bin/env bash
# Puts under faults on a devnet of 6 miners (issue 5 targets):
#  1. N puts of SIZE MiB with --replicas 3, each with one random miner SIGKILLed
#     at a random moment of the put (the miner is restarted before the next put),
#     against puts without a kill in the same run (one every fourth put): every
#     put must succeed with exactly 3 replicas per shard; prints the median walls.
#  2. A repeat put of a stored REPEAT MiB file: client stream bytes / file size.
#  3. A put of SIZE MiB interrupted (SIGTERM to the client) mid-way: seconds until
#     the miners' disk usage is back to its value before the put (lease: 90 s).
# Usage: bash bench/putkill.sh [N=20] [SIZE_MIB=100] [REPEAT_MIB=1024]   (REPEAT_MIB=0 skips part 2)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-20}; size=${2:-100}; repeat=${3:-1024}
bin=$here/bin
(cd "$here" && go build -o "$bin/" ./cmd/...)
dir=$(mktemp -d /tmp/putkill.XXXXXX)
trap '"$bin/ppstore" devnet stop --dir "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
"$bin/ppstore" devnet start --dir "$dir" --miners 6 --bin "$bin" --capacity 40GiB --metrics=false --no-zkstore >/dev/null 2>&1
cfg=$dir/client.toml
pp() { "$bin/ppstore" "$@"; }

# replicas_ok CID: exactly 3 distinct replicas on every shard.
replicas_ok() {
  pp stat --config "$cfg" --json "$1" | python3 -c '
import json, sys
st = json.load(sys.stdin)
bad = [i for i, s in enumerate(st["shards"]) if len({r["miner"] for r in s["replicas"]}) != 3 or len(s["replicas"]) != 3]
print("ok" if not bad else "shards without exactly 3 replicas: %s" % bad)'
}

# timed_put FILE [KILL_AFTER_S MINER]: prints "wall_s cid".
timed_put() {
  local f=$1 t0 t1 out pid victim
  t0=$(date +%s.%N)
  pp put --config "$cfg" --replicas 3 -q "$f" > "$dir/put.out" 2> "$dir/put.err" & pid=$!
  if [ $# -ge 3 ]; then
    sleep "$2"
    victim=$(cat "$dir/$3/pid")
    kill -9 "$victim" 2>/dev/null || true
  fi
  if ! wait "$pid"; then echo "FAIL $(tail -3 "$dir/put.err" | tr '\n' ' ')"; return; fi
  t1=$(date +%s.%N)
  echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b-a}') $(tail -1 "$dir/put.out")"
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "nan"}'; }

data=$dir/data.bin
: > "$dir/base.txt"; : > "$dir/kill.txt"
fails=0; badrep=0
echo "# $n puts of $size MiB, r=3, 6 miners, one miner SIGKILLed per put at a random moment"
for i in $(seq 0 "$n"); do
  head -c "${size}M" /dev/urandom > "$data"
  if [ "$i" -eq 0 ] || [ $((i % 4)) -eq 0 ]; then
    read -r wall id < <(timed_put "$data")
    [ "$wall" = FAIL ] && { echo "baseline put failed: $id"; exit 1; }
    echo "$wall" >> "$dir/base.txt"
    echo "baseline put: $wall s ($(replicas_ok "$id"))"
    [ "$i" -eq 0 ] && continue
    head -c "${size}M" /dev/urandom > "$data"
  fi
  base=$(median < "$dir/base.txt")
  at=$(awk -v b="$base" -v r="$RANDOM" 'BEGIN {printf "%.2f", b * 0.95 * r / 32767}')
  m=miner-$((1 + RANDOM % 6))
  read -r wall id < <(timed_put "$data" "$at" "$m")
  if [ "$wall" = FAIL ]; then
    fails=$((fails + 1)); echo "put $i: $m killed at ${at}s: FAILED: $id"
  else
    rep=$(replicas_ok "$id"); [ "$rep" = ok ] || badrep=$((badrep + 1))
    echo "$wall" >> "$dir/kill.txt"
    echo "put $i: $m killed at ${at}s: $wall s, replicas $rep"
  fi
  "$bin/ppstore" devnet start --dir "$dir" --bin "$bin" >/dev/null 2>&1 # the killed miner comes back
done
nk=$(wc -l < "$dir/kill.txt")
bm=$(median < "$dir/base.txt"); km=$(median < "$dir/kill.txt")
echo "succeeded $nk of $n, failed $fails, with a wrong replica count $badrep"
awk -v b="$bm" -v k="$km" 'BEGIN {printf "median wall: without kill %.2f s, with a kill %.2f s, ratio %.2f\n", b, k, k/b}'

if [ "$repeat" -gt 0 ]; then
echo "# repeat put of a stored $repeat MiB file"
head -c "${repeat}M" /dev/urandom > "$data"
pp put --config "$cfg" --replicas 3 -q "$data" >/dev/null
line=$(pp put --config "$cfg" --replicas 3 -q --stats "$data" 2>&1 >/dev/null | grep 'op=put')
sent=$(echo "$line" | sed 's/.*stream_bytes_sent=\([0-9]*\).*/\1/')
awk -v s="$sent" -v f="$((repeat << 20))" 'BEGIN {printf "repeat put: %d stream bytes sent for %d bytes, %.5f%% of the file\n", s, f, 100*s/f}'
fi

echo "# interrupted put of $size MiB (miners' lease 90 s, the indexer's 60 s)"
du_miners() { du -sb "$dir"/miner-*/shards "$dir"/miner-*/tmp | awk '{s+=$1} END {printf "%.0f\n", s}'; }
before=$(du_miners)
head -c "${size}M" /dev/urandom > "$data"
"$bin/ppstore" put --config "$cfg" --replicas 3 -q "$data" >/dev/null 2>&1 & pid=$! # not through pp: $! would be a subshell
half=$(awk -v b="$bm" 'BEGIN {printf "%.2f", b / 3}')
sleep "$half"; kill -TERM "$pid" 2>/dev/null || true # SIGINT is ignored by background jobs of a script
if wait "$pid" 2>/dev/null; then echo "the put finished before the interrupt: run again"; exit 1; fi
t0=$(date +%s); left=$(awk -v a="$(du_miners)" -v b="$before" 'BEGIN {printf "%.0f", a-b}')
echo "interrupted after ${half}s: $left bytes left on the miners' disks"
while awk -v a="$(du_miners)" -v b="$before" 'BEGIN {exit !(a > b)}' && [ $(( $(date +%s) - t0 )) -lt 300 ]; do sleep 2; done
echo "disk usage back to $(du_miners) (before: $before) $(( $(date +%s) - t0 )) s after the interrupt"
