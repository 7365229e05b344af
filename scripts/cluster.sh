#!/usr/bin/env bash
# Starts or stops a local three-node Fjord cluster (every node broker,controller).
#
#   scripts/cluster.sh start [DIR]   # data and logs under DIR (default ./fjord-cluster)
#   scripts/cluster.sh stop  [DIR]
#
# Node i listens for clients on 127.0.0.1:(BASE + STEP*i), for the metadata quorum on
# the next port and for metrics on the one after (BASE=9092, STEP=10000: 9092/9093/9094,
# 19092/19093/19094, 29092/29093/29094; override with FJORD_CLUSTER_PORT_BASE and
# FJORD_CLUSTER_PORT_STEP). Uses target/debug/fjord-broker (or $FJORD_BROKER_BIN),
# building it if missing. `kcat -L -b 127.0.0.1:9092` lists the three brokers.
set -euo pipefail

cmd="${1:-}"
dir="$(realpath -m "${2:-fjord-cluster}")"
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${FJORD_BROKER_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/fjord-broker}"
base="${FJORD_CLUSTER_PORT_BASE:-9092}"
step="${FJORD_CLUSTER_PORT_STEP:-10000}"
port() { echo $((base + step * $1 + $2)); }
voters="0@127.0.0.1:$(port 0 1),1@127.0.0.1:$(port 1 1),2@127.0.0.1:$(port 2 1)"

case "$cmd" in
start)
  if [ ! -x "$bin" ]; then
    (cd "$root" && cargo build -p fjord-broker --bin fjord-broker)
  fi
  mkdir -p "$dir"
  for i in 0 1 2; do
    if [ -f "$dir/node-$i.pid" ] && kill -0 "$(cat "$dir/node-$i.pid")" 2>/dev/null; then
      echo "node $i is already running (pid $(cat "$dir/node-$i.pid"))"
      continue
    fi
    nohup "$bin" \
      --set node.id="$i" \
      --set log.dirs="$dir/node-$i" \
      --set listeners="PLAINTEXT://127.0.0.1:$(port "$i" 0),CONTROLLER://127.0.0.1:$(port "$i" 1)" \
      --set controller.quorum.voters="$voters" \
      --set metrics.port="$(port "$i" 2)" \
      >"$dir/node-$i.log" 2>&1 &
    echo $! >"$dir/node-$i.pid"
  done
  for i in 0 1 2; do
    for _ in $(seq 1 300); do
      grep -q "broker ready" "$dir/node-$i.log" 2>/dev/null && break
      if ! kill -0 "$(cat "$dir/node-$i.pid")" 2>/dev/null; then
        echo "node $i exited; see $dir/node-$i.log" >&2
        exit 1
      fi
      sleep 0.2
    done
  done
  echo "bootstrap: 127.0.0.1:$(port 0 0),127.0.0.1:$(port 1 0),127.0.0.1:$(port 2 0)"
  echo "logs and data: $dir"
  ;;
stop)
  for i in 0 1 2; do
    pidfile="$dir/node-$i.pid"
    [ -f "$pidfile" ] || continue
    pid="$(cat "$pidfile")"
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    fi
    rm -f "$pidfile"
  done
  echo "stopped (data kept in $dir)"
  ;;
*)
  echo "usage: $0 start|stop [DIR]" >&2
  exit 2
  ;;
esac
