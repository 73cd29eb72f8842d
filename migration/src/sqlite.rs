//! SQLite's table rebuild, for the cutover's schema changes `ALTER TABLE` cannot make there.

use crate::sql::{self, Flavor};
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

/// Rebuilds a SQLite table into a new shape: SQLite's documented procedure for schema changes
/// `ALTER TABLE` cannot make (dropping a column that an index or a foreign key uses).
///
/// The migrator already holds a transaction, and `PRAGMA foreign_keys` is a no-op inside one, so
/// instead of switching enforcement off this defers it to commit (`PRAGMA defer_foreign_keys`)
/// and checks the rebuilt table with `PRAGMA foreign_key_check` before returning; a violation
/// aborts the migration and the transaction rolls back. No table references the rebuilt tables,
/// so dropping the old one cannot orphan children. The `AUTOINCREMENT` high-water mark is carried
/// over so ids of deleted rows are never reused.
///
/// `create` is the `CREATE TABLE` statement for the table named `new_table`; `columns` are the
/// columns copied (they must exist in both shapes); `indexes` recreate the table's indexes.
pub(crate) async fn rebuild_table<C: ConnectionTrait + ?Sized>(
    db: &C,
    table: &str,
    new_table: &str,
    create: &str,
    columns: &[&str],
    indexes: &[String],
) -> Result<(), DbErr> {
    let columns = columns.join(", ");
    let sequence = sql::scalar_i64(
        db,
        "SELECT seq FROM sqlite_sequence WHERE name = ?",
        vec![table.into()],
    )
    .await?;
    sql::exec_all(
        db,
        &[
            "PRAGMA defer_foreign_keys = ON".to_owned(),
            format!("DROP TABLE IF EXISTS {new_table}"),
            create.replacen("CREATE TABLE IF NOT EXISTS", "CREATE TABLE", 1),
            format!("INSERT INTO {new_table} ({columns}) SELECT {columns} FROM {table}"),
            format!("DROP TABLE {table}"),
            format!("ALTER TABLE {new_table} RENAME TO {table}"),
        ],
    )
    .await?;
    sql::exec_all(db, indexes).await?;
    if let Some(sequence) = sequence {
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "DELETE FROM sqlite_sequence WHERE name = ?",
            vec![table.into()],
        ))
        .await?;
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            format!(
                "INSERT INTO sqlite_sequence (name, seq) \
                 VALUES (?, MAX(?, COALESCE((SELECT MAX(id) FROM {table}), 0)))"
            ),
            vec![table.into(), sequence.into()],
        ))
        .await?;
    }
    let violations = db
        .query_all_raw(Statement::from_string(
            DbBackend::Sqlite,
            format!("PRAGMA foreign_key_check({table})"),
        ))
        .await?;
    if !violations.is_empty() {
        return Err(DbErr::Migration(format!(
            "rebuilding {table}: {} row(s) violate a foreign key; fix them and run the migration again",
            violations.len()
        )));
    }
    Ok(())
}

/// Rebuilds SQLite's `findings` ([`rebuild_table`]) into the shape with the legacy and/or
/// the canonical references; the old shape must have every column of the new one.
pub(crate) async fn rebuild_findings<C: ConnectionTrait + ?Sized>(
    db: &C,
    legacy: bool,
    canonical: bool,
) -> Result<(), DbErr> {
    let mut columns = sql::FINDINGS_COMMON_COLUMNS.to_vec();
    let mut indexes = vec![sql::findings_tenant_index()];
    if legacy {
        columns.extend(sql::FINDINGS_LEGACY_REFERENCES);
        indexes.extend(sql::findings_legacy_indexes());
    }
    if canonical {
        columns.extend(sql::FINDINGS_CANONICAL_REFERENCES);
        indexes.extend(sql::findings_canonical_indexes());
    }
    let create = sql::findings_table(Flavor::Sqlite, "findings__rebuild", legacy, canonical);
    rebuild_table(
        db,
        "findings",
        "findings__rebuild",
        &create,
        &columns,
        &indexes,
    )
    .await
}
