//! The baselines' side: hand-written SQL through sqlx directly, on the pool SeaORM opened (the
//! same connections the product's side uses).

use crate::env::{Backend, Db};
use anyhow::Result;
use chrono::{DateTime, Utc};

/// The sqlx pool under a [`Db`]'s SeaORM connection.
#[derive(Clone, Debug)]
pub enum Pool {
    Pg(sqlx::PgPool),
    Sqlite(sqlx::SqlitePool),
    My(sqlx::MySqlPool),
}

impl Pool {
    pub fn of(db: &Db) -> Result<Self> {
        Ok(match db.backend {
            Backend::Postgres => Self::Pg(db.pg()?.clone()),
            Backend::Sqlite => Self::Sqlite(db.sqlite()?.clone()),
            Backend::Mariadb => Self::My(db.my()?.clone()),
        })
    }
}

/// Runs the same sqlx code on whichever pool it is: `on_pool!(pool, p => expr)` binds `p` to
/// the concrete pool in each arm, so the expression is type-checked once per driver.
#[macro_export]
macro_rules! on_pool {
    ($pool:expr, $p:ident => $body:expr) => {
        match $pool {
            $crate::raw::Pool::Pg($p) => $body,
            $crate::raw::Pool::Sqlite($p) => $body,
            $crate::raw::Pool::My($p) => $body,
        }
    };
}

/// Every column of `operation_runs`, as the baselines read a run back.
pub const RUN_COLUMNS: &str = "id, workspace_id, tenant_id, user_id, initiator_name, type, \
    status, outcome, run_identity_hash, summary_counts, failure_summary, context, started_at, \
    completed_at, created_at, updated_at";

/// A run as a hand-written query decodes it: every column, no validation (the product's side
/// additionally checks every stored rule while building an `OperationRun`).
#[derive(Debug, Clone)]
#[allow(dead_code)] // Decoded for parity with the product's side; only some fields are read.
pub struct RawRun {
    pub id: i64,
    pub workspace_id: i64,
    pub tenant_id: Option<i64>,
    pub user_id: Option<i64>,
    pub initiator_name: String,
    pub run_type: String,
    pub status: String,
    pub outcome: String,
    pub run_identity_hash: String,
    pub summary_counts: serde_json::Value,
    pub failure_summary: serde_json::Value,
    pub context: serde_json::Value,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Decodes a [`RawRun`] from a row of `SELECT RUN_COLUMNS` on either driver.
#[macro_export]
macro_rules! decode_run {
    ($row:expr) => {{
        use sqlx::Row as _;
        let row = &$row;
        (|| -> Result<$crate::raw::RawRun, sqlx::Error> {
            Ok($crate::raw::RawRun {
                id: row.try_get("id")?,
                workspace_id: row.try_get("workspace_id")?,
                tenant_id: row.try_get("tenant_id")?,
                user_id: row.try_get("user_id")?,
                initiator_name: row.try_get("initiator_name")?,
                run_type: row.try_get("type")?,
                status: row.try_get("status")?,
                outcome: row.try_get("outcome")?,
                run_identity_hash: row.try_get("run_identity_hash")?,
                summary_counts: row
                    .try_get::<sqlx::types::Json<serde_json::Value>, _>("summary_counts")?
                    .0,
                failure_summary: row
                    .try_get::<sqlx::types::Json<serde_json::Value>, _>("failure_summary")?
                    .0,
                context: row
                    .try_get::<sqlx::types::Json<serde_json::Value>, _>("context")?
                    .0,
                started_at: row.try_get("started_at")?,
                completed_at: row.try_get("completed_at")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            })
        })()
    }};
}

/// Binds `args` in placeholder order.
macro_rules! bind_all {
    ($query:expr, $args:expr) => {{
        let mut q = $query;
        for v in $args {
            q = match v {
                Bind::I64(x) => q.bind(x),
                Bind::Text(x) => q.bind(x),
                Bind::Time(x) => q.bind(x),
                Bind::Json(x) => q.bind(sqlx::types::Json(x)),
            };
        }
        q
    }};
}

/// Runs a query returning run rows and decodes them.
pub async fn fetch_runs(pool: &Pool, sql: &str, args: Vec<Bind>) -> Result<Vec<RawRun>> {
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    let rows = on_pool!(pool, p => {
        bind_all!(sqlx::query(sql), args)
            .fetch_all(p)
            .await?
            .iter()
            .map(|row| decode_run!(row))
            .collect::<Result<Vec<_>, _>>()?
    });
    Ok(rows)
}

/// Runs a statement and returns the rows it affected.
pub async fn execute(pool: &Pool, sql: &str, args: Vec<Bind>) -> Result<u64> {
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    let affected = on_pool!(pool, p => {
        bind_all!(sqlx::query(sql), args).execute(p).await?.rows_affected()
    });
    Ok(affected)
}

/// A bound value of a baseline statement.
#[derive(Debug, Clone)]
pub enum Bind {
    I64(i64),
    Text(String),
    Time(DateTime<Utc>),
    Json(serde_json::Value),
}
