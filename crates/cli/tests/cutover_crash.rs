//! The cutover survives a crash on PostgreSQL: `oprun migrate up` killed (SIGKILL, the real
//! process) during the backfill's batches, between steps, and during the unique index's
//! concurrent build, then run again, ends in a fresh install's schema (columns, indexes with
//! their validity, constraints) and in exactly the references of an uninterrupted run.
//!
//! The PostgreSQL tests are skipped when `OPRUN_TEST_POSTGRES_URL` is unset, and fail when
//! `OPRUN_REQUIRE_POSTGRES=1` and the server is unreachable. One test kills the SQLite cutover,
//! whose steps are single transactions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;
mod cutover_support;

use cutover_support::crash::{
    BackfillAfterKill, PATIENCE, deleted_run_is_nulled_as_if_deleted_first,
    kill_at_each_point_then_rerun, kill_during_the_backfill_then_rerun,
};
use cutover_support::{expected, finish_and_compare, legacy_postgres, recorded, rows, start};
use operation_runs_tests::Backend;
use sea_orm::ConnectionTrait;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_the_backfill_batches() {
    kill_during_the_backfill_then_rerun(Backend::Postgres, BackfillAfterKill::FirstBatchCommitted)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_between_steps() {
    kill_at_each_point_then_rerun(
        Backend::Postgres,
        &[
            ("before-step-3", 3),
            ("before-step-4", 4),
            ("before-step-6", 6),
            ("before-unique-index", 6),
        ],
    )
    .await;
}

/// The unique index's concurrent build is waiting for a transaction that touched
/// `operation_runs` when the process is killed. The server gives the orphaned build up at its
/// lock timeout, leaving an invalid index; the rerun drops it and builds it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_the_unique_index_build() {
    let Some(expected) = expected().await else {
        return;
    };
    let db = legacy_postgres().await.unwrap();
    // Everything but step 6.
    start(&db.url, &["--steps", "5"], &[]).finish();
    assert_eq!(recorded(&db.conn).await, 6);

    // A writer's transaction, left open: a concurrent build waits for it to end.
    let other = db.connect_again().await;
    let writer = sea_orm::TransactionTrait::begin(&other).await.unwrap();
    writer
        .execute_unprepared(
            "UPDATE operation_runs SET updated_at = updated_at \
             WHERE id = (SELECT MIN(id) FROM operation_runs WHERE status = 'completed')",
        )
        .await
        .unwrap();

    let migration = start(
        &db.url,
        &[],
        &[("OPRUN_MIGRATION_LOCK_TIMEOUT_MS", "10000")],
    );
    let building = "SELECT count(*)::text FROM pg_stat_activity \
                    WHERE query LIKE 'CREATE UNIQUE INDEX CONCURRENTLY%' AND wait_event_type = 'Lock'";
    let invalid = "SELECT count(*)::text FROM pg_index AS i JOIN pg_class AS c \
                   ON c.oid = i.indexrelid \
                   WHERE c.relname = 'operation_runs_active_identity_key' AND NOT i.indisvalid";
    let deadline = Instant::now() + PATIENCE;
    while rows(&db.conn, building).await[0][0].as_deref() != Some("1") {
        assert!(Instant::now() < deadline, "the build never waited");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    migration.kill();

    // The orphaned build ends at its lock timeout, leaving its index invalid.
    while rows(&db.conn, "SELECT count(*)::text FROM pg_stat_activity \
                          WHERE query LIKE 'CREATE UNIQUE INDEX CONCURRENTLY%' AND state = 'active'")
        .await[0][0]
        .as_deref()
        != Some("0")
    {
        assert!(Instant::now() < deadline, "the orphaned build never ended");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        rows(&db.conn, invalid).await[0][0].as_deref(),
        Some("1"),
        "an invalid index is left behind"
    );
    writer.rollback().await.unwrap();

    finish_and_compare(&db, &expected).await;
}

/// A run deleted after a batch wrote references to it, before the finding foreign keys exist
/// (here: while the killed migration is down): the rerun adds the keys, nulls those references
/// as the keys would have, and validates them; the references equal those of an uninterrupted
/// cutover of a database where the run was deleted first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_deleted_after_its_batch_is_nulled_before_the_keys_are_validated() {
    deleted_run_is_nulled_as_if_deleted_first(Backend::Postgres).await;
}

/// SQLite: each step is one transaction, so a migration killed in the middle of the backfill
/// leaves nothing of the step behind, and the rerun ends as an uninterrupted one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_killed_during_the_backfill_rolls_the_step_back() {
    kill_during_the_backfill_then_rerun(Backend::Sqlite, BackfillAfterKill::RolledBack).await;
}
