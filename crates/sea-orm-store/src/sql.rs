//! The few SQL fragments that differ between SQLite, PostgreSQL and MariaDB (whose spellings are
//! in `crate::mysql::sql`). Everything else is built once with SeaORM / sea-query and rendered
//! for the connection's backend.

use crate::mysql::sql as mysql;
use operation_runs_domain::{BackupScheduleId, CountName, MAX_COUNT};
use sea_orm::sea_query::{Expr, ExprTrait};

/// The backends this adapter speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
    /// MariaDB (SeaORM's `MySql` backend).
    MySql,
}

/// The predicate of the partial indexes on active runs, spelled with literals: SQLite uses a
/// partial index (and accepts it as an upsert target) only when the query's predicate is the
/// index's own, and it cannot see through bound parameters. The column is not quoted: MariaDB
/// reads a double-quoted name as a string.
pub(crate) const ACTIVE: &str = "status IN ('queued', 'running')";

/// `operation_runs_schedule_history_idx`'s expression, exactly as indexed: a planner matches an
/// expression index only against the identical expression.
fn schedule_id_expr(dialect: Dialect) -> Expr {
    match dialect {
        // `->>` yields text, so the id is compared as text.
        Dialect::Postgres => Expr::cust(r#"("context" ->> 'backup_schedule_id')"#),
        // `json_extract` yields the stored integer.
        Dialect::Sqlite => Expr::cust(r#"json_extract("context", '$.backup_schedule_id')"#),
        Dialect::MySql => Expr::cust(mysql::SCHEDULE_ID_COLUMN),
    }
}

/// `context.backup_schedule_id = schedule`, in the indexed form.
pub(crate) fn schedule_is(dialect: Dialect, schedule: BackupScheduleId) -> Expr {
    match dialect {
        Dialect::Postgres => schedule_id_expr(dialect).eq(schedule.get().to_string()),
        Dialect::Sqlite => schedule_id_expr(dialect).eq(schedule.get()),
        Dialect::MySql => mysql::schedule_is(schedule),
    }
}

/// A delta that fits: every value is at most `MAX_COUNT`, so `MAX_COUNT - value` is a valid
/// bound for the stored count.
pub(crate) fn headroom(value: u64) -> i64 {
    i64::try_from(MAX_COUNT.saturating_sub(value)).unwrap_or(0)
}

pub(crate) fn signed(value: u64) -> i64 {
    i64::try_from(Ord::min(value, MAX_COUNT)).unwrap_or(i64::MAX)
}

/// The new `summary_counts`: each count of `delta` added to the stored one, in one expression
/// evaluated against the row being updated (so concurrent increments never lose each other).
pub(crate) fn counts_added(dialect: Dialect, delta: &[(CountName, u64)]) -> Expr {
    match dialect {
        Dialect::MySql => mysql::counts_added(delta),
        Dialect::Postgres => {
            let mut sql = String::from(r#""summary_counts" || jsonb_build_object("#);
            let mut values: Vec<sea_orm::Value> = Vec::new();
            for (i, (name, value)) in delta.iter().enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                let key = values.len() + 1;
                let val = key + 1;
                sql.push_str(&format!(
                    r#"${key}::text, COALESCE(("summary_counts" ->> ${key}::text)::bigint, 0) + ${val}::bigint"#
                ));
                values.push(name.as_str().to_owned().into());
                values.push(signed(*value).into());
            }
            sql.push(')');
            Expr::cust_with_values(sql, values)
        }
        Dialect::Sqlite => {
            let mut sql = String::from(r#"json_set("summary_counts""#);
            let mut values: Vec<sea_orm::Value> = Vec::new();
            for (name, value) in delta {
                let path = format!("$.{}", name.as_str());
                sql.push_str(r#", ?, COALESCE(json_extract("summary_counts", ?), 0) + ?"#);
                values.push(path.clone().into());
                values.push(path.into());
                values.push(signed(*value).into());
            }
            sql.push(')');
            Expr::cust_with_values(sql, values)
        }
    }
}

/// The guards of adding `delta`: the stored counts can be read (a JSON object of non-negative
/// integers, as `SummaryCounts` reads them; a legacy row's count stored as text, a fraction or
/// a negative number is never added to, nor cast: a failing cast would be an error, not a
/// refusal), and each count `delta` adds to has room for its value below `MAX_COUNT`.
pub(crate) fn counts_addable(dialect: Dialect, delta: &[(CountName, u64)]) -> Vec<Expr> {
    match dialect {
        Dialect::MySql => mysql::counts_addable(delta),
        // `strict`: a lax path would look inside an array stored as a count. CASE fixes the
        // order: the cast runs only on a number written in digits alone.
        Dialect::Postgres => guards(
            r#"CASE WHEN jsonb_typeof("summary_counts") = 'object'
                THEN NOT jsonb_path_exists("summary_counts",
                  'strict $.* ? (@.type() != "number" || @ < 0 || @.floor() != @
                    || @ > 9223372036854775807)')
                ELSE FALSE END"#,
            delta,
            |name, value| {
                Expr::cust_with_values(
                    r#"CASE WHEN ("summary_counts" -> $1::text) IS NULL THEN TRUE
                    WHEN jsonb_typeof("summary_counts" -> $1::text) = 'number'
                     AND ("summary_counts" ->> $1::text) ~ '^[0-9]+$'
                    THEN ("summary_counts" ->> $1::text)::numeric <= $2::bigint
                    ELSE FALSE END"#,
                    [
                        sea_orm::Value::from(name.as_str().to_owned()),
                        headroom(value).into(),
                    ],
                )
            },
        ),
        // Legacy text may not be JSON at all, and SQLite's JSON functions raise an error on it,
        // so each guard checks first; an integer past 64 bits is typed `real`.
        Dialect::Sqlite => guards(
            r#"CASE WHEN NOT json_valid("summary_counts") THEN 0
                WHEN json_type("summary_counts") = 'object'
                THEN NOT EXISTS (SELECT 1 FROM json_each("summary_counts")
                                 WHERE type <> 'integer' OR value < 0)
                ELSE 0 END"#,
            delta,
            |name, value| {
                let path = format!("$.{}", name.as_str());
                Expr::cust_with_values(
                    r#"CASE WHEN NOT json_valid("summary_counts") THEN 0
                        WHEN json_type("summary_counts", ?) = 'integer'
                        THEN json_extract("summary_counts", ?) BETWEEN 0 AND ?
                        ELSE json_type("summary_counts", ?) IS NULL END"#,
                    [
                        sea_orm::Value::from(path.clone()),
                        path.clone().into(),
                        headroom(value).into(),
                        path.into(),
                    ],
                )
            },
        ),
    }
}

/// `readable` (the stored counts can be read) and `count`'s guard for each count of `delta`.
pub(crate) fn guards(
    readable: &str,
    delta: &[(CountName, u64)],
    count: impl Fn(&CountName, u64) -> Expr,
) -> Vec<Expr> {
    std::iter::once(Expr::cust(readable.to_owned()))
        .chain(delta.iter().map(|(name, value)| count(name, *value)))
        .collect()
}

/// The new `context`: the stored object with each top-level key of `patch` replaced (not merged
/// recursively, and a `null` stays a value rather than deleting the key).
///
/// Returns `None` for a key SQLite's JSON paths cannot name (one containing a double quote).
pub(crate) fn context_merged(
    dialect: Dialect,
    patch: &serde_json::Map<String, serde_json::Value>,
) -> Option<Expr> {
    match dialect {
        Dialect::MySql => mysql::context_merged(patch),
        Dialect::Postgres => Some(Expr::cust_with_values(
            r#""context" || $1::jsonb"#,
            [sea_orm::Value::from(serde_json::Value::Object(
                patch.clone(),
            ))],
        )),
        // `json_patch` would merge nested objects and delete keys set to null, so each key is
        // set on its own; `json(?)` inserts the value as JSON rather than as a string.
        Dialect::Sqlite => json_set_each(r#"json_set("context""#, "json(?)", &['"'], patch),
    }
}

/// `{call}, path, value, …)` for each top-level key of `patch`: `call` opens a JSON-setting
/// function on the column, `value` is the SQL of one value (the key's value bound as JSON text
/// where its `?` stands). `None` for a key holding a `forbidden` character, which the
/// dialect's JSON paths cannot name.
pub(crate) fn json_set_each(
    call: &str,
    value: &str,
    forbidden: &[char],
    patch: &serde_json::Map<String, serde_json::Value>,
) -> Option<Expr> {
    let mut sql = String::from(call);
    let mut values: Vec<sea_orm::Value> = Vec::new();
    for (key, json) in patch {
        if key.contains(forbidden) {
            return None;
        }
        sql.push_str(", ?, ");
        sql.push_str(value);
        values.push(format!("$.\"{key}\"").into());
        values.push(json.to_string().into());
    }
    sql.push(')');
    Some(Expr::cust_with_values(sql, values))
}

/// `EXPLAIN` for the dialect, and which column of its output holds the plan text.
pub(crate) fn explain_prefix(dialect: Dialect) -> (&'static str, usize) {
    match dialect {
        Dialect::Postgres => ("EXPLAIN ", 0),
        Dialect::Sqlite => ("EXPLAIN QUERY PLAN ", 3),
        // One row: the plan as a JSON document, which names the index each table is read by.
        Dialect::MySql => ("EXPLAIN FORMAT=JSON ", 0),
    }
}
