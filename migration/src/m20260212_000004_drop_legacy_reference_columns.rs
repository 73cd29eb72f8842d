//! Cutover step 4: drops `inventory_items.last_seen_run_id`, `findings.baseline_run_id` and
//! `findings.current_run_id`.
//!
//! On SQLite the indexed columns cannot be dropped in place, so both tables are rebuilt with
//! SQLite's table-rebuild procedure (new table, copy, drop, rename, recreate the indexes, check
//! the foreign keys) inside the migration's transaction. Step 1 already refused to start the
//! cutover on rows breaking those foreign keys; the same check runs here first, for databases
//! whose first steps were applied without it, so the error names the rows before any rebuild.
//!
//! **Destructive.** The legacy values are gone after this step; `down` brings the columns back
//! empty (null), it cannot bring their data back. Run the preflight first to see which references
//! did not survive the backfill.

use crate::live;
use crate::names::LEGACY_REFERENCE_COLUMNS;
use crate::sql::{self, Flavor};
use sea_orm_migration::SchemaManagerConnection;
use sea_orm_migration::prelude::*;

/// Drops the legacy reference columns.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// On PostgreSQL each `ALTER TABLE` takes its lock under a short lock timeout, retried
    /// ([`live::short_lock`]); SQLite rebuilds in one transaction from
    /// [`live::begin_if_sqlite`].
    fn use_transaction(&self) -> Option<bool> {
        Some(false)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        live::pause_point("before-step-4").await;
        let transaction = live::begin_if_sqlite(manager).await?;
        up(live::conn(manager, &transaction)).await?;
        live::commit(transaction).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let transaction = live::begin_if_sqlite(manager).await?;
        down(live::conn(manager, &transaction)).await?;
        live::commit(transaction).await
    }
}

async fn up(db: &SchemaManagerConnection<'_>) -> Result<(), DbErr> {
    match sql::flavor(db)? {
        Flavor::Postgres => {
            // Dropping a column drops its index with it.
            for (table, column) in LEGACY_REFERENCE_COLUMNS {
                live::short_lock(
                    db,
                    &format!("ALTER TABLE {table} DROP COLUMN IF EXISTS {column}"),
                )
                .await?;
            }
        }
        Flavor::MySql => {
            // Dropping a column drops its index with it; the table is rebuilt online.
            for (table, column) in LEGACY_REFERENCE_COLUMNS {
                live::short_lock(
                    db,
                    &format!(
                        "ALTER TABLE {table} DROP COLUMN IF EXISTS {column}, \
                         ALGORITHM=INPLACE, LOCK=NONE"
                    ),
                )
                .await?;
            }
        }
        Flavor::Sqlite => {
            sql::refuse_cutover_on_foreign_key_breaks(
                db,
                "the operation runs cutover cannot drop the legacy reference columns",
            )
            .await?;
            if sql::column_exists(db, "inventory_items", "last_seen_run_id").await? {
                sql::rebuild_sqlite_table(
                    db,
                    "inventory_items",
                    "inventory_items__rebuild",
                    &sql::inventory_items_table(Flavor::Sqlite, "inventory_items__rebuild", false),
                    sql::INVENTORY_ITEMS_COLUMNS,
                    &sql::inventory_items_indexes(),
                )
                .await?;
            }
            if sql::column_exists(db, "findings", "baseline_run_id").await?
                || sql::column_exists(db, "findings", "current_run_id").await?
            {
                let mut columns = sql::FINDINGS_COMMON_COLUMNS.to_vec();
                columns.extend(["baseline_operation_run_id", "current_operation_run_id"]);
                let mut indexes = vec![sql::findings_tenant_index()];
                indexes.extend(sql::findings_canonical_indexes());
                sql::rebuild_sqlite_table(
                    db,
                    "findings",
                    "findings__rebuild",
                    &sql::findings_table(Flavor::Sqlite, "findings__rebuild", false, true),
                    &columns,
                    &indexes,
                )
                .await?;
            }
        }
    }
    Ok(())
}

async fn down(db: &SchemaManagerConnection<'_>) -> Result<(), DbErr> {
    let flavor = sql::flavor(db)?;
    for (table, column) in LEGACY_REFERENCE_COLUMNS {
        match flavor {
            Flavor::Postgres => {
                live::short_lock(
                    db,
                    &format!("ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} BIGINT NULL"),
                )
                .await?;
            }
            Flavor::MySql => {
                live::short_lock(
                    db,
                    &format!(
                        "ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} BIGINT NULL, \
                         ALGORITHM=INPLACE, LOCK=NONE"
                    ),
                )
                .await?;
            }
            Flavor::Sqlite => {
                if !sql::column_exists(db, table, column).await? {
                    db.execute_unprepared(&format!(
                        "ALTER TABLE {table} ADD COLUMN {column} BIGINT NULL"
                    ))
                    .await?;
                }
            }
        }
    }
    let mut indexes = vec![
        "CREATE INDEX IF NOT EXISTS inventory_items_last_seen_run_id_idx \
             ON inventory_items (last_seen_run_id)"
            .to_owned(),
    ];
    indexes.extend(sql::findings_legacy_indexes());
    for index in indexes {
        live::short_lock(db, &index).await?;
    }
    Ok(())
}
