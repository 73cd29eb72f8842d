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

use crate::sql::{self, Flavor};
use sea_orm_migration::prelude::*;

/// Adds the canonical finding references.
#[derive(DeriveMigrationName)]
pub struct Migration;

const COLUMNS: [&str; 2] = ["baseline_operation_run_id", "current_operation_run_id"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let flavor = sql::flavor(db)?;
        for column in COLUMNS {
            match flavor {
                Flavor::Postgres => {
                    db.execute_unprepared(&format!(
                        "ALTER TABLE findings ADD COLUMN IF NOT EXISTS {column} BIGINT NULL"
                    ))
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

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match sql::flavor(db)? {
            Flavor::Postgres => {
                // Dropping a column drops any index and foreign key on it.
                for column in COLUMNS {
                    db.execute_unprepared(&format!(
                        "ALTER TABLE findings DROP COLUMN IF EXISTS {column}"
                    ))
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
                let mut columns = sql::FINDINGS_COMMON_COLUMNS.to_vec();
                let mut indexes = vec![sql::findings_tenant_index()];
                if legacy {
                    columns.extend(["baseline_run_id", "current_run_id"]);
                    indexes.extend(sql::findings_legacy_indexes());
                }
                sql::rebuild_sqlite_table(
                    db,
                    "findings",
                    "findings__rebuild",
                    &sql::findings_table(Flavor::Sqlite, "findings__rebuild", legacy, false),
                    &columns,
                    &indexes,
                )
                .await
            }
        }
    }
}
