//! The handler under load, against baselines measured in the same run: a NATS echo
//! responder that does no work and replies with a captured handler reply of the same size
//! (the transport's ceiling), and pgbench running the handler's own per-request
//! transaction shape (the database's ceiling), once statement by statement and once
//! pipelined (`\startpipeline`: the same messages in one round trip, as the handler
//! sends them).
//!
//! One load client keeps C requests in flight on one NATS connection and checks every
//! reply (no error, the expected row count). The handler runs as its own process, the
//! release `sql-handler` binary, once on SQLite and once on PostgreSQL, with its audit
//! records (JSON lines on stderr) counted at the end against the requests it was sent.
//! Workloads: a point SELECT by primary key, a single-row INSERT, and a 1000-row SELECT.
//!
//! Run everything with `scripts/bench.sh` (it starts a throw-away PostgreSQL cluster), or
//! `cargo bench -p sql-handler --bench load -- --help` for the options. Nothing in the
//! test suite depends on these figures.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "a benchmark report"
)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use sql_test_harness::{NatsServer, TestDatabase};

/// Rows in `bench__items`.
const ITEMS: u64 = 10_000;
/// Rows of the range read.
const RANGE: u64 = 1_000;
const MIGRATION: &str = "
CREATE TABLE bench__items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, n INTEGER NOT NULL);
INSERT INTO bench__items (id, name, n)
    SELECT g, 'item number ' || g, g % 7
    FROM (WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < 10000) SELECT g FROM s) AS gs;
CREATE TABLE bench__writes (id INTEGER PRIMARY KEY, payload TEXT NOT NULL);
";
const POINT_SQL: &str = "SELECT id, name, n FROM bench__items WHERE id = $1";
const INSERT_SQL: &str = "INSERT INTO bench__writes (id, payload) VALUES ($1, $2)";
const RANGE_SQL: &str = "SELECT id, name, n FROM bench__items WHERE id BETWEEN $1 AND $2";

#[derive(Debug, Parser)]
#[command(about = "Load benchmark of sql-handler against a NATS echo and pgbench")]
struct Args {
    /// Seconds measured per run, after the warm-up.
    #[arg(long, default_value_t = 5.0)]
    secs: f64,
    /// Seconds of warm-up per run, not counted.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Requests in flight, one run each.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    concurrency: Vec<usize>,
    /// Workloads to run.
    #[arg(long, value_delimiter = ',', default_value = "point,insert,range")]
    workloads: Vec<Workload>,
    /// Backends to run the handler on.
    #[arg(long, value_delimiter = ',', default_value = "sqlite,postgres")]
    backends: Vec<Backend>,
    /// After the runs, send this many point SELECTs at C=64 to each handler and report
    /// its resident memory growth after the first tenth (0: no soak).
    #[arg(long, default_value_t = 0)]
    soak: u64,
    /// The handler's PostgreSQL pool size, for the pgbench run with as many connections
    /// (change it with `--handler-arg=--postgres-pool-size=N` too).
    #[arg(long, default_value_t = 8)]
    pgbench_pool: usize,
    /// After the runs, keep this many point SELECTs in flight from one plugin (far past
    /// the handler's `--max-concurrency`, 64 by default) and report how fast the excess is
    /// refused with `OVERLOADED` and the handler's memory (0: no such run).
    #[arg(long, default_value_t = 0)]
    overload: usize,
    /// Extra arguments for every handler (for example `--postgres-pool-size=16`).
    #[arg(long = "handler-arg", allow_hyphen_values = true)]
    handler_args: Vec<String>,
    /// Internal: run as the echo responder, answering SUBJECT=FILE pairs.
    #[arg(long, hide = true, num_args = 1..)]
    echo_responder: Vec<String>,
    /// Internal: the NATS URL of the echo responder.
    #[arg(long, hide = true)]
    nats: Option<String>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
enum Workload {
    /// `SELECT ... WHERE id = $1`, one row.
    Point,
    /// `INSERT ... VALUES ($1, $2)`, a new row each time.
    Insert,
    /// `SELECT ... WHERE id BETWEEN $1 AND $2`, 1000 rows.
    Range,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Self::Point => "point SELECT",
            Self::Insert => "INSERT",
            Self::Range => "1000-row SELECT",
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Self::Point => "point",
            Self::Insert => "insert",
            Self::Range => "range",
        }
    }

    fn expected_rows(self) -> u64 {
        match self {
            Self::Point | Self::Insert => 1,
            Self::Range => RANGE,
        }
    }

    /// The body of request number `n`; `unique` numbers the inserted rows.
    fn body(self, n: u64, unique: u64) -> Bytes {
        // Spread the reads over the table, the same sequence in every run.
        let id = (n.wrapping_mul(7919)) % ITEMS + 1;
        let body = match self {
            Self::Point => format!(r#"{{"query":"{POINT_SQL}","params":[{id}]}}"#),
            Self::Insert => {
                format!(
                    r#"{{"query":"{INSERT_SQL}","params":[{unique},"payload of row {unique}"],"allow_write":true}}"#
                )
            }
            Self::Range => {
                let first = (n.wrapping_mul(7919)) % (ITEMS - RANGE) + 1;
                let last = first + RANGE - 1;
                format!(r#"{{"query":"{RANGE_SQL}","params":[{first},{last}]}}"#)
            }
        };
        Bytes::from(body)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "PostgreSQL",
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Self::Sqlite => "bench.sqlite",
            Self::Postgres => "bench.postgres",
        }
    }
}

/// What one run measured.
#[derive(Debug, Default, Clone)]
struct Measured {
    requests: u64,
    per_second: f64,
    p50_us: f64,
    p99_us: f64,
    reply_bytes: usize,
    /// Replies that were not the expected result, by error code or "unexpected".
    failures: BTreeMap<String, u64>,
    /// Requests sent in all, warm-up included.
    sent: u64,
}

impl Measured {
    fn failed(&self) -> u64 {
        self.failures.values().sum()
    }
}

fn main() {
    let args = Args::parse();
    if !args.echo_responder.is_empty() {
        echo_responder(args.nats.as_deref().expect("--nats"), &args.echo_responder);
        return;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(&args));
}

/// A running handler process and where its log goes.
struct HandlerProcess {
    backend: Backend,
    child: Child,
    log: PathBuf,
    /// Requests sent to it, warm-up and checks included.
    sent: u64,
    /// INSERTs it acknowledged.
    inserted: u64,
    database: String,
}

impl Drop for HandlerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_handler(
    backend: Backend,
    nats: &NatsServer,
    database: &str,
    dir: &Path,
    extra: &[String],
) -> HandlerProcess {
    let log = dir.join(format!("handler-{}.log", backend.prefix()));
    let child = Command::new(env!("CARGO_BIN_EXE_sql-handler"))
        .args(["--nats-url", &nats.url(), "--database", database])
        .arg("--migrations")
        .arg(dir.join("migrations"))
        .args(["--subject-prefix", backend.prefix()])
        // The limiter stays on the path, at a limit the load does not reach.
        .args(["--rate-limit-per-minute", "4000000000"])
        .args(["--log-format", "json"])
        .args(extra)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("cannot start sql-handler");
    HandlerProcess {
        backend,
        child,
        log,
        sent: 0,
        inserted: 0,
        database: database.to_owned(),
    }
}

async fn run(args: &Args) {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let migrations = dir.path().join("migrations/bench");
    std::fs::create_dir_all(&migrations).unwrap();
    std::fs::write(migrations.join("001_init.sql"), MIGRATION).unwrap();
    let postgres = args
        .backends
        .contains(&Backend::Postgres)
        .then(TestDatabase::create);

    let mut handlers = Vec::new();
    for &backend in &args.backends {
        let database = match backend {
            Backend::Sqlite => format!("sqlite://{}", dir.path().join("bench.db").display()),
            Backend::Postgres => postgres.as_ref().unwrap().url().to_owned(),
        };
        handlers.push(start_handler(
            backend,
            &nats,
            &database,
            dir.path(),
            &args.handler_args,
        ));
    }
    let client = async_nats::ConnectOptions::new()
        .request_timeout(Some(Duration::from_secs(30)))
        .connect(nats.url())
        .await
        .unwrap();
    let unique = AtomicU64::new(1);
    let mut replies = BTreeMap::new();
    for handler in &mut handlers {
        wait_until_answering(&client, handler).await;
        for &workload in &args.workloads {
            let subject = format!("{}.bench.execute", handler.backend.prefix());
            let body = workload.body(0, unique.fetch_add(1, Ordering::Relaxed));
            let reply = client.request(subject, body).await.unwrap().payload;
            handler.sent += 1;
            check(&reply, workload).unwrap_or_else(|e| {
                panic!(
                    "{} {}: {e}: {}",
                    handler.backend.name(),
                    workload.name(),
                    String::from_utf8_lossy(&reply)
                )
            });
            if workload == Workload::Insert {
                handler.inserted += 1;
            }
            // The echo replies with the first backend's reply of each workload.
            replies.entry(workload).or_insert(reply);
        }
    }
    let echo = start_echo(&nats, dir.path(), &replies);
    for &workload in &args.workloads {
        wait_for_echo(&client, workload).await;
    }

    let warmup = Duration::from_secs_f64(args.warmup);
    let measured = Duration::from_secs_f64(args.secs);
    let mut rows = Vec::new();
    for &workload in &args.workloads {
        for &concurrency in &args.concurrency {
            let run = |subject: String| {
                drive(
                    &client,
                    subject,
                    workload,
                    concurrency,
                    warmup,
                    measured,
                    &unique,
                )
            };
            let baseline = run(format!("bench.echo.{}", workload.tag())).await;
            for handler in &mut handlers {
                let subject = format!("{}.bench.execute", handler.backend.prefix());
                let result = run(subject).await;
                handler.sent += result.sent;
                if workload == Workload::Insert {
                    handler.inserted += result.sent - result.failed();
                }
                rows.push(Row {
                    workload,
                    backend: handler.backend,
                    concurrency,
                    baseline: Baseline::Echo(baseline.clone()),
                    handler: result,
                });
            }
        }
    }
    if let Some(postgres) = &postgres {
        for &concurrency in &args.concurrency {
            if !args.workloads.contains(&Workload::Point) {
                break;
            }
            let Some(row) = rows
                .iter()
                .find(|r| {
                    r.backend == Backend::Postgres
                        && r.workload == Workload::Point
                        && r.concurrency == concurrency
                })
                .cloned()
            else {
                continue;
            };
            // pgbench with one connection per request in flight, and with as many as the
            // handler's pool has (more backends than that only contend on 2 cores).
            let mut clients = vec![concurrency];
            if concurrency > args.pgbench_pool {
                clients.push(args.pgbench_pool);
            }
            for clients in clients {
                // Statement by statement as psql would send them, and pipelined: the same
                // messages in one round trip, as the handler sends them.
                for pipelined in [false, true] {
                    let tps = pgbench(postgres.url(), clients, args.warmup + args.secs, pipelined);
                    let mut row = row.clone();
                    row.baseline = Baseline::Pgbench {
                        tps,
                        clients,
                        pipelined,
                    };
                    rows.push(row);
                }
            }
        }
    }

    let soaks: Vec<_> = if args.soak > 0 {
        let mut soaks = Vec::new();
        for handler in &mut handlers {
            soaks.push(soak(&client, handler, args.soak, &unique).await);
        }
        soaks
    } else {
        Vec::new()
    };

    let mut overloads = Vec::new();
    if args.overload > 0 {
        for handler in &mut handlers {
            let subject = format!("{}.bench.execute", handler.backend.prefix());
            let pid = handler.child.id();
            let rss_before_kb = rss_kb(pid);
            let measured = drive(
                &client,
                subject,
                Workload::Point,
                args.overload,
                warmup,
                measured,
                &unique,
            )
            .await;
            handler.sent += measured.sent;
            overloads.push(Overload {
                backend: handler.backend,
                measured,
                rss_before_kb,
                rss_after_kb: rss_kb(pid),
            });
        }
    }

    // Let the handlers write their last audit lines.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut audits = Vec::new();
    for handler in &handlers {
        let records = std::fs::read_to_string(&handler.log)
            .unwrap()
            .lines()
            .filter(|l| l.contains(r#""target":"sql.audit""#))
            .count() as u64;
        let stored = count_inserted(handler).await;
        audits.push((
            handler.backend,
            records,
            handler.sent,
            stored,
            handler.inserted,
        ));
    }
    drop(echo);

    print_report(args, &rows, &audits, (&soaks, &overloads));
    let lost = audits.iter().any(|&(_, records, sent, stored, inserted)| {
        records != sent || stored.is_some_and(|s| s != inserted)
    });
    let failed = rows.iter().any(|r| r.handler.failed() > 0);
    if lost || failed {
        println!("\nFAILED: some replies were wrong, or audit records or rows are missing");
        std::process::exit(1);
    }
}

/// Sends the first request until the handler answers (it applies its migrations first).
async fn wait_until_answering(client: &async_nats::Client, handler: &mut HandlerProcess) {
    let subject = format!("{}.bench.execute", handler.backend.prefix());
    let started = Instant::now();
    loop {
        let body = Workload::Point.body(0, 0);
        match tokio::time::timeout(
            Duration::from_secs(1),
            client.request(subject.clone(), body),
        )
        .await
        {
            Ok(Ok(reply)) => {
                handler.sent += 1;
                check(&reply.payload, Workload::Point).unwrap();
                return;
            }
            // No responders yet: nothing reached a handler.
            Ok(Err(e)) if e.kind() == async_nats::client::RequestErrorKind::NoResponders => {}
            other => panic!("{} handler: {other:?}", handler.backend.name()),
        }
        if let Ok(Some(status)) = handler.child.try_wait() {
            panic!(
                "the {} handler exited ({status}); its log:\n{}",
                handler.backend.name(),
                std::fs::read_to_string(&handler.log).unwrap_or_default()
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the {} handler did not answer within 60 s",
            handler.backend.name()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Starts this program again as the echo responder, replying on `bench.echo.<workload>`
/// with the captured replies.
fn start_echo(nats: &NatsServer, dir: &Path, replies: &BTreeMap<Workload, Bytes>) -> EchoProcess {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.args(["--nats", &nats.url(), "--echo-responder"]);
    for (workload, reply) in replies {
        let file = dir.join(format!("reply-{}.json", workload.tag()));
        std::fs::write(&file, reply).unwrap();
        command.arg(format!("bench.echo.{}={}", workload.tag(), file.display()));
    }
    EchoProcess(command.spawn().expect("cannot start the echo responder"))
}

struct EchoProcess(Child);

impl Drop for EchoProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_for_echo(client: &async_nats::Client, workload: Workload) {
    let subject = format!("bench.echo.{}", workload.tag());
    for _ in 0..200 {
        if let Ok(reply) = client.request(subject.clone(), Bytes::new()).await {
            check(&reply.payload, workload).unwrap();
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the echo responder does not answer on {subject}");
}

/// The echo responder: for each SUBJECT=FILE, answers every request with FILE's bytes.
/// A multi-threaded runtime and one connection, as the handler has.
fn echo_responder(url: &str, pairs: &[String]) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = async_nats::connect(url).await.unwrap();
        let mut tasks = Vec::new();
        for pair in pairs {
            let (subject, file) = pair.split_once('=').expect("SUBJECT=FILE");
            let reply = Bytes::from(std::fs::read(file).unwrap());
            let mut requests = client.subscribe(subject.to_owned()).await.unwrap();
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                while let Some(message) = requests.next().await {
                    if let Some(to) = message.reply {
                        client.publish(to, reply.clone()).await.unwrap();
                    }
                }
            }));
        }
        client.flush().await.unwrap();
        for task in tasks {
            task.await.unwrap();
        }
    });
}

/// Keeps `concurrency` requests in flight on `subject` for `warmup + measured`, checking
/// every reply; only requests sent after the warm-up count.
async fn drive(
    client: &async_nats::Client,
    subject: String,
    workload: Workload,
    concurrency: usize,
    warmup: Duration,
    measured: Duration,
    unique: &AtomicU64,
) -> Measured {
    let started = Instant::now();
    let counting_from = started + warmup;
    let end = counting_from + measured;
    let mut in_flight = FuturesUnordered::new();
    let mut latencies: Vec<u32> = Vec::new();
    let mut result = Measured::default();
    let mut n = 0u64;
    loop {
        while in_flight.len() < concurrency && Instant::now() < end {
            n += 1;
            let body = workload.body(n, unique.fetch_add(1, Ordering::Relaxed));
            let client = client.clone();
            let subject = subject.clone();
            in_flight.push(async move {
                let sent = Instant::now();
                let reply = client.request(subject, body).await;
                (sent, sent.elapsed(), reply)
            });
            result.sent += 1;
        }
        let Some((sent, took, reply)) = in_flight.next().await else {
            break;
        };
        let outcome = match reply {
            Ok(message) => {
                result.reply_bytes = message.payload.len();
                check(&message.payload, workload)
            }
            Err(e) => Err(format!("no reply: {}", e.kind())),
        };
        if let Err(why) = outcome {
            *result.failures.entry(why).or_default() += 1;
        }
        if sent >= counting_from {
            latencies.push(took.as_micros().min(u128::from(u32::MAX)) as u32);
        }
    }
    let elapsed = end.saturating_duration_since(counting_from).as_secs_f64();
    result.requests = latencies.len() as u64;
    result.per_second = latencies.len() as f64 / elapsed;
    latencies.sort_unstable();
    let quantile = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |&us| f64::from(us))
    };
    result.p50_us = quantile(0.50);
    result.p99_us = quantile(0.99);
    result
}

/// Whether `reply` is a result of the expected row count; else what it is.
fn check(reply: &[u8], workload: Workload) -> Result<(), String> {
    if reply.starts_with(br#"{"error":""#) {
        let code: String = reply[10..]
            .iter()
            .take_while(|&&b| b != b'"')
            .map(|&b| char::from(b))
            .collect();
        return Err(code);
    }
    let Some(at) = memchr::memmem::rfind(reply, br#""row_count":"#) else {
        return Err("unexpected reply".to_owned());
    };
    let digits: String = reply[at + 12..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .map(|&b| char::from(b))
        .collect();
    match digits.parse::<u64>() {
        Ok(n) if n == workload.expected_rows() => Ok(()),
        _ => Err(format!("row_count {digits}")),
    }
}

/// Runs pgbench with the transaction the PostgreSQL handler gives each point SELECT
/// (see the backend's `request_settings`), on as many connections as requests in flight.
fn pgbench(url: &str, clients: usize, secs: f64, pipelined: bool) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("point.sql");
    let (start, end) = if pipelined {
        ("\\startpipeline\n", "\\endpipeline\n")
    } else {
        ("", "")
    };
    std::fs::write(
        &script,
        format!(
            "\\set id random(1, {ITEMS})\n{start}\
             START TRANSACTION READ ONLY;\n\
             SET LOCAL temp_file_limit = '262144kB';\n\
             SET LOCAL work_mem = '4096kB';\n\
             SET LOCAL ROLE \"sqlh_bench\";\n\
             SET LOCAL statement_timeout = 30050;\n\
             {};\n\
             ROLLBACK;\n{end}",
            POINT_SQL.replace("$1", ":id")
        ),
    )
    .unwrap();
    let output = Command::new(pg_program("pgbench"))
        .args(["-n", "-M", "prepared", "-f"])
        .arg(&script)
        .args(["-c", &clients.to_string()])
        .args(["-j", &clients.min(2).to_string()])
        .args(["-T", &format!("{}", secs.ceil() as u64)])
        .arg(url)
        .output()
        .expect("cannot run pgbench");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "pgbench failed: {text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    text.lines()
        .find_map(|l| {
            l.strip_prefix("tps = ")
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or_else(|| panic!("no tps in pgbench's output: {text}"))
}

fn pg_program(name: &str) -> PathBuf {
    let bindir = std::env::var("PG_BINDIR").ok().or_else(|| {
        Command::new("pg_config")
            .arg("--bindir")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    });
    bindir
        .map(|dir| Path::new(&dir).join(name))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// Rows of `bench__writes` in the handler's database, to compare with the acknowledged
/// INSERTs.
async fn count_inserted(handler: &HandlerProcess) -> Option<u64> {
    match handler.backend {
        Backend::Sqlite => {
            let path = handler.database.strip_prefix("sqlite://")?;
            let conn = rusqlite::Connection::open(path).ok()?;
            let count: i64 = conn
                .query_row("SELECT count(*) FROM bench__writes", [], |r| r.get(0))
                .ok()?;
            u64::try_from(count).ok()
        }
        Backend::Postgres => {
            let (pg, connection) =
                tokio_postgres::connect(&handler.database, tokio_postgres::NoTls)
                    .await
                    .ok()?;
            tokio::spawn(connection);
            let row = pg
                .query_one("SELECT count(*) FROM bench__writes", &[])
                .await
                .ok()?;
            u64::try_from(row.get::<_, i64>(0)).ok()
        }
    }
}

/// The result of a soak: resident memory after the first tenth and at the end.
struct Soak {
    backend: Backend,
    requests: u64,
    rss_after_warmup_kb: u64,
    rss_end_kb: u64,
    per_second: f64,
    failed: u64,
}

async fn soak(
    client: &async_nats::Client,
    handler: &mut HandlerProcess,
    requests: u64,
    unique: &AtomicU64,
) -> Soak {
    let subject = format!("{}.bench.execute", handler.backend.prefix());
    let pid = handler.child.id();
    let started = Instant::now();
    let mut in_flight = FuturesUnordered::new();
    let (mut sent, mut done, mut failed) = (0u64, 0u64, 0u64);
    let mut rss_after_warmup_kb = 0;
    while done < requests {
        while in_flight.len() < 64 && sent < requests {
            sent += 1;
            // Writes and reads alike: a tenth are INSERTs.
            let workload = if sent % 10 == 0 {
                Workload::Insert
            } else {
                Workload::Point
            };
            let body = workload.body(sent, unique.fetch_add(1, Ordering::Relaxed));
            let client = client.clone();
            let subject = subject.clone();
            in_flight.push(async move { (workload, client.request(subject, body).await) });
        }
        let Some((workload, reply)) = in_flight.next().await else {
            break;
        };
        done += 1;
        match reply
            .map_err(|e| e.to_string())
            .and_then(|m| check(&m.payload, workload))
        {
            Ok(()) if workload == Workload::Insert => handler.inserted += 1,
            Ok(()) => {}
            Err(_) => failed += 1,
        }
        if done == requests / 10 {
            rss_after_warmup_kb = rss_kb(pid);
        }
    }
    handler.sent += sent;
    Soak {
        backend: handler.backend,
        requests,
        rss_after_warmup_kb,
        rss_end_kb: rss_kb(pid),
        per_second: requests as f64 / started.elapsed().as_secs_f64(),
        failed,
    }
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[derive(Debug, Clone)]
enum Baseline {
    /// The echo responder, same reply size.
    Echo(Measured),
    /// pgbench: transactions per second, on `clients` connections.
    Pgbench {
        tps: f64,
        clients: usize,
        pipelined: bool,
    },
}

#[derive(Debug, Clone)]
struct Row {
    workload: Workload,
    backend: Backend,
    concurrency: usize,
    baseline: Baseline,
    handler: Measured,
}

fn print_report(
    args: &Args,
    rows: &[Row],
    audits: &[(Backend, u64, u64, Option<u64>, u64)],
    (soaks, overloads): (&[Soak], &[Overload]),
) {
    let mut out = String::new();
    writeln!(out, "\n## Load benchmark\n").unwrap();
    writeln!(out, "{}", machine()).unwrap();
    writeln!(
        out,
        "{} s measured per run after {} s of warm-up; one client connection; every reply checked.\n",
        args.secs, args.warmup
    )
    .unwrap();
    writeln!(
        out,
        "| workload | backend | C | baseline | baseline req/s | handler req/s | ratio | p50 µs baseline / handler | p99 µs handler | failed |"
    )
    .unwrap();
    writeln!(out, "|---|---|---|---|---|---|---|---|---|---|").unwrap();
    for row in rows {
        let h = &row.handler;
        let (name, per_second, p50) = match &row.baseline {
            Baseline::Echo(m) => (
                format!("echo, {} B reply", m.reply_bytes),
                m.per_second,
                format!("{:.0}", m.p50_us),
            ),
            Baseline::Pgbench {
                tps,
                clients,
                pipelined,
            } => (
                format!(
                    "pgbench -c {clients}, same transaction{}",
                    if *pipelined { ", pipelined" } else { "" }
                ),
                *tps,
                "-".to_owned(),
            ),
        };
        writeln!(
            out,
            "| {} | {} | {} | {name} | {per_second:.0} | {:.0} | {:.2} | {p50} / {:.0} | {:.0} | {} |",
            row.workload.name(),
            row.backend.name(),
            row.concurrency,
            h.per_second,
            h.per_second / per_second,
            h.p50_us,
            h.p99_us,
            h.failed()
        )
        .unwrap();
    }
    for row in rows.iter().filter(|r| r.handler.failed() > 0) {
        writeln!(
            out,
            "\nfailures, {} {} C={}: {:?}",
            row.backend.name(),
            row.workload.name(),
            row.concurrency,
            row.handler.failures
        )
        .unwrap();
    }
    writeln!(out).unwrap();
    for &(backend, records, sent, stored, inserted) in audits {
        write!(
            out,
            "{}: {records} audit records for {sent} requests",
            backend.name()
        )
        .unwrap();
        if let Some(stored) = stored {
            write!(
                out,
                "; {stored} rows stored for {inserted} acknowledged INSERTs"
            )
            .unwrap();
        }
        writeln!(out).unwrap();
    }
    for soak in soaks {
        let growth =
            (soak.rss_end_kb as f64 / soak.rss_after_warmup_kb.max(1) as f64 - 1.0) * 100.0;
        writeln!(
            out,
            "soak, {}: {} requests (a tenth INSERTs) at C=64, {:.0} req/s, {} failed; RSS {} kB after the first tenth, {} kB at the end ({growth:+.1}%)",
            soak.backend.name(),
            soak.requests,
            soak.per_second,
            soak.failed,
            soak.rss_after_warmup_kb,
            soak.rss_end_kb
        )
        .unwrap();
    }
    for overload in overloads {
        let m = &overload.measured;
        let refused = m.failures.get("OVERLOADED").copied().unwrap_or(0);
        let other = m.failed() - refused;
        writeln!(
            out,
            "overload, {}: {} point SELECTs in flight from one plugin: {:.0} replies/s, {:.1}% OVERLOADED, {other} other failures, p50 {:.0} µs, p99 {:.0} µs; RSS {} kB before, {} kB after",
            overload.backend.name(),
            args.overload,
            m.per_second,
            refused as f64 * 100.0 / m.sent.max(1) as f64,
            m.p50_us,
            m.p99_us,
            overload.rss_before_kb,
            overload.rss_after_kb
        )
        .unwrap();
    }
    print!("{out}");
}

/// What a run far past the handler's concurrency showed.
struct Overload {
    backend: Backend,
    measured: Measured,
    rss_before_kb: u64,
    rss_after_kb: u64,
}

/// The machine the figures come from.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let io = std::fs::read_to_string("/proc/pressure/io")
        .unwrap_or_default()
        .lines()
        .next()
        .unwrap_or("")
        .to_owned();
    format!("machine: {cores} cores, {cpu}; I/O pressure: {io}")
}
