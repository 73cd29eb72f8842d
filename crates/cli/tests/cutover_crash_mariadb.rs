//! The cutover survives a crash on MariaDB, where DDL is not transactional: `oprun migrate up`
//! killed (SIGKILL, the real process) during the backfill's batches, between steps, between the
//! two generated columns of step 6 and before its unique index, then run again, ends in a fresh
//! install's schema (columns with collations and generation, indexes, foreign keys, checks) and
//! in exactly the references of an uninterrupted run.
//!
//! Skipped when MariaDB does not answer; a failure with `OPRUN_REQUIRE_MARIADB=1`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;
mod cutover_support;

use cutover_support::{
    Expected, PAUSED, assert_same, expected_on, finish_and_compare, legacy, recorded, references,
    schema, start,
};
use operation_runs_tests::{Backend, TestDb};
use std::time::Duration;

/// A guard against a hung migration, not a measure of speed.
const PATIENCE: Duration = Duration::from_secs(120);

async fn expected() -> Option<Expected> {
    expected_on(Backend::MariaDb).await
}

async fn legacy_mariadb() -> TestDb {
    legacy(Backend::MariaDb).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_killed_during_the_backfill_batches() {
    let Some(expected) = expected().await else {
        return;
    };
    let db = legacy_mariadb().await;
    let mut migration = start(
        &db.url,
        &[],
        &[("OPRUN_MIGRATION_PAUSE_AT", "backfill-batch")],
    );
    migration.wait_for(PAUSED, PATIENCE);
    migration.kill();

    // One batch of findings committed, the rest not, and step 3 not recorded.
    let written = db
        .scalar_i64(
            "SELECT COUNT(*) FROM findings WHERE baseline_operation_run_id IS NOT NULL \
             OR current_operation_run_id IS NOT NULL",
        )
        .await
        .unwrap();
    assert!(written > 0, "the first batch is committed");
    assert_eq!(recorded(&db.conn).await, 3, "baseline and steps 1 and 2");

    finish_and_compare(&db, &expected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_killed_between_steps_and_statements() {
    let Some(expected) = expected().await else {
        return;
    };
    for (point, recorded_before) in [
        ("before-step-2", 2),
        ("before-step-3", 3),
        ("before-step-4", 4),
        ("before-step-5", 5),
        ("before-step-6", 6),
        // Step 6 half done: the stored generated column added, the virtual one not.
        ("between-generated-columns", 6),
        ("before-unique-index", 6),
    ] {
        let db = legacy_mariadb().await;
        let mut migration = start(&db.url, &[], &[("OPRUN_MIGRATION_PAUSE_AT", point)]);
        migration.wait_for(PAUSED, PATIENCE);
        migration.kill();
        assert_eq!(recorded(&db.conn).await, recorded_before, "{point}");
        finish_and_compare(&db, &expected).await;
    }
}

/// A run deleted after a batch wrote references to it, before the finding foreign keys exist:
/// the rerun adds the keys in place and nulls those references as the keys would have; the
/// references equal those of an uninterrupted cutover of a database where the run was deleted
/// first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_a_run_deleted_after_its_batch_is_nulled_with_the_keys() {
    let Some(expected) = expected().await else {
        return;
    };
    let db = legacy_mariadb().await;
    let mut migration = start(
        &db.url,
        &[],
        &[("OPRUN_MIGRATION_PAUSE_AT", "backfill-batch")],
    );
    migration.wait_for(PAUSED, PATIENCE);
    migration.kill();
    let run = db
        .scalar_i64(
            "SELECT MIN(baseline_operation_run_id) FROM findings \
             WHERE baseline_operation_run_id IS NOT NULL",
        )
        .await
        .unwrap();
    let delete = format!("DELETE FROM operation_runs WHERE id = {run}");
    db.exec(&delete).await;

    start(&db.url, &[], &[]).finish();
    assert_same(&schema(&db.conn).await, &expected.schema, "schema");
    let dangling = db
        .scalar_i64(&format!(
            "SELECT COUNT(*) FROM findings WHERE baseline_operation_run_id = {run} \
             OR current_operation_run_id = {run}"
        ))
        .await;
    assert_eq!(dangling, Some(0));

    let deleted_first = legacy_mariadb().await;
    deleted_first.exec(&delete).await;
    start(&deleted_first.url, &[], &[]).finish();
    assert_same(
        &references(&db.conn).await,
        &references(&deleted_first.conn).await,
        "references",
    );
}
