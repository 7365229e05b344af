#!/usr/bin/env bash
# Issue 11's figures on one three-node cluster of release brokers (scripts/cluster.sh), all
# in one run so that the ratios share the machine's load:
#   1. throughput: acks=all to an RF 3 topic (min.insync.replicas=2) against acks=all to an
#      RF 1 topic on the same cluster, alternating RF 3, RF 1 for ROUNDS rounds;
#   2. end-to-end latency at 10 k msg/s, RF 3 acks=all, and RF 1 acks=all as the baseline,
#      with librdkafka's default producer and with an idempotent one;
#   3. failover: kill -9 the leader of an RF 3 partition under an idempotent acks=all
#      producer (1 k msg/s), with the cluster's default broker.session.timeout.ms (9 s).
# Usage: bench/replication.sh [out-dir]      (ROUNDS=3 COUNT=200000 SIZE=1024 by default)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
target=${CARGO_TARGET_DIR:-$root/target}/release
bench_bin=${FJORD_BENCH_BIN:-$target/fjord-bench}
export FJORD_BROKER_BIN=${FJORD_BROKER_BIN:-$target/fjord-broker}
out=$(realpath -m "${1:-/tmp/fjord-bench-replication}")
rounds=${ROUNDS:-3}
count=${COUNT:-200000}
size=${SIZE:-1024}
export FJORD_CLUSTER_PORT_BASE=${FJORD_CLUSTER_PORT_BASE:-19500}
export FJORD_CLUSTER_PORT_STEP=${FJORD_CLUSTER_PORT_STEP:-10}
port() { echo $((FJORD_CLUSTER_PORT_BASE + FJORD_CLUSTER_PORT_STEP * $1)); }
bootstrap="127.0.0.1:$(port 0),127.0.0.1:$(port 1),127.0.0.1:$(port 2)"
rm -rf "$out"
mkdir -p "$out"
cluster() { "$root/scripts/cluster.sh" "$1" "$out/cluster" >/dev/null; }
trap 'cluster stop || true' EXIT
cluster start

summary() { # file label
    python3 - "$1" "$2" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
line = f"{sys.argv[2]:<34} {r['msgs_per_s']:>10,.0f} msg/s {r['mb_per_s']:>7.1f} MB/s errors {r['errors']}"
lat = r.get("latency_ms")
if lat:
    line += f"  p50 {lat['p50']:.2f} ms  p99 {lat['p99']:.2f} ms  max {lat['max']:.2f} ms"
s = r.get("settings", {})
if "failover_ms" in s:
    line += f"  failover {s['failover_ms']} ms  max gap {s['max_ack_gap_ms']} ms  leader {s['killed_leader']} -> {s['new_leader']}"
print(line)
PY
}

produce=(produce --message-size "$size" --count "$count" --acks all --linger-ms 5)
for r in $(seq 1 "$rounds"); do
    "$bench_bin" --bootstrap "$bootstrap" --json "${produce[@]}" --topic rf3 \
        --replication-factor 3 --topic-config min.insync.replicas=2 >"$out/rf3-$r.json"
    summary "$out/rf3-$r.json" "produce RF 3 acks=all, round $r"
    "$bench_bin" --bootstrap "$bootstrap" --json "${produce[@]}" --topic rf1 \
        --replication-factor 1 >"$out/rf1-$r.json"
    summary "$out/rf1-$r.json" "produce RF 1 acks=all, round $r"
done
python3 - "$out" "$rounds" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
rate = lambda f: json.load(open(f"{out}/{f}"))["msgs_per_s"]
rf3 = [rate(f"rf3-{r}.json") for r in range(1, rounds + 1)]
rf1 = [rate(f"rf1-{r}.json") for r in range(1, rounds + 1)]
print(f"RF 3 / RF 1 acks=all throughput, medians: {statistics.median(rf3):,.0f} / "
      f"{statistics.median(rf1):,.0f} = {statistics.median(rf3) / statistics.median(rf1):.2f}")
PY

latency=(latency --rate 10000 --duration 10 --warmup 2 --message-size 100 --acks all)
# librdkafka's default producer (no idempotence: up to a million requests in flight per
# connection) and the idempotent one (at most 5 in flight, as Kafka's own clients default to).
for mode in plain idempotent; do
    flags=()
    [ "$mode" = idempotent ] && flags=(--idempotence)
    for rf in 3 1; do
        "$bench_bin" --bootstrap "$bootstrap" --json "${latency[@]}" "${flags[@]}" \
            --topic "lat$rf-$mode" --replication-factor "$rf" >"$out/latency-rf$rf-$mode.json"
        summary "$out/latency-rf$rf-$mode.json" "latency 10k/s RF $rf acks=all $mode"
    done
done

pids=""
for i in 0 1 2; do pids+="${pids:+,}$i=$(cat "$out/cluster/node-$i.pid")"; done
"$bench_bin" --bootstrap "$bootstrap" --json failover --broker-pids "$pids" --rate 1000 \
    --topic failover --topic-config min.insync.replicas=2 >"$out/failover.json"
summary "$out/failover.json" "failover, kill -9 of the leader"
