#!/usr/bin/env bash
# mem-ttl.sh - bytes per key for strings WITH a TTL: COUNT x `SET key:%012d <16 B> EX 100000`
# loaded through `redis-cli --pipe` into a fresh server, for any RESP server.
#
# Usage: benches/mem-ttl.sh PORT SERVER_CMD [ARGS...]
#   benches/mem-ttl.sh 22450 target/release/shardis --port 22450 --shards 1 --save ''
#   benches/mem-ttl.sh 22450 redis-server --port 22450 --save '' --appendonly no
# Env: COUNT [1000000], RUNS [1] (a fresh server per run).
# Printed per run: deltas of INFO used_memory and of the process VmRSS, per key, and
# INFO keyspace's expires count (must equal COUNT).
set -u
PORT=${1:?usage: mem-ttl.sh PORT SERVER_CMD [ARGS...]}; shift
[ $# -gt 0 ] || { echo "usage: mem-ttl.sh PORT SERVER_CMD [ARGS...]" >&2; exit 1; }
COUNT=${COUNT:-1000000}
RUNS=${RUNS:-1}

info() { redis-cli -p "$PORT" INFO "$1" 2>/dev/null | tr -d '\r'; }
used() { info memory | awk -F: '$1=="used_memory"{print $2}'; }
rss_kb() { awk '/^VmRSS:/{print $2}' /proc/"$1"/status; }

printf "%4s %9s %10s %10s %10s\n" run keys expires "B/key" "rssB/key"
for run in $(seq 1 "$RUNS"); do
  "$@" > /tmp/mem-ttl.$PORT.log 2>&1 &
  SPID=$!
  for _ in $(seq 1 100); do redis-cli -p "$PORT" PING 2>/dev/null | grep -q PONG && break; sleep 0.1; done
  sleep 0.5
  u0=$(used); r0=$(rss_kb $SPID)
  awk -v n="$COUNT" 'BEGIN{ for (i = 0; i < n; i++)
      printf "*5\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$16\r\nv%015d\r\n$2\r\nEX\r\n$6\r\n100000\r\n", i, i }' |
    redis-cli -p "$PORT" --pipe > /tmp/mem-ttl.$PORT.pipe 2>&1
  grep -q 'errors: 0' /tmp/mem-ttl.$PORT.pipe || { echo "load errors:" >&2; tail -3 /tmp/mem-ttl.$PORT.pipe >&2; }
  sleep 1
  u1=$(used); r1=$(rss_kb $SPID)
  expires=$(info keyspace | awk -F'[=,]' '/^db0:/{print $4}')
  awk -v run="$run" -v n="$COUNT" -v e="${expires:-0}" -v u0="${u0:-0}" -v u1="${u1:-0}" -v r0="$r0" -v r1="$r1" \
    'BEGIN{ printf "%4d %9d %10d %10.1f %10.1f\n", run, n, e, (u1-u0)/n, (r1-r0)*1024/n }'
  kill -TERM "$SPID"; wait "$SPID" 2>/dev/null
done
