# Shared steps of the project's scripts. Source it; it defines functions only.

say() { printf '==> %s\n' "$*" >&2; }

# Installs nats-server from Debian's packages unless it is already on PATH.
ensure_nats_server() {
    if command -v nats-server >/dev/null 2>&1; then
        say "nats-server found: $(command -v nats-server)"
        return
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        say "nats-server is missing and apt-get is not available; install nats-server and retry"
        exit 1
    fi
    local sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    say "nats-server not found: installing it with apt-get (Debian package nats-server)"
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
    # Debian's package may start a system service on the default port; the scripts and
    # tests start their own servers on free ports and do not need it.
    say "installed $(nats-server --version)"
}

# rust-toolchain.toml pins the compiler (its messages are checked by the UI tests). Where
# that exact toolchain is not installed and cannot be fetched, use the installed stable
# one rather than fail; only the UI tests depend on the exact version, and they say so.
use_pinned_toolchain_or_stable() {
    command -v rustup >/dev/null 2>&1 || return 0
    local pinned
    pinned=$(sed -n 's/^channel = "\(.*\)"/\1/p' rust-toolchain.toml 2>/dev/null)
    [ -n "$pinned" ] || return 0
    if ! rustup toolchain list 2>/dev/null | grep -q "^$pinned"; then
        say "toolchain $pinned (rust-toolchain.toml) is not installed; using the installed stable toolchain"
        export RUSTUP_TOOLCHAIN=stable
    fi
}
