#!/usr/bin/env bash
# A/B of ppstore get against one raw quic-go stream, alternated ROUNDS times on
# an existing region (the quick loop used while tuning the download path).
# Usage: bash bench/get_ab.sh REGION_DIR CID MIB [ROUNDS] [extra client.toml line]
#   e.g. bash bench/get_ab.sh /tmp/r bagb... 512 5 "streams = 2"
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir=$1; cid=$2; mib=$3; n=${4:-5}
cfg=$(mktemp); trap 'rm -f "$cfg"; kill "${qp:-0}" 2>/dev/null || true' EXIT
cp "$dir/client.toml" "$cfg"; [ -n "${5:-}" ] && echo "$5" >> "$cfg"
port=$((20000 + RANDOM % 20000))
"$here/bin/quicraw" serve -addr 127.0.0.1:$port & qp=$!
sleep 0.3
for i in $(seq "$n"); do
  o=$("$here/bin/ppstore" --config "$cfg" get -q --stats "$cid" -o /dev/null 2>&1 | grep 'op=get' | sed 's/.*elapsed_s=\([0-9.]*\).*/\1/')
  r=$("$here/bin/quicraw" fetch -addr 127.0.0.1:$port -size "${mib}MiB" | awk '{print $4}')
  awk -v o="$o" -v r="$r" 'BEGIN {printf "ours %.3f s  raw %.3f s  ratio %.3f\n", o, r, r/o}'
done | sort -k8 -n | tee /dev/stderr | awk '{a[NR]=$8} END {print "median ratio", a[int((NR+1)/2)]}'
