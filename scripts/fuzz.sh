#!/usr/bin/env bash
# Runs the fuzz targets of fuzz/ (cargo-fuzz, libFuzzer, nightly Rust) for a bounded time
# each and prints, per target, the runs executed, executions per second, corpus size and
# any crash artifact. Exits non-zero when a target crashes (a panic, an assertion or a
# differential mismatch), times out on one input, or runs out of memory.
#
#   scripts/fuzz.sh                       every target, 60 s each
#   scripts/fuzz.sh --seconds 20          every target, 20 s each (CI)
#   scripts/fuzz.sh --target request      one target
#   scripts/fuzz.sh --sanitizer address   with AddressSanitizer (default: none)
#
# The corpora live in fuzz/corpus/<target>: the committed seed-* files and whatever
# libFuzzer adds (ignored by git). Crash inputs land in fuzz/artifacts/<target>; replay one
# with `cargo +nightly fuzz run <target> <file>`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
use_pinned_toolchain_or_stable

TARGETS=(policy_sqlite policy_postgres request policy_vs_sqlite)
seconds=60
only=""
# sql-core forbids unsafe code, and libFuzzer's coverage comes from the Rust code only:
# AddressSanitizer would mostly slow the build and the runs down.
sanitizer=none

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; }

while [ $# -gt 0 ]; do
    case $1 in
        --seconds)
            seconds=${2:?--seconds needs a number}
            shift 2
            ;;
        --target)
            only=${2:?--target needs a name}
            shift 2
            ;;
        --sanitizer)
            sanitizer=${2:?--sanitizer needs a name}
            shift 2
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *)
            say "unknown argument: $1"
            usage
            exit 2
            ;;
    esac
done
case $seconds in
    '' | *[!0-9]* | 0)
        say "--seconds wants a positive whole number, not '$seconds'"
        exit 2
        ;;
esac
if [ -n "$only" ]; then
    found=""
    for target in "${TARGETS[@]}"; do
        if [ "$target" = "$only" ]; then found=yes; fi
    done
    if [ -z "$found" ]; then
        say "no fuzz target '$only'; the targets are: ${TARGETS[*]}"
        exit 2
    fi
    TARGETS=("$only")
fi

# libFuzzer needs the sanitizer-coverage instrumentation of a nightly compiler.
if ! cargo +nightly --version >/dev/null 2>&1; then
    say "the fuzz targets need a nightly toolchain, and 'cargo +nightly' does not work here;"
    say "install one with 'rustup toolchain install nightly' and retry"
    exit 1
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    say "cargo-fuzz not found: installing it (cargo install cargo-fuzz --locked)"
    started=$SECONDS
    cargo install cargo-fuzz --locked
    say "installed $(cargo +nightly fuzz --version) in $((SECONDS - started))s"
fi

# The dictionary of each target: SQL tokens for the policy targets, JSON for requests.
dictionary() {
    case $1 in
        request) echo fuzz/dict/request.dict ;;
        *) echo fuzz/dict/sql.dict ;;
    esac
}

started=$SECONDS
say "building the fuzz targets (cargo +nightly fuzz build, sanitizer $sanitizer)"
cargo +nightly fuzz build --sanitizer "$sanitizer" ${only:+"$only"}
say "built in $((SECONDS - started))s"

logs=$(mktemp -d)
on_exit 'rm -rf "$logs"'
summary=()
failed=0
for target in "${TARGETS[@]}"; do
    corpus=fuzz/corpus/$target
    artifacts=fuzz/artifacts/$target
    mkdir -p "$corpus" "$artifacts"
    before=$(find "$artifacts" -type f | wc -l)
    say "fuzzing $target for ${seconds}s (corpus $corpus, $(find "$corpus" -type f | wc -l) inputs)"
    status=0
    # -timeout: an input that takes 10 s is a finding, not a reason to wait 20 minutes.
    cargo +nightly fuzz run --sanitizer "$sanitizer" "$target" "$corpus" -- \
        -max_total_time="$seconds" -timeout=10 -dict="$(dictionary "$target")" \
        -print_final_stats=1 \
        >"$logs/$target.log" 2>&1 || status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$target.log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$logs/$target.log" | tail -n 1)
    size=$(find "$corpus" -type f | wc -l)
    crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$logs/$target.log" | tail -n 1)
    if [ "$status" = 0 ]; then
        outcome=ok
    else
        failed=$((failed + 1))
        outcome="FAILED (exit status $status)"
        say "$target failed; the end of its log:"
        tail -n 60 "$logs/$target.log" >&2
        if [ -z "$crash" ] && [ "$(find "$artifacts" -type f | wc -l)" -gt "$before" ]; then
            # cargo-fuzz writes crash inputs to fuzz/artifacts/<target>/ (its own
            # -artifact_prefix); the newest one is this run's.
            crash=$artifacts/$(ls -t "$artifacts" | head -n 1)
        fi
    fi
    summary+=("$(printf '%-17s %10s runs %8s exec/s %6s corpus inputs  %s%s' \
        "$target" "${runs:-?}" "${rate:-?}" "$size" "$outcome" "${crash:+, crash input $crash}")")
done

say "fuzzing done: ${#TARGETS[@]} targets, ${seconds}s each"
printf '%s\n' "${summary[@]}"
printf 'fuzz: %d passed, %d failed\n' "$((${#TARGETS[@]} - failed))" "$failed"
[ "$failed" = 0 ]
