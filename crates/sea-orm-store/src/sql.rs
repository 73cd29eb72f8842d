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

/// True while adding `delta` keeps every count within `MAX_COUNT`.
pub(crate) fn counts_fit(dialect: Dialect, delta: &[(CountName, u64)]) -> Vec<Expr> {
    delta
        .iter()
        .map(|(name, value)| match dialect {
            Dialect::MySql => mysql::count_fits(name, *value),
            Dialect::Postgres => Expr::cust_with_values(
                r#"COALESCE(("summary_counts" ->> $1::text)::bigint, 0) <= $2::bigint"#,
                [
                    sea_orm::Value::from(name.as_str().to_owned()),
                    headroom(*value).into(),
                ],
            ),
            Dialect::Sqlite => Expr::cust_with_values(
                r#"COALESCE(json_extract("summary_counts", ?), 0) <= ?"#,
                [
                    sea_orm::Value::from(format!("$.{}", name.as_str())),
                    headroom(*value).into(),
                ],
            ),
        })
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
        Dialect::Sqlite => {
            // `json_patch` would merge nested objects and delete keys set to null, so each key
            // is set on its own; `json(?)` inserts the value as JSON rather than as a string.
            let mut sql = String::from(r#"json_set("context""#);
            let mut values: Vec<sea_orm::Value> = Vec::new();
            for (key, value) in patch {
                if key.contains('"') {
                    return None;
                }
                sql.push_str(", ?, json(?)");
                values.push(format!("$.\"{key}\"").into());
                values.push(value.to_string().into());
            }
            sql.push(')');
            Some(Expr::cust_with_values(sql, values))
        }
    }
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
