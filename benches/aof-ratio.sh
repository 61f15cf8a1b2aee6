#!/usr/bin/env bash
# aof-ratio.sh - issue 4's AOF benchmark: SET at P16 with appendonly yes, appendfsync everysec,
# against the same shardis without the AOF, as interleaved pairs.
#
# Usage: cargo build --release && benches/aof-ratio.sh [PAIRS]      (default 20)
#
# Each pair starts shardis twice (--shards 1 --save '', an empty --dir, pinned to CPU 0), first
# without the AOF, then with `--appendonly yes --appendfsync everysec` (auto rewrites on, as
# by default), and drives each with redis-benchmark pinned to CPU 1:
#   redis-benchmark -t set -P 16 -c 50 -r 100000 -d 32 -n $N
# It prints every pair (requests/s of each, their ratio, and server CPU microseconds per
# request of each, from /proc: all the server's threads, on the one core they share), then
# the median ratio with a distribution-free 95% interval (order statistics). The machine is
# shared and one run can vary by 15%: read the median of many pairs, not one pair.
#
# Environment: SHARDIS_BIN [target/release/shardis], N requests per run [3000000], PORT [7343],
# MODE the AOF run's extra arguments [--appendonly yes --appendfsync everysec].
# Needs redis-benchmark, redis-cli, taskset, awk.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PAIRS=${1:-20}
BIN=${SHARDIS_BIN:-$ROOT/target/release/shardis}
N=${N:-3000000}
PORT=${PORT:-7343}
MODE=${MODE:---appendonly yes --appendfsync everysec}
TCK=$(getconf CLK_TCK)
for tool in redis-benchmark redis-cli taskset awk; do
    command -v "$tool" >/dev/null || { echo "aof-ratio: $tool is missing" >&2; exit 1; }
done
[ -x "$BIN" ] || { echo "aof-ratio: no $BIN (cargo build --release)" >&2; exit 1; }

# run EXTRA...: prints "requests/s cpu_us_per_request" for one server lifetime.
run() {
    local dir pid t0 t1 rps
    dir=$(mktemp -d /tmp/shardis-aof-ratio.XXXXXX)
    # shellcheck disable=SC2068
    taskset -c 0 "$BIN" --port "$PORT" --shards 1 --save '' --dir "$dir" $@ >"$dir.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
    t0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    rps=$(taskset -c 1 redis-benchmark -p "$PORT" -t set -P 16 -c 50 -r 100000 -d 32 -n "$N" -q 2>/dev/null |
        tr '\r' '\n' | grep -o 'SET: [0-9.]*' | tail -1 | awk '{print $2}')
    t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    kill "$pid"
    wait "$pid" 2>/dev/null
    rm -rf "$dir" "$dir.log"
    awk -v r="${rps:-0}" -v a="$t0" -v b="$t1" -v t="$TCK" -v n="$N" 'BEGIN { printf "%.0f %.4f\n", r, (b - a) * 1e6 / t / n }'
}

printf "%-5s %12s %12s %7s %10s %10s\n" pair off_rps aof_rps ratio off_us aof_us
ratios=()
for p in $(seq "$PAIRS"); do
    read -r off_rps off_us < <(run)
    # shellcheck disable=SC2086
    read -r aof_rps aof_us < <(run $MODE)
    ratio=$(awk -v a="$aof_rps" -v b="$off_rps" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "nan" }')
    printf "%-5s %12s %12s %7s %10s %10s\n" "$p" "$off_rps" "$aof_rps" "$ratio" "$off_us" "$aof_us"
    ratios+=("$ratio")
done
printf '%s\n' "${ratios[@]}" | grep -v nan | sort -n | awk '
    { r[NR] = $1 }
    END {
        n = NR
        if (n == 0) { print "no pairs measured"; exit 1 }
        med = (n % 2) ? r[(n + 1) / 2] : (r[n / 2] + r[n / 2 + 1]) / 2
        k = int(n / 2 - 1.96 * sqrt(n) / 2)
        if (k >= 1) printf "median ratio %.3f over %d pairs (95%% interval %.3f - %.3f)\n", med, n, r[k], r[n - k + 1]
        else printf "median ratio %.3f over %d pairs (too few pairs for an interval)\n", med, n
    }'
