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
use crate::sqlite;
use crate::step::{Mode, Step};
use sea_orm_migration::SchemaManagerConnection;
use sea_orm_migration::prelude::*;

/// Drops the legacy reference columns.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl Step for Migration {
    /// Outside the migrator's transaction: on PostgreSQL each `ALTER TABLE` takes its lock under
    /// a short lock timeout, retried ([`live::short_lock`]); SQLite rebuilds in one transaction
    /// from [`live::begin_if_sqlite`].
    const MODE: Mode = Mode::Live("before-step-4");

    async fn up(&self, db: &SchemaManagerConnection<'_>, flavor: Flavor) -> Result<(), DbErr> {
        match flavor {
            // Dropping a column drops its index with it; MariaDB rebuilds the table online.
            Flavor::Postgres | Flavor::MySql => {
                for (table, column) in LEGACY_REFERENCE_COLUMNS {
                    live::alter_table(db, table, &format!("DROP COLUMN IF EXISTS {column}"))
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
                    sqlite::rebuild_table(
                        db,
                        "inventory_items",
                        "inventory_items__rebuild",
                        &sql::inventory_items_table(
                            Flavor::Sqlite,
                            "inventory_items__rebuild",
                            false,
                        ),
                        sql::INVENTORY_ITEMS_COLUMNS,
                        &sql::inventory_items_indexes(),
                    )
                    .await?;
                }
                if sql::column_exists(db, "findings", "baseline_run_id").await?
                    || sql::column_exists(db, "findings", "current_run_id").await?
                {
                    sqlite::rebuild_findings(db, false, true).await?;
                }
            }
        }
        Ok(())
    }

    async fn down(&self, db: &SchemaManagerConnection<'_>, flavor: Flavor) -> Result<(), DbErr> {
        for (table, column) in LEGACY_REFERENCE_COLUMNS {
            match flavor {
                Flavor::Postgres | Flavor::MySql => {
                    live::alter_table(
                        db,
                        table,
                        &format!("ADD COLUMN IF NOT EXISTS {column} BIGINT NULL"),
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
        for (table, column) in LEGACY_REFERENCE_COLUMNS {
            live::short_lock(db, &sql::column_index(table, column)).await?;
        }
        Ok(())
    }
}
