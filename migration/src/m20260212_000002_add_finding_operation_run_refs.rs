//! Cutover step 2: adds `findings.baseline_operation_run_id` and `current_operation_run_id`
//! (nullable; on SQLite with their foreign key to `operation_runs`, `ON DELETE SET NULL`).
//!
//! Their indexes, and on PostgreSQL their foreign keys, come with the next step, after the
//! backfill has filled the columns: building an index once, and checking a foreign key with one
//! join, is much cheaper than maintaining them for every row the backfill writes. SQLite cannot
//! add a foreign key to an existing column, so there the columns get theirs here.
//!
//! `down` drops both columns (on SQLite by rebuilding the table, since a column with a foreign
//! key cannot be dropped in place); whatever they held is lost.

use crate::live;
use crate::sql::{self, Flavor};
use crate::sqlite;
use crate::step::{Mode, Step};
use sea_orm_migration::SchemaManagerConnection;
use sea_orm_migration::prelude::*;

/// Adds the canonical finding references.
#[derive(DeriveMigrationName)]
pub struct Migration;

const COLUMNS: [&str; 2] = sql::FINDINGS_CANONICAL_REFERENCES;

#[async_trait::async_trait]
impl Step for Migration {
    /// Outside the migrator's transaction: on PostgreSQL each `ALTER TABLE` takes its lock under
    /// a short lock timeout, retried ([`live::short_lock`]); SQLite gets one transaction from
    /// [`live::begin_if_sqlite`].
    const MODE: Mode = Mode::Live("before-step-2");

    async fn up(&self, db: &SchemaManagerConnection<'_>, flavor: Flavor) -> Result<(), DbErr> {
        for column in COLUMNS {
            match flavor {
                // On MariaDB nullable columns at the end are added in place, no rebuild. The
                // foreign keys come after the backfill (next step) on both.
                Flavor::Postgres | Flavor::MySql => {
                    live::alter_table(
                        db,
                        "findings",
                        &format!("ADD COLUMN IF NOT EXISTS {column} BIGINT NULL"),
                    )
                    .await?;
                }
                Flavor::Sqlite => {
                    if !sql::column_exists(db, "findings", column).await? {
                        db.execute_unprepared(&format!(
                            "ALTER TABLE findings ADD COLUMN {column} BIGINT NULL \
                             REFERENCES operation_runs (id) ON DELETE SET NULL"
                        ))
                        .await?;
                    }
                }
            }
        }
        Ok(())
    }

    async fn down(&self, db: &SchemaManagerConnection<'_>, flavor: Flavor) -> Result<(), DbErr> {
        match flavor {
            // Dropping a column drops its index, and on PostgreSQL its foreign key (on MariaDB
            // the next step's `down` dropped those).
            Flavor::Postgres | Flavor::MySql => {
                for column in COLUMNS {
                    live::alter_table(db, "findings", &format!("DROP COLUMN IF EXISTS {column}"))
                        .await?;
                }
                Ok(())
            }
            Flavor::Sqlite => {
                if !sql::column_exists(db, "findings", COLUMNS[0]).await?
                    && !sql::column_exists(db, "findings", COLUMNS[1]).await?
                {
                    return Ok(());
                }
                let legacy = sql::column_exists(db, "findings", "baseline_run_id").await?;
                sqlite::rebuild_findings(db, legacy, false).await
            }
        }
    }
}
