#!/usr/bin/env bash
# Get from sealed replicas vs the same get from unsealed replicas (issue 6 target:
# serving from sealed replicas costs the get <= 10%), in one run, real processes:
#   region S: a devnet whose miners seal every shard (default sealing: one layer
#             for a 4 MiB shard) and keep only the sealed replica;
#   region P: the same devnet with bench_keep_unsealed on its miners (they never
#             seal: the baseline).
# The same SIZE_MIB file is put to both; once every replica of S is proven (so
# sealed) the gets alternate S, P, P, S, ... ROUNDS times each. Reported per get:
# wall time, CPU seconds of the client and of the miners (user+system from
# /proc), and the ratios S/P. With PERF=1 the miners of each region are sampled
# with perf during one more get of each, and their top symbols are printed.
# Then CONCURRENT more gets of each run side by side (S and P at once), whose CPU
# times compare under the same load of the machine.
# Usage: bash bench/sealedget.sh   (SIZE_MIB=1024 MINERS=3 REPLICAS=1 ROUNDS=3 CONCURRENT=2 PERF=0;
#        BIN=DIR uses the binaries in DIR instead of building them into bin/)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
SIZE_MIB=${SIZE_MIB:-1024}
MINERS=${MINERS:-3}
REPLICAS=${REPLICAS:-1}
ROUNDS=${ROUNDS:-3}
PERF=${PERF:-0}
CONCURRENT=${CONCURRENT:-2}
if [ -n "${BIN:-}" ]; then
  bin=$(cd "$BIN" && pwd)
else
  bin="$here/bin"
  (cd "$here" && go build -o "$bin/" ./cmd/...)
fi
work=$(mktemp -d /tmp/sealedget.XXXXXX)
out="$here/bench/out"; mkdir -p "$out"
report="$out/sealedget-$(date -u +%Y%m%dT%H%M%SZ).txt"
pp() { "$bin/ppstore" "$@"; }
cleanup() {
  for r in S P; do pp devnet stop --dir "$work/$r" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# stop_daemon DIR NAME: SIGTERM one daemon of a region (started by this script)
# and wait until it is gone.
stop_daemon() {
  local pid
  pid=$(cat "$1/$2/pid")
  kill "$pid"
  for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  echo "$2 did not stop" >&2; return 1
}
start_region() { pp devnet start --dir "$1" --bin "$bin" --miners "$MINERS" --capacity 16GiB --metrics=false >/dev/null 2>>"$work/devnet.log"; }
miners() { for i in $(seq "$MINERS"); do echo "miner-$i"; done; }

# Region P: miners restarted with the benchmark knob before they store anything.
start_region "$work/P"
for m in $(miners); do
  stop_daemon "$work/P" "$m"
  echo "bench_keep_unsealed = true" >> "$work/P/$m/$m.toml"
done
start_region "$work/P"
# Region S: its verifier's epoch is made longer than the run, so that no proof
# of spacetime (miner CPU) lands in a timed get; PoRep, which marks a replica
# proven once sealed, does not wait for an epoch.
start_region "$work/S"
stop_daemon "$work/S" verifier
sed -i 's/^epoch = .*/epoch = "2h"/' "$work/S/verifier/verifier.toml"
start_region "$work/S"

head -c $((SIZE_MIB << 20)) /dev/urandom > "$work/file.bin"
t0=$(date +%s.%N)
for r in S P; do
  pp --config "$work/$r/client.toml" put --replicas "$REPLICAS" -q "$work/file.bin" > "$work/$r.cid"
done
cid=$(tail -n 1 "$work/S.cid")
[ "$cid" = "$(tail -n 1 "$work/P.cid")" ] || { echo "the two puts gave different CIDs" >&2; exit 1; }
echo "put ${SIZE_MIB} MiB to both regions in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b-a}') s; waiting for S to seal and prove" >&2

# proven_count REGION: "proven total" over the replicas of the file.
proven_count() {
  pp --config "$work/$1/client.toml" stat --json "$cid" | python3 -c '
import json, sys
st = json.load(sys.stdin)
reps = [r for s in st["shards"] for r in s["replicas"]]
print(sum(r.get("proof") == "proven" for r in reps), len(reps))'
}
t0=$(date +%s.%N)
while :; do
  read -r proven total < <(proven_count S)
  [ "$proven" = "$total" ] && break
  if awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {exit !(b-a > 3600)}'; then
    echo "S: only $proven of $total replicas proven after an hour" >&2; exit 1
  fi
  sleep 5
done
seal_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b-a}')
read -r pproven ptotal < <(proven_count P)
echo "S: $total replicas sealed and proven after ${seal_s} s; P: $pproven of $ptotal proven (must be 0)" >&2
[ "$pproven" = 0 ] || { echo "P's miners sealed: the baseline is not unsealed" >&2; exit 1; }

tck=$(getconf CLK_TCK)
# miners_cpu REGION: CPU seconds used so far by the region's miners.
miners_cpu() {
  for m in $(miners); do awk -v t="$tck" '{printf "%.2f\n", ($14+$15)/t}' "/proc/$(cat "$work/$1/$m/pid")/stat"; done |
    awk '{s+=$1} END {printf "%.2f", s}'
}
# timed_get REGION OUT: prints "wall_s client_cpu_s miners_cpu_s" of one get
# (the client's CPU from its rusage, through python3's os.wait4).
timed_get() {
  local m0 line
  m0=$(miners_cpu "$1")
  line=$(python3 - "$bin/ppstore" --config "$work/$1/client.toml" get -q "$cid" -o "$2" <<'EOF'
import os, sys, time
t = time.monotonic()
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, ru = os.wait4(pid, 0)
if status != 0:
    sys.exit("get failed: status %d" % status)
print("%.3f %.2f" % (time.monotonic() - t, ru.ru_utime + ru.ru_stime))
EOF
)
  echo "$line $(awk -v a="$m0" -v b="$(miners_cpu "$1")" 'BEGIN {printf "%.2f", b-a}')"
}

sync
for r in S P; do # warm both (connections, page cache) and check the bytes once
  timed_get "$r" "$work/got.bin" > /dev/null
  cmp -s "$work/file.bin" "$work/got.bin" || { echo "region $r returned other bytes" >&2; exit 1; }
  rm -f "$work/got.bin"
done
: > "$work/S.txt"; : > "$work/P.txt"
for i in $(seq "$ROUNDS"); do
  order="S P"; [ $((i % 2)) -eq 0 ] && order="P S"
  for r in $order; do
    line=$(timed_get "$r" /dev/null)
    echo "$line" >> "$work/$r.txt"
    echo "round $i $r: wall ${line% * *} s, client/miners cpu ${line#* } s" >&2
  done
done

# Both gets at once, CONCURRENT times: the machine is shared and its load
# moves between two sequential gets; run side by side, both see the same load,
# so their CPU times compare even when the load changes.
: > "$work/S.conc"; : > "$work/P.conc"
for i in $(seq "$CONCURRENT"); do
  timed_get S /dev/null > "$work/S.one" & sp=$!
  timed_get P /dev/null > "$work/P.one" & ppid=$!
  wait "$sp" "$ppid"
  cat "$work/S.one" >> "$work/S.conc"; cat "$work/P.one" >> "$work/P.conc"
  echo "concurrent $i: S $(cat "$work/S.one") | P $(cat "$work/P.one")" >&2
done

perf_top() { # REGION: sample the region's miners during one get; print where their time goes
  local pids
  pids=$(for m in $(miners); do cat "$work/$1/$m/pid"; done | paste -sd,)
  perf record -q -F 999 -p "$pids" -o "$work/perf.$1" 2>/dev/null & local rec=$!
  sleep 0.5
  timed_get "$1" /dev/null > /dev/null
  kill -INT "$rec"; wait "$rec" || true
  perf report -i "$work/perf.$1" --no-children --sort sym --stdio 2>/dev/null | grep '%' | grep -v '^#' > "$work/perf.$1.txt"
  # Shares of the miners' samples by what the code does.
  awk '{p=$1+0; s=$0
    if (s ~ /proofs\.|aes\.ctrBlocks|aes\.\(\*CTR\)/) c="unsealing (proofs.*, AES-CTR keystream)"
    else if (s ~ /gcm|aes\./) c="QUIC packet encryption (AES-GCM)"
    else if (s ~ /sha256/) c="SHA-256"
    else if (s ~ /\[k\]/) c="kernel (UDP send, page cache reads, scheduling)"
    else if (s ~ /quic-go/) c="quic-go (framing, acks, congestion)"
    else if (s ~ /runtime\.memmove|memclr/) c="Go memmove/memclr"
    else if (s ~ /runtime\./) c="Go runtime (scheduler, GC, alloc)"
    else c="other"
    t[c]+=p}
    END {for (c in t) printf "  %5.1f%%  %s\n", t[c], c}' "$work/perf.$1.txt" | sort -rn
  echo "  top symbols:"
  head -12 "$work/perf.$1.txt" | awk '{printf "  %s %s %s\n", $1, $2, $3}'
}

{
echo "sealed get benchmark $(date -u +%FT%TZ) on $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "file ${SIZE_MIB} MiB, ${MINERS} miners per region, ${REPLICAS} replica(s); S sealed and proven ${seal_s} s after the puts; ${ROUNDS} gets of each, alternated"
paste "$work/S.txt" "$work/P.txt" | awk -v mib="$SIZE_MIB" '
  {sw+=$1; sc+=$2; sm+=$3; pw+=$4; pc+=$5; pm+=$6; n++}
  END {
    printf "sealed   (S): wall %.2f s (%.0f MB/s)  cpu client %.2f s  miners %.2f s  total %.2f s  (mean of %d)\n", sw/n, mib*1.048576/(sw/n), sc/n, sm/n, (sc+sm)/n, n
    printf "unsealed (P): wall %.2f s (%.0f MB/s)  cpu client %.2f s  miners %.2f s  total %.2f s\n", pw/n, mib*1.048576/(pw/n), pc/n, pm/n, (pc+pm)/n
    printf "ratio S/P: wall %.3f  cpu total %.3f  cpu miners %.3f  cpu client %.3f\n", sw/pw, (sc+sm)/(pc+pm), sm/pm, sc/pc
    printf "extra miner cpu for unsealing: %.2f s per get = %.0f MB per cpu-second\n", (sm-pm)/n, mib*1.048576/((sm-pm)/n)
    printf "target: cpu total S/P <= 1.10: %s;  wall S/P <= 1.10: %s\n", ((sc+sm)/(pc+pm) <= 1.10 ? "PASS" : "FAIL"), (sw/pw <= 1.10 ? "PASS" : "FAIL")
  }'
echo "per get (wall_s client_cpu_s miners_cpu_s), S | P, and the round's ratios S/P:"
paste -d' ' "$work/S.txt" "$work/P.txt" | awk '{printf "  %s %s %s | %s %s %s   wall %.3f cpu %.3f\n", $1, $2, $3, $4, $5, $6, $1/$4, ($2+$3)/($5+$6)}' | tee "$work/rounds.txt"
echo "median of the rounds' ratios: wall $(awk '{print $(NF-2)}' "$work/rounds.txt" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')  cpu $(awk '{print $NF}' "$work/rounds.txt" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
if [ "$CONCURRENT" -gt 0 ]; then
  echo "side by side (S and P at once, ${CONCURRENT} times):"
  paste -d' ' "$work/S.conc" "$work/P.conc" | awk '{printf "  %s %s %s | %s %s %s   cpu total %.3f miners %.3f client %.3f\n", $1, $2, $3, $4, $5, $6, ($2+$3)/($5+$6), $3/$6, $2/$5; sc+=$2; sm+=$3; pc+=$5; pm+=$6}
    END {printf "  sum: cpu total S/P %.3f  miners %.3f  client %.3f\n", (sc+sm)/(pc+pm), sm/pm, sc/pc}'
fi
if [ "$PERF" = 1 ]; then
  for r in S P; do echo "perf, miners of $r during one get:"; perf_top "$r"; done
fi
} | tee "$report"
echo "report: $report"
