#!/usr/bin/env bash
# Runs every test: the engine's and server's unit tests, the black-box integration tests
# (which start the real binary), and Redis's own Tcl suite for the units this build covers,
# against a shardis with 4 shards. Exits non-zero if anything fails or a Tcl test that passed
# before (tests/tcl-expected-pass.tsv) no longer passes.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --workspace
cargo test --release --workspace

bash tests/tcl-suite.sh
