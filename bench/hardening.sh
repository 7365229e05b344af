#!/usr/bin/env bash
# Issue 8/9 scenarios, each run against broker A (this tree's release build) and, when
# FJORD_BASE_BROKER names another fjord-broker binary, against that baseline B in the same run
# (A's scenarios, then B's), so the two are compared under the same machine load.
#   1. many partitions: 100 B records, linger 20 ms, 3 partitions then 3,000 (fresh topics)
#   2. acks=all with flush.messages=1 (an fsync before every acknowledgement)
#   3. broker-side recompression: topic compression.type=zstd against producer (A only)
# Usage: FJORD_BASE_BROKER=/path/to/old/fjord-broker bench/hardening.sh [out-dir]
set -euo pipefail
target=${CARGO_TARGET_DIR:-target}/release
bench_bin=${FJORD_BENCH_BIN:-$target/fjord-bench}
out=${1:-/tmp/fjord-bench-hardening}
mkdir -p "$out"

declare -A brokers=([A]="$target/fjord-broker")
[ -n "${FJORD_BASE_BROKER:-}" ] && brokers[B]="$FJORD_BASE_BROKER"

start() { # side port
    local data="/tmp/bench-hardening-$1"
    rm -rf "$data"
    "${brokers[$1]}" --set "log.dirs=$data" --set "listeners=PLAINTEXT://127.0.0.1:$2" \
        --set metrics.port=0 2>"$out/broker-$1.log" &
    pid=$!
    until grep -q "broker ready" "$out/broker-$1.log"; do sleep 0.1; done
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; }

run() { # name side port args...
    local name=$1 side=$2 port=$3
    shift 3
    "$bench_bin" --bootstrap "127.0.0.1:$port" --broker-pid "$pid" "$@" --json \
        >"$out/$name-$side.json"
    python3 - "$out/$name-$side.json" "$name" "$side" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
cpu = r.get("broker_cpu") or {}
per_msg = (cpu.get("cpu_s", 0) / r["messages"] * 1e6) if r.get("messages") else 0
print(f"{sys.argv[2]:<28} {sys.argv[3]}  {r['msgs_per_s']:>12,.0f} msg/s  {r['mb_per_s']:>8.1f} MB/s  "
      f"broker {cpu.get('cpu_s', 0):6.2f} CPU-s  {per_msg:6.2f} µs/msg")
PY
}

small=(produce --message-size 100 --count 600000 --linger-ms 20 --acks 1 --compression none)
for side in A B; do
    [ -n "${brokers[$side]:-}" ] || continue
    port=19301
    [ "$side" = B ] && port=19302
    start "$side" "$port"
    run partitions-3 "$side" "$port" "${small[@]}" --topic p3 --partitions 3
    run partitions-3000 "$side" "$port" "${small[@]}" --topic p3000 --partitions 3000
    run partitions-3000-warm "$side" "$port" "${small[@]}" --topic p3000 --partitions 3000
    run flush-every-message "$side" "$port" produce --message-size 1024 --count 5000 \
        --acks all --linger-ms 0 --topic-config flush.messages=1 --topic f1 --partitions 3
    if [ "$side" = A ]; then
        run compression-producer A "$port" produce --message-size 1024 --count 300000 \
            --acks 1 --compression none --topic cp --partitions 3
        run compression-zstd A "$port" produce --message-size 1024 --count 300000 \
            --acks 1 --compression none --topic cz --partitions 3 --topic-config compression.type=zstd
    fi
    stop
done
