#!/usr/bin/env bash
# Runs the issue's target scenarios against a release fjord-broker started here, with the
# broker's CPU time. Usage: bench/targets.sh [out-dir]   (JSON reports land in out-dir)
#
# Single broker, RF 1, 3 partitions, uncompressed, linger.ms=5, batch.size=1000000, client
# and broker on one machine. Sizes are kept short so a run takes about a minute.
set -euo pipefail
target=${CARGO_TARGET_DIR:-target}/release
out=${1:-/tmp/fjord-bench-results}
data=${FJORD_BENCH_DATA:-/tmp/bench-data}
addr=127.0.0.1:19192
mkdir -p "$out"
rm -rf "$data"
# On a fresh VM the first write into never-touched guest memory costs ~10x the CPU of later
# writes (docs/performance.md, "Page cache on this VM"); FJORD_BENCH_PRETOUCH_MB=3000 touches
# that much page cache first so CPU per GB reflects the broker, not the hypervisor.
if [ "${FJORD_BENCH_PRETOUCH_MB:-0}" -gt 0 ]; then
    dd if=/dev/zero of="$data.pretouch" bs=1M count="$FJORD_BENCH_PRETOUCH_MB" status=none
    rm -f "$data.pretouch"
fi

"$target/fjord-broker" --set "log.dirs=$data" --set "listeners=PLAINTEXT://$addr" \
    --set metrics.port=0 2>"$out/broker.log" &
broker=$!
trap 'kill "$broker"; wait "$broker" 2>/dev/null || true' EXIT
until grep -q "broker ready" "$out/broker.log"; do sleep 0.1; done

bench() { "$target/fjord-bench" --bootstrap "$addr" --broker-pid "$broker" "$@"; }
common=(--partitions 3 --linger-ms 5 --batch-size 1000000 --compression none)

bench produce --topic p1k --message-size 1024 --count 1000000 --acks 1 "${common[@]}" --json >"$out/produce-1k.json"
bench produce --topic p100 --message-size 100 --count 3000000 --acks 1 "${common[@]}" --json >"$out/produce-100.json"
bench consume --topic p1k --json >"$out/consume-1k.json"
bench consume --topic p100 --json >"$out/consume-100.json"
# One consumer thread per partition, as kafka-consumer-perf-test --threads: a single
# librdkafka consumer polling one message at a time is the limit above, not the broker.
bench consume --topic p1k --threads 3 --json >"$out/consume-1k-3threads.json"
bench consume --topic p100 --threads 3 --json >"$out/consume-100-3threads.json"
bench latency --topic lat --rate 10000 --duration 10 --acks all --linger-ms 0 --json >"$out/latency-linger0.json"
bench latency --topic lat --rate 10000 --duration 10 --acks all --linger-ms 5 --json >"$out/latency-linger5.json"

for f in "$out"/*.json; do
    echo "== $(basename "$f")"
    python3 - "$f" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
lat = r.get("latency_ms") or {}
cpu = r.get("broker_cpu") or {}
print(f"  {r['messages']} msgs  {r['msgs_per_s']:.0f} msg/s  {r['mb_per_s']:.1f} MB/s  "
      f"p50 {lat.get('p50', '-')} p99 {lat.get('p99', '-')} p99.9 {lat.get('p999', '-')} max {lat.get('max', '-')} ms  "
      f"cpu {cpu.get('cpu_s', '-')} s  {cpu.get('cpu_s_per_gb', '-')} s/GB")
PY
done
