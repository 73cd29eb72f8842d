//! What the store does differently on MariaDB (SeaORM's `MySql` backend), kept here so the
//! shared code only dispatches.
//!
//! **Versions.** MariaDB 10.6 or later (10.11 is tested). The store needs `INSERT … RETURNING`
//! (10.5) to start a run in one round trip and `DELETE … RETURNING` for purge batches; the
//! migrations need `JSON_TABLE` (10.6). MySQL has neither `RETURNING` nor the rerunnable DDL the
//! cutover uses, so a MySQL server is refused at connect ([`check_server`]) with
//! [`StoreError::UnsupportedServer`].
//!
//! **No `RETURNING` in SeaORM.** SeaORM treats every MySQL-family server as having no
//! `RETURNING` (it cannot tell MariaDB from MySQL when building statements) and refuses
//! `exec_with_returning`, so: inserts are rendered by sea-query and sent with `RETURNING`
//! appended (MariaDB has `INSERT … RETURNING` and `DELETE … RETURNING`); updates, which MariaDB
//! cannot return, run in a transaction that reads the row back after the guarded `UPDATE`
//! ([`UpdateReturning`]): the `UPDATE` holds the row's lock until commit, so what is read is
//! exactly what it wrote.

pub(crate) mod runs;
pub(crate) mod sql;

use crate::entity::operation_runs::{self, Entity};
use crate::error::StoreError;
use sea_orm::sqlx::mysql::MySqlDatabaseError;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryTrait, RuntimeErr,
    Statement, TransactionTrait, UpdateMany,
};

/// The oldest MariaDB the store and the migrations need, as (major, minor).
pub const MIN_MARIADB: (u32, u32) = (10, 6);

/// Why a server that `SELECT VERSION()` describes as `version` cannot hold the store, if it
/// cannot: MySQL, or MariaDB older than [`MIN_MARIADB`].
pub(crate) fn refusal(version: &str) -> Option<&'static str> {
    if !version.contains("MariaDB") {
        return Some(
            "MySQL has no INSERT … RETURNING, which starting a run in one round trip needs",
        );
    }
    // Old clients needed a 5.x version: MariaDB 10 and 11 used to announce `5.5.5-10.x.y`.
    let mut numbers = version
        .trim_start_matches("5.5.5-")
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse::<u32>().ok());
    let found = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
    (found < MIN_MARIADB).then_some("the schema needs JSON_TABLE and INSERT … RETURNING")
}

/// Refuses a MySQL-family server the store cannot work on (see [`refusal`]).
pub(crate) async fn check_server(conn: &DatabaseConnection) -> Result<(), StoreError> {
    let version = conn
        .query_one_raw(Statement::from_string(DbBackend::MySql, "SELECT VERSION()"))
        .await
        .and_then(|row| match row {
            Some(row) => row.try_get_by_index::<String>(0),
            None => Ok(String::new()),
        })
        .map_err(StoreError::MigrationHistory)?;
    match refusal(&version) {
        Some(reason) => Err(StoreError::UnsupportedServer {
            version,
            needs: format!(
                "MariaDB {}.{} or later ({reason})",
                MIN_MARIADB.0, MIN_MARIADB.1
            ),
        }),
        None => Ok(()),
    }
}

/// The MariaDB error number of `err`, if the server sent one.
pub(crate) fn error_number(err: &DbErr) -> Option<u16> {
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => e
            .as_database_error()
            .and_then(|d| d.try_downcast_ref::<MySqlDatabaseError>())
            .map(MySqlDatabaseError::number),
        _ => None,
    }
}

/// A deadlock InnoDB broke by rolling this statement's transaction back (1213), or a row lock
/// not granted within `innodb_lock_wait_timeout` (1205): the statement did nothing and may be
/// tried again.
pub(crate) fn lost_lock_race(err: &DbErr) -> bool {
    matches!(error_number(err), Some(1205 | 1213))
}

/// `exec_with_returning` for the guarded updates of one run, on every backend.
#[async_trait::async_trait]
pub(crate) trait UpdateReturning {
    /// Runs the update of run `id` and returns the row as it left it, or nothing when the
    /// guards matched no row. PostgreSQL and SQLite: `UPDATE … RETURNING`. MariaDB (no
    /// `UPDATE … RETURNING`): the `UPDATE`, then the row read back in the same transaction.
    async fn exec_returning(
        self,
        conn: &DatabaseConnection,
        id: i64,
    ) -> Result<Vec<operation_runs::Model>, DbErr>;
}

#[async_trait::async_trait]
impl UpdateReturning for UpdateMany<Entity> {
    async fn exec_returning(
        self,
        conn: &DatabaseConnection,
        id: i64,
    ) -> Result<Vec<operation_runs::Model>, DbErr> {
        if conn.get_database_backend() != DbBackend::MySql {
            return self.exec_with_returning(conn).await;
        }
        let stmt = self.build(DbBackend::MySql);
        let txn = conn.begin().await?;
        let updated = txn.execute_raw(stmt).await?.rows_affected();
        let row = if updated == 0 {
            None
        } else {
            Entity::find_by_id(id).one(&txn).await?
        };
        txn.commit().await?;
        Ok(row.into_iter().collect())
    }
}

/// A multi-row `INSERT` rendered for MariaDB with `RETURNING *` appended, its rows read as
/// `E`'s models: MariaDB returns every inserted row, which SeaORM will not ask it for (see the
/// module's notes).
pub(crate) async fn insert_returning<E, C>(
    insert: &impl QueryTrait,
    db: &C,
) -> Result<Vec<E::Model>, DbErr>
where
    E: EntityTrait,
    C: ConnectionTrait,
{
    let mut stmt = insert.build(DbBackend::MySql);
    stmt.sql.push_str(" RETURNING *");
    E::find().from_raw_sql(stmt).all(db).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_and_old_mariadb_are_refused() {
        assert_eq!(refusal("10.11.6-MariaDB-0+deb12u1"), None);
        assert_eq!(refusal("10.6.17-MariaDB"), None);
        assert_eq!(refusal("11.4.2-MariaDB-log"), None);
        assert!(refusal("10.5.23-MariaDB").is_some());
        assert!(refusal("5.5.5-10.4.1-MariaDB").is_some());
        assert_eq!(refusal("5.5.5-10.11.2-MariaDB"), None);
        assert!(refusal("8.0.36").unwrap().contains("MySQL"));
        assert!(refusal("8.4.0-log").is_some());
    }
}
