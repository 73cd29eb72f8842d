//! The SQL fragments of `crate::sql` as MariaDB spells them.
//!
//! Counts are read with `JSON_VALUE` and cast to `SIGNED` (64-bit integer arithmetic: adding to
//! a JSON number as text would go through a double and lose precision past 2^53), written back
//! with `JSON_SET` in the same `UPDATE`, which reads the row's latest committed version under
//! its lock even at `REPEATABLE READ`: concurrent increments never lose each other.

use super::super::sql::{guards, headroom, signed};
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

/// `crate::sql::counts_addable` on MariaDB. The counts' values, extracted as one array, are
/// integers written in digits alone (no sign, fraction, exponent, string or nesting); `JSON_TYPE`
/// tells an integer from anything else for the cast, which runs only once the CASE chose it.
pub(crate) fn counts_addable(delta: &[(CountName, u64)]) -> Vec<Expr> {
    guards(
        "CASE WHEN JSON_TYPE(summary_counts) = 'OBJECT' \
         THEN COALESCE(JSON_EXTRACT(summary_counts, '$.*') REGEXP '^[[][0-9]+(, [0-9]+)*[]]$', \
                       JSON_LENGTH(summary_counts) = 0) \
         ELSE FALSE END",
        delta,
        |name, value| {
            Expr::cust_with_values(
                "CASE JSON_TYPE(JSON_EXTRACT(summary_counts, ?)) \
             WHEN 'INTEGER' THEN CAST(JSON_VALUE(summary_counts, ?) AS SIGNED) BETWEEN 0 AND ? \
             ELSE JSON_EXTRACT(summary_counts, ?) IS NULL END",
                [path(name), path(name), headroom(value).into(), path(name)],
            )
        },
    )
}

/// The new `context`: each top-level key of `patch` replaced by its value, as JSON
/// (`JSON_EXTRACT(?, '$')` makes MariaDB insert the bound text as JSON, not as a string).
/// `None` for a key containing a double quote or a backslash, which a JSON path cannot name
/// here.
pub(crate) fn context_merged(patch: &serde_json::Map<String, serde_json::Value>) -> Option<Expr> {
    crate::sql::json_set_each(
        "JSON_SET(context",
        "JSON_EXTRACT(?, '$')",
        &['"', '\\'],
        patch,
    )
}
