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
    // The cases of plugin `schema-db` compile against its migrations. trybuild builds
    // every case in a crate of its own, `<target>/tests/trybuild/sql-client`, so the
    // migrations go where `sql!` looks by default: `migrations/<plugin>/` beside that
    // crate's Cargo.toml.
    install_schema_migrations().unwrap();
    t.compile_fail("tests/ui/schema/fail/*.rs");
    t.pass("tests/ui/schema/pass/*.rs");
}

fn install_schema_migrations() -> std::io::Result<()> {
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/ui/schema/migrations/schema-db");
    // This test runs as <target>/debug/deps/compile-<hash>.
    let exe = std::env::current_exe()?;
    let target = exe.ancestors().nth(3).ok_or_else(|| {
        std::io::Error::other("the test binary is not in <target>/<profile>/deps")
    })?;
    let dest = target.join("tests/trybuild/sql-client/migrations/schema-db");
    let _ = std::fs::remove_dir_all(&dest);
    std::fs::create_dir_all(&dest)?;
    for entry in std::fs::read_dir(&source)? {
        let path = entry?.path();
        if let Some(name) = path.file_name() {
            std::fs::copy(&path, dest.join(name))?;
        }
    }
    Ok(())
}
