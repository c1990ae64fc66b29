//! The throw-away PostgreSQL cluster starts, answers on its port, and is gone after drop.

#![allow(clippy::unwrap_used, reason = "test")]

use std::process::Command;

use sql_test_harness::PgCluster;

#[test]
fn a_cluster_starts_answers_and_stops() {
    let cluster = PgCluster::start();
    let psql = cluster.bindir().join("psql");
    let psql = if psql.exists() { psql } else { "psql".into() };
    let output = Command::new(psql)
        .args(["-At", "-d", &cluster.url(), "-c", "SELECT 40 + 2"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "42");
    let port = cluster.port();
    drop(cluster);
    let after = std::net::TcpStream::connect(("127.0.0.1", port));
    assert!(
        after.is_err(),
        "PostgreSQL still listens on {port} after drop"
    );
}

#[test]
fn test_databases_are_separate() {
    let a = sql_test_harness::TestDatabase::create();
    let b = sql_test_harness::TestDatabase::create();
    assert_ne!(a.url(), b.url());
    for db in [&a, &b] {
        let output = Command::new("psql")
            .args([
                "-X",
                "-At",
                "-d",
                db.url(),
                "-c",
                "SELECT current_database()",
            ])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let name = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        assert!(
            db.url().ends_with(&format!("/{name}")),
            "{name} vs {}",
            db.url()
        );
    }
}
