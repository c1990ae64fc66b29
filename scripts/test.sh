#!/usr/bin/env bash
# Runs the whole test suite against real servers, which the tests start themselves on free
# loopback ports, on both database backends:
#   1. unit, doc and end-to-end tests with the handler on SQLite (cargo test --workspace);
#      the unit tests that need PostgreSQL use the cluster below;
#   2. the end-to-end tests again with the handler on PostgreSQL
#      (SQL_TEST_BACKEND=postgres cargo test -p sql-client-tests).
# A throw-away PostgreSQL cluster is started for the run and stopped at the end; set
# SQL_TEST_POSTGRES_URL to use a running one instead. Extra arguments go to both cargo runs.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
use_pinned_toolchain_or_stable

ensure_nats_server
ensure_openssl
start_test_postgres
sqlite_log=$(mktemp)
postgres_log=$(mktemp)
on_exit 'rm -f "$sqlite_log" "$postgres_log"'

# "P passed, F failed" summed over every `test result:` line of a cargo test log.
count_results() {
    awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
         END { printf "%d %d\n", p, f }' "$1"
}

started=$SECONDS
say "running the test suite on SQLite (cargo test --workspace)"
sqlite_status=0
cargo test --workspace "$@" 2>&1 | tee "$sqlite_log" || sqlite_status=$?
sqlite_seconds=$((SECONDS - started))

started=$SECONDS
# Same profile and features as above: cargo reuses the test binaries it just built.
say "running the end-to-end tests on PostgreSQL (SQL_TEST_BACKEND=postgres cargo test -p sql-client-tests)"
postgres_status=0
SQL_TEST_BACKEND=postgres cargo test -p sql-client-tests "$@" 2>&1 | tee "$postgres_log" ||
    postgres_status=$?
postgres_seconds=$((SECONDS - started))

read -r sqlite_passed sqlite_failed < <(count_results "$sqlite_log")
read -r postgres_passed postgres_failed < <(count_results "$postgres_log")
outcome() { if [ "$1" = 0 ]; then echo "ok"; else echo "FAILED (exit status $1)"; fi; }
printf 'workspace run:     %d passed, %d failed, %s in %ds (unit and doc tests; end-to-end on SQLite)\n' \
    "$sqlite_passed" "$sqlite_failed" "$(outcome "$sqlite_status")" "$sqlite_seconds"
printf 'postgres run:      %d passed, %d failed, %s in %ds (end-to-end on PostgreSQL)\n' \
    "$postgres_passed" "$postgres_failed" "$(outcome "$postgres_status")" "$postgres_seconds"
printf 'tests: %d passed, %d failed\n' \
    "$((sqlite_passed + postgres_passed))" "$((sqlite_failed + postgres_failed))"
if [ "$sqlite_status" != 0 ] || [ "$postgres_status" != 0 ]; then
    exit 1
fi
