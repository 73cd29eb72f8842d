//! Opening the database: URL checks, SQLite settings for several processes, the migration gate.

use crate::error::{CliError, CliResult};
use operation_runs_domain::RunTypeRegistry;
use operation_runs_migration::Migrator;
use operation_runs_ports::SystemClock;
pub use operation_runs_sea_orm::redact_url;
use operation_runs_sea_orm::{SQLITE_BUSY_TIMEOUT, SeaOrmStore};
use operation_runs_service::{OperationRunService, ServicePorts};
use sea_orm::{Database, DatabaseConnection};
use sea_orm_migration::{MigrationStatus, MigratorTrait, SchemaManager};
use std::sync::Arc;
use std::time::Duration;

/// How long to keep retrying a PostgreSQL server that refuses connections.
const POSTGRES_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What a connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Migrating: a missing SQLite file is created, and SQLite gets a single connection,
    /// because per-connection settings the migrator changes (foreign key checks while
    /// `fresh` drops tables) must hold for every statement.
    Migrate,
    /// Everything else: the URL is used as given.
    Use,
}

/// Connects, after checking that the URL names a supported backend.
pub async fn connect(url: &str, purpose: Purpose) -> CliResult<DatabaseConnection> {
    let shown = redact_url(url);
    let mut options = SeaOrmStore::connect_options(url).map_err(|_| {
        CliError::error(format!(
            "unsupported database URL `{shown}`: use sqlite://FILE?mode=rwc or postgres://USER@HOST/DATABASE"
        ))
    })?;
    let is_sqlite = url.starts_with("sqlite:");
    // A refused PostgreSQL connection is retried until the acquire timeout: long enough for a
    // server that is starting, short enough for a typo to surface.
    let acquire_timeout = if is_sqlite {
        SQLITE_BUSY_TIMEOUT + Duration::from_secs(5)
    } else {
        POSTGRES_CONNECT_TIMEOUT
    };
    options.acquire_timeout(acquire_timeout);
    if !url.contains(":memory:") {
        options.max_connections(match (purpose, is_sqlite) {
            (Purpose::Migrate, true) => 1,
            _ => 4,
        });
    }
    if is_sqlite && purpose == Purpose::Migrate && !url.contains(":memory:") {
        options
            .map_sqlx_sqlite_opts(|o| SeaOrmStore::shared_sqlite_file(o).create_if_missing(true));
    }
    Database::connect(options).await.map_err(|e| {
        let reason = e.to_string();
        if reason.contains("timed out") {
            CliError::error(format!(
                "cannot open database `{shown}`: no connection within {}s (is the server running and reachable?)",
                acquire_timeout.as_secs()
            ))
        } else {
            CliError::error(format!("cannot open database `{shown}`: {reason}"))
        }
    })
}

/// Refuses a database with pending migrations.
pub async fn ensure_migrated(conn: &DatabaseConnection) -> CliResult {
    let pending = Migrator::get_pending_migrations_read_only(conn)
        .await
        .map_err(|e| CliError::error(format!("cannot read the migration status: {e}")))?;
    match pending.first() {
        None => Ok(()),
        Some(first) => Err(CliError::error(format!(
            "the database has {} pending migration(s) (next: {}); run `oprun migrate up` first",
            pending.len(),
            first.name()
        ))),
    }
}

/// Where a database stands in the migration history, read without writing anything.
#[derive(Debug, Clone)]
pub struct SchemaState {
    /// Names of the applied migrations, oldest first.
    pub applied: Vec<String>,
    /// Names of the pending migrations, oldest first.
    pub pending: Vec<String>,
    /// Whether the first migration (the pre-cutover baseline) is pending.
    pub baseline_pending: bool,
    /// Whether the database holds an `operation_runs` table, recorded in the history or not.
    pub has_runs_table: bool,
}

impl SchemaState {
    /// No schema of ours at all: nothing applied and no run table (an empty database, or one
    /// holding only other applications' tables).
    pub fn is_empty(&self) -> bool {
        self.baseline_pending && !self.has_runs_table
    }

    /// Part-way through the history: some migrations applied, some pending (a real database
    /// before, or in the middle of, the cutover).
    pub fn is_part_way(&self) -> bool {
        !self.applied.is_empty() && !self.pending.is_empty()
    }

    /// A database the history does not describe: the baseline is not recorded, yet the run
    /// table exists (a legacy database the baseline would adopt).
    pub fn is_untracked(&self) -> bool {
        self.baseline_pending && self.has_runs_table
    }
}

/// Reads the migration history and whether the run table exists, creating nothing (not even
/// the migration table).
pub async fn schema_state(conn: &DatabaseConnection) -> CliResult<SchemaState> {
    let migrations = Migrator::get_migration_with_status_read_only(conn)
        .await
        .map_err(|e| CliError::error(format!("cannot read the migration status: {e}")))?;
    let baseline_pending = migrations
        .first()
        .is_some_and(|m| m.status() == MigrationStatus::Pending);
    let (applied, pending): (Vec<_>, Vec<_>) = migrations
        .iter()
        .partition(|m| m.status() == MigrationStatus::Applied);
    let has_runs_table = SchemaManager::new(conn)
        .has_table("operation_runs")
        .await
        .map_err(|e| CliError::error(format!("cannot read the database schema: {e}")))?;
    Ok(SchemaState {
        applied: applied.iter().map(|m| m.name().to_owned()).collect(),
        pending: pending.iter().map(|m| m.name().to_owned()).collect(),
        baseline_pending,
        has_runs_table,
    })
}

/// An open, migrated database with the use cases on top.
pub struct App {
    /// The adapter.
    pub store: Arc<SeaOrmStore>,
    /// The run use cases.
    pub service: OperationRunService,
}

impl App {
    /// The use cases over an open store.
    pub fn new(store: SeaOrmStore) -> Self {
        let store = Arc::new(store);
        let service = OperationRunService::new(
            ServicePorts {
                runs: store.clone(),
                directory: store.clone(),
                inventory: store.clone(),
                findings: store.clone(),
                clock: Arc::new(SystemClock),
            },
            RunTypeRegistry::with_builtins(),
        );
        Self { store, service }
    }
}

/// Connects and refuses a database with pending migrations.
pub async fn open(url: &str) -> CliResult<App> {
    let conn = connect(url, Purpose::Use).await?;
    ensure_migrated(&conn).await?;
    Ok(App::new(SeaOrmStore::from_connection(conn)))
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/ops?sslmode=require"),
            "postgres://app:***@db:5432/ops?sslmode=require"
        );
        assert_eq!(redact_url("postgres://app@db/ops"), "postgres://app@db/ops");
        assert_eq!(
            redact_url("sqlite://oprun.db?mode=rwc"),
            "sqlite://oprun.db?mode=rwc"
        );
    }
}
