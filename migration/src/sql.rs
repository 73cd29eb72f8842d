//! SQL helpers and table definitions shared by the migrations.
//!
//! Everything here is part of the frozen migration history: an applied migration must produce the
//! same schema forever, so these definitions change only by adding new ones, never by editing.

use crate::names::LEGACY_RUN_TABLES;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, Value};

/// The backends the migrations support.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    Postgres,
    Sqlite,
    /// MariaDB (10.6 or later; see [`crate::mysql`]). SeaORM names the whole MySQL family
    /// `MySql`; a MySQL server is refused when the history starts.
    MySql,
}

/// The backend of `db`, or an error for backends the history does not support yet.
pub(crate) fn flavor<C: ConnectionTrait + ?Sized>(db: &C) -> Result<Flavor, DbErr> {
    match db.get_database_backend() {
        DbBackend::Postgres => Ok(Flavor::Postgres),
        DbBackend::Sqlite => Ok(Flavor::Sqlite),
        DbBackend::MySql => Ok(Flavor::MySql),
        other => Err(DbErr::Migration(format!(
            "the operation runs migrations support PostgreSQL, MariaDB and SQLite, not {other:?}"
        ))),
    }
}

/// The current time as SQL, written the way SeaORM/sqlx binds a `chrono::DateTime<Utc>`.
///
/// On SQLite sqlx encodes `DateTime<Utc>` as RFC 3339 with `SecondsFormat::AutoSi` and a
/// `+00:00` offset (`2026-02-12T10:11:12.345+00:00`, no fraction when it is zero). SQLite's clock
/// has millisecond precision, so dropping a `.000` fraction yields exactly that format and text
/// comparisons against bound parameters order correctly.
pub(crate) fn now(flavor: Flavor) -> &'static str {
    match flavor {
        Flavor::Postgres => "now()",
        Flavor::Sqlite => crate::SQLITE_UTC_NOW,
        // The session's `time_zone` does not matter: DATETIME columns hold UTC.
        Flavor::MySql => "UTC_TIMESTAMP(6)",
    }
}

/// Runs statements one by one.
pub(crate) async fn exec_all<C, S>(db: &C, statements: &[S]) -> Result<(), DbErr>
where
    C: ConnectionTrait + ?Sized,
    S: AsRef<str>,
{
    let mysql = flavor(db)? == Flavor::MySql;
    for statement in statements {
        let statement = statement.as_ref();
        if mysql {
            db.execute_unprepared(&crate::mysql::adapt(statement))
                .await?;
        } else {
            db.execute_unprepared(statement).await?;
        }
    }
    Ok(())
}

/// The first column of the first row as an integer (`None` for no row or NULL).
pub(crate) async fn scalar_i64<C: ConnectionTrait + ?Sized>(
    db: &C,
    sql: &str,
    values: Vec<Value>,
) -> Result<Option<i64>, DbErr> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    match row {
        Some(row) => row.try_get_by_index::<Option<i64>>(0),
        None => Ok(None),
    }
}

/// Whether `table` exists (in the current schema on PostgreSQL).
pub(crate) async fn table_exists<C: ConnectionTrait + ?Sized>(
    db: &C,
    table: &str,
) -> Result<bool, DbErr> {
    let sql = match flavor(db)? {
        Flavor::Postgres => {
            "SELECT COUNT(*) FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = $1"
        }
        Flavor::Sqlite => "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
        Flavor::MySql => {
            "SELECT COUNT(*) FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_name = ?"
        }
    };
    Ok(scalar_i64(db, sql, vec![table.into()]).await?.unwrap_or(0) > 0)
}

/// Whether `table.column` exists (false when the table does not).
pub(crate) async fn column_exists<C: ConnectionTrait + ?Sized>(
    db: &C,
    table: &str,
    column: &str,
) -> Result<bool, DbErr> {
    let sql = match flavor(db)? {
        Flavor::Postgres => {
            "SELECT COUNT(*) FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2"
        }
        Flavor::Sqlite => "SELECT COUNT(*) FROM pragma_table_info(?) WHERE name = ?",
        Flavor::MySql => {
            "SELECT COUNT(*) FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = ? AND column_name = ?"
        }
    };
    Ok(scalar_i64(db, sql, vec![table.into(), column.into()])
        .await?
        .unwrap_or(0)
        > 0)
}

/// Quotes a string literal for SQL (doubling single quotes).
pub(crate) fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// The foreign keys of the shapes SQLite's table rebuild of cutover step 4 produces, as
/// (table, column, parent table); every parent column is `id`. The rebuild ends with a
/// `PRAGMA foreign_key_check` of these, so a row breaking one of them (written while SQLite did
/// not enforce foreign keys) makes step 4 fail after steps 1 to 3 committed.
pub(crate) const REBUILT_FOREIGN_KEYS: [(&str, &str, &str); 7] = [
    ("inventory_items", "workspace_id", "workspaces"),
    ("inventory_items", "tenant_id", "tenants"),
    (
        "inventory_items",
        "last_seen_operation_run_id",
        "operation_runs",
    ),
    ("findings", "workspace_id", "workspaces"),
    ("findings", "tenant_id", "tenants"),
    ("findings", "baseline_operation_run_id", "operation_runs"),
    ("findings", "current_operation_run_id", "operation_runs"),
];

/// Rows of one table whose column points at a parent row that does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ForeignKeyBreak {
    pub table: &'static str,
    pub column: &'static str,
    pub parent: &'static str,
    pub rows: u64,
}

/// Whether cutover step 4 will still rebuild `table` on SQLite (a legacy column is left).
async fn sqlite_rebuild_pending<C: ConnectionTrait + ?Sized>(
    db: &C,
    table: &str,
) -> Result<bool, DbErr> {
    for (legacy_table, column) in crate::names::LEGACY_REFERENCE_COLUMNS {
        if legacy_table == table && column_exists(db, table, column).await? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The rows that would make cutover step 4 fail: on SQLite, rows of a table the step still has
/// to rebuild that break one of [`REBUILT_FOREIGN_KEYS`] (only the breaks with rows are
/// returned). Canonical reference columns that do not exist yet are skipped: step 2 adds them
/// null and step 3 fills them only with runs that exist.
///
/// Empty on PostgreSQL and MariaDB, whose cutovers rebuild no table (and whose servers enforce
/// foreign keys).
pub(crate) async fn cutover_foreign_key_breaks<C: ConnectionTrait + ?Sized>(
    db: &C,
) -> Result<Vec<ForeignKeyBreak>, DbErr> {
    if flavor(db)? != Flavor::Sqlite {
        return Ok(Vec::new());
    }
    let mut breaks = Vec::new();
    for (table, column, parent) in REBUILT_FOREIGN_KEYS {
        if !sqlite_rebuild_pending(db, table).await? || !column_exists(db, table, column).await? {
            continue;
        }
        let rows = scalar_i64(
            db,
            &format!(
                "SELECT COUNT(*) FROM {table} AS t WHERE t.{column} IS NOT NULL \
                 AND NOT EXISTS (SELECT 1 FROM {parent} AS p WHERE p.id = t.{column})"
            ),
            vec![],
        )
        .await?
        .and_then(|n| u64::try_from(n).ok())
        .unwrap_or(0);
        if rows > 0 {
            breaks.push(ForeignKeyBreak {
                table,
                column,
                parent,
                rows,
            });
        }
    }
    Ok(breaks)
}

/// Refuses, before anything is changed, to run a cutover step on a SQLite database where the
/// table rebuild of step 4 would fail on broken foreign keys, which would leave the database
/// between cutover steps. `refused` says what cannot happen (`"the … cutover cannot start"`).
pub(crate) async fn refuse_cutover_on_foreign_key_breaks<C: ConnectionTrait + ?Sized>(
    db: &C,
    refused: &str,
) -> Result<(), DbErr> {
    let breaks = cutover_foreign_key_breaks(db).await?;
    if breaks.is_empty() {
        return Ok(());
    }
    let what: Vec<String> = breaks
        .iter()
        .map(|b| {
            format!(
                "{} row(s) of {} whose {} points at a missing {} row",
                b.rows, b.table, b.column, b.parent
            )
        })
        .collect();
    Err(DbErr::Migration(format!(
        "{refused}: {}. These rows break foreign keys (they were written while SQLite did not \
         enforce them), and the cutover rebuilds these tables, so it would fail halfway. This \
         migration changed nothing. Run `oprun preflight` to see them, fix or delete them, then \
         migrate again.",
        what.join("; ")
    )))
}

/// Column type vocabulary per backend. The SQLite names mirror what sea-query emits, so SeaORM
/// tooling reading the schema recognises timestamps and JSON.
pub(crate) struct Types {
    pub id: &'static str,
    /// Short text that is indexed or compared exactly (types, statuses, codes, external ids):
    /// `TEXT` but on MariaDB, which cannot index `TEXT` without a prefix length.
    pub key_text: &'static str,
    pub bigint: &'static str,
    pub int: &'static str,
    pub text: &'static str,
    pub boolean: &'static str,
    pub json: &'static str,
    pub time: &'static str,
    pub now_default: &'static str,
}

impl Types {
    /// `template` with each `{id}`, `{key_text}`, `{bigint}`, `{int}`, `{text}`, `{boolean}`,
    /// `{json}`, `{time}` and `{now}` replaced by this backend's spelling, so one `CREATE TABLE`
    /// serves every backend.
    pub(crate) fn ddl(&self, template: &str) -> String {
        [
            ("{id}", self.id),
            ("{key_text}", self.key_text),
            ("{bigint}", self.bigint),
            ("{int}", self.int),
            ("{text}", self.text),
            ("{boolean}", self.boolean),
            ("{json}", self.json),
            ("{time}", self.time),
            ("{now}", self.now_default),
        ]
        .iter()
        .fold(template.to_owned(), |ddl, (name, spelling)| {
            ddl.replace(name, spelling)
        })
    }
}

pub(crate) fn types(flavor: Flavor) -> Types {
    match flavor {
        Flavor::Postgres => Types {
            id: "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
            key_text: "TEXT",
            bigint: "BIGINT",
            int: "INTEGER",
            text: "TEXT",
            boolean: "BOOLEAN",
            json: "JSONB",
            time: "TIMESTAMPTZ",
            now_default: "now()",
        },
        Flavor::Sqlite => Types {
            // AUTOINCREMENT: an id is never reused, so a dangling legacy reference can never
            // start pointing at an unrelated new row.
            id: "INTEGER PRIMARY KEY AUTOINCREMENT",
            key_text: "TEXT",
            bigint: "BIGINT",
            int: "INTEGER",
            text: "TEXT",
            boolean: "BOOLEAN",
            json: "json_text",
            time: "timestamp_with_timezone_text",
            now_default: crate::SQLITE_UTC_NOW,
        },
        Flavor::MySql => crate::mysql::TYPES,
    }
}

/// `CREATE TABLE` of `inventory_items` under `name`, with or without the legacy column.
pub(crate) fn inventory_items_table(flavor: Flavor, name: &str, legacy: bool) -> String {
    let t = types(flavor);
    let legacy_column = if legacy {
        format!("last_seen_run_id {} NULL,\n  ", t.bigint)
    } else {
        String::new()
    };
    t.ddl(
        "CREATE TABLE IF NOT EXISTS {name} (
  id {id},
  workspace_id {bigint} NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  tenant_id {bigint} NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  external_id {key_text} NOT NULL,
  kind {key_text} NOT NULL,
  display_name {text} NOT NULL,
  {legacy_column}last_seen_operation_run_id {bigint} NULL REFERENCES operation_runs (id) ON DELETE SET NULL,
  created_at {time} NOT NULL DEFAULT {now},
  updated_at {time} NOT NULL DEFAULT {now}
)",
    )
    .replace("{name}", name)
    .replace("{legacy_column}", &legacy_column)
}

/// Columns of `inventory_items` that survive the cutover.
pub(crate) const INVENTORY_ITEMS_COLUMNS: &[&str] = &[
    "id",
    "workspace_id",
    "tenant_id",
    "external_id",
    "kind",
    "display_name",
    "last_seen_operation_run_id",
    "created_at",
    "updated_at",
];

/// Indexes of `inventory_items` that survive the cutover.
pub(crate) fn inventory_items_indexes() -> Vec<String> {
    vec![
        "CREATE UNIQUE INDEX IF NOT EXISTS inventory_items_tenant_id_external_id_key \
         ON inventory_items (tenant_id, external_id)"
            .to_owned(),
        "CREATE INDEX IF NOT EXISTS inventory_items_last_seen_operation_run_id_idx \
         ON inventory_items (last_seen_operation_run_id)"
            .to_owned(),
    ]
}

/// `CREATE TABLE` of `findings` under `name`, with the legacy and/or the canonical references.
pub(crate) fn findings_table(flavor: Flavor, name: &str, legacy: bool, canonical: bool) -> String {
    let t = types(flavor);
    let mut references = String::new();
    if legacy {
        references.push_str(&format!(
            "baseline_run_id {b} NULL,\n  current_run_id {b} NULL,\n  ",
            b = t.bigint
        ));
    }
    if canonical {
        references.push_str(&format!(
            "baseline_operation_run_id {b} NULL REFERENCES operation_runs (id) ON DELETE SET NULL,\n  \
             current_operation_run_id {b} NULL REFERENCES operation_runs (id) ON DELETE SET NULL,\n  ",
            b = t.bigint
        ));
    }
    // A reserved word on MariaDB.
    let change = if flavor == Flavor::MySql {
        "`change`"
    } else {
        "change"
    };
    t.ddl(
        "CREATE TABLE IF NOT EXISTS {name} (
  id {id},
  workspace_id {bigint} NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  tenant_id {bigint} NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  subject_external_id {text} NOT NULL,
  {change} {text} NOT NULL,
  details {json} NOT NULL DEFAULT '{}',
  {references}created_at {time} NOT NULL DEFAULT {now}
)",
    )
    .replace("{name}", name)
    .replace("{change}", change)
    .replace("{references}", &references)
}

/// Columns every shape of `findings` has.
pub(crate) const FINDINGS_COMMON_COLUMNS: &[&str] = &[
    "id",
    "workspace_id",
    "tenant_id",
    "subject_external_id",
    "change",
    "details",
    "created_at",
];

/// The `findings_tenant_id_idx` index (every shape).
pub(crate) fn findings_tenant_index() -> String {
    "CREATE INDEX IF NOT EXISTS findings_tenant_id_idx ON findings (tenant_id)".to_owned()
}

/// The legacy finding references.
pub(crate) const FINDINGS_LEGACY_REFERENCES: [&str; 2] = ["baseline_run_id", "current_run_id"];

/// The canonical finding references.
pub(crate) const FINDINGS_CANONICAL_REFERENCES: [&str; 2] =
    ["baseline_operation_run_id", "current_operation_run_id"];

/// Indexes of the legacy finding references.
pub(crate) fn findings_legacy_indexes() -> Vec<String> {
    FINDINGS_LEGACY_REFERENCES
        .map(|c| column_index("findings", c))
        .to_vec()
}

/// The foreign keys of the canonical finding references, as (constraint, column); each
/// references `operation_runs (id)` with `ON DELETE SET NULL`. The names are those PostgreSQL
/// gives a `REFERENCES` clause on the column, so the constraints are the same whether a column
/// was added with the clause or they were added after the backfill.
pub(crate) const FINDINGS_CANONICAL_FOREIGN_KEYS: [(&str, &str); 2] = [
    (
        "findings_baseline_operation_run_id_fkey",
        "baseline_operation_run_id",
    ),
    (
        "findings_current_operation_run_id_fkey",
        "current_operation_run_id",
    ),
];

/// Whether `table` has a constraint named `name` (PostgreSQL, current schema).
pub(crate) async fn postgres_constraint_exists<C: ConnectionTrait + ?Sized>(
    db: &C,
    table: &str,
    name: &str,
) -> Result<bool, DbErr> {
    Ok(scalar_i64(
        db,
        "SELECT COUNT(*) FROM information_schema.table_constraints \
         WHERE table_schema = current_schema() AND table_name = $1 AND constraint_name = $2",
        vec![table.into(), name.into()],
    )
    .await?
    .unwrap_or(0)
        > 0)
}

/// Indexes of the canonical finding references.
pub(crate) fn findings_canonical_indexes() -> Vec<String> {
    FINDINGS_CANONICAL_REFERENCES
        .map(|c| column_index("findings", c))
        .to_vec()
}

/// The three legacy run tables with their indexes, as the baseline created them.
pub(crate) fn legacy_run_tables(flavor: Flavor) -> Vec<String> {
    let t = types(flavor);
    let mut statements = Vec::new();
    // The two sync tables differ only in the name of what they counted.
    let [inventory, entra, backup] = LEGACY_RUN_TABLES;
    for (table, seen) in [(inventory, "items_seen"), (entra, "groups_seen")] {
        statements.push(t.ddl(&format!(
            "CREATE TABLE IF NOT EXISTS {table} (
  id {{id}},
  workspace_id {{bigint}} NOT NULL,
  tenant_id {{bigint}} NOT NULL,
  status {{key_text}} NOT NULL,
  {seen} {{bigint}} NOT NULL DEFAULT 0,
  error {{text}} NULL,
  started_at {{time}} NULL,
  finished_at {{time}} NULL,
  created_at {{time}} NOT NULL DEFAULT {{now}},
  operation_run_id {{bigint}} NULL
)"
        )));
        statements.push(column_index(table, "operation_run_id"));
    }
    statements.push(t.ddl(&format!(
        "CREATE TABLE IF NOT EXISTS {backup} (
  id {{id}},
  backup_schedule_id {{bigint}} NOT NULL,
  tenant_id {{bigint}} NOT NULL,
  status {{key_text}} NOT NULL,
  scheduled_for {{time}} NOT NULL,
  backup_set_id {{bigint}} NULL,
  error {{text}} NULL,
  created_at {{time}} NOT NULL DEFAULT {{now}},
  operation_run_id {{bigint}} NULL
)"
    )));
    statements.push(column_index(backup, "operation_run_id"));
    statements.push(column_index(backup, "backup_schedule_id"));
    statements
}

/// `CREATE INDEX IF NOT EXISTS {table}_{column}_idx ON {table} ({column})`.
pub(crate) fn column_index(table: &str, column: &str) -> String {
    format!("CREATE INDEX IF NOT EXISTS {table}_{column}_idx ON {table} ({column})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm_migration::sea_orm::{ConnectOptions, Database};
    use std::collections::BTreeSet;

    /// The checked foreign keys are exactly those the rebuilt shapes declare.
    #[tokio::test]
    async fn rebuilt_foreign_keys_are_those_of_the_rebuilt_shapes() {
        let mut options = ConnectOptions::new("sqlite::memory:");
        options.max_connections(1);
        let db = Database::connect(options).await.unwrap();
        exec_all(
            &db,
            &[
                inventory_items_table(Flavor::Sqlite, "inventory_items", false),
                findings_table(Flavor::Sqlite, "findings", false, true),
            ],
        )
        .await
        .unwrap();
        let rows = db
            .query_all_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT m.name, fk.\"from\", fk.\"table\", fk.\"to\" FROM sqlite_master AS m \
                 JOIN pragma_foreign_key_list(m.name) AS fk WHERE m.type = 'table'",
            ))
            .await
            .unwrap();
        let declared: BTreeSet<(String, String, String, String)> = rows
            .iter()
            .map(|r| {
                (
                    r.try_get_by_index(0).unwrap(),
                    r.try_get_by_index(1).unwrap(),
                    r.try_get_by_index(2).unwrap(),
                    r.try_get_by_index(3).unwrap(),
                )
            })
            .collect();
        let checked: BTreeSet<(String, String, String, String)> = REBUILT_FOREIGN_KEYS
            .iter()
            .map(|(t, c, p)| ((*t).into(), (*c).into(), (*p).into(), "id".into()))
            .collect();
        assert_eq!(declared, checked);
    }
}
