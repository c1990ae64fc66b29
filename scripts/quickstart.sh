#!/usr/bin/env bash
# The main job: starts nats-server and sql-handler on the embedded SQLite default with the
# quickstart plugin's migrations, runs the quickstart plugin, and stops everything again.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
use_pinned_toolchain_or_stable

ensure_nats_server
say "building sql-handler and the quickstart plugin"
cargo build --quiet -p sql-handler -p example-quickstart

work=$(mktemp -d)
# The handler's log outlives the run: it holds the audit records.
kept_log=target/quickstart/handler.log
pids=()
cleanup() {
    # The handler first, so that it can drain while NATS is still up.
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill "${pids[$i]}" 2>/dev/null || true
        wait "${pids[$i]}" 2>/dev/null || true
    done
    if [ -f "$work/handler.log" ]; then
        mkdir -p "$(dirname "$kept_log")"
        cp "$work/handler.log" "$kept_log"
        say "the handler's log is kept at $kept_log: $(grep -c 'sql.audit' "$kept_log" || true) audit records (target sql.audit)"
    fi
    rm -rf "$work"
}
trap cleanup EXIT

say "starting nats-server on a free loopback port"
nats-server -a 127.0.0.1 -p -1 --ports_file_dir "$work" -l "$work/nats.log" &
pids+=($!)
for _ in $(seq 100); do
    ports=$(cat "$work"/*.ports 2>/dev/null || true)
    [ -n "$ports" ] && break
    sleep 0.1
done
port=$(printf '%s' "$ports" | grep -o 'nats://[^"]*' | head -n1 | sed 's/.*://')
[ -n "$port" ] || { say "nats-server did not start; its log:"; cat "$work/nats.log" >&2; exit 1; }
export NATS_URL="nats://127.0.0.1:$port"

say "starting sql-handler (database sqlite://$work/quickstart.db, migrations examples/quickstart/migrations)"
./target/debug/sql-handler \
    --database "sqlite://$work/quickstart.db" \
    --migrations examples/quickstart/migrations \
    2>"$work/handler.log" &
pids+=($!)
for _ in $(seq 200); do
    grep -q "sql-handler ready" "$work/handler.log" 2>/dev/null && break
    if ! kill -0 "${pids[1]}" 2>/dev/null; then
        say "sql-handler exited at start; its log:"; cat "$work/handler.log" >&2; exit 1
    fi
    sleep 0.1
done
grep -q "sql-handler ready" "$work/handler.log" || { say "sql-handler did not become ready"; cat "$work/handler.log" >&2; exit 1; }

say "running the quickstart plugin"
./target/debug/example-quickstart
say "done; stopping the handler and nats-server"
