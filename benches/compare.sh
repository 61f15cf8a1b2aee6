#!/usr/bin/env bash
# compare.sh - the side-by-side load comparison: shardis against redis-server, on this machine,
# in one sitting, with the same load.
#
# Usage (from anywhere; paths are relative to the repository root):
#   cargo build --release && benches/compare.sh
#   TESTS=get,set RUNS=3 benches/compare.sh
#
# Method: starts shardis (--shards 1 --save '', an empty --dir, pinned to CPU $SERVER_CPU), runs
# ../shared/tools/bench-redis.sh against it (redis-benchmark pinned to CPU 1: P1 and P16,
# 50 clients, 100k random keys, 32-byte values), stops it; then does the same with
# redis-server (--save '' --appendonly no); RUNS times, alternating. Both servers get one core,
# the load generator the other. Prints a side-by-side table (medians over the runs) and a
# ratios table (median of the per-run ratios) where >1.0 is better for shardis in every column:
#   rps s/r     throughput, shardis / redis
#   us/op r/s   server CPU microseconds per request, redis / shardis (the figure that matters
#               when the client is the limit, as at P1: lg% near 100)
#   p50, p99    latency, redis / shardis
# Compare ratios, not absolute figures across runs: the machine is shared; oth% shows how much
# CPU anything else used during a test (200 = both cores), a large value marks a disturbed row.
#
# It installs nothing. Needs: redis-server, redis-benchmark, redis-cli (Debian/Ubuntu:
# apt-get install -y redis-server redis-tools), taskset (util-linux), awk, and a built shardis.
#
# Environment (defaults in brackets):
#   SHARDIS_BIN   shardis binary                                [target/release/shardis]
#   REDIS_SERVER  redis-server binary                           [redis-server]
#   TESTS         redis-benchmark tests (-t)                    [ping,set,get,incr,mset]
#   RUNS          alternating runs per server; medians shown    [1]
#   VERBOSE       1: also print every run's bench-redis.sh table [0]
#   SHARDIS_PORT / REDIS_PORT                                   [7341 / 7342]
#   SHARDIS_ARGS / REDIS_ARGS extra server arguments (word-split)  [none]
#                 e.g. the AOF comparison of issue 4:
#                 SHARDIS_ARGS="--appendonly yes --appendfsync always" \
#                 REDIS_ARGS="--appendonly yes --appendfsync always" TESTS=set benches/compare.sh
#                 (REDIS_SERVER=target/release/shardis REDIS_ARGS=--shards\ 1 compares shardis
#                 with itself: AOF on against off)
#   SERVER_CPU    CPU the servers are pinned to                 [0]
#   BENCH_REDIS   the load script                               [../shared/tools/bench-redis.sh]
#   OUT           directory for logs and raw tables             [a new /tmp/shardis-compare.*]
#   CLIENTS, N1, N16, PIPELINES, KEYSPACE, DATA_SIZE, LOADGEN_CPU pass through to bench-redis.sh.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
SHARDIS_BIN=${SHARDIS_BIN:-target/release/shardis}
REDIS_SERVER=${REDIS_SERVER:-redis-server}
TESTS=${TESTS:-ping,set,get,incr,mset}
RUNS=${RUNS:-1}
SHARDIS_PORT=${SHARDIS_PORT:-7341}
REDIS_PORT=${REDIS_PORT:-7342}
SERVER_CPU=${SERVER_CPU:-0}
BENCH_REDIS=${BENCH_REDIS:-$ROOT/../shared/tools/bench-redis.sh}
CLI=${REDIS_CLI:-redis-cli}
OUT=${OUT:-$(mktemp -d /tmp/shardis-compare.XXXXXX)}
mkdir -p "$OUT"

# --- what is missing --------------------------------------------------------------------------
missing=()
for tool in "$REDIS_SERVER" redis-benchmark "$CLI" taskset awk; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[ -x "$SHARDIS_BIN" ] || missing+=("$SHARDIS_BIN (build it: cargo build --release)")
[ -f "$BENCH_REDIS" ] || missing+=("$BENCH_REDIS (the shared load script)")
if [ ${#missing[@]} -gt 0 ]; then
  echo "compare.sh: missing:" >&2
  for m in "${missing[@]}"; do echo "  - $m" >&2; done
  echo "redis-server, redis-benchmark and redis-cli come with: apt-get install -y redis-server redis-tools" >&2
  exit 2
fi

# --- servers ----------------------------------------------------------------------------------
SPID=
cleanup() { [ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null; SPID=; }
trap cleanup EXIT INT TERM

# start NAME PORT CMD...: starts CMD in the background and waits until PORT answers PING.
start() {
  local name=$1 port=$2
  shift 2
  if $CLI -p "$port" PING >/dev/null 2>&1; then
    echo "compare.sh: something already answers on port $port; set SHARDIS_PORT/REDIS_PORT" >&2
    return 1
  fi
  "$@" >"$OUT/$name.log" 2>&1 &
  SPID=$!
  for _ in $(seq 1 200); do
    [ "$($CLI -p "$port" PING 2>/dev/null)" = PONG ] && return 0
    if ! kill -0 "$SPID" 2>/dev/null; then
      echo "compare.sh: $name exited during startup; its log:" >&2
      tail -20 "$OUT/$name.log" >&2
      SPID=
      return 1
    fi
    sleep 0.05
  done
  echo "compare.sh: $name did not answer PING on port $port within 10 s" >&2
  return 1
}

# bench NAME PORT RUN: runs bench-redis.sh once against the running server; keeps its table
# and appends its raw rows (label,tool,test,P,rep,rps,p50,p99,p99.9,srv%,lg%,oth%) to raw.csv
# with the run number in front.
bench() {
  local name=$1 port=$2 run=$3
  SERVER_PID=$SPID REPS=1 TESTS=$TESTS RAW="$OUT/raw.$name.$run.csv" bash "$BENCH_REDIS" 127.0.0.1 "$port" "$name" \
    >"$OUT/$name.$run.table" 2>"$OUT/$name.$run.err"
  local rc=$?
  if [ $rc -ne 0 ] || ! grep -q '^rb ' "$OUT/$name.$run.table"; then
    echo "compare.sh: bench-redis.sh failed against $name (rc $rc):" >&2
    cat "$OUT/$name.$run.err" >&2
    return 1
  fi
  sed "s/^/$run,/" "$OUT/raw.$name.$run.csv" >>"$OUT/raw.csv"
  [ "${VERBOSE:-0}" = 1 ] && { echo; echo "== $name, run $run"; grep -v '^#' "$OUT/$name.$run.table"; }
  return 0
}

echo "# compare.sh $(date -u +%FT%TZ)  servers on CPU $SERVER_CPU, load on CPU ${LOADGEN_CPU:-1}  tests=$TESTS runs=$RUNS"
echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')  ($(nproc) CPUs)  load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# shardis: $($SHARDIS_BIN --version 2>&1 | head -1)"
echo "# redis:   $($REDIS_SERVER --version 2>&1 | head -1)"

# fresh_dir NAME: an empty data directory for NAME's next start, so that every run starts from
# an empty dataset (an AOF or dump left by the previous run would be loaded otherwise).
fresh_dir() {
  rm -rf "$OUT/data.$1" && mkdir -p "$OUT/data.$1"
}

# Runs alternate (shardis, redis, shardis, redis...) so that a disturbance on this shared
# machine hits both servers alike; each ratio is taken within a run, then the median is shown.
: >"$OUT/raw.csv"
for run in $(seq 1 "$RUNS"); do
  # shellcheck disable=SC2086 # the extra arguments are meant to be word-split
  fresh_dir shardis
  start shardis "$SHARDIS_PORT" taskset -c "$SERVER_CPU" "$SHARDIS_BIN" --port "$SHARDIS_PORT" --shards 1 --save '' \
    --dir "$OUT/data.shardis" ${SHARDIS_ARGS:-} || exit 1
  bench shardis "$SHARDIS_PORT" "$run" || exit 1
  cleanup
  fresh_dir redis
  # shellcheck disable=SC2086
  start redis "$REDIS_PORT" taskset -c "$SERVER_CPU" "$REDIS_SERVER" --port "$REDIS_PORT" --save '' --appendonly no \
    --dir "$OUT/data.redis" ${REDIS_ARGS:-} || exit 1
  bench redis "$REDIS_PORT" "$run" || exit 1
  cleanup
  rm -rf "$OUT/data.shardis" "$OUT/data.redis"
  echo "# run $run/$RUNS done $(date -u +%T)" >&2
done

# --- side by side and ratios ------------------------------------------------------------------
# raw.csv: run,label,tool,test,P,rep,rps,p50,p99,p99.9,srv%,lg%,oth%
awk -F, -v runs="$RUNS" '
function med(s,   n, a, i, j, x) {
  n = split(s, a, " ")
  if (n == 0) return "-"
  for (i = 2; i <= n; i++) { x = a[i] + 0; j = i - 1; while (j > 0 && a[j] + 0 > x) { a[j+1] = a[j]; j-- } a[j+1] = x }
  return (n % 2) ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
}
function num(v) { return v != "" && v != "-" && v + 0 > 0 }
function put(arr, k, v) { if (num(v)) arr[k] = arr[k] " " v }
$3 != "rb" { next }
{
  s = ($2 == "shardis") ? "s" : "r"; k = $4 SUBSEP $5; rk = k SUBSEP $1
  if (!(k in seen)) { seen[k] = 1; order[++n] = k }
  put(rps, s SUBSEP k, $7); put(p50, s SUBSEP k, $8); put(p99, s SUBSEP k, $9); put(lg, s SUBSEP k, $12)
  u = num($11) && num($7) ? $11 * 10000 / $7 : ""; put(us, s SUBSEP k, u)
  if ($13 + 0 > oth[k] + 0) oth[k] = $13
  R[s, "rps", rk] = $7; R[s, "us", rk] = u; R[s, "p50", rk] = $8; R[s, "p99", rk] = $9
}
# paired ratio for each run, then the median over runs
function ratio(name, k, inv,   r, out, a, b) {
  out = ""
  for (r = 1; r <= runs; r++) {
    a = R["s", name, k SUBSEP r]; b = R["r", name, k SUBSEP r]
    if (num(a) && num(b)) out = out " " (inv ? b / a : a / b)
  }
  return out == "" ? "-" : sprintf("%.2f", med(out))
}
function f(v, fmt) { return v == "-" ? "-" : sprintf(fmt, v) }
END {
  print ""
  printf "== side by side: medians over %d run(s)  (s = shardis, r = redis-server)\n", runs
  printf "%-12s %3s | %9s %7s %7s %6s %4s | %9s %7s %7s %6s %4s | %4s\n", "test", "P", "s rps", "s p50", "s p99", "s us", "s lg", "r rps", "r p50", "r p99", "r us", "r lg", "oth%"
  for (i = 1; i <= n; i++) {
    k = order[i]; split(k, t, SUBSEP)
    line = sprintf("%-12s %3s", t[1], t[2])
    for (x = 1; x <= 2; x++) {
      s = (x == 1) ? "s" : "r"
      line = line sprintf(" | %9s %7s %7s %6s %4s", f(med(rps[s, k]), "%.0f"), f(med(p50[s, k]), "%.3f"), \
        f(med(p99[s, k]), "%.3f"), f(med(us[s, k]), "%.2f"), f(med(lg[s, k]), "%.0f"))
    }
    printf "%s | %4s\n", line, oth[k] + 0
  }
  print ""
  print "== ratios (>1.0 = shardis better; median of the per-run ratios)"
  printf "%-12s %3s | %7s %9s %7s %7s\n", "test", "P", "rps s/r", "us/op r/s", "p50 r/s", "p99 r/s"
  for (i = 1; i <= n; i++) {
    k = order[i]; split(k, t, SUBSEP)
    printf "%-12s %3s | %7s %9s %7s %7s\n", t[1], t[2], ratio("rps", k, 0), ratio("us", k, 1), ratio("p50", k, 1), ratio("p99", k, 1)
  }
  print ""
  print "s/r us: server CPU microseconds per request; lg: load-generator CPU busy % (near 100: the"
  print "client is the limit, compare us/op); oth%: max CPU % used by anything else (200 = both cores)."
}' "$OUT/raw.csv"
echo
echo "# logs and raw tables: $OUT"
