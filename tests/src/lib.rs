#![doc = include_str!("../README.md")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use operation_runs_sea_orm::DatabaseUrl;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, QueryResult,
    Statement,
};
use sea_orm_migration::MigratorTrait;
use std::sync::atomic::{AtomicU64, Ordering};

pub use operation_runs_migration::Migrator;

mod stores;
pub use stores::{RawColumn, StoreBackend, TestStore, newest_page, runs_of, service_ports};

/// Which server a test database lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MariaDb,
}

/// A fresh, empty database for one test.
pub struct TestDb {
    pub backend: Backend,
    /// URL that reaches this test's database (for extra connections or a child process).
    pub url: String,
    /// A pooled connection to it.
    pub conn: DatabaseConnection,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
    MariaDb { admin_url: String, name: String },
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique_name() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("oprun_test_{}_{}_{}", std::process::id(), n, nanos)
}

/// The PostgreSQL admin URL from `OPRUN_TEST_POSTGRES_URL`, `None` to skip PostgreSQL tests.
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var("OPRUN_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("OPRUN_REQUIRE_POSTGRES").is_err(),
                "OPRUN_REQUIRE_POSTGRES is set but OPRUN_TEST_POSTGRES_URL is not"
            );
            None
        }
    }
}

/// The MariaDB server of the tests, when none is named: the one these machines run.
pub const DEFAULT_MARIADB_URL: &str = "mysql://root@127.0.0.1:3306/mysql";

/// The MariaDB admin URL: `OPRUN_TEST_MARIADB_URL`, else [`DEFAULT_MARIADB_URL`].
pub fn mariadb_admin_url() -> String {
    match std::env::var("OPRUN_TEST_MARIADB_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => DEFAULT_MARIADB_URL.to_owned(),
    }
}

/// Whether an unreachable MariaDB fails the tests (`OPRUN_REQUIRE_MARIADB` set) rather than
/// skipping them.
pub fn mariadb_required() -> bool {
    std::env::var("OPRUN_REQUIRE_MARIADB").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// `sql` as `backend` reads it. The tests write their own SQL once, in the spelling PostgreSQL
/// and SQLite share; on MariaDB (without `ANSI_QUOTES`) that needs three rewrites, made outside
/// string literals unless said: `"name"` becomes `` `name` ``, the reserved word `change` (a
/// `findings` column) is quoted, `CAST(… AS TEXT)` becomes `CAST(… AS CHAR)`; and inside them
/// an RFC 3339 UTC time (`'2026-01-01T00:00:00+00:00'`) becomes MariaDB's DATETIME text.
pub fn sql_for(backend: Backend, sql: &str) -> std::borrow::Cow<'_, str> {
    if backend != Backend::MariaDb {
        return std::borrow::Cow::Borrowed(sql);
    }
    std::borrow::Cow::Owned(operation_runs_migration::fixtures::sql_for_mariadb(sql))
}

/// [`sql_for`] by a connection's SeaORM backend.
pub fn sql_for_conn<'a>(conn: &DatabaseConnection, sql: &'a str) -> std::borrow::Cow<'a, str> {
    match conn.get_database_backend() {
        DbBackend::MySql => sql_for(Backend::MariaDb, sql),
        _ => std::borrow::Cow::Borrowed(sql),
    }
}

/// Every row of `sql` on `conn`, in the spelling its backend reads (see [`sql_for_conn`]);
/// panics naming the statement when it fails.
pub async fn query_rows(conn: &DatabaseConnection, sql: &str) -> Vec<QueryResult> {
    let sql = sql_for_conn(conn, sql).into_owned();
    conn.query_all_raw(Statement::from_string(
        conn.get_database_backend(),
        sql.clone(),
    ))
    .await
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Every column of every row of `sql` on `conn`, as text (the SQL must cast non-text columns).
pub async fn text_rows(conn: &DatabaseConnection, sql: &str) -> Vec<Vec<Option<String>>> {
    query_rows(conn, sql)
        .await
        .iter()
        .map(|row| {
            (0..row.column_names().len())
                .map(|i| row.try_get_by_index::<Option<String>>(i).unwrap())
                .collect()
        })
        .collect()
}

/// Ids as the preflight report lists them: `1, 2, 3`.
pub fn listed_ids(ids: &[i64]) -> String {
    ids.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

async fn connect(url: &str, max: u32) -> DatabaseConnection {
    let mut options = ConnectOptions::new(url.to_owned());
    options.max_connections(max).sqlx_logging(false);
    Database::connect(options)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"))
}

impl TestDb {
    /// Creates the database `name` on `backend`'s server through `admin` (connected to
    /// `admin_url`) with `create`, the server's spelling of `CREATE DATABASE`, closes `admin`,
    /// and opens a pool to the new database, which is dropped with the returned value.
    async fn create_on_server(
        backend: Backend,
        admin: DatabaseConnection,
        admin_url: String,
        create: &str,
        name: String,
    ) -> Self {
        admin
            .execute_unprepared(create)
            .await
            .unwrap_or_else(|e| panic!("cannot create test database on {admin_url}: {e}"));
        admin.close().await.ok();
        let url = DatabaseUrl::parse(&admin_url)
            .ok()
            .and_then(|url| url.with_database(&name))
            .unwrap_or_else(|| panic!("{admin_url} is not a server URL"))
            .as_str()
            .to_owned();
        let conn = connect(&url, 40).await;
        let cleanup = match backend {
            Backend::Postgres => Cleanup::Postgres { admin_url, name },
            Backend::MariaDb => Cleanup::MariaDb { admin_url, name },
            Backend::Sqlite => unreachable!("a SQLite test database is a file, not on a server"),
        };
        Self {
            backend,
            url,
            conn,
            cleanup,
        }
    }

    /// A fresh SQLite database in a temporary file (files, unlike `:memory:`, can be shared by
    /// several connections and processes).
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
        let conn = connect(&url, 8).await;
        Self {
            backend: Backend::Sqlite,
            url,
            conn,
            cleanup: Cleanup::Sqlite(dir),
        }
    }

    /// A fresh PostgreSQL database, or `None` when PostgreSQL tests are not configured.
    pub async fn postgres() -> Option<Self> {
        let admin_url = postgres_admin_url()?;
        let name = unique_name();
        let admin = connect(&admin_url, 1).await;
        let create = format!("CREATE DATABASE \"{name}\"");
        Some(Self::create_on_server(Backend::Postgres, admin, admin_url, &create, name).await)
    }

    /// A fresh MariaDB database on [`mariadb_admin_url`], or `None` when that server does not
    /// answer (a failure instead with `OPRUN_REQUIRE_MARIADB` set).
    pub async fn mariadb() -> Option<Self> {
        // Once the server did not answer, this process's other tests skip (or fail) at once
        // instead of each waiting for the connect timeout.
        static DOWN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        let admin_url = mariadb_admin_url();
        if DOWN.load(Ordering::Relaxed) {
            assert!(
                !mariadb_required(),
                "OPRUN_REQUIRE_MARIADB is set but MariaDB at {admin_url} does not answer"
            );
            return None;
        }
        let mut options = ConnectOptions::new(admin_url.clone());
        options
            .max_connections(1)
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect_timeout(std::time::Duration::from_secs(5))
            .sqlx_logging(false);
        let admin = match Database::connect(options).await {
            Ok(admin) => admin,
            Err(e) => {
                DOWN.store(true, Ordering::Relaxed);
                assert!(
                    !mariadb_required(),
                    "OPRUN_REQUIRE_MARIADB is set but MariaDB at {admin_url} does not answer: {e}"
                );
                eprintln!("skipping: MariaDB at {admin_url} does not answer ({e})");
                return None;
            }
        };
        let name = unique_name();
        let create = format!("CREATE DATABASE `{name}`");
        Some(Self::create_on_server(Backend::MariaDb, admin, admin_url, &create, name).await)
    }

    /// A fresh database of the given backend (`None`: PostgreSQL or MariaDB not configured or
    /// not answering).
    pub async fn new(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => Some(Self::sqlite().await),
            Backend::Postgres => Self::postgres().await,
            Backend::MariaDb => Self::mariadb().await,
        }
    }

    /// A fresh database with every migration applied.
    pub async fn migrated(backend: Backend) -> Option<Self> {
        let db = Self::new(backend).await?;
        Migrator::up(&db.conn, None).await.unwrap();
        Some(db)
    }

    /// A separate connection pool to the same database.
    pub async fn connect_again(&self) -> DatabaseConnection {
        connect(&self.url, 2).await
    }

    pub fn db_backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    /// Runs one raw statement (see [`sql_for`]).
    pub async fn exec(&self, sql: &str) {
        let sql = &*sql_for(self.backend, sql);
        self.conn
            .execute_unprepared(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// The first column of the first row of a query, as i64 (counts, ids).
    pub async fn scalar_i64(&self, sql: &str) -> Option<i64> {
        let sql = &*sql_for(self.backend, sql);
        let row = self
            .conn
            .query_one_raw(Statement::from_string(self.db_backend(), sql.to_owned()))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))?;
        row.try_get_by_index::<Option<i64>>(0).unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let drop = match &self.cleanup {
            Cleanup::Sqlite(_) => return,
            Cleanup::Postgres { admin_url, name } => (
                admin_url.clone(),
                format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
            ),
            Cleanup::MariaDb { admin_url, name } => (
                admin_url.clone(),
                format!("DROP DATABASE IF EXISTS `{name}`"),
            ),
        };
        {
            let (admin_url, statement) = drop;
            // Dropping needs async I/O; a thread with its own runtime works inside or outside one.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    let admin = connect(&admin_url, 1).await;
                    let _ = admin.execute_unprepared(&statement).await;
                    admin.close().await.ok();
                });
            })
            .join();
        }
    }
}

/// Declares each `async fn name(db: TestDb)` as one test per backend:
/// `sqlite::name` always, `postgres::name` when PostgreSQL is configured, `mariadb::name` when
/// MariaDB answers (see [`TestDb::mariadb`]).
#[macro_export]
macro_rules! on_every_backend {
    ($setup:ident => $($name:ident),+ $(,)?) => {
        mod mariadb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    if let Some(db) = $crate::TestDb::$setup($crate::Backend::MariaDb).await {
                        super::$name(db).await;
                    }
                }
            )+
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let db = $crate::TestDb::$setup($crate::Backend::Sqlite).await.unwrap();
                    super::$name(db).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    if let Some(db) = $crate::TestDb::$setup($crate::Backend::Postgres).await {
                        super::$name(db).await;
                    }
                }
            )+
        }
    };
}

// The README's examples are compiled and run with the workspace's tests.
#[doc = include_str!("../../README.md")]
mod readme {}
