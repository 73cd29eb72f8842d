//! The schema check: the store refuses a database whose migrations it needs are not all
//! applied.
//!
//! The store does not depend on the migration crate (the migration history depends on nothing
//! of ours, and an adapter must not pull in the migrator to run): it names the migrations
//! whose schema it was written against, and reads the migrator's own record of what is applied.
//! A test in the workspace's cross-crate tests keeps the list equal to the history.

use crate::StoreError;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};

/// The migrations whose schema this store reads and writes, oldest first: a database where any
/// of them is not recorded as applied is refused.
pub const REQUIRED_MIGRATIONS: [&str; 8] = [
    "m20260101_000001_create_baseline_schema",
    "m20260212_000001_canonicalize_run_types",
    "m20260212_000002_add_finding_operation_run_refs",
    "m20260212_000003_backfill_operation_run_refs",
    "m20260212_000004_drop_legacy_reference_columns",
    "m20260212_000005_drop_legacy_run_tables",
    "m20260212_000006_canonical_run_indexes",
    "m20260301_000001_create_api_tokens",
];

/// The table in which sea-orm-migration records applied migrations.
const MIGRATION_TABLE: &str = "seaql_migrations";

async fn applied(conn: &DatabaseConnection) -> Result<Vec<String>, DbErr> {
    let backend = conn.get_database_backend();
    let exists = match backend {
        DbBackend::Postgres => {
            "SELECT COUNT(*) FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = $1"
        }
        DbBackend::MySql => {
            "SELECT COUNT(*) FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_name = ?"
        }
        _ => "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
    };
    let found = conn
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            exists,
            [MIGRATION_TABLE.into()],
        ))
        .await?
        .map(|row| row.try_get_by_index::<i64>(0))
        .transpose()?
        .unwrap_or(0);
    if found == 0 {
        return Ok(Vec::new());
    }
    conn.query_all_raw(Statement::from_string(
        backend,
        format!("SELECT version FROM {MIGRATION_TABLE}"),
    ))
    .await?
    .iter()
    .map(|row| row.try_get_by_index::<String>(0))
    .collect()
}

/// The [`REQUIRED_MIGRATIONS`] not recorded as applied on `conn`, oldest first. Reads only.
pub(crate) async fn pending(conn: &DatabaseConnection) -> Result<Vec<String>, StoreError> {
    let applied = applied(conn).await.map_err(StoreError::MigrationHistory)?;
    Ok(REQUIRED_MIGRATIONS
        .iter()
        .filter(|m| !applied.iter().any(|a| a == *m))
        .map(|m| (*m).to_owned())
        .collect())
}

/// Refuses `conn` unless every required migration is applied.
pub(crate) async fn check(conn: &DatabaseConnection) -> Result<(), StoreError> {
    let pending = pending(conn).await?;
    if pending.is_empty() {
        Ok(())
    } else {
        Err(StoreError::PendingMigrations(pending))
    }
}
