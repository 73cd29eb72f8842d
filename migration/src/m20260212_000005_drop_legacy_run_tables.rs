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
use crate::sql::{self, Flavor};
use crate::step::{Mode, Step};
use sea_orm_migration::SchemaManagerConnection;
use sea_orm_migration::prelude::*;

/// Drops the legacy run tables.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl Step for Migration {
    /// Outside the migrator's transaction: on PostgreSQL each `DROP TABLE` takes its lock under
    /// a short lock timeout, retried ([`live::short_lock`]); SQLite gets one transaction from
    /// [`live::begin_if_sqlite`].
    const MODE: Mode = Mode::Live("before-step-5");

    async fn up(&self, db: &SchemaManagerConnection<'_>, _: Flavor) -> Result<(), DbErr> {
        for table in LEGACY_RUN_TABLES {
            live::short_lock(db, &format!("DROP TABLE IF EXISTS {table}")).await?;
        }
        Ok(())
    }

    async fn down(&self, db: &SchemaManagerConnection<'_>, flavor: Flavor) -> Result<(), DbErr> {
        for statement in sql::legacy_run_tables(flavor) {
            live::short_lock(db, &statement).await?;
        }
        Ok(())
    }
}
