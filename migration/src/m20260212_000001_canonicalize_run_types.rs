//! Cutover step 1: rewrites every dotted `operation_runs.type` to its canonical id
//! ([`LEGACY_TYPE_SPELLINGS`](crate::LEGACY_TYPE_SPELLINGS), any other dot → underscore) in one
//! statement. `updated_at` is left alone: it is the heartbeat of running runs, and a type rewrite
//! must not make a stale run look alive.
//!
//! It also rewrites the stored values that break today's rules and have exactly one right
//! answer (see `legacy_rows`): an upper-case identity hash becomes lower case (here, before
//! step 6 resolves duplicate active identities under the unique index), an id in `context`
//! stored as an integer-valued string or float becomes the integer, a running run without
//! `started_at` gets its `created_at`, a completed run without `completed_at` its `updated_at`
//! (or its start, if later). Each class's count is logged. Everything else is left for the
//! tolerant reads, and the preflight reports it.
//!
//! Before anything else it checks what would make the cutover stop halfway: on SQLite, rows that
//! break a foreign key of a table step 4 rebuilds (possible in files written while foreign keys
//! were not enforced), and runs whose `context` is not JSON (step 6 indexes it). If there are any it refuses with an error naming them, and nothing of the
//! cutover has been applied; `oprun preflight` reports the same rows.
//!
//! `down` is a no-op: which spelling a run had before is not recorded, so the rewrite cannot be
//! undone (the canonical types stay, and the later schema accepts them).

use crate::canonical::canonical_type_sql;
use crate::legacy_rows;
use crate::sql::{self, Flavor};
use crate::step::{Mode, Step};
use sea_orm_migration::SchemaManagerConnection;
use sea_orm_migration::prelude::*;

/// Canonicalizes stored run types.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl Step for Migration {
    const MODE: Mode = Mode::Transaction;

    async fn up(&self, db: &SchemaManagerConnection<'_>, _: Flavor) -> Result<(), DbErr> {
        sql::refuse_cutover_on_foreign_key_breaks(db, "the operation runs cutover cannot start")
            .await?;
        legacy_rows::refuse_cutover_on_blocking_rows(db, "the operation runs cutover cannot start")
            .await?;
        let rewritten = db
            .execute_unprepared(&format!(
                "UPDATE operation_runs SET type = {} WHERE type LIKE '%.%'",
                canonical_type_sql("type")
            ))
            .await?
            .rows_affected();
        tracing::info!(rewritten, "canonicalized dotted run types");
        legacy_rows::normalize(db).await?;
        Ok(())
    }

    async fn down(&self, _: &SchemaManagerConnection<'_>, _: Flavor) -> Result<(), DbErr> {
        Ok(())
    }
}
