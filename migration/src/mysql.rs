//! What the history does differently on MariaDB: column types and collations, the server
//! check, online DDL under a short metadata-lock wait, and the generated columns that stand in
//! for PostgreSQL's partial and expression indexes.
//!
//! **Versions.** MariaDB 10.6 or later: `JSON_TABLE` (10.6) reads the legacy `context` entries
//! in cutover step 1 and the preflight, `INSERT … RETURNING` (10.5) starts a run in one round
//! trip, `CREATE INDEX IF NOT EXISTS` and `ADD COLUMN IF NOT EXISTS` make every step safe to
//! run again, `SET STATEMENT … FOR` bounds each DDL statement's lock wait. MySQL (any version)
//! is refused: it has no `INSERT … RETURNING`, no `IF NOT EXISTS` on indexes and columns, and
//! no `SET STATEMENT`, which the one-round-trip start and the rerunnable cutover rely on.
//!
//! **No transactional DDL.** Every statement commits on its own, so each step is written to be
//! run again after a failure at any statement: tables, columns, indexes and foreign keys are
//! created `IF NOT EXISTS` and dropped `IF EXISTS`, and the data rewrites only touch rows still
//! needing them.
//!
//! **Locks.** Each DDL statement waits at most [`crate::live::lock_timeout`] for its metadata
//! lock (`SET STATEMENT lock_wait_timeout = … FOR …`) and is retried with backoff, as on
//! PostgreSQL. Index builds, adding and dropping nullable columns and adding the finding foreign
//! keys run `ALGORITHM=INPLACE, LOCK=NONE`: reads and writes continue during the build, and only
//! the brief metadata lock at its start and end waits for running transactions. What remains:
//! adding the **stored** generated column `active_identity_hash` (step 6) rebuilds
//! `operation_runs` with `ALGORITHM=COPY, LOCK=SHARED` — reads continue, writes to
//! `operation_runs` wait for the copy (MariaDB cannot add a stored column in place); the
//! backfill's batches hold row locks on one batch at a time; dropping the legacy tables takes
//! each table's exclusive metadata lock for a moment.

use crate::live;
use crate::sql::Types;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbErr, RuntimeErr, Statement};
use std::borrow::Cow;

/// Column types on MariaDB. Every table's default collation is `utf8mb4_nopad_bin` (see
/// [`TABLE_OPTIONS`]), so hashes, types, statuses, codes and external ids compare byte for byte;
/// `JSON` is MariaDB's `LONGTEXT` with a `JSON_VALID` check, so a bad write fails.
pub(crate) const TYPES: Types = Types {
    id: "BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY",
    // 255 characters: index keys stay far below InnoDB's 3072 bytes.
    key_text: "VARCHAR(255)",
    bigint: "BIGINT",
    int: "INT",
    text: "TEXT",
    boolean: "BOOLEAN",
    json: "JSON",
    time: "DATETIME(6)",
    now_default: "(UTC_TIMESTAMP(6))",
};

/// Appended to every `CREATE TABLE`. `utf8mb4_nopad_bin`, not `utf8mb4_bin`: the `_bin`
/// collations of MariaDB pad with spaces, so `'inventory_sync '` would equal `'inventory_sync'`
/// (and collide in a unique key); the default `_general_ci` ones would also fold case.
pub(crate) const TABLE_OPTIONS: &str =
    " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin";

/// Online DDL for index builds: the table stays readable and writable.
const ONLINE: &str = "ALGORITHM=INPLACE LOCK=NONE";

/// The oldest MariaDB the history and the store need.
pub(crate) const MIN_MARIADB: (u32, u32) = (10, 6);

/// `statement` as MariaDB runs it: table options on `CREATE TABLE`, online DDL on index builds.
pub(crate) fn adapt(statement: &str) -> Cow<'_, str> {
    let head = statement.trim_start();
    if head.starts_with("CREATE TABLE") {
        Cow::Owned(format!("{statement}{TABLE_OPTIONS}"))
    } else if head.starts_with("CREATE INDEX") || head.starts_with("CREATE UNIQUE INDEX") {
        Cow::Owned(format!("{statement} {ONLINE}"))
    } else {
        Cow::Borrowed(statement)
    }
}

/// Why a server cannot hold the history, if it cannot: MySQL, or MariaDB older than
/// [`MIN_MARIADB`]. `version` is what `SELECT VERSION()` says (`10.11.6-MariaDB-0+deb12u1`).
pub(crate) fn refusal(version: &str) -> Option<String> {
    let needs = format!(
        "the operation runs schema needs MariaDB {}.{} or later (it uses JSON_TABLE, INSERT … \
         RETURNING and SET STATEMENT); MySQL is not supported",
        MIN_MARIADB.0, MIN_MARIADB.1
    );
    if !version.contains("MariaDB") {
        return Some(format!("{needs}; this server is MySQL {version}"));
    }
    // Old clients needed a 5.x version: MariaDB 10 and 11 used to announce `5.5.5-10.x.y`.
    let mut numbers = version
        .trim_start_matches("5.5.5-")
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse::<u32>().ok());
    let found = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
    (found < MIN_MARIADB).then(|| format!("{needs}; this server is MariaDB {version}"))
}

/// Refuses a server [`refusal`] refuses, before anything is written.
pub(crate) async fn check_server<C: ConnectionTrait + ?Sized>(db: &C) -> Result<(), DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT VERSION()",
        ))
        .await?;
    let version = match row {
        Some(row) => row.try_get_by_index::<String>(0)?,
        None => String::new(),
    };
    match refusal(&version) {
        Some(why) => Err(DbErr::Migration(why)),
        None => Ok(()),
    }
}

/// The MariaDB error number of `e`.
pub(crate) fn error_number(e: &DbErr) -> Option<u16> {
    match e {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => e
            .as_database_error()
            .and_then(|d| {
                d.try_downcast_ref::<sea_orm_migration::sea_orm::sqlx::mysql::MySqlDatabaseError>()
            })
            .map(|m| m.number()),
        _ => None,
    }
}

/// A metadata or row lock not granted in time (1205), or a deadlock InnoDB broke by rolling
/// this statement back (1213): both are retried.
fn retryable(e: &DbErr) -> bool {
    matches!(error_number(e), Some(1205 | 1213))
}

/// Runs one statement (adapted by [`adapt`]) with its lock waits bounded by
/// [`live::lock_timeout`], retried with backoff when a lock is not granted in time. The bound
/// is set for this statement only (`SET STATEMENT … FOR`), so nothing leaks into the pool's
/// sessions. Returns the rows affected.
pub(crate) async fn short_lock<C: ConnectionTrait + ?Sized>(
    db: &C,
    statement: &str,
) -> Result<u64, DbErr> {
    short_lock_with(db, "", statement).await
}

/// [`short_lock`] with more variables set for the statement (`name = value, …`, or empty).
async fn short_lock_with<C: ConnectionTrait + ?Sized>(
    db: &C,
    variables: &str,
    statement: &str,
) -> Result<u64, DbErr> {
    let seconds = live::lock_timeout().as_secs_f64().max(0.001);
    // `lock_wait_timeout` bounds metadata locks (DDL), `innodb_lock_wait_timeout` row locks
    // (the data rewrites); both take whole seconds on older servers, so round up.
    let wait = seconds.ceil();
    let bounded = format!(
        "SET STATEMENT {variables}{comma}lock_wait_timeout = {wait}, \
         innodb_lock_wait_timeout = {wait} FOR {}",
        adapt(statement),
        comma = if variables.is_empty() { "" } else { ", " },
    );
    let mut attempt = 0;
    loop {
        match db.execute_unprepared(&bounded).await {
            Ok(done) => return Ok(done.rows_affected()),
            Err(e) if retryable(&e) => {
                live::wait_before_retry(attempt, statement, &e).await?;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The table each index of the history is on (MariaDB drops an index by name and table).
fn table_of(index: &str) -> &'static str {
    if index.starts_with("findings_") {
        "findings"
    } else if index.starts_with("inventory_items_") {
        "inventory_items"
    } else {
        "operation_runs"
    }
}

/// Drops index `name` if it exists, online.
pub(crate) async fn drop_index<C: ConnectionTrait + ?Sized>(
    db: &C,
    name: &str,
) -> Result<(), DbErr> {
    short_lock(
        db,
        &format!(
            "ALTER TABLE {} DROP INDEX IF EXISTS {name}, ALGORITHM=INPLACE, LOCK=NONE",
            table_of(name)
        ),
    )
    .await
    .map(|_| ())
}

/// The generated column holding a run's identity hash while it is active and `NULL` once it
/// is completed: under a unique key with `workspace_id` it allows one active run per identity
/// (NULLs never conflict). MariaDB has neither partial indexes nor functional key parts. It is
/// computed by the server from `status` and never written by the application.
pub(crate) const ACTIVE_IDENTITY_COLUMN: &str = "active_identity_hash";

/// The generated column holding `context.backup_schedule_id` as text (as PostgreSQL's `->>`
/// yields it), indexed for a schedule's history. Virtual: the index holds its values, so
/// adding it rebuilds nothing.
pub(crate) const SCHEDULE_ID_COLUMN: &str = "backup_schedule_key";

/// Step 6's generated columns, each added if missing. The stored one rebuilds the table (see
/// the module's notes on locks).
pub(crate) fn generated_columns() -> [String; 2] {
    [
        format!(
            "ALTER TABLE operation_runs ADD COLUMN IF NOT EXISTS {ACTIVE_IDENTITY_COLUMN} \
             VARCHAR(255) AS (CASE WHEN {} THEN run_identity_hash END) STORED, \
             ALGORITHM=COPY, LOCK=SHARED",
            crate::names::ACTIVE
        ),
        format!(
            "ALTER TABLE operation_runs ADD COLUMN IF NOT EXISTS {SCHEDULE_ID_COLUMN} \
             VARCHAR(64) AS (SUBSTRING(JSON_VALUE(context, '$.backup_schedule_id'), 1, 64)) \
             VIRTUAL, ALGORITHM=INPLACE, LOCK=NONE"
        ),
    ]
}

/// What step 6's unique, schedule history and reaper indexes are built on, on MariaDB: the
/// generated columns, where the other backends have a partial or an expression index.
pub(crate) fn index_columns() -> [String; 3] {
    [
        format!("(workspace_id, {ACTIVE_IDENTITY_COLUMN})"),
        format!("({SCHEDULE_ID_COLUMN}, id)"),
        // No partial index: the reaper's `status IN (…) AND updated_at < ?` reads the two
        // active statuses' ranges of this one.
        "(status, updated_at)".to_owned(),
    ]
}

/// Drops step 6's generated columns (after their indexes).
pub(crate) fn drop_generated_columns() -> [String; 2] {
    [
        format!(
            "ALTER TABLE operation_runs DROP COLUMN IF EXISTS {SCHEDULE_ID_COLUMN}, \
             ALGORITHM=INPLACE, LOCK=NONE"
        ),
        format!(
            "ALTER TABLE operation_runs DROP COLUMN IF EXISTS {ACTIVE_IDENTITY_COLUMN}, \
             ALGORITHM=INPLACE, LOCK=NONE"
        ),
    ]
}

/// Rows per backfill statement on MariaDB, where each batch is one multi-table `UPDATE`
/// holding the row locks of its rows until it commits: small enough that writers touching
/// those rows wait well under a second.
pub(crate) const BATCH_ROWS: u64 = 20_000;

/// Step 3's batch for one reference (`inventory_items`): a multi-table `UPDATE … JOIN`, MariaDB's
/// `UPDATE … FROM`; `allowed` is the bridge condition over `o` (the run) and `t` (the row).
/// Placeholders: the batch's lower and upper id.
pub(crate) fn backfill_one(table: &str, legacy: &str, canonical: &str, allowed: &str) -> String {
    format!(
        "UPDATE {table} AS t JOIN {} AS l ON l.id = t.{legacy} \
         JOIN operation_runs AS o ON o.id = l.operation_run_id \
         SET t.{canonical} = l.operation_run_id \
         WHERE t.{canonical} IS NULL AND {allowed} AND t.id >= ? AND t.id <= ?",
        crate::names::INVENTORY_SYNC_RUNS
    )
}

/// Step 3's batch for several references of one table (`findings`): the derived table `m` of
/// the batch's mapped references (`r0`, `r1`, … from `mapped` over `joins`) is materialized
/// before the `UPDATE` writes (MariaDB may not read the table it writes otherwise), then joined
/// back by primary key; a row is written when `any` reference maps, and a set one is kept.
pub(crate) fn backfill_many(
    table: &str,
    canonical: &[&str],
    mapped: &str,
    joins: &str,
    any: &str,
) -> String {
    let sets: Vec<String> = canonical
        .iter()
        .enumerate()
        .map(|(n, c)| format!("t.{c} = COALESCE(t.{c}, m.r{n})"))
        .collect();
    format!(
        "UPDATE {table} AS t JOIN (SELECT f.id, {mapped} FROM {table} AS f {joins} \
           WHERE f.id >= ? AND f.id <= ?) AS m ON t.id = m.id \
         SET {} WHERE ({any})",
        sets.join(", ")
    )
}

/// Step 3's finding foreign keys, each added if missing ([`add_foreign_key`]).
pub(crate) async fn add_foreign_keys<C: ConnectionTrait + ?Sized>(db: &C) -> Result<(), DbErr> {
    for (name, column) in crate::sql::FINDINGS_CANONICAL_FOREIGN_KEYS {
        let nulled = add_foreign_key(db, name, column).await?;
        if nulled > 0 {
            tracing::warn!(
                column,
                nulled,
                "nulled references to runs deleted while the backfill ran"
            );
        }
    }
    Ok(())
}

/// Drops step 3's finding foreign keys, if there.
pub(crate) async fn drop_foreign_keys<C: ConnectionTrait + ?Sized>(db: &C) -> Result<(), DbErr> {
    for (name, _) in crate::sql::FINDINGS_CANONICAL_FOREIGN_KEYS {
        short_lock(
            db,
            &format!("ALTER TABLE findings DROP FOREIGN KEY IF EXISTS {name}"),
        )
        .await?;
    }
    Ok(())
}

/// Adds the canonical finding foreign key `name` on `column`, if missing, online: with
/// `foreign_key_checks` off for this statement MariaDB adds it in place without reading the
/// table (step 3 only writes references to existing runs), then references to runs deleted
/// between their batch and the key's addition are nulled, as the key would have done.
async fn add_foreign_key<C: ConnectionTrait + ?Sized>(
    db: &C,
    name: &str,
    column: &str,
) -> Result<u64, DbErr> {
    short_lock_with(
        db,
        "foreign_key_checks = 0",
        &format!(
            "ALTER TABLE findings ADD CONSTRAINT {name} FOREIGN KEY IF NOT EXISTS ({column}) \
             REFERENCES operation_runs (id) ON DELETE SET NULL, ALGORITHM=INPLACE, LOCK=NONE"
        ),
    )
    .await?;
    short_lock(
        db,
        &format!(
            "UPDATE findings AS f LEFT JOIN operation_runs AS o ON o.id = f.{column} \
             SET f.{column} = NULL WHERE f.{column} IS NOT NULL AND o.id IS NULL"
        ),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_servers_and_mysql_are_refused() {
        assert!(refusal("10.11.6-MariaDB-0+deb12u1").is_none());
        assert!(refusal("10.6.0-MariaDB").is_none());
        assert!(refusal("11.4.2-MariaDB").is_none());
        let old = refusal("10.5.23-MariaDB").unwrap();
        assert!(old.contains("10.6") && old.contains("10.5.23"), "{old}");
        let mysql = refusal("8.0.36").unwrap();
        assert!(mysql.contains("MySQL 8.0.36"), "{mysql}");
    }

    #[test]
    fn tables_get_binary_collations_and_indexes_are_built_online() {
        let table = adapt("CREATE TABLE IF NOT EXISTS t (id BIGINT)");
        assert!(table.ends_with("COLLATE=utf8mb4_nopad_bin"), "{table}");
        let index = adapt("CREATE INDEX IF NOT EXISTS i ON t (id)");
        assert!(index.ends_with("ALGORITHM=INPLACE LOCK=NONE"), "{index}");
        assert_eq!(adapt("DROP TABLE t"), "DROP TABLE t");
    }
}
