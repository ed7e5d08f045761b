#!/usr/bin/env bash
# Transfer benchmark for the backbone targets (docs/BENCHMARKS.md):
#   put SIZE with 3 replicas vs 1 replica to 6 local miners: client stream bytes,
#   client wire bytes (iptables owner match on a dedicated uid), wall time;
#   get throughput vs one raw quic-go stream (bench/quicraw), same run, same machine.
# Usage: bash bench/transfer.sh     (SIZE_MIB=1024 MINERS=6 by default; needs root for the wire counter)
#   UPLINK=400mbit bash bench/transfer.sh
#        runs the client in its own network namespace behind a veth whose egress
#        (the user's uplink) is shaped to that rate with tc tbf; the daemons listen
#        on the root side of the veth (10.77.0.1).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
SIZE_MIB=${SIZE_MIB:-1024}
MINERS=${MINERS:-6}
UPLINK=${UPLINK:-}
bin="$here/bin"
go build -o "$bin/" ./cmd/... ./bench/quicraw
work=$(mktemp -d /tmp/ppbench.XXXXXX)
chmod 755 "$work"
region="$work/region"
out="$here/bench/out"; mkdir -p "$out"
report="$out/transfer-$(date -u +%Y%m%dT%H%M%SZ).txt"

in_ns=()
cleanup() {
  "$bin/ppstore" devnet stop --dir "$region" >/dev/null 2>&1 || true
  [ -n "${qpid:-}" ] && kill "$qpid" 2>/dev/null || true
  if [ "${wire:-0}" = 1 ]; then
    "${in_ns[@]}" iptables -D OUTPUT -m owner --uid-owner ppbench -j PPBENCH 2>/dev/null || true
    "${in_ns[@]}" iptables -F PPBENCH 2>/dev/null || true; "${in_ns[@]}" iptables -X PPBENCH 2>/dev/null || true
  fi
  if [ -n "$UPLINK" ]; then ip link del ppb0 2>/dev/null || true; ip netns del ppbench 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

host=127.0.0.1
if [ -n "$UPLINK" ]; then
  ip netns del ppbench 2>/dev/null || true; ip link del ppb0 2>/dev/null || true
  ip netns add ppbench
  ip link add ppb0 type veth peer name ppb1
  ip link set ppb1 netns ppbench
  ip addr add 10.77.0.1/24 dev ppb0 && ip link set ppb0 up
  ip netns exec ppbench ip addr add 10.77.0.2/24 dev ppb1
  ip netns exec ppbench ip link set ppb1 up
  ip netns exec ppbench ip link set lo up
  ip netns exec ppbench tc qdisc add dev ppb1 root tbf rate "$UPLINK" burst 1mb latency 100ms
  in_ns=(ip netns exec ppbench)
  host=10.77.0.1
fi

"$bin/ppstore" devnet start --dir "$region" --miners "$MINERS" --capacity 16GiB --metrics=false --no-zkstore --host "$host" >/dev/null 2>&1
head -c $((SIZE_MIB << 20)) /dev/urandom > "$work/file.bin"
chmod 644 "$work/file.bin"

# The client runs as its own uid so that iptables can count exactly its packets.
wire=0
run_client() { "${in_ns[@]}" "$bin/ppstore" "$@"; }
if [ "$(id -u)" = 0 ] && command -v iptables >/dev/null 2>&1; then
  id ppbench >/dev/null 2>&1 || useradd --system --no-create-home ppbench
  "${in_ns[@]}" iptables -N PPBENCH 2>/dev/null || "${in_ns[@]}" iptables -F PPBENCH
  "${in_ns[@]}" iptables -A PPBENCH -j RETURN
  "${in_ns[@]}" iptables -I OUTPUT -m owner --uid-owner ppbench -j PPBENCH
  mkdir -p "$work/client"; chown ppbench "$work/client"
  sed "s#^data_dir = .*#data_dir = \"$work/client\"#" "$region/client.toml" > "$work/client.toml"
  chmod 644 "$work/client.toml"
  run_client() { "${in_ns[@]}" setpriv --reuid=ppbench --regid=nogroup --clear-groups "$bin/ppstore" "$@"; }
  wire=1
else
  cp "$region/client.toml" "$work/client.toml"
  echo "note: not root or no iptables: wire bytes not measured" >&2
fi
wire_bytes() { "${in_ns[@]}" iptables -L PPBENCH -v -n -x | awk '/RETURN/ {print $2}'; }

# CPU seconds (user+system) used so far by the region's daemons, and by a pid.
tck=$(getconf CLK_TCK)
pid_cpu() { awk -v t="$tck" '{printf "%.2f", ($14+$15)/t}' "/proc/$1/stat"; }
daemons_cpu() { for f in "$region"/*/pid; do pid_cpu "$(cat "$f")"; echo; done | awk '{s+=$1} END {printf "%.2f", s}'; }
# CPU seconds of this script's finished children (commands run here are
# finished when their output has been read).
done_cpu() { awk -v t="$tck" '{printf "%.2f", ($16+$17)/t}' /proc/$$/stat; }
since() { awk -v a="$1" -v b="$(done_cpu)" 'BEGIN {printf "%.2f", b-a}'; }

size=$((SIZE_MIB << 20))
declare -A T S W C
for r in 1 3; do
  [ "$wire" = 1 ] && "${in_ns[@]}" iptables -Z PPBENCH
  d0=$(daemons_cpu); c0=$(done_cpu)
  line=$(run_client put --config "$work/client.toml" --replicas $r -q --stats "$work/file.bin" 2>&1 >"$work/cid.$r" | grep '^stats:')
  C[$r]=$(awk -v a="$(since "$c0")" -v d0="$d0" -v d1="$(daemons_cpu)" 'BEGIN {printf "%.2f", a+d1-d0}')
  T[$r]=$(sed 's/.*elapsed_s=\([0-9.]*\).*/\1/' <<<"$line")
  S[$r]=$(sed 's/.*stream_bytes_sent=\([0-9]*\).*/\1/' <<<"$line")
  W[$r]=$([ "$wire" = 1 ] && wire_bytes || echo 0)
done
cid=$(tail -n 1 "$work/cid.3")

# get of the 3-replica file and the raw quic-go baseline, alternated ROUNDS
# times; the ratio reported is the median of the per-round ratios.
ROUNDS=${ROUNDS:-3}
sync # let the puts' writeback finish before timing reads
qport=$((20000 + RANDOM % 20000))
"$bin/quicraw" serve -addr $host:$qport & qpid=$!
sleep 0.3
ratios=(); rawcpu=(); getcpu=()
for i in $(seq "$ROUNDS"); do
  d0=$(daemons_cpu); c0=$(done_cpu)
  gline=$(run_client get --config "$work/client.toml" -q --stats "$cid" -o /dev/null 2>&1 | grep 'op=get')
  getcpu+=("$(awk -v a="$(since "$c0")" -v d0="$d0" -v d1="$(daemons_cpu)" 'BEGIN {printf "%.2f", a+d1-d0}')")
  g=$(sed 's/.*elapsed_s=\([0-9.]*\).*/\1/' <<<"$gline")
  q0=$(pid_cpu "$qpid"); c0=$(done_cpu)
  q=$("${in_ns[@]}" "$bin/quicraw" fetch -addr $host:$qport -size "${SIZE_MIB}MiB" | awk '{print $6}')
  rawcpu+=("$(awk -v r="$(since "$c0")" -v a="$q0" -v b="$(pid_cpu "$qpid")" 'BEGIN {printf "%.2f %.2f", b-a, r}')")
  gmb=$(awk -v s="$size" -v t="$g" 'BEGIN {printf "%.1f", s/t/1e6}')
  echo "round $i: get ${gmb} MB/s, raw quic-go stream ${q} MB/s" >&2
  ratios+=("$(awk -v a="$gmb" -v b="$q" 'BEGIN {printf "%.3f %s %s", a/b, a, b}')")
done
read -r gratio gmb qmb < <(printf '%s\n' "${ratios[@]}" | sort -n | sed -n "$(( (ROUNDS + 1) / 2 ))p")
# The raw stream's sender and receiver CPU seconds (mean over the rounds): what
# quic-go alone costs to send and to receive SIZE on this machine.
read -r rsend rrecv < <(printf '%s\n' "${rawcpu[@]}" | awk '{s+=$1; r+=$2} END {printf "%.2f %.2f\n", s/NR, r/NR}')
gcpu=$(printf '%s\n' "${getcpu[@]}" | awk '{s+=$1} END {printf "%.2f", s/NR}')

{
echo "transfer benchmark $(date -u +%FT%TZ) on $(nproc) cores; file ${SIZE_MIB} MiB; ${MINERS} miners; client uplink ${UPLINK:-unshaped loopback}"
awk -v s="$size" -v t1="${T[1]}" -v t3="${T[3]}" -v s1="${S[1]}" -v s3="${S[3]}" -v w1="${W[1]}" -v w3="${W[3]}" -v wire="$wire" -v gr="$gratio" -v gmb="$gmb" -v qmb="$qmb" -v rounds="$ROUNDS" \
    -v c1="${C[1]}" -v c3="${C[3]}" -v rsend="$rsend" -v rrecv="$rrecv" -v gcpu="$gcpu" -v ncpu="$(nproc)" 'BEGIN {
  printf "put R=1: %.2f s  stream bytes %.4f x size  wire bytes %s\n", t1, s1/s, (wire ? sprintf("%.4f x size", w1/s) : "n/a")
  printf "put R=3: %.2f s  stream bytes %.4f x size  wire bytes %s\n", t3, s3/s, (wire ? sprintf("%.4f x size", w3/s) : "n/a")
  printf "target: R=3 stream bytes <= 1.02 x size:   %.4f  %s\n", s3/s, (s3/s <= 1.02 ? "PASS" : "FAIL")
  if (wire) {
    printf "target: R=3 wire bytes <= 1.08 x size:     %.4f  %s\n", w3/s, (w3/s <= 1.08 ? "PASS" : "FAIL")
    printf "target: R=3 wire bytes <= 1.02 x R=1 wire: %.4f  %s\n", w3/w1, (w3/w1 <= 1.02 ? "PASS" : "FAIL")
  }
  printf "target: R=3 time <= 1.3 x R=1 time:        %.3f  %s\n", t3/t1, (t3/t1 <= 1.3 ? "PASS" : "FAIL")
  printf "cpu: put R=1 %.1f s, R=3 %.1f s (client + daemons); raw quic-go stream: send %.1f s, receive %.1f s\n", c1, c3, rsend, rrecv
  # R=3 moves each byte over QUIC two more times than R=1 (two more receives,
  # two more sends). Even at the bare quic-go cost of those, all cores busy:
  floor = (c1 + 2 * (rsend + rrecv)) / (ncpu * t1)
  printf "floor: R=3 time >= (cpu R=1 + 2 x (raw send + raw receive)) / %d cores = %.2f x R=1 time\n", ncpu, floor
  printf "get (median of %d rounds): %.1f MB/s; raw quic-go stream %.1f MB/s in the same round\n", rounds, gmb, qmb
  printf "target: get >= 0.70 x raw stream:          %.3f  %s\n", gr, (gr >= 0.70 ? "PASS" : "FAIL")
  printf "cpu: get %.1f s (client + daemons), raw quic-go stream %.1f s (send + receive), mean of the rounds\n", gcpu, rsend + rrecv
}'
} | tee "$report"
echo "report: $report"
