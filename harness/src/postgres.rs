//! A throw-away PostgreSQL cluster: `initdb` on a temporary folder, `pg_ctl start` on a
//! free loopback port, `pg_ctl stop -m immediate` and the folder removed on drop.
//!
//! `initdb` refuses to run as root, so as root both run as the `postgres` user, which owns
//! the folder. The binaries come from `pg_config --bindir` (or `PG_BINDIR`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::free_port;

/// A running PostgreSQL cluster that accepts the `postgres` superuser without a password
/// on 127.0.0.1.
#[derive(Debug)]
pub struct PgCluster {
    dir: tempfile::TempDir,
    bindir: PathBuf,
    port: u16,
}

impl PgCluster {
    /// Creates and starts a cluster.
    ///
    /// # Panics
    ///
    /// When PostgreSQL's binaries cannot be found or the cluster does not start; the
    /// message includes the server's log.
    #[must_use]
    pub fn start() -> Self {
        Self::start_inner(false)
    }

    /// Creates and starts a cluster that also accepts TLS, with a server certificate for
    /// `127.0.0.1` and `localhost` signed by a throw-away CA ([`PgCluster::ca_file`]).
    ///
    /// # Panics
    ///
    /// As [`PgCluster::start`], and when `openssl` cannot make the certificates.
    #[must_use]
    pub fn start_with_tls() -> Self {
        Self::start_inner(true)
    }

    /// The CA certificate (PEM) of a cluster started with [`PgCluster::start_with_tls`].
    #[must_use]
    pub fn ca_file(&self) -> Option<PathBuf> {
        let path = self.dir.path().join("ca.crt");
        path.exists().then_some(path)
    }

    fn start_inner(tls: bool) -> Self {
        let bindir = bindir();
        let dir = tempfile::Builder::new()
            .prefix("sql-client-pg-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a folder for PostgreSQL: {e}"));
        let data = dir.path().join("data");
        std::fs::create_dir(&data)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", data.display()));
        if is_root() {
            hand_to_postgres(dir.path());
            hand_to_postgres(&data);
        }
        let initdb = bindir.join("initdb");
        run(
            &initdb,
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-A".as_ref(),
                "trust".as_ref(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--locale=C".as_ref(),
                "--no-sync".as_ref(),
            ],
            "initdb",
        );
        if tls {
            crate::certs::make(dir.path());
            // PostgreSQL must own its key, and refuses one that others can read.
            if is_root() {
                hand_to_postgres(&dir.path().join("server.key"));
                hand_to_postgres(&dir.path().join("server.crt"));
            }
        }
        // A port can be taken between choosing and binding it: try a few.
        for _ in 0..5 {
            let port = free_port();
            let mut options = format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
                dir.path().display()
            );
            if tls {
                options.push_str(&format!(
                    " -c ssl=on -c ssl_cert_file={0}/server.crt -c ssl_key_file={0}/server.key",
                    dir.path().display()
                ));
            }
            let log = dir.path().join("postgres.log");
            let started = try_run(
                &bindir.join("pg_ctl"),
                &[
                    "-D".as_ref(),
                    data.as_os_str(),
                    "-o".as_ref(),
                    options.as_ref(),
                    "-l".as_ref(),
                    log.as_os_str(),
                    "-w".as_ref(),
                    "-t".as_ref(),
                    "30".as_ref(),
                    "start".as_ref(),
                ],
            );
            if started.status.success() {
                return Self { dir, bindir, port };
            }
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if !text.contains("could not bind") && !text.contains("Address already in use") {
                panic!(
                    "PostgreSQL did not start: {}\nlog:\n{text}",
                    String::from_utf8_lossy(&started.stderr)
                );
            }
        }
        panic!("PostgreSQL could not bind a free port after 5 tries");
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    #[must_use]
    pub fn url(&self) -> String {
        self.url_for("postgres")
    }

    /// The URL of database `name` in this cluster.
    #[must_use]
    pub fn url_for(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// The port it listens on.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The folder of PostgreSQL's binaries.
    #[must_use]
    pub fn bindir(&self) -> &Path {
        &self.bindir
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = try_run(
            &self.bindir.join("pg_ctl"),
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-m".as_ref(),
                "immediate".as_ref(),
                "stop".as_ref(),
            ],
        );
    }
}

fn bindir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PG_BINDIR") {
        return PathBuf::from(dir);
    }
    let output = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .unwrap_or_else(|e| panic!("cannot run pg_config ({e}); install PostgreSQL (apt-get install -y postgresql) or set PG_BINDIR"));
    PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn hand_to_postgres(path: &Path) {
    let status = Command::new("chown")
        .arg("postgres:postgres")
        .arg(path)
        .status();
    if !status.is_ok_and(|s| s.success()) {
        panic!(
            "cannot give {} to the postgres user (is there one?)",
            path.display()
        );
    }
}

/// Runs a PostgreSQL program, as the `postgres` user when we are root.
fn try_run(program: &Path, args: &[&std::ffi::OsStr]) -> Output {
    let mut command = if is_root() {
        let mut su = Command::new("su");
        let mut line = shell_quote(program.as_os_str());
        for arg in args {
            line.push(' ');
            line.push_str(&shell_quote(arg));
        }
        su.args(["postgres", "-s", "/bin/sh", "-c", &line]);
        su
    } else {
        let mut direct = Command::new(program);
        direct.args(args);
        direct
    };
    command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()))
}

fn run(program: &Path, args: &[&std::ffi::OsStr], what: &str) {
    let output = try_run(program, args);
    if !output.status.success() {
        panic!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

fn shell_quote(arg: &std::ffi::OsStr) -> String {
    format!("'{}'", arg.to_string_lossy().replace('\'', r"'\''"))
}

/// The variable naming a running cluster's superuser URL, which [`TestDatabase`] uses
/// instead of starting a cluster of its own. `scripts/test.sh` sets it.
pub const POSTGRES_URL_VAR: &str = "SQL_TEST_POSTGRES_URL";

/// A new, empty database for one test: in the cluster named by `SQL_TEST_POSTGRES_URL`
/// when it is set (one cluster for the whole run; the database is dropped on drop), else in
/// a private cluster started for it and stopped on drop.
///
/// ```no_run
/// let db = sql_test_harness::TestDatabase::create();
/// assert!(db.url().starts_with("postgres://"));
/// ```
#[derive(Debug)]
pub struct TestDatabase {
    url: String,
    /// In a cluster of the run's (`SQL_TEST_POSTGRES_URL`): how to drop the database, as
    /// a private cluster goes with its folder.
    shared: Option<Shared>,
    _cluster: Option<PgCluster>,
}

#[derive(Debug)]
struct Shared {
    psql: PathBuf,
    admin: String,
    name: String,
}

impl TestDatabase {
    /// Creates the database (named `t_<random>`).
    ///
    /// # Panics
    ///
    /// When no cluster can be started or reached, or `CREATE DATABASE` fails.
    #[must_use]
    pub fn create() -> Self {
        let (admin, cluster) = match std::env::var(POSTGRES_URL_VAR) {
            Ok(url) if !url.is_empty() => (url, None),
            _ => {
                let cluster = PgCluster::start();
                (cluster.url(), Some(cluster))
            }
        };
        let name = format!("t_{}", unique_suffix());
        let psql = bindir().join("psql");
        let psql = if psql.exists() {
            psql
        } else {
            PathBuf::from("psql")
        };
        let output = Command::new(&psql)
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &admin, "-c"])
            .arg(format!("CREATE DATABASE {name}"))
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", psql.display()));
        if !output.status.success() {
            panic!(
                "CREATE DATABASE {name} on {admin} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let base = admin
            .rsplit_once('/')
            .map_or(admin.as_str(), |(base, _)| base);
        let url = format!("{base}/{name}");
        let shared = cluster.is_none().then_some(Shared { psql, admin, name });
        Self {
            url,
            shared,
            _cluster: cluster,
        }
    }

    /// The database's URL, as the `postgres` superuser.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // FORCE ends the sessions a handler may still hold. A failure leaves the database
        // behind, named `t_...`, which hurts nothing.
        if let Some(shared) = &self.shared {
            let _ = Command::new(&shared.psql)
                .args(["-X", "-q", "-d", &shared.admin, "-c"])
                .arg(format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    shared.name
                ))
                .output();
        }
    }
}

/// A name part unlikely to repeat across the processes of one test run.
fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{}_{}_{}",
        std::process::id(),
        nanos,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
