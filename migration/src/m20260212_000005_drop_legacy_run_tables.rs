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

use crate::names::LEGACY_RUN_TABLES;
use crate::sql;
use sea_orm_migration::prelude::*;

/// Drops the legacy run tables.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        sql::flavor(db)?;
        let drops: Vec<String> = LEGACY_RUN_TABLES
            .iter()
            .map(|table| format!("DROP TABLE IF EXISTS {table}"))
            .collect();
        sql::exec_all(db, &drops).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        sql::exec_all(db, &sql::legacy_run_tables(sql::flavor(db)?)).await
    }
}
