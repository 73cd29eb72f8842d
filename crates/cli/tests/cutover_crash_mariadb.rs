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

use cutover_support::crash::{
    BackfillAfterKill, deleted_run_is_nulled_as_if_deleted_first, kill_at_each_point_then_rerun,
    kill_during_the_backfill_then_rerun,
};
use operation_runs_tests::Backend;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_killed_during_the_backfill_batches() {
    kill_during_the_backfill_then_rerun(Backend::MariaDb, BackfillAfterKill::FirstBatchCommitted)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_killed_between_steps_and_statements() {
    kill_at_each_point_then_rerun(
        Backend::MariaDb,
        &[
            ("before-step-2", 2),
            ("before-step-3", 3),
            ("before-step-4", 4),
            ("before-step-5", 5),
            ("before-step-6", 6),
            // Step 6 half done: the stored generated column added, the virtual one not.
            ("between-generated-columns", 6),
            ("before-unique-index", 6),
        ],
    )
    .await;
}

/// A run deleted after a batch wrote references to it, before the finding foreign keys exist:
/// the rerun adds the keys in place and nulls those references as the keys would have; the
/// references equal those of an uninterrupted cutover of a database where the run was deleted
/// first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_a_run_deleted_after_its_batch_is_nulled_with_the_keys() {
    deleted_run_is_nulled_as_if_deleted_first(Backend::MariaDb).await;
}
