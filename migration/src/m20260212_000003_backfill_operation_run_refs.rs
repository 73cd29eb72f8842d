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
//! `done` and `total`: rows of the table examined so far and in all, whether or not they had a
//! reference to map; `mapped`: canonical references written so far). PostgreSQL uses
//! `UPDATE … FROM` with a join; SQLite a correlated subquery, which works on every SQLite version
//! and is planned as index lookups per row. Both update only rows that get a run, so the rows
//! affected are exactly the references mapped. No row is ever inserted into `operation_runs`.
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
        // Only rows whose bridge leads to a run are written: rewriting a null with a null would
        // cost a row write and count as a row affected.
        Flavor::Sqlite => {
            let bridged_run = format!(
                "FROM inventory_sync_runs AS l JOIN operation_runs AS o ON o.id = l.operation_run_id \
                 WHERE l.id = {table}.{legacy}"
            );
            format!(
                "UPDATE {table} SET {canonical} = (SELECT l.operation_run_id {bridged_run}) \
                 WHERE {legacy} IS NOT NULL AND {canonical} IS NULL AND id > ? AND id <= ? \
                 AND EXISTS (SELECT 1 {bridged_run})"
            )
        }
    }
}

/// What the backfill did to one canonical reference column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReferenceBackfill {
    /// The table holding the reference.
    pub table: &'static str,
    /// The canonical reference column.
    pub column: &'static str,
    /// Rows of the table examined (all of them, whether or not they had anything to map).
    pub examined: u64,
    /// Rows whose canonical reference was written (null before, an existing run now).
    pub mapped: u64,
}

/// Backfills one reference in primary-key batches of `batch` rows.
pub(crate) async fn backfill<C: ConnectionTrait + ?Sized>(
    db: &C,
    reference: &Reference,
    batch: i64,
) -> Result<ReferenceBackfill, DbErr> {
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
    let (mut lower, mut done, mut mapped) = (0_i64, 0_i64, 0_u64);
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
        mapped += db
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
            mapped,
            "backfill progress"
        );
    }
    let examined = <u64 as TryFrom<i64>>::try_from(done).unwrap_or(0);
    tracing::info!(
        table,
        column = reference.canonical,
        examined,
        mapped,
        "backfilled canonical references"
    );
    Ok(ReferenceBackfill {
        table,
        column: reference.canonical,
        examined,
        mapped,
    })
}

/// Runs the backfill of cutover step 3 in batches of `batch_rows` rows (at least 1): what the
/// migration does with a batch size of 50 000. Exposed so tests and benchmarks can exercise the
/// batching; does nothing (and returns nothing) when the legacy schema is already gone.
/// Returns, per reference column still to backfill, the rows examined and the references mapped:
/// the numbers its log events carry.
///
/// # Errors
/// Any database error, or a backend other than PostgreSQL and SQLite.
pub async fn backfill_references<C: ConnectionTrait + ?Sized>(
    db: &C,
    batch_rows: u64,
) -> Result<Vec<ReferenceBackfill>, DbErr> {
    sql::flavor(db)?;
    let mut done = Vec::new();
    if !sql::table_exists(db, INVENTORY_SYNC_RUNS).await? {
        return Ok(done);
    }
    let batch = <i64 as TryFrom<u64>>::try_from(Ord::max(batch_rows, 1)).unwrap_or(i64::MAX);
    for reference in &REFERENCES {
        if sql::column_exists(db, reference.table, reference.legacy).await? {
            done.push(backfill(db, reference, batch).await?);
        }
    }
    Ok(done)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        backfill_references(manager.get_connection(), BATCH_ROWS).await?;
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Migrator;
    use sea_orm_migration::sea_orm::{ConnectOptions, Database};
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};
    use tracing::field::{Field, Visit};
    use tracing::instrument::WithSubscriber;
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    /// Every event of this crate: (message, fields as text).
    type Events = Arc<Mutex<Vec<(String, BTreeMap<String, String>)>>>;

    struct Capture(Events);

    #[derive(Default)]
    struct Fields(BTreeMap<String, String>);

    impl Visit for Fields {
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.insert(field.name().to_owned(), value.to_owned());
        }
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.insert(field.name().to_owned(), format!("{value:?}"));
        }
    }

    impl Subscriber for Capture {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            if !event
                .metadata()
                .target()
                .starts_with("operation_runs_migration")
            {
                return;
            }
            let mut fields = Fields::default();
            event.record(&mut fields);
            let message = fields.0.remove("message").unwrap_or_default();
            self.0.lock().unwrap().push((message, fields.0));
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    fn field<'a>(fields: &'a BTreeMap<String, String>, name: &str) -> &'a str {
        fields.get(name).map_or("<absent>", String::as_str)
    }

    /// Four findings, one of them mappable: the log and the result say 4 rows examined and 1
    /// reference mapped, not "updated" for the rows that stay null.
    #[tokio::test]
    async fn the_backfill_reports_rows_examined_and_references_mapped() {
        let mut options = ConnectOptions::new("sqlite::memory:");
        options.max_connections(1).sqlx_logging(false);
        let db = Database::connect(options).await.unwrap();
        Migrator::up(&db, Some(1)).await.unwrap();
        sql::exec_all(
            &db,
            &[
                "INSERT INTO workspaces (id, name) VALUES (1, 'w')",
                "INSERT INTO tenants (id, workspace_id, name) VALUES (1, 1, 't')",
                "INSERT INTO operation_runs (id, workspace_id, initiator_name, type, status, \
                 outcome, run_identity_hash) \
                 VALUES (10, 1, 's', 'inventory_sync', 'completed', 'succeeded', 'h')",
                "INSERT INTO inventory_sync_runs (id, workspace_id, tenant_id, status, \
                 operation_run_id) VALUES (100, 1, 1, 'succeeded', 10), \
                 (101, 1, 1, 'succeeded', NULL), (102, 1, 1, 'succeeded', 11)",
                // Mapped; bridge null; bridge dangling; legacy row missing; no reference.
                "INSERT INTO findings (workspace_id, tenant_id, subject_external_id, change, \
                 baseline_run_id) VALUES (1, 1, 'a', 'added', 100), (1, 1, 'b', 'added', 101), \
                 (1, 1, 'c', 'added', 102), (1, 1, 'd', 'added', 999), \
                 (1, 1, 'e', 'added', NULL)",
            ],
        )
        .await
        .unwrap();
        Migrator::up(&db, Some(2)).await.unwrap();

        let events = Events::default();
        let result = backfill_references(&db, 3)
            .with_subscriber(Capture(events.clone()))
            .await
            .unwrap();
        let summary: Vec<(&str, &str, u64, u64)> = result
            .iter()
            .map(|r| (r.table, r.column, r.examined, r.mapped))
            .collect();
        assert_eq!(
            summary,
            [
                ("findings", "baseline_operation_run_id", 5, 1),
                ("findings", "current_operation_run_id", 5, 0),
                ("inventory_items", "last_seen_operation_run_id", 0, 0),
            ]
        );

        let events = events.lock().unwrap().clone();
        let of_baseline: Vec<&(String, BTreeMap<String, String>)> = events
            .iter()
            .filter(|(_, f)| field(f, "column") == "baseline_operation_run_id")
            .collect();
        let shown: Vec<String> = of_baseline
            .iter()
            .map(|(message, f)| {
                format!(
                    "{message}: done={} total={} examined={} mapped={} updated={}",
                    field(f, "done"),
                    field(f, "total"),
                    field(f, "examined"),
                    field(f, "mapped"),
                    field(f, "updated")
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                "backfill progress: done=3 total=5 examined=<absent> mapped=1 updated=<absent>",
                "backfill progress: done=5 total=5 examined=<absent> mapped=1 updated=<absent>",
                "backfilled canonical references: done=<absent> total=<absent> examined=5 \
                 mapped=1 updated=<absent>",
            ]
        );
        assert_eq!(
            sql::scalar_i64(
                &db,
                "SELECT COUNT(baseline_operation_run_id) FROM findings",
                vec![]
            )
            .await
            .unwrap(),
            Some(1)
        );

        // Again: everything examined, nothing left to map.
        let again = backfill_references(&db, 3).await.unwrap();
        assert_eq!((again[0].examined, again[0].mapped), (5, 0));
    }
}
