#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub use sea_orm_migration::prelude::*;

mod canonical;
#[cfg(feature = "fixtures")]
pub mod fixtures;
mod gate;
mod legacy_rows;
mod live;
mod m20260101_000001_create_baseline_schema;
mod m20260212_000001_canonicalize_run_types;
mod m20260212_000002_add_finding_operation_run_refs;
mod m20260212_000003_backfill_operation_run_refs;
mod m20260212_000004_drop_legacy_reference_columns;
mod m20260212_000005_drop_legacy_run_tables;
mod m20260212_000006_canonical_run_indexes;
mod m20260301_000001_create_api_tokens;
mod mysql;
mod mysql_legacy;
mod names;
mod preflight;
mod sql;
mod sqlite;
mod step;

pub use canonical::{LEGACY_TYPE_SPELLINGS, canonical_type};
pub use gate::{Applied, CutoverError, DataLoss, up_checked};
pub use m20260212_000003_backfill_operation_run_refs::{ReferenceBackfill, backfill_references};
pub use preflight::{
    BridgeRejection, BrokenForeignKey, DuplicateIdentity, LegacyTableStats, MAX_LISTED_IDS,
    PreflightReport, ReferenceStats, RejectedBridge, RowClassStats, TypeStats, preflight,
    undeclared_counts,
};

/// The current UTC time as a SQLite expression, in exactly the text format SeaORM/sqlx writes a
/// bound `chrono::DateTime<Utc>` (RFC 3339, `+00:00`, fraction only when non-zero:
/// `2026-02-12T10:11:12.345+00:00`), so text comparisons with bound times order correctly.
pub const SQLITE_UTC_NOW: &str =
    "(replace(strftime('%Y-%m-%dT%H:%M:%f', 'now'), '.000', '') || '+00:00')";

/// The migration history: the pre-cutover baseline, the six cutover steps, then the API tokens
/// of the monitoring server.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            step::migration(m20260101_000001_create_baseline_schema::Migration),
            step::migration(m20260212_000001_canonicalize_run_types::Migration),
            step::migration(m20260212_000002_add_finding_operation_run_refs::Migration),
            step::migration(m20260212_000003_backfill_operation_run_refs::Migration),
            step::migration(m20260212_000004_drop_legacy_reference_columns::Migration),
            step::migration(m20260212_000005_drop_legacy_run_tables::Migration),
            step::migration(m20260212_000006_canonical_run_indexes::Migration),
            step::migration(m20260301_000001_create_api_tokens::Migration),
        ]
    }
}
