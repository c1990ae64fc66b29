//! Compile-time checks of `sql!` and `#[derive(SqlRow)]`: every mistake in `ui/*/fail`
//! must fail to compile with the message beside it; every file in `ui/*/pass` must compile
//! and run. The toolchain is pinned (rust-toolchain.toml), so the messages are stable;
//! regenerate with `TRYBUILD=overwrite` and review the diff.

/// The compiler whose messages the `.stderr` files record (rust-toolchain.toml).
const PINNED: &str = "rustc 1.95.";

#[test]
fn ui() {
    let version =
        std::process::Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned()))
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
    if !version.starts_with(PINNED) {
        eprintln!(
            "skipping the UI tests: they record the messages of {PINNED}x, this is {version}"
        );
        return;
    }
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/sql/fail/*.rs");
    t.compile_fail("tests/ui/row/fail/*.rs");
    // rustc lists the types that do implement the missing trait, and which those are
    // depends on the date features; the workspace test command enables both.
    if cfg!(all(feature = "chrono", feature = "time")) {
        t.compile_fail("tests/ui/row/fail-with-date-features/*.rs");
    }
    t.pass("tests/ui/sql/pass/*.rs");
    t.pass("tests/ui/row/pass/*.rs");
}
