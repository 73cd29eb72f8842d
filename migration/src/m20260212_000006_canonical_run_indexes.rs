//! Cutover step 6: the indexes the canonical queries need.
//!
//! Live databases may hold several active (`queued`/`running`) runs of one
//! (`workspace_id`, `run_identity_hash`), which the new unique index forbids. They are resolved
//! first, deterministically and in one statement: the newest (highest id) stays active, every
//! other becomes `completed` / `failed` with `completed_at` and `updated_at` = now and
//! `failure_summary` = `[{"code": "superseded_duplicate", "message": "Superseded by run <id> …"}]`.
//! The preflight lists them beforehand.
//!
//! Then:
//! - `operation_runs_active_identity_key`: unique (`workspace_id`, `run_identity_hash`) where
//!   `status IN ('queued', 'running')` — the database-enforced "one active run per identity";
//! - `operation_runs_workspace_id_id_idx`: (`workspace_id`, `id`), the monitoring list;
//! - `operation_runs_schedule_history_idx`: (`context->>'backup_schedule_id'`, `id`) on
//!   PostgreSQL, (`json_extract(context, '$.backup_schedule_id')`, `id`) on SQLite — queries must
//!   use the identical expression;
//! - `operation_runs_active_updated_at_idx`: (`updated_at`) where active, for the stale reaper.
//!
//! On PostgreSQL the indexes are built `CONCURRENTLY`, outside a transaction, so writes to
//! `operation_runs` continue meanwhile (see [`live`]). Until the unique index is valid, code
//! still running that does not use it may start a second active run of an identity; the build
//! then fails on the duplicate, and the step resolves duplicates again and rebuilds (an invalid
//! index is never left in place: the next build, or the next run of the step, drops it first).
//! On SQLite the step is one transaction.
//!
//! On MariaDB, which has neither partial nor expression indexes, two generated columns come
//! first (see `mysql`): `active_identity_hash` (the hash while the run is active, `NULL` once
//! completed) under the unique key, and `backup_schedule_key` (the schedule id as text) under
//! the history index; the reaper's index is (`status`, `updated_at`).
//!
//! `down` drops the four indexes (and on MariaDB the generated columns); superseded runs stay
//! completed.

use crate::live;
use crate::names::ACTIVE;
use crate::sql::{self, Flavor};
use crate::step::{Mode, Step};
use sea_orm_migration::SchemaManagerConnection;
use sea_orm_migration::prelude::*;

/// Resolves duplicate active identities and creates the canonical indexes.
#[derive(DeriveMigrationName)]
pub struct Migration;

const SUPERSEDED_MESSAGE: &str =
    "a newer active run of the same identity, during the cutover migration";

pub(crate) fn supersede_statement(flavor: Flavor) -> String {
    let now = sql::now(flavor);
    match flavor {
        Flavor::Postgres => format!(
            "UPDATE operation_runs AS r SET status = 'completed', outcome = 'failed', \
               completed_at = {now}, updated_at = {now}, \
               failure_summary = jsonb_build_array(jsonb_build_object(\
                 'code', 'superseded_duplicate', \
                 'message', 'Superseded by run ' || k.keep_id || ', {SUPERSEDED_MESSAGE}')) \
             FROM (SELECT workspace_id, run_identity_hash, MAX(id) AS keep_id \
                   FROM operation_runs WHERE {ACTIVE} \
                   GROUP BY workspace_id, run_identity_hash HAVING COUNT(*) > 1) AS k \
             WHERE r.workspace_id = k.workspace_id \
               AND r.run_identity_hash = k.run_identity_hash \
               AND r.{ACTIVE} AND r.id < k.keep_id"
        ),
        // The kept run is never updated, so the correlated subqueries see the same newest run
        // for every row whatever order SQLite updates them in.
        Flavor::Sqlite => format!(
            "UPDATE operation_runs SET status = 'completed', outcome = 'failed', \
               completed_at = {now}, updated_at = {now}, \
               failure_summary = json_array(json_object(\
                 'code', 'superseded_duplicate', \
                 'message', 'Superseded by run ' || (\
                   SELECT MAX(k.id) FROM operation_runs AS k \
                   WHERE k.workspace_id = operation_runs.workspace_id \
                     AND k.run_identity_hash = operation_runs.run_identity_hash \
                     AND k.{ACTIVE}) || ', {SUPERSEDED_MESSAGE}')) \
             WHERE {ACTIVE} AND EXISTS (\
               SELECT 1 FROM operation_runs AS k \
               WHERE k.workspace_id = operation_runs.workspace_id \
                 AND k.run_identity_hash = operation_runs.run_identity_hash \
                 AND k.{ACTIVE} AND k.id > operation_runs.id)"
        ),
        // A multi-table UPDATE: the derived table of kept ids is materialized before any row
        // is written, so every duplicate sees the same newest run.
        Flavor::MySql => format!(
            "UPDATE operation_runs AS r \
             JOIN (SELECT workspace_id, run_identity_hash, MAX(id) AS keep_id \
                   FROM operation_runs WHERE {ACTIVE} \
                   GROUP BY workspace_id, run_identity_hash HAVING COUNT(*) > 1) AS k \
               ON r.workspace_id = k.workspace_id AND r.run_identity_hash = k.run_identity_hash \
             SET r.status = 'completed', r.outcome = 'failed', \
               r.completed_at = {now}, r.updated_at = {now}, \
               r.failure_summary = JSON_ARRAY(JSON_OBJECT(\
                 'code', 'superseded_duplicate', \
                 'message', CONCAT('Superseded by run ', k.keep_id, ', {SUPERSEDED_MESSAGE}'))) \
             WHERE r.{ACTIVE} AND r.id < k.keep_id"
        ),
    }
}

/// The `CREATE INDEX` statements of [`INDEXES`], in that order.
pub(crate) fn index_statements(flavor: Flavor) -> Vec<String> {
    let [active_identity, schedule_history, active_updated_at] = match flavor {
        Flavor::MySql => crate::mysql::index_columns(),
        Flavor::Postgres | Flavor::Sqlite => {
            let schedule_key = if flavor == Flavor::Postgres {
                "(context->>'backup_schedule_id')"
            } else {
                "json_extract(context, '$.backup_schedule_id')"
            };
            [
                format!("(workspace_id, run_identity_hash) WHERE {ACTIVE}"),
                format!("({schedule_key}, id)"),
                format!("(updated_at) WHERE {ACTIVE}"),
            ]
        }
    };
    let [unique, by_workspace, history, reaper] = INDEXES;
    vec![
        format!("CREATE UNIQUE INDEX IF NOT EXISTS {unique} ON operation_runs {active_identity}"),
        format!("CREATE INDEX IF NOT EXISTS {by_workspace} ON operation_runs (workspace_id, id)"),
        format!("CREATE INDEX IF NOT EXISTS {history} ON operation_runs {schedule_history}"),
        format!("CREATE INDEX IF NOT EXISTS {reaper} ON operation_runs {active_updated_at}"),
    ]
}

const INDEXES: [&str; 4] = [
    "operation_runs_active_identity_key",
    "operation_runs_workspace_id_id_idx",
    "operation_runs_schedule_history_idx",
    "operation_runs_active_updated_at_idx",
];

/// Times the unique index build may meet duplicates created meanwhile (by old code still
/// running) before the step gives up, leaving nothing half done: a rerun starts over.
const DUPLICATE_ROUNDS: u32 = 10;

/// Completes duplicate active runs as superseded; returns how many.
async fn supersede(db: &SchemaManagerConnection<'_>, flavor: Flavor) -> Result<u64, DbErr> {
    let superseded = live::short_lock(db, &supersede_statement(flavor)).await?;
    if superseded > 0 {
        tracing::warn!(superseded, "completed duplicate active runs as superseded");
    }
    Ok(superseded)
}

#[async_trait::async_trait]
impl Step for Migration {
    /// Outside the migrator's transaction: the indexes are built concurrently on PostgreSQL,
    /// which no transaction allows; SQLite gets one transaction from
    /// [`live::begin_if_sqlite`].
    const MODE: Mode = Mode::Live("before-step-6");

    async fn up(&self, db: &SchemaManagerConnection<'_>, flavor: Flavor) -> Result<(), DbErr> {
        let statements = index_statements(flavor);
        if flavor == Flavor::MySql {
            // The columns the MariaDB indexes are built on (it has no partial or expression
            // indexes); added once, each `IF NOT EXISTS`.
            let [stored, virtual_column] = crate::mysql::generated_columns();
            live::short_lock(db, &stored).await?;
            live::pause_point("between-generated-columns").await;
            live::short_lock(db, &virtual_column).await?;
        }
        let mut round = 0;
        loop {
            supersede(db, flavor).await?;
            live::pause_point("before-unique-index").await;
            match live::create_index(db, INDEXES[0], &statements[0]).await {
                Ok(()) => break,
                // Until the index is valid, writers that do not know it may start a second
                // active run of an identity; resolve those too and build again.
                Err(e) if live::unique_violation(&e) && round + 1 < DUPLICATE_ROUNDS => {
                    tracing::warn!(
                        round = round + 1,
                        "duplicate active runs appeared during the unique index build; \
                         resolving them and building again"
                    );
                    round += 1;
                }
                Err(e) => return Err(e),
            }
        }
        for (name, create) in INDEXES.iter().zip(&statements).skip(1) {
            live::create_index(db, name, create).await?;
        }
        Ok(())
    }

    async fn down(&self, db: &SchemaManagerConnection<'_>, flavor: Flavor) -> Result<(), DbErr> {
        for index in INDEXES {
            live::drop_index(db, index).await?;
        }
        if flavor == Flavor::MySql {
            for column in crate::mysql::drop_generated_columns() {
                live::short_lock(db, &column).await?;
            }
        }
        Ok(())
    }
}
