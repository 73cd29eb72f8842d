//! Cutover step 3: points findings and inventory items at canonical runs, through the bridges.
//!
//! **Backfill rule.** A canonical reference gets the legacy run's `operation_run_id` only if that
//! bridge is not null *and* the operation run exists; in every other case (legacy reference null,
//! legacy row gone, bridge null, bridge dangling) it stays null. An
//! `inventory_items.last_seen_operation_run_id` that is already set was written by current code
//! and is newer than the legacy value, so only null ones are filled.
//!
//! The backfill is set-based: one `UPDATE` per reference and batch, where a batch is a bounded
//! range of primary keys (so a very large table is never one giant statement), with a progress
//! event per batch (target `operation_runs_migration::progress`, fields `table`, `column`,
//! `done`, `total`). PostgreSQL uses `UPDATE … FROM` with a join; SQLite a correlated subquery,
//! which works on every SQLite version and is planned as an index lookup per row.
//! No row is ever inserted into `operation_runs`.
//!
//! Only null canonical references are written, so running it again changes nothing.
//! `down` is a no-op: the step only filled columns the previous step added (dropped by its
//! `down`) or that were null.

use crate::names::INVENTORY_SYNC_RUNS;
use crate::sql::{self, Flavor};
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::Statement;

/// Backfills canonical references through the legacy bridges.
#[derive(DeriveMigrationName)]
pub struct Migration;

/// Rows per backfill statement.
pub(crate) const BATCH_ROWS: u64 = 50_000;

/// A legacy reference column into `inventory_sync_runs` and the canonical column replacing it.
pub(crate) struct Reference {
    pub table: &'static str,
    pub legacy: &'static str,
    pub canonical: &'static str,
}

/// Every reference the cutover moves.
pub(crate) const REFERENCES: [Reference; 3] = [
    Reference {
        table: "findings",
        legacy: "baseline_run_id",
        canonical: "baseline_operation_run_id",
    },
    Reference {
        table: "findings",
        legacy: "current_run_id",
        canonical: "current_operation_run_id",
    },
    Reference {
        table: "inventory_items",
        legacy: "last_seen_run_id",
        canonical: "last_seen_operation_run_id",
    },
];

/// The statement backfilling `reference` for the ids in `(lower, upper]` (two parameters).
pub(crate) fn backfill_statement(flavor: Flavor, reference: &Reference) -> String {
    let Reference {
        table,
        legacy,
        canonical,
    } = reference;
    match flavor {
        Flavor::Postgres => format!(
            "UPDATE {table} AS t SET {canonical} = l.operation_run_id \
             FROM inventory_sync_runs AS l JOIN operation_runs AS o ON o.id = l.operation_run_id \
             WHERE l.id = t.{legacy} AND t.{canonical} IS NULL AND t.id > $1 AND t.id <= $2"
        ),
        Flavor::Sqlite => format!(
            "UPDATE {table} SET {canonical} = (\
               SELECT l.operation_run_id FROM inventory_sync_runs AS l \
               JOIN operation_runs AS o ON o.id = l.operation_run_id \
               WHERE l.id = {table}.{legacy}) \
             WHERE {legacy} IS NOT NULL AND {canonical} IS NULL AND id > ? AND id <= ?"
        ),
    }
}

/// Backfills one reference in primary-key batches of `batch` rows.
pub(crate) async fn backfill<C: ConnectionTrait + ?Sized>(
    db: &C,
    reference: &Reference,
    batch: i64,
) -> Result<(), DbErr> {
    let flavor = sql::flavor(db)?;
    let backend = db.get_database_backend();
    let table = reference.table;
    let total = sql::scalar_i64(db, &format!("SELECT COUNT(*) FROM {table}"), vec![])
        .await?
        .unwrap_or(0);
    let bounds = match flavor {
        Flavor::Postgres => format!(
            "SELECT MAX(id), COUNT(*) FROM \
             (SELECT id FROM {table} WHERE id > $1 ORDER BY id LIMIT $2) AS b"
        ),
        Flavor::Sqlite => format!(
            "SELECT MAX(id), COUNT(*) FROM \
             (SELECT id FROM {table} WHERE id > ? ORDER BY id LIMIT ?) AS b"
        ),
    };
    let update = backfill_statement(flavor, reference);
    let (mut lower, mut done, mut updated) = (0_i64, 0_i64, 0_u64);
    loop {
        let Some(row) = db
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                &bounds,
                vec![lower.into(), batch.into()],
            ))
            .await?
        else {
            break;
        };
        let (Some(upper), rows) = (
            row.try_get_by_index::<Option<i64>>(0)?,
            row.try_get_by_index::<i64>(1)?,
        ) else {
            break;
        };
        updated += db
            .execute_raw(Statement::from_sql_and_values(
                backend,
                &update,
                vec![lower.into(), upper.into()],
            ))
            .await?
            .rows_affected();
        done += rows;
        lower = upper;
        tracing::info!(
            target: "operation_runs_migration::progress",
            table,
            column = reference.canonical,
            done,
            total,
            "backfill progress"
        );
    }
    tracing::info!(
        table,
        column = reference.canonical,
        updated,
        "backfilled canonical references"
    );
    Ok(())
}

/// Runs the backfill of cutover step 3 in batches of `batch_rows` rows (at least 1): what the
/// migration does with a batch size of 50 000. Exposed so tests and benchmarks can exercise the
/// batching; does nothing when the legacy schema is already gone.
///
/// # Errors
/// Any database error, or a backend other than PostgreSQL and SQLite.
pub async fn backfill_references<C: ConnectionTrait + ?Sized>(
    db: &C,
    batch_rows: u64,
) -> Result<(), DbErr> {
    sql::flavor(db)?;
    if !sql::table_exists(db, INVENTORY_SYNC_RUNS).await? {
        return Ok(());
    }
    let batch = <i64 as TryFrom<u64>>::try_from(Ord::max(batch_rows, 1)).unwrap_or(i64::MAX);
    for reference in &REFERENCES {
        if sql::column_exists(db, reference.table, reference.legacy).await? {
            backfill(db, reference, batch).await?;
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        backfill_references(manager.get_connection(), BATCH_ROWS).await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}
