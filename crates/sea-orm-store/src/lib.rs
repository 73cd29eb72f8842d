#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod backup;
mod convert;
mod directory;
mod entity;
mod error;
mod findings;
mod inventory;
mod mysql;
mod provisioning;
mod runs;
mod schema;
mod sql;
mod tokens;
mod url;

pub use error::{StoreError, redact_url};
pub use mysql::MIN_MARIADB;
pub use schema::REQUIRED_MIGRATIONS;
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
pub use tokens::ApiToken;
pub use url::{DatabaseTarget, DatabaseUrl, UrlError};

/// How long a SQLite writer waits for another connection's (or process's) write lock.
pub const SQLITE_BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A pooled connection idle at least this long is pinged before it is handed out; a busy one
/// is not (see [`SeaOrmStore::connect_options`]).
pub const PING_IF_IDLE_FOR: std::time::Duration = std::time::Duration::from_secs(30);

use operation_runs_ports::PortError;
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend};
use sql::Dialect;

/// The operation-runs ports on a SeaORM connection (SQLite, PostgreSQL or MariaDB).
///
/// Cheap to clone: clones share the connection pool. The schema must have been created by the
/// migration crate (`operation-runs-migration`) before the store is used: [`SeaOrmStore::connect`]
/// and [`SeaOrmStore::open`] refuse a database where any of [`REQUIRED_MIGRATIONS`] is pending.
#[derive(Debug, Clone)]
pub struct SeaOrmStore {
    conn: DatabaseConnection,
}

impl SeaOrmStore {
    /// Connects to `url` (parsed as a [`DatabaseUrl`]): `sqlite://path/to/runs.db?mode=rwc` or
    /// `postgres://user:password@host:5432/database` or `mysql://user:password@host:3306/database`
    /// (MariaDB [`MIN_MARIADB`] or later), with [`SeaOrmStore::connect_options`], and
    /// checks the schema as [`SeaOrmStore::open`] does. To migrate first (or for
    /// `sqlite::memory:`, which is new and empty on every connect), connect with
    /// [`SeaOrmStore::connect_options`], migrate, then [`SeaOrmStore::open`] the connection.
    ///
    /// # Errors
    /// [`StoreError::UnsupportedUrl`] for any other kind of URL, [`StoreError::Connect`] when the
    /// database cannot be reached or opened (the message never contains the password),
    /// [`StoreError::UnsupportedServer`], [`StoreError::PendingMigrations`] or
    /// [`StoreError::MigrationHistory`] as [`SeaOrmStore::open`].
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let url = DatabaseUrl::parse(url)?;
        let conn = Database::connect(url.connect_options())
            .await
            .map_err(|source| StoreError::Connect {
                backend: url.target().backend_name(),
                target: url.redacted(),
                source,
            })?;
        Self::open(conn).await
    }

    /// The store on an open connection (pool), e.g. one opened with custom [`ConnectOptions`]
    /// and just migrated, after checking that every migration the store needs
    /// ([`REQUIRED_MIGRATIONS`]) is recorded as applied. Reads only.
    ///
    /// On a MySQL-family connection it first checks the server: MariaDB [`MIN_MARIADB`] or
    /// later.
    ///
    /// # Errors
    /// [`StoreError::UnsupportedServer`] for a MySQL server or an older MariaDB;
    /// [`StoreError::PendingMigrations`] naming the migrations not applied (all of them on a
    /// new database); [`StoreError::MigrationHistory`] when the record cannot be read.
    pub async fn open(conn: DatabaseConnection) -> Result<Self, StoreError> {
        if conn.get_database_backend() == DbBackend::MySql {
            mysql::check_server(&conn).await?;
        }
        schema::check(&conn).await?;
        Ok(Self { conn })
    }

    /// The connection options [`SeaOrmStore::connect`] uses (see
    /// [`DatabaseUrl::connect_options`]), to adjust (pool size, timeouts) before connecting
    /// yourself and opening the store on the pool with [`SeaOrmStore::open`].
    ///
    /// # Errors
    /// [`StoreError::UnsupportedUrl`] unless the URL is a SQLite, PostgreSQL or MySQL one.
    pub fn connect_options(url: &str) -> Result<ConnectOptions, StoreError> {
        Ok(DatabaseUrl::parse(url)?.connect_options())
    }

    /// The settings of a SQLite file shared by several connections and processes: WAL and a
    /// busy timeout of [`SQLITE_BUSY_TIMEOUT`]. For callers composing their own SQLite options
    /// (SeaORM keeps one options function, so a second `map_sqlx_sqlite_opts` replaces ours).
    #[must_use]
    pub fn shared_sqlite_file(options: SqliteConnectOptions) -> SqliteConnectOptions {
        options
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(SQLITE_BUSY_TIMEOUT)
    }

    /// Wraps an existing connection (pool) **without** checking its schema: for tools and tests
    /// that manage the schema themselves (seeding a database before its cutover, say). An
    /// application opens its store with [`SeaOrmStore::open`] or [`SeaOrmStore::connect`].
    #[must_use]
    pub fn from_connection(conn: DatabaseConnection) -> Self {
        Self { conn }
    }

    /// The underlying connection, e.g. to run the migrations.
    #[must_use]
    pub fn connection(&self) -> &DatabaseConnection {
        &self.conn
    }

    fn dialect(&self) -> Result<Dialect, PortError> {
        match self.conn.get_database_backend() {
            DbBackend::Sqlite => Ok(Dialect::Sqlite),
            DbBackend::Postgres => Ok(Dialect::Postgres),
            DbBackend::MySql => Ok(Dialect::MySql),
            other => Err(StoreError::UnsupportedBackend(other.as_str()).into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn urls_of_other_databases_are_refused_clearly() {
        for url in ["mongodb://root:pw@localhost/runs", "runs.db", ""] {
            let err = SeaOrmStore::connect(url).await.unwrap_err();
            assert!(matches!(err, StoreError::UnsupportedUrl(_)), "{url}: {err}");
            let message = err.to_string();
            assert!(message.contains("sqlite:") && message.contains("postgres://"));
            assert!(message.contains("mysql://"), "{message}");
            assert!(!message.contains(":pw@"), "{message}");
        }
    }

    #[tokio::test]
    async fn an_unreachable_database_is_a_connect_error_naming_it() {
        let url = "sqlite:///no/such/directory/runs.db?mode=rwc";
        let err = SeaOrmStore::connect(url).await.unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Connect {
                    backend: "SQLite",
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            err.to_string().contains("/no/such/directory/runs.db"),
            "{err}"
        );
        assert!(std::error::Error::source(&err).is_some());
    }

    #[tokio::test]
    async fn a_sqlite_file_is_shared_safely_between_processes() {
        use sea_orm::ConnectionTrait;
        let path = std::env::temp_dir().join(format!("oprun-wal-{}.db", std::process::id()));
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let conn = Database::connect(SeaOrmStore::connect_options(&url).unwrap())
            .await
            .unwrap();
        let store = SeaOrmStore::from_connection(conn);
        let pragma = async |name: &str| {
            let sql = format!("PRAGMA {name}");
            let stmt = sea_orm::Statement::from_string(sea_orm::DbBackend::Sqlite, sql);
            store
                .connection()
                .query_one_raw(stmt)
                .await
                .unwrap()
                .unwrap()
        };
        let mode = pragma("journal_mode").await;
        assert_eq!(mode.try_get_by_index::<String>(0).unwrap(), "wal");
        let timeout = pragma("busy_timeout").await;
        assert_eq!(timeout.try_get_by_index::<i64>(0).unwrap(), 30_000);
        store.connection().clone().close().await.unwrap();
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
