//! Runs on MariaDB: the one-round-trip start and the purge batches.

use super::{error_number, lost_lock_race};
use crate::convert;
use crate::entity::operation_runs::Entity;
use crate::error::{StoreError, map_db_err};
use operation_runs_domain::OperationRun;
use operation_runs_ports::PortError;
use sea_orm::sea_query::{DeleteStatement, InsertStatement};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, Statement};
use std::time::Duration;

/// Times a start is sent again after InnoDB broke a deadlock by rolling it back. Concurrent
/// inserts of one identity each lock the unique key's entry (and the gap before it) while the
/// first is undecided; when it commits, the waiters' locks can form a cycle, and InnoDB picks a
/// victim (error 1213) rather than a winner. The victim inserted nothing; retried, it finds the
/// active run. Each retry means another starter won meanwhile, so a few suffice.
pub(crate) const DEADLOCK_ATTEMPTS: u32 = 10;

/// `insert` (the start's `INSERT … VALUES` or `INSERT … SELECT … WHERE EXISTS`) sent with
/// `RETURNING *`: one round trip that inserts the run and reads it back. SeaORM cannot be
/// asked for this (it never emits `RETURNING` for the MySQL family, see `crate::mysql`), so the
/// statement is rendered by sea-query and `RETURNING` appended; MariaDB 10.5+ accepts it.
///
/// `None` when the unique key `operation_runs_active_identity_key` refused the row (error
/// 1062: the identity has an active run) or the tenant check inserted nothing. Deadlocks are
/// retried [`DEADLOCK_ATTEMPTS`] times, then reported as [`StoreError::Contention`].
pub(crate) async fn insert_run(
    conn: &DatabaseConnection,
    insert: &InsertStatement,
) -> Result<Option<OperationRun>, PortError> {
    let stmt = returning(DbBackend::MySql.build(insert), "*");
    for attempt in 0..DEADLOCK_ATTEMPTS {
        match Entity::find().from_raw_sql(stmt.clone()).one(conn).await {
            Ok(row) => return Ok(row.map(convert::run)),
            // ER_DUP_ENTRY: an active run of the identity exists.
            Err(e) if error_number(&e) == Some(1062) => return Ok(None),
            Err(e) if lost_lock_race(&e) => {
                tracing::debug!(attempt, "start lost a deadlock; sending it again");
                // A short, growing, jittered pause lets the winner commit before the retry and
                // keeps the losers from colliding again in step.
                tokio::time::sleep(backoff(attempt)).await;
            }
            Err(e) => return Err(map_db_err(e)),
        }
    }
    Err(StoreError::Contention(format!(
        "starting a run kept deadlocking with concurrent starts ({DEADLOCK_ATTEMPTS} attempts)"
    ))
    .into())
}

/// The pause before retry `attempt + 1`: 1–2 ms doubling up to 64–128 ms, jittered by the
/// clock's nanoseconds.
fn backoff(attempt: u32) -> Duration {
    let base = 1_u64 << attempt.min(6);
    let jitter = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()))
        % (base * 1000);
    Duration::from_micros(base * 1000 + jitter)
}

/// One purge batch: `delete` (with its `WHERE`, `ORDER BY id` and `LIMIT`) sent with
/// `RETURNING id`, the ids it deleted. MariaDB refuses `LIMIT` in an `IN` subquery and reading
/// the table a `DELETE` writes, so the batch is the `DELETE`'s own `ORDER BY … LIMIT`.
pub(crate) async fn delete_batch(
    conn: &DatabaseConnection,
    delete: &DeleteStatement,
) -> Result<Vec<i64>, PortError> {
    let stmt = returning(DbBackend::MySql.build(delete), "id");
    convert::ids(conn.query_all_raw(stmt).await.map_err(map_db_err)?)
}

/// `stmt` with `RETURNING columns` appended, which sea-query never renders for MySQL.
fn returning(mut stmt: Statement, columns: &str) -> Statement {
    stmt.sql.push_str(" RETURNING ");
    stmt.sql.push_str(columns);
    stmt
}
