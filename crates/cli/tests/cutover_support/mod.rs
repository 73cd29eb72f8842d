//! Helpers of the live-cutover tests: a seeded legacy database, an `oprun migrate up` process
//! to watch and kill, and the catalog and reference snapshots two databases are compared by.
#![allow(dead_code)]

pub mod crash;

use operation_runs_migration::fixtures::{seed_legacy_at_scale, seed_legacy_edge_cases};
use operation_runs_tests::{Backend, TestDb};
use sea_orm::{DatabaseConnection, DbBackend};
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// The marker the migration's test hook logs when it pauses.
pub const PAUSED: &str = "migration paused (test hook)";

/// The marker of a lock wait given up and retried.
pub const RETRYING: &str = "lock not available within the lock timeout; retrying";

/// A PostgreSQL database at the baseline, seeded with every legacy edge case plus enough rows
/// for several backfill batches of [`BATCH_ROWS`]; `None` when PostgreSQL is not configured.
pub async fn legacy_postgres() -> Option<TestDb> {
    legacy(Backend::Postgres).await
}

/// [`legacy_postgres`] on either backend.
pub async fn legacy(backend: Backend) -> Option<TestDb> {
    let db = TestDb::new(backend).await?;
    super::common::ok(&db.url, &["migrate", "up", "--steps", "1"]);
    seed_legacy_edge_cases(&db.conn).await.unwrap();
    seed_legacy_at_scale(&db.conn, 300, 400, 120).await.unwrap();
    Some(db)
}

/// Rows per backfill batch in these tests: several batches per table.
pub const BATCH_ROWS: &str = "50";

/// A running `oprun migrate up --accept-data-loss` and the lines of its stderr so far.
pub struct Migration {
    pub child: Child,
    lines: Receiver<String>,
    pub stderr: Vec<String>,
}

/// Starts `oprun migrate up --accept-data-loss [extra…]` on `url` with `env` set.
pub fn start(url: &str, extra: &[&str], env: &[(&str, &str)]) -> Migration {
    let mut cmd = super::common::command();
    cmd.arg("--database-url")
        .arg(url)
        .args(["migrate", "up", "--accept-data-loss"])
        .args(extra)
        .env("OPRUN_MIGRATION_BATCH_ROWS", BATCH_ROWS)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (name, value) in env {
        cmd.env(name, value);
    }
    let mut child = cmd.spawn().expect("oprun starts");
    let stderr = child.stderr.take().unwrap();
    let (send, lines) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    Migration {
        child,
        lines,
        stderr: Vec::new(),
    }
}

impl Migration {
    /// Reads stderr until a line contains `needle`; panics after `within` (a guard against a
    /// hang, not an assertion on speed) or when the process ends first.
    pub fn wait_for(&mut self, needle: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.stderr.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no `{needle}` on stderr:\n{}", self.stderr.join("\n"))
                }
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "oprun ended ({:?}) before `{needle}`:\n{}",
                    self.child.wait(),
                    self.stderr.join("\n")
                ),
            }
        }
    }

    /// SIGKILL, and reap the process.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits for the process to end and expects success; returns all of stderr.
    pub fn finish(mut self) -> Vec<String> {
        let status = self.child.wait().unwrap();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.stderr.push(line);
        }
        assert!(status.success(), "{status}:\n{}", self.stderr.join("\n"));
        std::mem::take(&mut self.stderr)
    }
}

/// A test that fails part-way must not leave a migration running (or sleeping in the hook).
impl Drop for Migration {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every row of `sql`, every column cast to text by the query.
pub async fn rows(conn: &DatabaseConnection, sql: &str) -> Vec<Vec<Option<String>>> {
    operation_runs_tests::text_rows(conn, sql).await
}

/// The schema as the catalog describes it: on PostgreSQL columns, indexes with their validity,
/// constraints with theirs; on SQLite every object's definition; on MariaDB columns (with their
/// collations and generation), indexes, foreign keys and checks.
pub async fn schema(conn: &DatabaseConnection) -> Vec<Vec<Vec<Option<String>>>> {
    let queries: &[&str] = match conn.get_database_backend() {
        DbBackend::MySql => &[
            "SELECT table_name, column_name, CAST(ordinal_position AS CHAR), column_type, \
               is_nullable, column_default, collation_name, generation_expression \
             FROM information_schema.columns WHERE table_schema = DATABASE() \
             ORDER BY table_name, ordinal_position",
            "SELECT table_name, index_name, CAST(non_unique AS CHAR), \
               GROUP_CONCAT(column_name ORDER BY seq_in_index) \
             FROM information_schema.statistics WHERE table_schema = DATABASE() \
             GROUP BY table_name, index_name, non_unique ORDER BY 1, 2",
            "SELECT k.table_name, k.constraint_name, k.column_name, k.referenced_table_name, \
               r.delete_rule \
             FROM information_schema.key_column_usage AS k \
             JOIN information_schema.referential_constraints AS r \
               ON r.constraint_schema = k.constraint_schema \
              AND r.constraint_name = k.constraint_name \
             WHERE k.table_schema = DATABASE() ORDER BY 1, 2",
            "SELECT table_name, constraint_name, check_clause \
             FROM information_schema.check_constraints \
             WHERE constraint_schema = DATABASE() ORDER BY 1, 2",
        ],
        DbBackend::Sqlite => &["SELECT type, name, tbl_name, sql FROM sqlite_master \
             WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name"],
        _ => &[
            "SELECT table_name::text, column_name::text, ordinal_position::text, \
               data_type::text, is_nullable::text, column_default::text \
             FROM information_schema.columns WHERE table_schema = current_schema() \
             ORDER BY table_name, ordinal_position",
            "SELECT t.relname::text, c.relname::text, pg_get_indexdef(i.indexrelid), \
               i.indisvalid::text, i.indisready::text, i.indisunique::text \
             FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indexrelid \
             JOIN pg_class AS t ON t.oid = i.indrelid \
             JOIN pg_namespace AS n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() ORDER BY 1, 2",
            "SELECT t.relname::text, k.conname::text, k.contype::text, \
               pg_get_constraintdef(k.oid), k.convalidated::text \
             FROM pg_constraint AS k JOIN pg_class AS t ON t.oid = k.conrelid \
             JOIN pg_namespace AS n ON n.oid = t.relnamespace \
             WHERE n.nspname = current_schema() ORDER BY 1, 2",
        ],
    };
    let mut out = Vec::new();
    for sql in queries {
        out.push(rows(conn, sql).await);
    }
    out
}

/// Every reference the cutover writes and every run's state (times of the supersession
/// excepted, which are the moment it ran).
pub async fn references(conn: &DatabaseConnection) -> Vec<Vec<Vec<Option<String>>>> {
    let mut out = Vec::new();
    for sql in [
        "SELECT CAST(id AS TEXT), CAST(baseline_operation_run_id AS TEXT), \
           CAST(current_operation_run_id AS TEXT) FROM findings ORDER BY id",
        "SELECT CAST(id AS TEXT), CAST(last_seen_operation_run_id AS TEXT) \
         FROM inventory_items ORDER BY id",
        "SELECT CAST(id AS TEXT), type, status, outcome, CAST(failure_summary AS TEXT), \
           CASE WHEN completed_at IS NULL THEN 'open' ELSE 'completed' END \
         FROM operation_runs ORDER BY id",
    ] {
        out.push(rows(conn, sql).await);
    }
    out
}

/// The schema of a fresh install, and the references of an uninterrupted cutover of
/// [`legacy_postgres`]'s data, to compare an interrupted one against.
pub struct Expected {
    pub schema: Vec<Vec<Vec<Option<String>>>>,
    pub references: Vec<Vec<Vec<Option<String>>>>,
}

pub async fn expected() -> Option<Expected> {
    expected_on(Backend::Postgres).await
}

/// [`expected`] on either backend.
pub async fn expected_on(backend: Backend) -> Option<Expected> {
    let fresh = TestDb::new(backend).await?;
    super::common::ok(&fresh.url, &["migrate", "up"]);
    let legacy = legacy(backend).await?;
    start(&legacy.url, &[], &[]).finish();
    let expected = Expected {
        schema: schema(&fresh.conn).await,
        references: references(&legacy.conn).await,
    };
    assert_same(
        &schema(&legacy.conn).await,
        &expected.schema,
        "an uninterrupted cutover ends in a fresh install's schema",
    );
    Some(expected)
}

/// Asserts that two snapshots are equal, naming only the rows that differ.
#[track_caller]
pub fn assert_same(
    actual: &[Vec<Vec<Option<String>>>],
    expected: &[Vec<Vec<Option<String>>>],
    what: &str,
) {
    assert_eq!(actual.len(), expected.len(), "{what}");
    for (n, (actual, expected)) in actual.iter().zip(expected).enumerate() {
        let missing: Vec<_> = expected.iter().filter(|r| !actual.contains(r)).collect();
        let extra: Vec<_> = actual.iter().filter(|r| !expected.contains(r)).collect();
        assert!(
            missing.is_empty() && extra.is_empty() && actual == expected,
            "{what}, query {n}: missing {missing:?}, unexpected {extra:?}"
        );
    }
}

/// Runs `oprun migrate up` to the end and checks the database against `expected`.
pub async fn finish_and_compare(db: &TestDb, expected: &Expected) {
    start(&db.url, &[], &[]).finish();
    assert_same(&schema(&db.conn).await, &expected.schema, "schema");
    assert_same(
        &references(&db.conn).await,
        &expected.references,
        "references",
    );
}

/// The migrations recorded as applied.
pub async fn recorded(conn: &DatabaseConnection) -> usize {
    rows(conn, "SELECT version FROM seaql_migrations")
        .await
        .len()
}
