#!/usr/bin/env bash
# restart.sh - time to restart from the AOF with 1M keys, shardis beside redis-server.
#
# Usage: benches/restart.sh [KEYS]     (default 1000000; run on a quiet machine)
#
# For each server: start it with appendonly yes (appendfsync everysec, auto-rewrite off), load
# KEYS strings (16-byte keys, 16-byte values) through `redis-cli --pipe`, stop it with SHUTDOWN
# (nosave), and time a restart from the moment the process starts until INFO persistence says
# loading:0 and DBSIZE answers KEYS. Two cases:
#   resp  the AOF is the command log itself (one SET per key in the increment files)
#   rdb   after BGREWRITEAOF, the AOF is an RDB preamble (the base) and an empty increment
# shardis runs with --shards $SHARDS (default 2: the shards replay their segments in
# parallel); redis-server is single-threaded. Neither server is pinned: the point is how long
# a restart keeps the dataset away, using the machine.
set -eu

KEYS=${1:-1000000}
SHARDS=${SHARDS:-2}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARDIS=${SHARDIS:-$ROOT/target/release/shardis}
PORT=${PORT:-21495}
WORK=$(mktemp -d /tmp/shardis-restart.XXXXXX)
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT

gen() {
    awk -v n="$KEYS" 'BEGIN{ for (i = 0; i < n; i++)
      printf "*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$16\r\nv%015d\r\n", i, i }'
}

now() { date +%s.%N; }

# start NAME: starts the server named NAME in $WORK/NAME, in the background (sets PID).
start() {
    local name=$1
    mkdir -p "$WORK/$name"
    case $name in
        shardis) "$SHARDIS" --port "$PORT" --shards "$SHARDS" --dir "$WORK/$name" --save '' --appendonly yes \
            --auto-aof-rewrite-percentage 0 >"$WORK/$name.log" 2>&1 & ;;
        redis) redis-server --port "$PORT" --dir "$WORK/$name" --save '' --appendonly yes \
            --auto-aof-rewrite-percentage 0 >"$WORK/$name.log" 2>&1 & ;;
    esac
    PID=$!
}

# wait_loaded: until the server answers, has finished loading and holds every key.
wait_loaded() {
    while :; do
        if [ "$(redis-cli -p "$PORT" info persistence 2>/dev/null | tr -d '\r' | sed -n 's/^loading://p')" = 0 ] &&
            [ "$(redis-cli -p "$PORT" dbsize 2>/dev/null)" = "$KEYS" ]; then
            return
        fi
        sleep 0.01
    done
}

stop() {
    redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true
    wait "$PID" 2>/dev/null || true
    PID=
}

wait_rewritten() {
    while [ "$(redis-cli -p "$PORT" info persistence | tr -d '\r' | sed -n 's/^aof_rewrite_in_progress://p')" != 0 ] ||
        [ "$(redis-cli -p "$PORT" info persistence | tr -d '\r' | sed -n 's/^aof_rewrite_scheduled://p')" != 0 ]; do
        sleep 0.1
    done
}

printf "%-8s %-5s %9s %10s %10s\n" server case keys aof_MB restart_s
for name in shardis redis; do
    start "$name"
    until redis-cli -p "$PORT" ping >/dev/null 2>&1; do sleep 0.05; done
    gen | redis-cli -p "$PORT" --pipe >"$WORK/pipe.log" 2>&1
    grep -q 'errors: 0' "$WORK/pipe.log" || { echo "load errors:" >&2; tail -3 "$WORK/pipe.log" >&2; exit 1; }
    for case in resp rdb; do
        if [ "$case" = rdb ]; then
            redis-cli -p "$PORT" bgrewriteaof >/dev/null
            sleep 0.2
            wait_rewritten
        fi
        stop
        mb=$(du -sm "$WORK/$name/appendonlydir" | cut -f1)
        t0=$(now)
        start "$name"
        wait_loaded
        t1=$(now)
        printf "%-8s %-5s %9d %10d %10.2f\n" "$name" "$case" "$KEYS" "$mb" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')"
    done
    stop
done
