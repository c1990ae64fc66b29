#!/usr/bin/env bash
# Runs the whole test suite: unit, doc and end-to-end tests against real servers, which
# the tests start themselves on free loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_nats_server
say "running the test suite (cargo test --workspace)"
cargo test --workspace "$@"
