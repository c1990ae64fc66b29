//! The statement's clock, and every override stopping soon after its deadline.

use std::time::{Duration, Instant};

use rusqlite::{Connection, ffi};

use super::{Answer, Arg, call, compare, pair, text};
use crate::engine::sqlite::functions::StatementClock;

/// The row count the bound test's statements would take without a deadline: far
/// more than the test allows.
const ROWS: usize = 1_000_000;

/// Runs `sql` with a deadline 100 ms ahead and no progress handler except a backstop
/// far beyond, and returns how long after the deadline it failed and with what.
fn run_past_deadline(
    conn: &mut Connection,
    clock: &StatementClock,
    sql: &str,
    args: &[Arg],
) -> (Duration, Answer) {
    let started = Instant::now();
    // Only so that a broken override cannot hang the test suite.
    conn.progress_handler(
        10_000,
        Some(move || started.elapsed() > Duration::from_secs(20)),
    )
    .unwrap();
    let deadline = started + Duration::from_millis(100);
    clock.set(Some(deadline));
    let answer = call(conn, sql, args);
    let late = Instant::now().saturating_duration_since(deadline);
    clock.set(None);
    conn.progress_handler(0, None::<fn() -> bool>).unwrap();
    (late, answer)
}

/// Every override stops within a bound after the deadline whatever its input, and
/// answers what the built-in answers when no deadline is set.
#[test]
fn overrides_stop_at_the_deadline() {
    let mib = 1 << 20;
    let a = |n: usize| Arg::Text(vec![b'a'; n]);
    let spaces = |n: usize| Arg::Text(vec![b' '; n]);
    let set = |n: usize| text(&format!("{}a", "b".repeat(n)));
    let pass = |n: usize| text(&format!("{} ", "z".repeat(n)));
    let star = |glob: bool, n: usize| {
        let mut p = String::from(if glob { "*" } else { "%" });
        for _ in 0..n {
            p.push_str(if glob { "[a]" } else { "a_" });
        }
        p.push_str(if glob { "[b]*" } else { "b%" });
        text(&p)
    };
    let wide_pass = text(
        &(0x100..0x3000u32)
            .filter_map(char::from_u32)
            .chain(['é'])
            .collect::<String>(),
    );
    let ranked = Arg::Blob(b"\xC3\xA9\xC3".to_vec());
    // Repeated calls on rows: the statement runs on only because each call is cut
    // short; `i` keeps SQLite from computing a constant call once.
    let rows = |call: &str| {
        format!(
            "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r \
             WHERE i < {ROWS}) SELECT count(*) FROM r WHERE {call} IS NOT NULL"
        )
    };
    let suffix = "substr('', i)";
    let cases: Vec<(String, Vec<Arg>, Vec<Arg>)> = vec![
        (
            rows(&format!("instr(?1, ?2 || {suffix})")),
            vec![a(4 * mib), text(&format!("{}b", "a".repeat(1000)))],
            vec![a(64 << 10), text(&format!("{}b", "a".repeat(100)))],
        ),
        (
            rows(&format!("replace(?1, ?2 || {suffix}, 'b')")),
            vec![a(4 * mib), text("a")],
            vec![a(64 << 10), text("a")],
        ),
        (
            rows(&format!("?1 LIKE ?2 || {suffix}")),
            vec![a(4 * mib), text("%b%")],
            vec![a(64 << 10), text("%b%")],
        ),
        // A segment the memmem anchor cannot place; Shift-And takes ⌈8001 / 64⌉
        // words per character, too long for the deadline even in release builds.
        (
            "SELECT ?1 LIKE ?2".to_owned(),
            vec![a(4 * mib), star(false, 4000)],
            vec![a(4 << 10), star(false, 100)],
        ),
        (
            "SELECT ?1 LIKE ?2 ESCAPE '\\'".to_owned(),
            vec![a(4 * mib), star(false, 4000)],
            vec![a(4 << 10), star(false, 100)],
        ),
        (
            "SELECT ?1 GLOB ?2".to_owned(),
            vec![a(4 * mib), star(true, 8000)],
            vec![a(4 << 10), star(true, 100)],
        ),
        (
            rows(&format!("ltrim(?1 || {suffix}, ?2)")),
            vec![a(4 * mib), set(10_000)],
            vec![a(4 << 10), set(100)],
        ),
        (
            rows(&format!("rtrim(?1 || {suffix}, ?2)")),
            vec![a(4 * mib), set(10_000)],
            vec![a(4 << 10), set(100)],
        ),
        (
            rows(&format!("trim(?1 || {suffix}, ?2)")),
            vec![a(4 * mib), set(10_000)],
            vec![a(4 << 10), set(100)],
        ),
        (
            rows(&format!("trim(?1 || {suffix})")),
            vec![spaces(4 * mib)],
            vec![spaces(64 << 10)],
        ),
        (
            rows(&format!("ltrim(?1 || {suffix})")),
            vec![spaces(4 * mib)],
            vec![spaces(64 << 10)],
        ),
        (
            rows(&format!("rtrim(?1 || {suffix})")),
            vec![spaces(4 * mib)],
            vec![spaces(64 << 10)],
        ),
        (
            rows(&format!("unhex(?1 || {suffix}, ?2)")),
            vec![spaces(4 * mib), pass(10_000)],
            vec![spaces(4 << 10), pass(100)],
        ),
        // A pass set too large to sort, hashed instead.
        (
            rows(&format!("unhex(?1 || {suffix}, ?2)")),
            vec![text(&"é".repeat(2 * mib)), wide_pass.clone()],
            vec![text(&"é".repeat(100)), wide_pass],
        ),
        // Sets holding invalid UTF-8, where SQLite's set order decides what is stripped.
        (
            rows(&format!("ltrim(?1 || {suffix}, ?2)")),
            vec![Arg::Blob(b"\xC3\xA9".repeat(2 * mib)), ranked.clone()],
            vec![Arg::Blob(b"\xC3\xA9".repeat(100)), ranked.clone()],
        ),
        (
            rows(&format!("rtrim(?1 || {suffix}, ?2)")),
            vec![Arg::Blob(b"\xC3\xA9".repeat(2 * mib)), ranked.clone()],
            vec![Arg::Blob(b"\xC3\xA9".repeat(100)), ranked],
        ),
    ];
    let (plain, mut over, clock) = pair(&[]);
    for (sql, big, small) in &cases {
        let (late, answer) = run_past_deadline(&mut over, &clock, sql, big);
        assert_eq!(
            answer,
            Err((ffi::SQLITE_INTERRUPT, "interrupted".to_owned())),
            "{sql}"
        );
        assert!(
            late < Duration::from_secs(1),
            "{sql}: stopped {late:?} late"
        );
        let small_sql = sql.replace(&ROWS.to_string(), "2");
        compare(&plain, &over, &small_sql, small);
    }
}

#[test]
fn clock_expires_only_when_set_and_past() {
    let clock = StatementClock::default();
    assert!(!clock.expired());
    clock.set(Some(Instant::now() + Duration::from_secs(60)));
    assert!(!clock.expired());
    clock.set(Some(Instant::now()));
    assert!(clock.expired());
    let shared = clock.clone();
    shared.set(None);
    assert!(!clock.expired());
}
