#!/usr/bin/env bash
# Redis's Tcl suite (../shared/tools/redis-suite.sh) against shardis --shards 4, one fresh
# server per unit. Fails if any test listed in tests/tcl-expected-pass.tsv did not pass.
set -euo pipefail
cd "$(dirname "$0")/.."

SUITE=../shared/tools/redis-suite.sh
if [ ! -x "$SUITE" ] && [ ! -f "$SUITE" ]; then
    echo "tcl-suite: $SUITE not found (the shared tools sit beside the repository)" >&2
    exit 1
fi
UNITS=${TCL_UNITS:-"unit/type/string unit/type/incr unit/expire unit/keyspace unit/protocol unit/info-command unit/quit unit/scan unit/sort unit/bitops unit/bitfield unit/type/list unit/type/list-2 unit/type/list-3 unit/type/hash unit/type/set unit/type/zset unit/dump unit/multi unit/other unit/lazyfree unit/introspection unit/introspection-2 unit/pubsub unit/pubsubshard"}
PORT=${TCL_PORT:-21379}
BIN=$(pwd)/target/release/shardis
[ -x "$BIN" ] || cargo build --release
# Skipped: tests whose outcome depends on two connections' commands reaching the server in
# the order they were written. With connections served by different shards, two blocking
# commands sent back to back from two clients may be parked in either order (Redis, one
# thread, parks them in arrival order); the test then waits forever on the wrong client.
# Also skipped: unit/pubsub's keyspace notification tests (shardis sends no keyspace events
# yet): each waits forever for an event, which would end the unit there; the CONFIG GET/SET
# of the event flags still runs.
SKIP=${TCL_SKIP:-"--skiptest /BRPOPLPUSH.with.multiple.blocked.clients --skiptest /BLMPOP.with.multiple.blocked.clients --skiptest /BZMPOP.with.multiple.blocked.clients --skiptest /^Keyspace.notifications:.(?!test.CONFIG)"}
RESULTS=$(mktemp -d /tmp/shardis-tcl.XXXXXX)
set +e
RS_ARGS="$SKIP" RS_RESULTS=$RESULTS RS_SERVER_CMD="$BIN --port $PORT --shards 4 --save '' --enable-debug-command yes" \
    bash "$SUITE" 127.0.0.1 "$PORT" $UNITS | tee "$RESULTS/run.log"
set -e
expected=tests/tcl-expected-pass.tsv
if [ ! -f "$expected" ]; then
    echo "tcl-suite: no $expected yet; nothing to compare" >&2
    exit 0
fi
missing=$(sort -u "$expected" | comm -23 - <(sort -u "$RESULTS/passed.tsv") || true)
if [ -n "$missing" ]; then
    echo "tcl-suite: these tests passed before and fail now:" >&2
    echo "$missing" >&2
    exit 1
fi
echo "tcl-suite: every expected test passed ($(wc -l < "$expected") expected, $(wc -l < "$RESULTS/passed.tsv") passed)"
