//! The kill-and-rerun harness of the crash tests, written once for every backend: a legacy
//! database, `oprun migrate up` killed (SIGKILL) where the test hook pauses it, then run again
//! and compared with an uninterrupted cutover.

use super::{
    PAUSED, assert_same, expected_on, finish_and_compare, legacy, recorded, references, schema,
    start,
};
use operation_runs_tests::{Backend, TestDb};
use std::time::Duration;

/// A guard against a hung migration, not a measure of speed.
pub const PATIENCE: Duration = Duration::from_secs(120);

/// The pause point inside the backfill, after its first batch.
pub const BACKFILL_BATCH: &str = "backfill-batch";

/// Starts `oprun migrate up` on `db`, waits until the test hook pauses it at `point`, and kills
/// the process there.
pub fn kill_at_pause_point(db: &TestDb, point: &str) {
    let mut migration = start(&db.url, &[], &[("OPRUN_MIGRATION_PAUSE_AT", point)]);
    migration.wait_for(PAUSED, PATIENCE);
    migration.kill();
}

/// How many findings hold a run reference: the backfill's output so far.
pub async fn findings_with_references(db: &TestDb) -> Option<i64> {
    db.scalar_i64(
        "SELECT COUNT(*) FROM findings WHERE baseline_operation_run_id IS NOT NULL \
         OR current_operation_run_id IS NOT NULL",
    )
    .await
}

/// What a kill during the backfill leaves of the step's batches.
#[derive(Clone, Copy, Debug)]
pub enum BackfillAfterKill {
    /// The first batch is committed, the rest not (a step of several transactions).
    FirstBatchCommitted,
    /// Nothing of the step is left (a step in one transaction).
    RolledBack,
}

/// On a fresh legacy database of `backend`: the migration killed after the backfill's first
/// batch leaves what `after_kill` says and baseline plus steps 1 and 2 recorded (step 3 not);
/// the rerun ends as an uninterrupted cutover. Skipped when `backend` is not configured.
pub async fn kill_during_the_backfill_then_rerun(backend: Backend, after_kill: BackfillAfterKill) {
    let Some(expected) = expected_on(backend).await else {
        return;
    };
    let db = legacy(backend).await.unwrap();
    kill_at_pause_point(&db, BACKFILL_BATCH);
    let written = findings_with_references(&db).await;
    match after_kill {
        BackfillAfterKill::FirstBatchCommitted => {
            assert!(written.unwrap() > 0, "the first batch is committed");
        }
        BackfillAfterKill::RolledBack => {
            assert_eq!(written, Some(0), "the step's transaction rolled back");
        }
    }
    assert_eq!(recorded(&db.conn).await, 3, "baseline and steps 1 and 2");
    finish_and_compare(&db, &expected).await;
}

/// For each `(pause point, migrations recorded when killed there)`: a fresh legacy database of
/// `backend`, the migration killed at that point with that many migrations recorded, then run
/// again to end as an uninterrupted cutover. Skipped when `backend` is not configured.
pub async fn kill_at_each_point_then_rerun(backend: Backend, points: &[(&str, usize)]) {
    let Some(expected) = expected_on(backend).await else {
        return;
    };
    for &(point, recorded_before) in points {
        let db = legacy(backend).await.unwrap();
        kill_at_pause_point(&db, point);
        assert_eq!(recorded(&db.conn).await, recorded_before, "{point}");
        finish_and_compare(&db, &expected).await;
    }
}

/// A run deleted after a backfill batch wrote references to it, while the killed migration is
/// down: the rerun ends in a fresh install's schema with no reference left to the run, and in
/// the references of an uninterrupted cutover of a database where the run was deleted first.
/// Skipped when `backend` is not configured.
pub async fn deleted_run_is_nulled_as_if_deleted_first(backend: Backend) {
    let Some(expected) = expected_on(backend).await else {
        return;
    };
    let db = legacy(backend).await.unwrap();
    kill_at_pause_point(&db, BACKFILL_BATCH);
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

    let deleted_first = legacy(backend).await.unwrap();
    deleted_first.exec(&delete).await;
    start(&deleted_first.url, &[], &[]).finish();
    assert_same(
        &references(&db.conn).await,
        &references(&deleted_first.conn).await,
        "references",
    );
}
