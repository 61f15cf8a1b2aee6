#!/usr/bin/env bash
# evict.sh - GET/SET throughput with maxmemory set and allkeys-lru eviction active, shardis
# beside redis-server in the same configuration (the keyspace is 2x what fits).
#
# Usage: benches/evict.sh [MAXMEMORY_MB]     (default 64)
# Run on a quiet machine only. Builds nothing: uses target/release/shardis.
#
# Each server is pinned to CPU 0 (shardis with --shards 1), redis-benchmark to CPU 1. The
# keyspace is sized from the value size so that it needs twice maxmemory; it is filled once
# (which already evicts), then SET and GET run with random keys over the whole keyspace, so
# about half the GETs miss and every SET evicts. Printed per server: requests/s for SET and GET
# at pipeline 1 and 16, evicted_keys, used_memory against maxmemory.
set -eu

MB=${1:-64}
MAXMEMORY=$((MB * 1024 * 1024))
DATA_SIZE=${DATA_SIZE:-100}
# ~ key + value + per-key overhead (shardis ~90 B, Redis ~70 B): 2x what fits.
KEYSPACE=$((2 * MAXMEMORY / (DATA_SIZE + 80)))
N=${N:-1000000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARDIS=${SHARDIS:-$ROOT/target/release/shardis}
PORT_S=${PORT_S:-21490}
PORT_R=${PORT_R:-21491}

run_one() {
    local label=$1 port=$2
    redis-cli -p "$port" config set maxmemory "$MAXMEMORY" >/dev/null
    redis-cli -p "$port" config set maxmemory-policy allkeys-lru >/dev/null
    # Fill: sequential keys over the whole keyspace (evicts the first half).
    taskset -c 1 redis-benchmark -p "$port" -q -t set -n "$KEYSPACE" -r "$KEYSPACE" -d "$DATA_SIZE" -P 16 >/dev/null
    for p in 1 16; do
        local n=$N
        [ "$p" = 1 ] && n=$((N / 5))
        taskset -c 1 redis-benchmark -p "$port" -q -t set,get -n "$n" -r "$KEYSPACE" -d "$DATA_SIZE" -P "$p" -c 50 |
            tr '\r' '\n' | grep 'requests per second' | sed "s/^/$label P$p /"
    done
    echo "$label evicted_keys=$(redis-cli -p "$port" info stats | tr -d '\r' | sed -n 's/^evicted_keys://p')" \
        "used_memory=$(redis-cli -p "$port" info memory | tr -d '\r' | sed -n 's/^used_memory://p') maxmemory=$MAXMEMORY" \
        "keys=$(redis-cli -p "$port" dbsize) keyspace=$KEYSPACE"
}

cleanup() {
    [ -n "${SPID:-}" ] && kill "$SPID" 2>/dev/null || true
    [ -n "${RPID:-}" ] && kill "$RPID" 2>/dev/null || true
}
trap cleanup EXIT

taskset -c 0 "$SHARDIS" --port "$PORT_S" --shards 1 --save '' --appendonly no >/dev/null 2>&1 &
SPID=$!
taskset -c 0 redis-server --port "$PORT_R" --save '' --appendonly no >/dev/null 2>&1 &
RPID=$!
for port in "$PORT_S" "$PORT_R"; do
    for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
done
run_one shardis "$PORT_S"
run_one redis "$PORT_R"
