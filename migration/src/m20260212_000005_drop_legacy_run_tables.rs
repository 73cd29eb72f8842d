//! Cutover step 5: drops `inventory_sync_runs`, `entra_group_sync_runs` and
//! `backup_schedule_runs`.
//!
//! Nothing references them any more (the previous steps moved every reference to
//! `operation_runs`), and no canonical run is created from them: a legacy row whose bridge is
//! null or dangling has no canonical history.
//!
//! **Destructive.** The legacy rows are gone after this step; `down` recreates the three tables
//! empty, it cannot bring their rows back. Run the preflight first to see which legacy runs have
//! no canonical counterpart.

use crate::live;
use crate::names::LEGACY_RUN_TABLES;
use crate::sql;
use sea_orm_migration::prelude::*;

/// Drops the legacy run tables.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// On PostgreSQL each `DROP TABLE` takes its lock under a short lock timeout, retried
    /// ([`live::short_lock`]); SQLite gets one transaction from [`live::begin_if_sqlite`].
    fn use_transaction(&self) -> Option<bool> {
        Some(false)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        live::pause_point("before-step-5").await;
        let transaction = live::begin_if_sqlite(manager).await?;
        let db = live::conn(manager, &transaction);
        for table in LEGACY_RUN_TABLES {
            live::short_lock(db, &format!("DROP TABLE IF EXISTS {table}")).await?;
        }
        live::commit(transaction).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let transaction = live::begin_if_sqlite(manager).await?;
        let db = live::conn(manager, &transaction);
        for statement in sql::legacy_run_tables(sql::flavor(db)?) {
            live::short_lock(db, &statement).await?;
        }
        live::commit(transaction).await
    }
}
