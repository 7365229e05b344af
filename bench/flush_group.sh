#!/usr/bin/env bash
# acks=all with flush.messages=1 (an fsync before every acknowledgement) from several producers
# at once, against broker A (this tree's release build) and, when FJORD_BASE_BROKER names
# another fjord-broker binary, against that baseline B in the same run. Concurrent producers
# are what grouped fsyncs help: one producer's requests are served one at a time per
# connection, so only several connections put several appends to a partition in flight.
# Usage: FJORD_BASE_BROKER=/path/to/old/fjord-broker bench/flush_group.sh [out-dir]
# Environment: PRODUCERS (default 8), PARTITIONS (default 3), COUNT per producer (default 2000),
# BENCH_ARGS (more fjord-bench produce flags, e.g. "-X batch.num.messages=1": one message per
# batch, so every message costs an fsync and none is hidden in a larger batch).
set -euo pipefail
target=${CARGO_TARGET_DIR:-target}/release
bench_bin=${FJORD_BENCH_BIN:-$target/fjord-bench}
out=${1:-/tmp/fjord-bench-flush-group}
producers=${PRODUCERS:-8}
partitions=${PARTITIONS:-3}
count=${COUNT:-2000}
mkdir -p "$out"

declare -A brokers=([A]="${FJORD_BROKER_BIN:-$target/fjord-broker}")
[ -n "${FJORD_BASE_BROKER:-}" ] && brokers[B]="$FJORD_BASE_BROKER"

for side in A B; do
    [ -n "${brokers[$side]:-}" ] || continue
    port=19401
    [ "$side" = B ] && port=19402
    data="/tmp/bench-flush-group-$side"
    rm -rf "$data"
    "${brokers[$side]}" --set "log.dirs=$data" --set "listeners=PLAINTEXT://127.0.0.1:$port" \
        --set metrics.port=0 2>"$out/broker-$side.log" &
    pid=$!
    until grep -q "broker ready" "$out/broker-$side.log" 2>/dev/null; do sleep 0.1; done
    common=(--bootstrap "127.0.0.1:$port" produce --topic f1 --partitions "$partitions"
        --message-size 1024 --acks all --linger-ms 0 --topic-config flush.messages=1 --json
        ${BENCH_ARGS:-})
    # Creates the topic first (and warms up) so the timed producers do not race to create it.
    "$bench_bin" "${common[@]}" --count 100 >/dev/null
    start=$(date +%s.%N)
    running=()
    for i in $(seq "$producers"); do
        "$bench_bin" "${common[@]}" --count "$count" >"$out/$side-$i.json" &
        running+=($!)
    done
    wait "${running[@]}"
    end=$(date +%s.%N)
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    python3 - "$out" "$side" "$producers" "$count" "$start" "$end" <<'PY'
import json, sys
out, side, n, count, start, end = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
rates = [json.load(open(f"{out}/{side}-{i}.json"))["msgs_per_s"] for i in range(1, n + 1)]
wall = n * count / (end - start)
print(f"{side}: {n} producers, sum of per-producer rates {sum(rates):,.0f} msg/s, "
      f"wall-clock {wall:,.0f} msg/s ({n * count} messages in {end - start:.1f} s)")
PY
done
