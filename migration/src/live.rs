//! Schema changes on a live database.
//!
//! **PostgreSQL.** The cutover steps that change the schema run outside the migrator's
//! transaction (`use_transaction() == Some(false)`): each statement is its own short
//! transaction. A statement that needs a table lock waits at most [`lock_timeout`] for it
//! (`SET LOCAL lock_timeout`), so it holds up the application's queries queued behind it in the
//! table's lock queue for no longer than that; on a timeout it is retried with backoff, logged. Indexes
//! are built `CREATE INDEX CONCURRENTLY` on a connection of their own (outside any transaction,
//! as PostgreSQL requires), after an invalid index left by an interrupted concurrent build is
//! dropped. When the migrator is handed a transaction instead of a pool, all of this degrades to
//! plain statements inside that transaction.
//!
//! **SQLite** has one writer at a time anyway: each step runs in one transaction
//! ([`begin_if_sqlite`]), as a single exclusive rebuild.
//!
//! The test hook [`pause_point`] lets tests kill a migration at a known point.

use crate::sql::{self, Flavor};
use sea_orm_migration::sea_orm::sqlx::{self, AssertSqlSafe, pool::PoolConnection};
use sea_orm_migration::sea_orm::{
    ConnectionTrait, DbBackend, DbErr, RuntimeErr, SqlErr, TransactionTrait,
};
use sea_orm_migration::{SchemaManager, SchemaManagerConnection};
use std::sync::Arc;
use std::time::Duration;

/// How long a schema change waits for a table lock before giving up and trying again later,
/// unless `OPRUN_MIGRATION_LOCK_TIMEOUT_MS` says otherwise.
pub(crate) const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(3);

/// Attempts of one statement before the migration gives up (and can simply be run again).
const ATTEMPTS: u32 = 30;

/// The lock timeout in force: `OPRUN_MIGRATION_LOCK_TIMEOUT_MS` (milliseconds, at least 1), or
/// [`DEFAULT_LOCK_TIMEOUT`].
pub(crate) fn lock_timeout() -> Duration {
    std::env::var("OPRUN_MIGRATION_LOCK_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|ms| *ms > 0)
        .map_or(DEFAULT_LOCK_TIMEOUT, Duration::from_millis)
}

/// The wait before attempt `attempt + 1`: doubling from half a second, at most ten seconds.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(500_u64.saturating_mul(1 << attempt.min(5))).min(Duration::from_secs(10))
}

/// **Test hook.** When the environment variable `OPRUN_MIGRATION_PAUSE_AT` names `point`, logs
/// `migration paused (test hook)` with the point and sleeps for ten minutes, so that a test can
/// kill the process at a known place (for example `before-step-4`, `backfill-batch`,
/// `before-unique-index`). Does nothing when the variable is unset or names another point.
pub(crate) async fn pause_point(point: &str) {
    if std::env::var("OPRUN_MIGRATION_PAUSE_AT").is_ok_and(|v| v.split(',').any(|p| p == point)) {
        tracing::warn!(point, "migration paused (test hook)");
        tokio::time::sleep(Duration::from_secs(600)).await;
    }
}

/// A transaction for the whole step on SQLite; `None` on PostgreSQL, where each statement
/// commits on its own. Run the step on [`conn`] of it, then [`commit`] it.
pub(crate) async fn begin_if_sqlite(
    manager: &SchemaManager<'_>,
) -> Result<Option<SchemaManager<'static>>, DbErr> {
    match sql::flavor(manager.get_connection())? {
        Flavor::Sqlite => Ok(Some(manager.begin().await?)),
        // MariaDB commits each DDL statement implicitly: a transaction would promise nothing.
        Flavor::Postgres | Flavor::MySql => Ok(None),
    }
}

/// The connection a step runs on: its SQLite transaction, or the migrator's connection.
pub(crate) fn conn<'a>(
    manager: &'a SchemaManager<'_>,
    transaction: &'a Option<SchemaManager<'static>>,
) -> &'a SchemaManagerConnection<'a> {
    match transaction {
        Some(t) => t.get_connection(),
        None => manager.get_connection(),
    }
}

/// Commits the step's SQLite transaction, if any.
pub(crate) async fn commit(transaction: Option<SchemaManager<'static>>) -> Result<(), DbErr> {
    match transaction {
        Some(t) => t.commit().await,
        None => Ok(()),
    }
}

/// The PostgreSQL pool behind `db`, when statements may commit on their own there.
fn postgres_pool<'a>(db: &'a SchemaManagerConnection<'_>) -> Option<&'a sqlx::PgPool> {
    match db {
        // Only sqlx pools exist in this build (no mock or proxy connections), so a PostgreSQL
        // connection is a `PgPool`.
        SchemaManagerConnection::Connection(c)
            if c.get_database_backend() == DbBackend::Postgres =>
        {
            Some(c.get_postgres_connection_pool())
        }
        _ => None,
    }
}

fn db_err(e: sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(Arc::new(e)))
}

/// The SQLSTATE of a database error.
fn sqlstate(e: &DbErr) -> Option<String> {
    match e {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => e
            .as_database_error()
            .and_then(|d| d.code())
            .map(|c| c.into_owned()),
        _ => None,
    }
}

/// A lock wait that timed out (`lock_not_available`), or a deadlock PostgreSQL broke by
/// cancelling this statement: both are retried.
fn retryable(e: &DbErr) -> bool {
    matches!(sqlstate(e).as_deref(), Some("55P03" | "40P01"))
}

/// Whether `e` is a unique violation (a unique index build meeting duplicates).
pub(crate) fn unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

pub(crate) async fn wait_before_retry(
    attempt: u32,
    statement: &str,
    error: &DbErr,
) -> Result<(), DbErr> {
    if attempt + 1 >= ATTEMPTS {
        return Err(DbErr::Migration(format!(
            "gave up after {ATTEMPTS} attempts waiting for a lock ({error}) on: {statement}. \
             Nothing is left half done; run the migration again when the database is quieter"
        )));
    }
    let wait = backoff(attempt);
    // The start of the statement says which it is; the whole of step 6's is a paragraph.
    let shown: String = statement
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(100)
        .collect();
    tracing::warn!(
        attempt = attempt + 1,
        retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
        statement = shown,
        "lock not available within the lock timeout; retrying"
    );
    tokio::time::sleep(wait).await;
    Ok(())
}

/// Runs one statement that takes a table lock. On PostgreSQL (given a pool) it runs in its own
/// transaction under `SET LOCAL lock_timeout` and is retried with backoff when the lock is not
/// granted in time; anywhere else it runs as it is. Returns the rows affected.
pub(crate) async fn short_lock(
    db: &SchemaManagerConnection<'_>,
    statement: &str,
) -> Result<u64, DbErr> {
    if sql::flavor(db)? == Flavor::MySql {
        return crate::mysql::short_lock(db, statement).await;
    }
    let timeout = format!("SET LOCAL lock_timeout = {}", lock_timeout().as_millis());
    if postgres_pool(db).is_none() {
        if sql::flavor(db)? == Flavor::Postgres {
            db.execute_unprepared(&timeout).await?;
        }
        return Ok(db.execute_unprepared(statement).await?.rows_affected());
    }
    let mut attempt = 0;
    loop {
        let transaction = db.begin().await?;
        transaction.execute_unprepared(&timeout).await?;
        match transaction.execute_unprepared(statement).await {
            Ok(done) => {
                transaction.commit().await?;
                return Ok(done.rows_affected());
            }
            Err(e) if retryable(&e) => {
                transaction.rollback().await?;
                wait_before_retry(attempt, statement, &e).await?;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// `ALTER TABLE {table} {change}` as a [`short_lock`]; on MariaDB in place, writes going on
/// (`ALGORITHM=INPLACE, LOCK=NONE`).
pub(crate) async fn alter_table(
    db: &SchemaManagerConnection<'_>,
    table: &str,
    change: &str,
) -> Result<(), DbErr> {
    let online = match sql::flavor(db)? {
        Flavor::MySql => ", ALGORITHM=INPLACE, LOCK=NONE",
        Flavor::Postgres | Flavor::Sqlite => "",
    };
    short_lock(db, &format!("ALTER TABLE {table} {change}{online}")).await?;
    Ok(())
}

/// A connection of its own, outside any transaction, with the lock timeout set for the session.
/// It is closed rather than returned to the pool, so the setting never reaches other users of
/// the pool.
struct Session(PoolConnection<sqlx::Postgres>);

impl Session {
    async fn open(pool: &sqlx::PgPool) -> Result<Self, DbErr> {
        let mut conn = pool.acquire().await.map_err(db_err)?;
        conn.close_on_drop();
        let mut session = Self(conn);
        session
            .exec(&format!(
                "SET lock_timeout = {}",
                lock_timeout().as_millis()
            ))
            .await?;
        Ok(session)
    }

    /// Whether index `name` exists in the current schema, and if so whether it is valid. Read
    /// on this connection, so a pool of one connection is enough.
    async fn index_validity(&mut self, name: &str) -> Result<Option<bool>, DbErr> {
        sqlx::query_scalar::<_, bool>(
            "SELECT i.indisvalid FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indexrelid \
             JOIN pg_namespace AS n ON n.oid = c.relnamespace \
             WHERE c.relname = $1 AND n.nspname = current_schema()",
        )
        .bind(name)
        .fetch_optional(&mut *self.0)
        .await
        .map_err(db_err)
    }

    async fn exec(&mut self, statement: &str) -> Result<(), DbErr> {
        sqlx::raw_sql(AssertSqlSafe(statement.to_owned()))
            .execute(&mut *self.0)
            .await
            .map(|_| ())
            .map_err(db_err)
    }
}

/// Creates index `name` with `create` (`CREATE [UNIQUE] INDEX IF NOT EXISTS name ON …`). On
/// PostgreSQL (given a pool) it is built `CONCURRENTLY`, writes continuing meanwhile; an invalid
/// index of that name (left by a build that failed or was killed) is dropped and built again,
/// and lock timeouts are retried. A unique violation is returned as it is (the caller resolves
/// the duplicates and calls again): the invalid index it leaves is dropped on that call.
pub(crate) async fn create_index(
    db: &SchemaManagerConnection<'_>,
    name: &str,
    create: &str,
) -> Result<(), DbErr> {
    let Some(pool) = postgres_pool(db) else {
        short_lock(db, create).await?;
        return Ok(());
    };
    let concurrent = create.replacen(
        " INDEX IF NOT EXISTS ",
        " INDEX CONCURRENTLY IF NOT EXISTS ",
        1,
    );
    let drop = format!("DROP INDEX CONCURRENTLY IF EXISTS {name}");
    let mut session = Session::open(pool).await?;
    let mut attempt = 0;
    loop {
        let step = match session.index_validity(name).await? {
            Some(true) => return Ok(()),
            Some(false) => {
                tracing::warn!(
                    index = name,
                    "dropping an invalid index left by an interrupted build"
                );
                &drop
            }
            None => {
                tracing::info!(index = name, "building index concurrently");
                &concurrent
            }
        };
        match session.exec(step).await {
            Ok(()) => {}
            Err(e) if retryable(&e) => {
                wait_before_retry(attempt, step, &e).await?;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Drops index `name`: `CONCURRENTLY` on PostgreSQL (given a pool), with lock timeouts retried.
pub(crate) async fn drop_index(db: &SchemaManagerConnection<'_>, name: &str) -> Result<(), DbErr> {
    if sql::flavor(db)? == Flavor::MySql {
        return crate::mysql::drop_index(db, name).await;
    }
    let Some(pool) = postgres_pool(db) else {
        short_lock(db, &format!("DROP INDEX IF EXISTS {name}")).await?;
        return Ok(());
    };
    let drop = format!("DROP INDEX CONCURRENTLY IF EXISTS {name}");
    let mut session = Session::open(pool).await?;
    let mut attempt = 0;
    loop {
        match session.exec(&drop).await {
            Ok(()) => return Ok(()),
            Err(e) if retryable(&e) => {
                wait_before_retry(attempt, &drop, &e).await?;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Rows per backfill batch: `OPRUN_MIGRATION_BATCH_ROWS` (at least 1) or `default`. Smaller
/// batches hold their row locks for less time; larger ones finish sooner.
pub(crate) fn batch_rows(default: u64) -> u64 {
    std::env::var("OPRUN_MIGRATION_BATCH_ROWS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}
