//! The SQL fragments of `crate::sql` as MariaDB spells them.
//!
//! Counts are read with `JSON_VALUE` and cast to `SIGNED` (64-bit integer arithmetic: adding to
//! a JSON number as text would go through a double and lose precision past 2^53), written back
//! with `JSON_SET` in the same `UPDATE`, which reads the row's latest committed version under
//! its lock even at `REPEATABLE READ`: concurrent increments never lose each other.

use super::super::sql::{headroom, signed};
use operation_runs_domain::{BackupScheduleId, CountName};
use sea_orm::sea_query::Expr;

/// The generated column step 6 indexes for a schedule's history: `context.backup_schedule_id`
/// as text, like PostgreSQL's `->>`.
pub(crate) const SCHEDULE_ID_COLUMN: &str = "backup_schedule_key";

/// `context.backup_schedule_id = schedule`, on the indexed generated column.
pub(crate) fn schedule_is(schedule: BackupScheduleId) -> Expr {
    Expr::cust_with_values(
        format!("{SCHEDULE_ID_COLUMN} = ?"),
        [sea_orm::Value::from(schedule.get().to_string())],
    )
}

fn path(name: &CountName) -> sea_orm::Value {
    format!("$.{}", name.as_str()).into()
}

/// The new `summary_counts`, each count of `delta` added to the stored one.
pub(crate) fn counts_added(delta: &[(CountName, u64)]) -> Expr {
    let mut sql = String::from("JSON_SET(summary_counts");
    let mut values: Vec<sea_orm::Value> = Vec::new();
    for (name, value) in delta {
        sql.push_str(", ?, COALESCE(CAST(JSON_VALUE(summary_counts, ?) AS SIGNED), 0) + ?");
        values.push(path(name));
        values.push(path(name));
        values.push(signed(*value).into());
    }
    sql.push(')');
    Expr::cust_with_values(sql, values)
}

/// True while adding `value` to count `name` keeps it within `MAX_COUNT`.
pub(crate) fn count_fits(name: &CountName, value: u64) -> Expr {
    Expr::cust_with_values(
        "COALESCE(CAST(JSON_VALUE(summary_counts, ?) AS SIGNED), 0) <= ?",
        [path(name), headroom(value).into()],
    )
}

/// The new `context`: each top-level key of `patch` replaced by its value, as JSON
/// (`JSON_EXTRACT(?, '$')` makes MariaDB insert the bound text as JSON, not as a string).
/// `None` for a key containing a double quote, which a JSON path cannot name here.
pub(crate) fn context_merged(patch: &serde_json::Map<String, serde_json::Value>) -> Option<Expr> {
    let mut sql = String::from("JSON_SET(context");
    let mut values: Vec<sea_orm::Value> = Vec::new();
    for (key, value) in patch {
        if key.contains('"') || key.contains('\\') {
            return None;
        }
        sql.push_str(", ?, JSON_EXTRACT(?, '$')");
        values.push(format!("$.\"{key}\"").into());
        values.push(value.to_string().into());
    }
    sql.push(')');
    Some(Expr::cust_with_values(sql, values))
}
