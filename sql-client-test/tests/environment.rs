//! What a plugin author sees when the test handler cannot start: each test runs one
//! ignored test of this file in a child process with the environment it needs (the
//! variables are process-wide, so they are not changed in this one), and reads what the
//! test harness printed for its error.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::process::Command;

use sql_client_test::{TestHandler, TestHandlerError};

/// Runs `test` of this binary alone with `env` set (`None` removes the variable), and
/// returns everything it printed. It must fail.
fn run_child(test: &str, env: &[(&str, Option<&str>)]) -> String {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.args([
        test,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    for (name, value) in env {
        match value {
            Some(value) => command.env(name, value),
            None => command.env_remove(name),
        };
    }
    let output = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!output.status.success(), "the child test passed:\n{text}");
    text
}

#[test]
fn a_missing_nats_server_is_named_with_how_to_install_it() {
    let text = run_child(
        "child_start",
        &[("NATS_SERVER_BIN", Some("/nonexistent/nats-server"))],
    );
    assert!(
        text.contains("cannot run /nonexistent/nats-server"),
        "{text}"
    );
    assert!(text.contains("apt-get install nats-server"), "{text}");
    assert!(text.contains("NATS_SERVER_BIN"), "{text}");
    // The message itself, not the error's structure.
    assert!(!text.contains("NotInstalled {"), "{text}");
}

#[test]
fn a_crate_without_a_plugin_is_told_how_to_declare_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Cargo.toml"),
        "[package]\nname = \"no-plugin\"\nversion = \"0.1.0\"\n",
    )
    .unwrap();
    let text = run_child(
        "child_start",
        &[("CARGO_MANIFEST_DIR", Some(dir.path().to_str().unwrap()))],
    );
    assert!(text.contains("no plugin to test"), "{text}");
    assert!(text.contains("[package.metadata.sql-client]"), "{text}");
    assert!(text.contains(".plugin(\"your-plugin\")"), "{text}");
}

#[test]
fn outside_cargo_the_crate_cannot_be_found_and_says_so() {
    let text = run_child("child_start", &[("CARGO_MANIFEST_DIR", None)]);
    assert!(text.contains("CARGO_MANIFEST_DIR is not set"), "{text}");
}

/// What a plugin's test looks like: the error goes to the test harness with `?`.
#[tokio::test]
#[ignore = "run by the tests above in a child process"]
async fn child_start() -> Result<(), TestHandlerError> {
    TestHandler::start().await?.stop().await;
    Ok(())
}
