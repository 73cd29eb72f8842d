//! What `oprun migrate up` shows of the backfill: progress bars on a terminal, plain lines
//! otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::{BIN, ok, run};
use operation_runs_migration::fixtures::seed_legacy_at_scale;
use operation_runs_migration::{Migrator, MigratorTrait};
use operation_runs_tests::TestDb;
use std::process::Command;

async fn legacy_sqlite() -> TestDb {
    let db = TestDb::sqlite().await;
    ok(&db.url, &["migrate", "up", "--steps", "1"]);
    seed_legacy_at_scale(&db.conn, 300, 400, 120).await.unwrap();
    db
}

/// On a terminal (a pseudo-terminal from util-linux `script`; skipped where it is missing) the
/// backfill is a bar per table with rows done, total, rate and time left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_gets_progress_bars() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: no `script` to provide a terminal");
        return;
    }
    let db = legacy_sqlite().await;
    let command = format!(
        "{BIN} --database-url '{}' migrate up --accept-data-loss",
        db.url
    );
    let out = Command::new("script")
        .args(["-qefc", &command, "/dev/null"])
        .env("OPRUN_MIGRATION_BATCH_ROWS", "50")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    // Everything but the baseline, which the legacy database has already.
    let applied = format!("applied {} migration(s)", Migrator::migrations().len() - 1);
    for needle in [
        "backfill findings",
        "backfill inventory_items",
        "400/400 rows",
        "300/300 rows",
        "left",
        &applied,
    ] {
        assert!(shown.contains(needle), "no `{needle}` in:\n{shown}");
    }
    assert!(!shown.contains("backfill progress"), "{shown}");
}

/// Elsewhere (a pipe, a CI log) every batch is one plain line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipe_gets_plain_lines() {
    let db = legacy_sqlite().await;
    let ran = run(&db.url, &["migrate", "up", "--accept-data-loss"]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let lines: Vec<&str> = ran
        .stderr
        .lines()
        .filter(|l| l.contains("backfill progress findings.baseline_operation_run_id"))
        .collect();
    assert!(!lines.is_empty(), "{}", ran.stderr);
    assert!(lines.last().unwrap().ends_with(": 400/400"), "{lines:?}");
    assert!(!ran.stderr.contains("\u{1b}["), "no terminal escapes");
}
