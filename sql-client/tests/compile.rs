//! Compile-time checks of `sql!` and `#[derive(SqlRow)]`: every mistake in `ui/*/fail`
//! must fail to compile with the message beside it; every file in `ui/*/pass` must compile
//! and run. The toolchain is pinned (rust-toolchain.toml), so the messages are stable;
//! regenerate with `TRYBUILD=overwrite` and review the diff.

#[test]
fn ui() {
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
