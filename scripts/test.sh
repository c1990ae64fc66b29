#!/usr/bin/env bash
# Runs the whole test suite: unit, doc and end-to-end tests against real servers, which
# the tests start themselves on free loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
use_pinned_toolchain_or_stable

ensure_nats_server
say "running the test suite (cargo test --workspace)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace "$@" 2>&1 | tee "$log" || status=$?
# One total over every test binary and the doctests.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
