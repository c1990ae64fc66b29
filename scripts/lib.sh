# Shared steps of the project's scripts. Source it; it defines functions only.

say() { printf '==> %s\n' "$*" >&2; }

# Installs Debian package $1 with apt-get, saying why ($2).
apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        say "$2, and apt-get is not available; install $1 and retry"
        exit 1
    fi
    local sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    say "$2: installing it with apt-get (Debian package $1)"
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
}

# Installs nats-server from Debian's packages unless it is already on PATH.
ensure_nats_server() {
    if command -v nats-server >/dev/null 2>&1; then
        say "nats-server found: $(command -v nats-server)"
        return
    fi
    apt_install nats-server "nats-server not found"
    # Debian's package may start a system service on the default port; the scripts and
    # tests start their own servers on free ports and do not need it.
    say "installed $(nats-server --version)"
}

# The TLS test of the PostgreSQL backend makes its certificates with openssl, which
# PostgreSQL's Debian packages pull in; install it where it is missing.
ensure_openssl() {
    if command -v openssl >/dev/null 2>&1; then
        return
    fi
    apt_install openssl "openssl not found (the PostgreSQL TLS test makes its certificates with it)"
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

# Runs COMMAND when the script exits, after whatever was registered before it (last in,
# first out), keeping any EXIT trap that was set with `trap` directly.
on_exit() {
    local action=$1 existing="" current
    current=$(trap -p EXIT)
    if [ -n "$current" ]; then
        # `trap -p` prints `trap -- 'COMMAND' EXIT`, quoted for the shell: re-read it.
        eval "set -- $current"
        existing=$3
    fi
    # shellcheck disable=SC2064 # expanded now on purpose: the commands are fixed here
    trap "$action${existing:+
$existing}" EXIT
    # An interrupted or terminated script exits through the EXIT trap as well.
    [ -n "$(trap -p INT)" ] || trap 'exit 130' INT
    [ -n "$(trap -p TERM)" ] || trap 'exit 143' TERM
}

# Runs a PostgreSQL program as the `postgres` user when we are root (initdb refuses root),
# else as ourselves.
_pg_run() {
    if [ "$(id -u)" = 0 ]; then
        # The words after `sh` reach that shell as its "$0" and "$@", exactly as given.
        su -s /bin/sh -c 'exec "$@"' -- postgres sh "$@"
    else
        "$@"
    fi
}

# Starts a throw-away PostgreSQL cluster for the tests and exports SQL_TEST_POSTGRES_URL
# (postgres://postgres@127.0.0.1:PORT/postgres) naming it: initdb on a temporary folder
# (trust authentication for the postgres superuser, no fsync), pg_ctl start on a free
# loopback port with its socket in that folder. The cluster is stopped (pg_ctl -m
# immediate) and the folder removed when the script exits. When SQL_TEST_POSTGRES_URL is
# already set, that cluster is used instead and nothing is started. The server binaries
# come from PG_BINDIR, else `pg_config --bindir`, else /usr/lib/postgresql/*/bin.
start_test_postgres() {
    if [ -n "${SQL_TEST_POSTGRES_URL:-}" ]; then
        # Name the host and port only: the URL may hold a password.
        local target=${SQL_TEST_POSTGRES_URL#*://}
        target=${target#*@}
        say "using the PostgreSQL cluster at ${target%%/*} (SQL_TEST_POSTGRES_URL is set)"
        return
    fi
    local bindir=${PG_BINDIR:-}
    if [ -n "$bindir" ] && [ ! -x "$bindir/initdb" ]; then
        say "PG_BINDIR=$bindir holds no initdb; unset it to use pg_config --bindir"
        exit 1
    fi
    if [ -z "$bindir" ] && command -v pg_config >/dev/null 2>&1; then
        bindir=$(pg_config --bindir) || bindir=""
    fi
    if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
        local found
        found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1) || found=""
        if [ -n "$found" ] && [ -x "$found/initdb" ]; then bindir=$found; fi
    fi
    if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ] || [ ! -x "$bindir/pg_ctl" ]; then
        say "PostgreSQL's server programs (initdb, pg_ctl) were not found: the tests need them."
        say "Install the Debian package postgresql (apt-get install -y postgresql), or set PG_BINDIR"
        say "to their folder, or set SQL_TEST_POSTGRES_URL to a running cluster's superuser URL."
        exit 1
    fi
    if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
        say "running as root, but there is no postgres user to run initdb and pg_ctl as"
        say "(the Debian package postgresql creates it)"
        exit 1
    fi
    local dir
    dir=$(mktemp -d "${TMPDIR:-/tmp}/sql-client-pg.XXXXXX")
    if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; fi
    _TEST_PG_DIR=$dir
    _TEST_PG_BINDIR=$bindir
    on_exit stop_test_postgres
    say "starting a throw-away PostgreSQL cluster ($("$bindir/pg_ctl" --version)) in $dir"
    if ! _pg_run "$bindir/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C \
        --no-sync >"$dir/initdb.log" 2>&1; then
        say "initdb failed:"
        cat "$dir/initdb.log" >&2
        exit 1
    fi
    local port attempt
    for attempt in 1 2 3 4 5; do
        port=$(_free_port)
        if _pg_run "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
            -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
            start >/dev/null 2>&1; then
            export SQL_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
            export PG_BINDIR=$bindir
            say "PostgreSQL listens on 127.0.0.1:$port (SQL_TEST_POSTGRES_URL=$SQL_TEST_POSTGRES_URL)"
            return
        fi
        # Another process may have taken the port between the check and the start.
        if ! grep -q -e "could not bind" -e "Address already in use" "$dir/postgres.log" 2>/dev/null; then
            break
        fi
        say "port $port was taken; trying another (attempt $attempt)"
    done
    say "PostgreSQL did not start; its log:"
    cat "$dir/postgres.log" >&2 2>/dev/null || true
    exit 1
}

# Stops the cluster start_test_postgres started, at once, and removes its folder.
stop_test_postgres() {
    [ -n "${_TEST_PG_DIR:-}" ] || return 0
    local pid_file=$_TEST_PG_DIR/data/postmaster.pid
    if [ -f "$pid_file" ]; then
        say "stopping the throw-away PostgreSQL cluster"
        if ! _pg_run "$_TEST_PG_BINDIR/pg_ctl" -D "$_TEST_PG_DIR/data" -m immediate -w stop \
            >/dev/null 2>&1; then
            # SIGQUIT is the postmaster's own immediate shutdown.
            local pid
            pid=$(head -n 1 "$pid_file" 2>/dev/null) || pid=""
            say "pg_ctl stop failed; sending SIGQUIT to the postmaster (pid ${pid:-unknown})"
            if [ -n "$pid" ]; then kill -QUIT "$pid" 2>/dev/null || true; fi
        fi
    fi
    rm -rf "$_TEST_PG_DIR"
    _TEST_PG_DIR=""
}

# A TCP port on 127.0.0.1 that nothing listens on right now (from the range below the
# kernel's ephemeral ports, so that ports picked by the tests do not collide with it).
_free_port() {
    local port
    while :; do
        port=$((20000 + RANDOM % 12000))
        if ! (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
}
