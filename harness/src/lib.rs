//! Real servers for tests: each starts the real binary on a free loopback port, waits
//! until it accepts connections, and stops it (and removes its files) on drop.
//!
//! ```no_run
//! let nats = sql_test_harness::NatsServer::start();
//! assert!(nats.url().starts_with("nats://127.0.0.1:"));
//! ```

mod certs;
mod postgres;

pub use postgres::{POSTGRES_URL_VAR, PgCluster, TestDatabase};

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to start accepting connections.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A `nats-server` process on a free loopback port.
#[derive(Debug)]
pub struct NatsServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl NatsServer {
    /// Starts `nats-server` with default settings.
    ///
    /// # Panics
    ///
    /// When `nats-server` is not installed (the message says how to install it) or does
    /// not start listening within 20 seconds.
    #[must_use]
    pub fn start() -> Self {
        Self::start_with_args(&[])
    }

    /// Starts `nats-server` with extra command-line arguments (for example `-c FILE`).
    ///
    /// # Panics
    ///
    /// As [`NatsServer::start`].
    #[must_use]
    pub fn start_with_args(args: &[&str]) -> Self {
        Self::start_with_env(args, &[])
    }

    /// Starts `nats-server` with extra command-line arguments and environment variables,
    /// for configuration files that read secrets with `$NAME`.
    ///
    /// The listen address and port given on the command line (`-a 127.0.0.1 -p -1`) win
    /// over the `listen` of a configuration file.
    ///
    /// # Panics
    ///
    /// As [`NatsServer::start`].
    #[must_use]
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::try_start_with_env(args, env).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts `nats-server` as [`NatsServer::start_with_env`] does, returning what went
    /// wrong instead of panicking.
    ///
    /// # Errors
    ///
    /// [`ServerError::NotInstalled`] when the binary (`nats-server` on `PATH`, or
    /// `$NATS_SERVER_BIN`) cannot be run, and the other [`ServerError`]s when it does not
    /// start listening.
    ///
    /// ```no_run
    /// match sql_test_harness::NatsServer::try_start_with_env(&[], &[]) {
    ///     Ok(nats) => assert!(nats.port() > 0),
    ///     Err(e) => eprintln!("{e}"),
    /// }
    /// ```
    pub fn try_start_with_env(args: &[&str], env: &[(&str, &str)]) -> Result<Self, ServerError> {
        let dir = tempfile::tempdir().map_err(ServerError::TempDir)?;
        Self::spawn(dir, args, env)
    }

    /// Starts `nats-server` requiring TLS, with a server certificate for 127.0.0.1 and
    /// localhost signed by a throw-away CA ([`NatsServer::ca_file`]).
    ///
    /// # Panics
    ///
    /// As [`NatsServer::start`], and when `openssl` cannot make the certificates.
    #[must_use]
    pub fn start_with_tls() -> Self {
        let dir = temp_dir();
        certs::make(dir.path());
        let cert = dir.path().join("server.crt").display().to_string();
        let key = dir.path().join("server.key").display().to_string();
        Self::spawn(dir, &["--tls", "--tlscert", &cert, "--tlskey", &key], &[])
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// The CA certificate (PEM) of a server started with [`NatsServer::start_with_tls`].
    #[must_use]
    pub fn ca_file(&self) -> Option<PathBuf> {
        let path = self.dir.path().join("ca.crt");
        path.exists().then_some(path)
    }

    /// Starts `nats-server` with `config` as its configuration file (written into the
    /// server's folder and passed with `-c`).
    ///
    /// # Panics
    ///
    /// As [`NatsServer::start`], and when the file cannot be written.
    #[must_use]
    pub fn start_with_config(config: &str) -> Self {
        let dir = temp_dir();
        let file = dir.path().join("nats-server.conf");
        std::fs::write(&file, config)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", file.display()));
        let file = file.display().to_string();
        Self::spawn(dir, &["-c", &file], &[]).unwrap_or_else(|e| panic!("{e}"))
    }

    fn spawn(
        dir: tempfile::TempDir,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Self, ServerError> {
        let log = dir.path().join("nats-server.log");
        let binary = binary();
        // `-p -1` lets the server pick its port and report it in the ports file, so tests
        // running in parallel never race for one.
        let child = Command::new(&binary)
            .args(["-a", "127.0.0.1", "-p", "-1", "-l"])
            .arg(&log)
            .arg("--ports_file_dir")
            .arg(dir.path())
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|error| ServerError::NotInstalled { binary, error })?;
        let mut server = Self {
            child,
            port: 0,
            dir,
        };
        server.port = server.wait_until_listening(&log)?;
        Ok(server)
    }

    fn wait_until_listening(&mut self, log: &Path) -> Result<u16, ServerError> {
        let started = Instant::now();
        while started.elapsed() < START_TIMEOUT {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(ServerError::Exited {
                    status,
                    log: read_log(log),
                });
            }
            if let Some(port) = self.reported_port() {
                let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    return Ok(port);
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(ServerError::NotListening {
            after: START_TIMEOUT,
            log: read_log(log),
        })
    }

    /// The client port from the server's ports file (`{"nats": ["nats://127.0.0.1:PORT"], ...}`).
    fn reported_port(&self) -> Option<u16> {
        self.ports_file_entry("nats")
    }

    /// The port of one entry (`nats`, `cluster`, ...) of the server's ports file.
    fn ports_file_entry(&self, key: &str) -> Option<u16> {
        let entries = std::fs::read_dir(self.dir.path()).ok()?;
        let file = entries
            .filter_map(Result::ok)
            .find(|e| e.file_name().to_string_lossy().ends_with(".ports"))?;
        let text = std::fs::read_to_string(file.path()).ok()?;
        let after = text.split(&format!("\"{key}\":")).nth(1)?;
        // `nats://HOST:PORT`, or `tls://HOST:PORT` for a server that requires TLS.
        let after = after.split("://").nth(1)?;
        let port = after.split(':').nth(1)?;
        port.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .ok()
    }

    /// The route (cluster) port, when the server was started with `-cluster`.
    #[must_use]
    pub fn cluster_port(&self) -> Option<u16> {
        self.ports_file_entry("cluster")
    }

    /// The server's log so far, to explain a failure.
    #[must_use]
    pub fn log(&self) -> String {
        read_log(&self.dir.path().join("nats-server.log"))
    }

    /// Stops the server now, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The client URL, `nats://127.0.0.1:PORT`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The client port.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A folder that lives as long as the server, for configuration files and logs.
    #[must_use]
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Several `nats-server` processes on loopback, joined by routes into one cluster.
///
/// Every port is chosen by the servers themselves (`-p -1`, `-cluster
/// nats://127.0.0.1:-1`) and read back from their ports files: the first node is the seed,
/// the others route to it and learn about each other from it, so the cluster is a full
/// mesh and survives the loss of any one node.
///
/// ```no_run
/// let cluster = sql_test_harness::NatsCluster::start(3);
/// assert_eq!(cluster.urls().len(), 3);
/// ```
#[derive(Debug)]
pub struct NatsCluster {
    nodes: Vec<NatsServer>,
}

impl NatsCluster {
    /// Starts `size` routed nodes.
    ///
    /// # Panics
    ///
    /// As [`NatsServer::start`], when `size` is 0, or when the seed does not report its
    /// route port.
    #[must_use]
    pub fn start(size: usize) -> Self {
        assert!(size > 0, "a cluster needs at least one node");
        let cluster_args = [
            "--cluster_name",
            "harness",
            "-cluster",
            "nats://127.0.0.1:-1",
        ];
        let seed = NatsServer::start_with_args(&cluster_args);
        let started = Instant::now();
        let seed_port = loop {
            if let Some(port) = seed.cluster_port() {
                break port;
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "the seed did not report its route port; its log:\n{}",
                seed.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let routes = format!("nats://127.0.0.1:{seed_port}");
        let mut nodes = vec![seed];
        for _ in 1..size {
            let mut args = cluster_args.to_vec();
            args.extend(["--routes", routes.as_str()]);
            nodes.push(NatsServer::start_with_args(&args));
        }
        Self { nodes }
    }

    /// Node `index` (0-based).
    ///
    /// # Panics
    ///
    /// When there is no such node.
    #[must_use]
    pub fn node(&self, index: usize) -> &NatsServer {
        &self.nodes[index]
    }

    /// Node `index` (0-based), to kill it.
    ///
    /// # Panics
    ///
    /// When there is no such node.
    pub fn node_mut(&mut self, index: usize) -> &mut NatsServer {
        &mut self.nodes[index]
    }

    /// The client URLs of all nodes, in order.
    #[must_use]
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(NatsServer::url).collect()
    }
}

/// A port that was free a moment ago on 127.0.0.1.
///
/// # Panics
///
/// When the loopback interface cannot be bound at all.
#[must_use]
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("cannot bind 127.0.0.1:0: {e}"))
}

/// Why `nats-server` did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The binary cannot be run: most often, it is not installed.
    #[error(
        "cannot run {} ({error}): the tests need a NATS server. Install it \
         (`apt-get install nats-server`, `brew install nats-server`, or a release from \
         https://github.com/nats-io/nats-server/releases) or point NATS_SERVER_BIN at the binary",
        binary.display()
    )]
    NotInstalled {
        /// The binary tried: `nats-server` (found on `PATH`) or `$NATS_SERVER_BIN`.
        binary: PathBuf,
        /// What the operating system said; in the message, so not a `source`.
        error: std::io::Error,
    },
    /// It exited before it listened.
    #[error("nats-server exited with {status} at start; its log:\n{log}")]
    Exited {
        /// Its exit status.
        status: std::process::ExitStatus,
        /// Its log.
        log: String,
    },
    /// It did not listen in time.
    #[error("nats-server did not start listening within {after:?}; its log:\n{log}")]
    NotListening {
        /// How long it was given.
        after: Duration,
        /// Its log so far.
        log: String,
    },
    /// No temporary folder for its ports file and log.
    #[error("cannot create a temp dir for nats-server")]
    TempDir(#[source] std::io::Error),
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("cannot create a temp dir for nats-server: {e}"))
}

fn binary() -> PathBuf {
    std::env::var_os("NATS_SERVER_BIN").map_or_else(|| PathBuf::from("nats-server"), PathBuf::from)
}

fn read_log(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut file) = std::fs::File::open(path) {
        let _ = file.read_to_string(&mut text);
    }
    text
}
