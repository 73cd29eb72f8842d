//! Cutover step 1: rewrites every dotted `operation_runs.type` to its canonical id
//! ([`LEGACY_TYPE_SPELLINGS`](crate::LEGACY_TYPE_SPELLINGS), any other dot → underscore) in one
//! statement. `updated_at` is left alone: it is the heartbeat of running runs, and a type rewrite
//! must not make a stale run look alive.
//!
//! `down` is a no-op: which spelling a run had before is not recorded, so the rewrite cannot be
//! undone (the canonical types stay, and the later schema accepts them).

use crate::canonical::canonical_type_sql;
use crate::sql;
use sea_orm_migration::prelude::*;

/// Canonicalizes stored run types.
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
        let rewritten = db
            .execute_unprepared(&format!(
                "UPDATE operation_runs SET type = {} WHERE type LIKE '%.%'",
                canonical_type_sql("type")
            ))
            .await?
            .rows_affected();
        tracing::info!(rewritten, "canonicalized dotted run types");
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}
