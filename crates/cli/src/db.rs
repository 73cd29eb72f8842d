//! Opening the database: URL checks, SQLite settings for several processes, the migration gate.

use crate::error::{CliError, CliResult};
use operation_runs_domain::RunTypeRegistry;
use operation_runs_migration::Migrator;
pub use operation_runs_sea_orm::redact_url;
use operation_runs_sea_orm::{
    DatabaseTarget, DatabaseUrl, SQLITE_BUSY_TIMEOUT, SeaOrmStore, StoreError,
};
use operation_runs_service::{OperationRunService, ServicePorts};
use sea_orm::{Database, DatabaseConnection};
use sea_orm_migration::{MigrationStatus, MigratorTrait, SchemaManager};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How long to keep retrying a PostgreSQL or MariaDB server that refuses connections.
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

/// The URL, parsed by the store; an unsupported one is refused with the kinds the CLI takes.
pub fn parse_url(url: &str) -> CliResult<DatabaseUrl> {
    DatabaseUrl::parse(url).map_err(|_| {
        CliError::error(format!(
            "unsupported database URL `{}`: use sqlite://FILE?mode=rwc, postgres://USER@HOST/DATABASE or mysql://USER@HOST/DATABASE (MariaDB)",
            redact_url(url)
        ))
    })
}

/// The file a SQLite URL names, if that file does not exist.
pub fn missing_sqlite_file(url: &DatabaseUrl) -> Option<PathBuf> {
    url.sqlite_file()
        .filter(|path| !path.exists())
        .map(Path::to_path_buf)
}

/// A missing SQLite file: commands that need an existing database say how to create it; a
/// migration that cannot create it names the missing directory.
fn no_such_file(shown: &str, path: &Path, purpose: Purpose) -> CliError {
    let relative = if path.is_relative() {
        " (a relative path is read from the current directory)"
    } else {
        ""
    };
    let directory = path.parent().filter(|d| !d.as_os_str().is_empty());
    match (purpose, directory) {
        (Purpose::Migrate, Some(dir)) if !dir.exists() => CliError::error(format!(
            "cannot open database `{shown}`: the directory {} does not exist{relative}",
            dir.display()
        )),
        (Purpose::Migrate, _) => CliError::error(format!(
            "cannot open database `{shown}`: cannot create the SQLite file {}{relative}",
            path.display()
        )),
        (Purpose::Use, _) => CliError::error(format!(
            "cannot open database `{shown}`: the SQLite file {} does not exist{relative}; create \
             it with `oprun migrate up`",
            path.display()
        )),
    }
}

/// The one-line reason a connection failed, with what to do about it where we know.
fn open_error(
    url: &DatabaseUrl,
    purpose: Purpose,
    reason: &str,
    acquire_timeout: Duration,
) -> CliError {
    let shown = url.redacted();
    if reason.contains("timed out") {
        return CliError::error(format!(
            "cannot open database `{shown}`: no connection within {}s (is the server running and reachable?)",
            acquire_timeout.as_secs()
        ));
    }
    if let Some(path) = missing_sqlite_file(url) {
        return no_such_file(&shown, &path, purpose);
    }
    // PostgreSQL: `database "ops" does not exist`; migrations create tables, not databases.
    if let Some(name) = reason
        .split_once("database \"")
        .and_then(|(_, rest)| rest.split_once("\" does not exist"))
        .map(|(name, _)| name)
    {
        return CliError::error(format!(
            "cannot open database `{shown}`: the database `{name}` does not exist on the server; \
             create it (`createdb {name}`, or CREATE DATABASE \"{name}\"), then run `oprun migrate up`"
        ));
    }
    let reason = reason.trim_start_matches("Connection Error: ");
    CliError::error(format!("cannot open database `{shown}`: {reason}"))
}

/// Connects, after checking that the URL names a supported backend.
///
/// Only [`Purpose::Migrate`] creates a missing SQLite file (whatever the URL's `mode`): for
/// any other command a new file could only be refused for its pending migrations, and would be
/// left behind empty.
pub async fn connect(url: &str, purpose: Purpose) -> CliResult<DatabaseConnection> {
    let url = parse_url(url)?;
    let mut options = url.connect_options();
    let target = url.target();
    // A refused PostgreSQL connection is retried until the acquire timeout: long enough for a
    // server that is starting, short enough for a typo to surface.
    let acquire_timeout = if target.is_sqlite() {
        SQLITE_BUSY_TIMEOUT + Duration::from_secs(5)
    } else {
        POSTGRES_CONNECT_TIMEOUT
    };
    options.acquire_timeout(acquire_timeout);
    match (target, purpose) {
        // The store keeps the one connection that holds the database.
        (DatabaseTarget::SqliteMemory, _) => {}
        (DatabaseTarget::SqliteFile, Purpose::Migrate) => {
            options.max_connections(1).map_sqlx_sqlite_opts(|o| {
                SeaOrmStore::shared_sqlite_file(o).create_if_missing(true)
            });
        }
        (DatabaseTarget::SqliteFile, Purpose::Use) => {
            if let Some(path) = missing_sqlite_file(&url) {
                return Err(no_such_file(&url.redacted(), &path, purpose));
            }
            options.max_connections(4).map_sqlx_sqlite_opts(|o| {
                SeaOrmStore::shared_sqlite_file(o).create_if_missing(false)
            });
        }
        _ => {
            options.max_connections(4);
        }
    }
    Database::connect(options)
        .await
        .map_err(|e| open_error(&url, purpose, &e.to_string(), acquire_timeout))
}

/// The store on an open connection, refusing a database with pending migrations (the store's
/// own check).
pub async fn store(conn: DatabaseConnection) -> CliResult<SeaOrmStore> {
    SeaOrmStore::open(conn).await.map_err(|e| match e {
        StoreError::PendingMigrations(pending) => CliError::error(format!(
            "the database has {} pending migration(s) (next: {}); run `oprun migrate up` first",
            pending.len(),
            pending.first().map_or("?", String::as_str)
        )),
        unsupported @ StoreError::UnsupportedServer { .. } => {
            CliError::error(unsupported.to_string())
        }
        other => CliError::error(format!("cannot read the migration status: {other}")),
    })
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
    /// The use cases over an open store, allowing the built-in run types.
    pub fn new(store: SeaOrmStore) -> Self {
        Self::with_registry(store, RunTypeRegistry::with_builtins())
    }

    /// The use cases over an open store, allowing the types of `registry`.
    pub fn with_registry(store: SeaOrmStore, registry: RunTypeRegistry) -> Self {
        let store = Arc::new(store);
        let service = OperationRunService::new(ServicePorts::from_store(store.clone()), registry);
        Self { store, service }
    }
}

/// Connects and refuses a database with pending migrations.
pub async fn open(url: &str) -> CliResult<App> {
    let conn = connect(url, Purpose::Use).await?;
    Ok(App::new(store(conn).await?))
}

/// [`open`], allowing the host run types of `--types` too.
pub async fn open_with_types(global: &crate::cli::GlobalArgs) -> CliResult<App> {
    let registry = crate::registry::load(global)?;
    let conn = connect(&global.database_url, Purpose::Use).await?;
    Ok(App::with_registry(store(conn).await?, registry))
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
