//! The cutover waits for the application, not the other way round (PostgreSQL): while a long
//! transaction holds a lock a cutover step needs, the step gives up its lock request at the lock
//! timeout and retries (logging each retry), and the application's writers keep going.
//!
//! PostgreSQL only: skipped when `OPRUN_TEST_POSTGRES_URL` is unset, failing when
//! `OPRUN_REQUIRE_POSTGRES=1` and the server is unreachable.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;
mod cutover_support;

use cutover_support::{RETRYING, legacy_postgres, rows, start};
use operation_runs_migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, TransactionTrait};
use std::time::Duration;

/// A guard against a hung process or statement, not a measure of speed.
const PATIENCE: Duration = Duration::from_secs(120);

/// Applies everything before the step, opens `hold` in a transaction left open, starts the
/// migration, and checks that it retries and that `write` completes meanwhile; then ends the
/// transaction and lets the migration finish.
async fn writers_pass_a_waiting_step(steps_before: &str, hold: &str, write: &str) {
    let Some(db) = legacy_postgres().await else {
        return;
    };
    start(&db.url, &["--steps", steps_before], &[]).finish();

    let holder = db.connect_again().await;
    let long = holder.begin().await.unwrap();
    long.execute_unprepared(hold).await.unwrap();

    let mut migration = start(&db.url, &[], &[("OPRUN_MIGRATION_LOCK_TIMEOUT_MS", "500")]);
    migration.wait_for(RETRYING, PATIENCE);

    // A writer, while the migration waits: its statement completes (the statement timeout
    // only turns a writer stuck behind the migration into a failure instead of a hang).
    let writer = db.connect_again().await;
    let insert = writer.begin().await.unwrap();
    insert
        .execute_unprepared(&format!(
            "SET LOCAL statement_timeout = {}",
            PATIENCE.as_millis() / 4
        ))
        .await
        .unwrap();
    let written = insert.execute_unprepared(write).await.unwrap();
    assert_eq!(written.rows_affected(), 1);
    insert.commit().await.unwrap();
    assert!(
        migration.running(),
        "the migration still waits for the long transaction"
    );
    migration.wait_for(RETRYING, PATIENCE);

    long.rollback().await.unwrap();
    let stderr = migration.finish();
    assert!(
        stderr.iter().filter(|l| l.contains(RETRYING)).count() >= 2,
        "{stderr:?}"
    );
    let status = rows(&db.conn, "SELECT count(*)::text FROM seaql_migrations").await;
    let every = Migrator::migrations().len().to_string();
    assert_eq!(status[0][0].as_deref(), Some(every.as_str()));
}

/// Step 6's concurrent unique index build waits for a transaction that wrote to
/// `operation_runs`; a new run is inserted meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_transaction_on_operation_runs_during_step_6() {
    writers_pass_a_waiting_step(
        "5",
        "UPDATE operation_runs SET updated_at = updated_at \
         WHERE id = (SELECT MIN(id) FROM operation_runs WHERE status = 'completed')",
        "INSERT INTO operation_runs (workspace_id, initiator_name, type, status, outcome, \
         run_identity_hash) SELECT id, 'writer', 'inventory_sync', 'queued', 'pending', \
         'written-while-the-cutover-waits' FROM workspaces ORDER BY id LIMIT 1",
    )
    .await;
}

/// Step 4 needs an exclusive lock on `findings` (dropping a column) while a report reads it:
/// the `ALTER TABLE` waits at most the lock timeout at the head of the lock queue, so a new
/// finding is written meanwhile instead of queueing behind it until the report ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_report_on_findings_during_step_4() {
    writers_pass_a_waiting_step(
        "3",
        "SELECT COUNT(*) FROM findings",
        "INSERT INTO findings (workspace_id, tenant_id, subject_external_id, change) \
         SELECT workspace_id, tenant_id, 'written-while-the-cutover-waits', 'added' \
         FROM findings ORDER BY id LIMIT 1",
    )
    .await;
}

/// Old code still running starts a second active run of an identity after step 6 resolved the
/// duplicates, before the unique index is valid: the build fails on it, and the step resolves
/// the duplicates again and builds again, ending with a valid index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_started_during_the_unique_index_build_is_resolved() {
    let Some(db) = legacy_postgres().await else {
        return;
    };
    start(&db.url, &["--steps", "5"], &[]).finish();

    // The duplicate is written in a transaction the concurrent build waits for, and committed
    // while it waits: the build's scan then meets it.
    let old_code = db.connect_again().await;
    let duplicate = old_code.begin().await.unwrap();
    duplicate
        .execute_unprepared(
            "INSERT INTO operation_runs (workspace_id, initiator_name, type, status, outcome, \
             run_identity_hash) SELECT workspace_id, 'old code', type, 'queued', 'pending', \
             run_identity_hash FROM operation_runs WHERE status IN ('queued', 'running') \
             ORDER BY id LIMIT 1",
        )
        .await
        .unwrap();
    let mut migration = start(
        &db.url,
        &[],
        &[("OPRUN_MIGRATION_LOCK_TIMEOUT_MS", "60000")],
    );
    migration.wait_for("building index concurrently", PATIENCE);
    let waiting = "SELECT count(*)::text FROM pg_stat_activity \
                   WHERE query LIKE 'CREATE UNIQUE INDEX CONCURRENTLY%' \
                   AND wait_event_type = 'Lock'";
    let deadline = std::time::Instant::now() + PATIENCE;
    while rows(&db.conn, waiting).await[0][0].as_deref() != Some("1") {
        assert!(
            std::time::Instant::now() < deadline,
            "the build never waited"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    duplicate.commit().await.unwrap();

    let stderr = migration.finish();
    assert!(
        stderr
            .iter()
            .any(|l| l.contains("duplicate active runs appeared during the unique index build")),
        "{stderr:?}"
    );
    let left = rows(
        &db.conn,
        "SELECT count(*)::text FROM (SELECT 1 FROM operation_runs \
         WHERE status IN ('queued', 'running') \
         GROUP BY workspace_id, run_identity_hash HAVING count(*) > 1) AS d",
    )
    .await;
    assert_eq!(left[0][0].as_deref(), Some("0"), "no duplicate left");
    let valid = rows(
        &db.conn,
        "SELECT i.indisvalid::text FROM pg_index AS i JOIN pg_class AS c \
         ON c.oid = i.indexrelid WHERE c.relname = 'operation_runs_active_identity_key'",
    )
    .await;
    assert_eq!(valid, vec![vec![Some("true".to_owned())]]);
    let kept = rows(
        &db.conn,
        "SELECT status FROM operation_runs WHERE initiator_name = 'old code'",
    )
    .await;
    assert_eq!(
        kept,
        vec![vec![Some("queued".to_owned())]],
        "the newest stays active"
    );
}
