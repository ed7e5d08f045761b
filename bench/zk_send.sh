#!/usr/bin/env bash
# zkStore devnet target (docs/BENCHMARKS.md, "zkStore devnet"): a transfer
# reaches a sidechain-accepted root within 30 s of `wallet send` returning.
# Starts a default devnet (sidechain and zkstore operator; circuit keys from
# the user's cache, set up on first use), then SENDS times: `ppstore wallet
# send` to another wallet, and `ppstore wallet balance --json` polled every
# 0.25 s until the sender's proven balance (its leaf checked against the root
# the sidechain's light client reads) equals its pending one, i.e. the
# transfer is in an accepted root. Prints each latency and the worst.
# Usage: bash bench/zk_send.sh        (SENDS=5 MINERS=2 by default)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
SENDS=${SENDS:-5}
MINERS=${MINERS:-2}
bin="$here/bin"
go build -o "$bin/" ./cmd/...
work=$(mktemp -d /tmp/ppzk.XXXXXX)
region="$work/region"
trap '"$bin/ppstore" devnet stop --dir "$region" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
now() { date +%s.%N; }

t0=$(now)
"$bin/ppstore" devnet start --dir "$region" --miners "$MINERS" --capacity 1GiB --metrics=false >"$work/start.log" 2>&1
echo "devnet started in $(awk -v a="$t0" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}') s (circuit keys: $(grep -c 'setting up' "$work/start.log" || true) setups)"
pp=("$bin/ppstore" --config "$region/client.toml")
to=$("${pp[@]}" --identity "$work/payee" wallet address)
balance() { "${pp[@]}" wallet balance --json 2>/dev/null | tr -d ' \n'; }
# The faucet's transfer to the client first reaches a proven root.
until b=$(balance) && [[ $b == *'"proven":1000000'* ]]; do sleep 0.5; done

worst=0
for i in $(seq 1 "$SENDS"); do
  "${pp[@]}" wallet send "$to" 7 >/dev/null
  sent=$(now)
  while :; do
    b=$(balance) || { sleep 0.25; continue; }
    pending=$(sed -E 's/.*"pending":([0-9]+).*/\1/' <<<"$b")
    proven=$(sed -E 's/.*"proven":([0-9]+).*/\1/' <<<"$b")
    [ "$pending" = "$proven" ] && break
    sleep 0.25
  done
  lat=$(awk -v a="$sent" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}')
  worst=$(awk -v a="$worst" -v b="$lat" 'BEGIN{print (b>a)?b:a}')
  echo "send $i: in an accepted root $lat s after wallet send returned"
done
echo "worst: $worst s (target: 30 s); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
grep -h "batch proven" "$region/zkstore/log" | tail -n "$SENDS" | sed -E 's/.*(batch=[0-9]+).*(took=[^ ]+).*/  \1 \2/'
