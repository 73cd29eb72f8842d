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
use sea_orm_migration::prelude::*;

/// Adds the canonical finding references.
#[derive(DeriveMigrationName)]
pub struct Migration;

const COLUMNS: [&str; 2] = ["baseline_operation_run_id", "current_operation_run_id"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// On PostgreSQL each `ALTER TABLE` takes its lock under a short lock timeout, retried
    /// ([`live::short_lock`]); SQLite gets one transaction from [`live::begin_if_sqlite`].
    fn use_transaction(&self) -> Option<bool> {
        Some(false)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        live::pause_point("before-step-2").await;
        let transaction = live::begin_if_sqlite(manager).await?;
        let db = live::conn(manager, &transaction);
        let flavor = sql::flavor(db)?;
        for column in COLUMNS {
            match flavor {
                Flavor::Postgres => {
                    live::short_lock(
                        db,
                        &format!(
                            "ALTER TABLE findings ADD COLUMN IF NOT EXISTS {column} BIGINT NULL"
                        ),
                    )
                    .await?;
                }
                // Nullable columns at the end: added in place, no rebuild. The foreign keys
                // come after the backfill (next step), as on PostgreSQL.
                Flavor::MySql => {
                    live::short_lock(
                        db,
                        &format!(
                            "ALTER TABLE findings ADD COLUMN IF NOT EXISTS {column} BIGINT NULL, \
                             ALGORITHM=INPLACE, LOCK=NONE"
                        ),
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
        live::commit(transaction).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let transaction = live::begin_if_sqlite(manager).await?;
        let db = live::conn(manager, &transaction);
        down(db).await?;
        live::commit(transaction).await
    }
}

async fn down(db: &sea_orm_migration::SchemaManagerConnection<'_>) -> Result<(), DbErr> {
    match sql::flavor(db)? {
        Flavor::MySql => {
            // The next step's `down` dropped the foreign keys; dropping a column drops its
            // index.
            for column in COLUMNS {
                live::short_lock(
                    db,
                    &format!(
                        "ALTER TABLE findings DROP COLUMN IF EXISTS {column}, \
                         ALGORITHM=INPLACE, LOCK=NONE"
                    ),
                )
                .await?;
            }
            Ok(())
        }
        Flavor::Postgres => {
            // Dropping a column drops any index and foreign key on it.
            for column in COLUMNS {
                live::short_lock(
                    db,
                    &format!("ALTER TABLE findings DROP COLUMN IF EXISTS {column}"),
                )
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
