//! Real servers for tests: each starts the real binary on a free loopback port, waits
//! until it accepts connections, and stops it (and removes its files) on drop.
//!
//! ```no_run
//! let nats = sql_test_harness::NatsServer::start();
//! assert!(nats.url().starts_with("nats://127.0.0.1:"));
//! ```

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
        let dir = tempfile::tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temp dir for nats-server: {e}"));
        let log = dir.path().join("nats-server.log");
        // `-p -1` lets the server pick its port and report it in the ports file, so tests
        // running in parallel never race for one.
        let child = Command::new(binary())
            .args(["-a", "127.0.0.1", "-p", "-1", "-l"])
            .arg(&log)
            .arg("--ports_file_dir")
            .arg(dir.path())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start nats-server ({e}); install it with `apt-get install -y nats-server` or run the README's test command")
            });
        let mut server = Self {
            child,
            port: 0,
            dir,
        };
        server.port = server.wait_until_listening(&log);
        server
    }

    fn wait_until_listening(&mut self, log: &Path) -> u16 {
        let started = Instant::now();
        while started.elapsed() < START_TIMEOUT {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "nats-server exited with {status} at start; its log:\n{}",
                    read_log(log)
                );
            }
            if let Some(port) = self.reported_port() {
                let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    return port;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "nats-server did not start listening within {START_TIMEOUT:?}; its log:\n{}",
            read_log(log)
        );
    }

    /// The client port from the server's ports file (`{"nats": ["nats://127.0.0.1:PORT"], ...}`).
    fn reported_port(&self) -> Option<u16> {
        let entries = std::fs::read_dir(self.dir.path()).ok()?;
        let file = entries
            .filter_map(Result::ok)
            .find(|e| e.file_name().to_string_lossy().ends_with(".ports"))?;
        let text = std::fs::read_to_string(file.path()).ok()?;
        let after = text.split("nats://").nth(1)?;
        let port = after.split(':').nth(1)?;
        port.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .ok()
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
