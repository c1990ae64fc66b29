#!/usr/bin/env bash
# The load benchmark (sql-handler/benches/load.rs): the release handler on SQLite and on a
# throw-away PostgreSQL cluster, driven at 1, 16 and 64 requests in flight with point
# SELECTs, INSERTs and 1000-row SELECTs, each figure printed beside its baseline from the
# same run (a NATS echo responder with same-size replies; pgbench with the handler's
# transaction shape, statement by statement and pipelined), with the audit record count
# and the rows stored. Takes about five minutes, ten with the soak and the overload run.
# Arguments go to the benchmark, for example:
#   scripts/bench.sh --soak 2000000 --overload 1000   # README's figures: also a memory
#                                                     # soak and 1,000 in flight at once
#   scripts/bench.sh --workloads point --concurrency 64 --backends sqlite
#   scripts/bench.sh --help
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
use_pinned_toolchain_or_stable

ensure_nats_server
if [[ " $* " != *" --backends sqlite "* && " $* " != *" --help "* ]]; then
    start_test_postgres
fi
say "building the release handler and the benchmark (cargo bench --no-run)"
cargo bench -p sql-handler --bench load --no-run --quiet
say "running the load benchmark"
cargo bench -p sql-handler --bench load --quiet -- "$@"
