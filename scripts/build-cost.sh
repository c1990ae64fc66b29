#!/usr/bin/env bash
# Measures what sql! costs at build time: a generated crate with 200 sql! calls against the
# same crate with the SQL as plain strings, each rebuilt (dependencies already built) a few
# times; and a clean build of the macro crate with its dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

runs=${RUNS:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$(pwd)

make_crate() { # name, body-of-each-function
    local dir="$work/$1"
    mkdir -p "$dir/src"
    cat >"$dir/Cargo.toml" <<TOML
[package]
name = "$1"
version = "0.1.0"
edition = "2024"

[dependencies]
sql-client = { path = "$root/sql-client" }

[package.metadata.sql-client]
plugin = "bench"
TOML
    {
        echo "#![allow(dead_code)]"
        for i in $(seq 1 200); do
            printf "$2\n" "$i" "$i" "$i"
        done
    } >"$dir/src/lib.rs"
}

make_crate with_sql 'pub fn q%s() -> sql_client::Query<sql_client::Select> { sql_client::sql!("SELECT id, name, n FROM bench__t%s WHERE id = $1 AND name <> $2", 1, "x") } // %s'
make_crate without_sql 'pub fn q%s() -> (&'"'"'static str, i32, &'"'"'static str) { ("SELECT id, name, n FROM bench__t%s WHERE id = $1 AND name <> $2", 1, "x") } // %s'

export CARGO_TARGET_DIR="$root/target"
rebuild() { # crate dir
    (cd "$1" && cargo build -q >/dev/null 2>&1) # dependencies, once
    local best=""
    for _ in $(seq "$runs"); do
        touch "$1/src/lib.rs"
        local start end
        start=$(date +%s.%N)
        (cd "$1" && cargo build -q)
        end=$(date +%s.%N)
        local t
        t=$(echo "$end - $start" | bc)
        if [ -z "$best" ] || [ "$(echo "$t < $best" | bc)" = 1 ]; then best=$t; fi
    done
    echo "$best"
}

say "rebuilding a crate of 200 functions, best of $runs"
with=$(rebuild "$work/with_sql")
without=$(rebuild "$work/without_sql")
printf 'with 200 sql! calls:   %.2f s\nwithout (plain SQL):   %.2f s\ncost of the checks:    %.2f s (%.1f ms per call)\n' \
    "$with" "$without" "$(echo "$with - $without" | bc)" "$(echo "($with - $without) * 1000 / 200" | bc -l)"

say "clean build of sql-client-macros and its dependencies (2 jobs)"
clean="$work/clean-target"
start=$(date +%s.%N)
CARGO_TARGET_DIR="$clean" cargo build -q -j 2 -p sql-client-macros
end=$(date +%s.%N)
printf 'clean build of the macro crate: %.1f s\n' "$(echo "$end - $start" | bc)"
