//! Set-based data generation: one `INSERT … SELECT` over `generate_series` (PostgreSQL), a
//! `seq_1_to_N` table of the Sequence engine (MariaDB) or a recursive CTE (SQLite) per table,
//! never one ORM insert per row.

use crate::env::{Backend, Db};
use anyhow::Result;

/// `SELECT … FROM` a series `g` = 1..=n, as a prefix/suffix pair around the select list.
fn series(backend: Backend, n: u64) -> (String, String) {
    match backend {
        Backend::Postgres => (
            String::new(),
            format!("FROM generate_series(1::bigint, {n}::bigint) AS s(g)"),
        ),
        Backend::Sqlite => (
            format!(
                "WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < {n}) "
            ),
            "FROM s".to_owned(),
        ),
        Backend::Mariadb => (
            String::new(),
            format!("FROM (SELECT seq AS g FROM seq_1_to_{n}) AS s"),
        ),
    }
}

/// A time `age` (an SQL expression, in seconds) before now, in the stored format.
pub fn ago(backend: Backend, age: &str) -> String {
    match backend {
        Backend::Postgres => format!("(now() - make_interval(secs => ({age})))"),
        // The text format sqlx binds a `DateTime<Utc>` in (RFC 3339, `+00:00`), so the
        // adapter's comparisons with bound times order correctly.
        Backend::Sqlite => format!(
            "(replace(strftime('%Y-%m-%dT%H:%M:%f', 'now', '-' || ({age}) || ' seconds'), \
             '.000', '') || '+00:00')"
        ),
        // DATETIME(6) columns hold UTC (sqlx sets the session's time zone to UTC).
        Backend::Mariadb => format!("(UTC_TIMESTAMP(6) - INTERVAL ({age}) SECOND)"),
    }
}

/// A JSON object from `(key, SQL expression)` pairs.
pub fn json_object(backend: Backend, pairs: &[(&str, &str)]) -> String {
    let args = pairs
        .iter()
        .map(|(k, v)| format!("'{k}', {v}"))
        .collect::<Vec<_>>()
        .join(", ");
    match backend {
        Backend::Postgres => format!("jsonb_build_object({args})"),
        Backend::Sqlite => format!("json_object({args})"),
        Backend::Mariadb => format!("JSON_OBJECT({args})"),
    }
}

/// A JSON literal.
pub fn json_literal(backend: Backend, json: &str) -> String {
    match backend {
        Backend::Postgres => format!("'{json}'::jsonb"),
        Backend::Sqlite | Backend::Mariadb => format!("'{json}'"),
    }
}

/// Canonical runs to generate; every field is an SQL expression over the series `g`
/// (1..=`count`). Higher `g` means a higher id, so ages should fall as `g` grows.
pub struct Runs {
    pub count: u64,
    /// Distinguishes the identity hashes of several batches in one database.
    pub salt: u64,
    pub workspace: String,
    pub tenant: String,
    pub run_type: String,
    /// Rows that stay active (`running`), e.g. `"g % 997 = 0"`; `None` for all completed.
    pub active_when: Option<String>,
    pub context: String,
    pub age_seconds: String,
}

impl Runs {
    /// `count` completed runs of one type and tenant, one second apart, newest last.
    pub fn simple(backend: Backend, count: u64, workspace: i64, tenant: i64) -> Self {
        Self {
            count,
            salt: 0,
            workspace: workspace.to_string(),
            tenant: tenant.to_string(),
            run_type: "'inventory_sync'".to_owned(),
            active_when: None,
            context: json_literal(backend, "{}"),
            age_seconds: format!("{count} - g + 60"),
        }
    }

    pub async fn insert(&self, db: &Db) -> Result<u64> {
        if self.count == 0 {
            return Ok(0);
        }
        let b = db.backend;
        let (with, from) = series(b, self.count);
        let active = self.active_when.as_deref().unwrap_or("1 = 0");
        let hash = match b {
            Backend::Postgres => format!("md5('{0}a' || g) || md5('{0}b' || g)", self.salt),
            Backend::Sqlite => format!("printf('%016x%048x', {}, g)", self.salt),
            Backend::Mariadb => format!(
                "CONCAT(MD5(CONCAT('{0}a', g)), MD5(CONCAT('{0}b', g)))",
                self.salt
            ),
        };
        let at = ago(b, &self.age_seconds);
        let sql = format!(
            "{with}INSERT INTO operation_runs (workspace_id, tenant_id, user_id, initiator_name, \
               type, status, outcome, run_identity_hash, summary_counts, failure_summary, context, \
               started_at, completed_at, created_at, updated_at) \
             SELECT {ws}, {tenant}, NULL, 'scheduler', {ty}, \
               CASE WHEN {active} THEN 'running' ELSE 'completed' END, \
               CASE WHEN {active} THEN 'pending' ELSE 'succeeded' END, \
               {hash}, {counts}, {failures}, {context}, \
               {at}, CASE WHEN {active} THEN NULL ELSE {at} END, {at}, {at} \
             {from}",
            ws = self.workspace,
            tenant = self.tenant,
            ty = self.run_type,
            counts = json_literal(b, r#"{"total": 10, "processed": 10}"#),
            failures = json_literal(b, "[]"),
            context = self.context,
        );
        db.exec(&sql).await
    }
}

/// Inserts `count` enabled backup schedules of one tenant; returns the first id (the ids are
/// consecutive).
pub async fn insert_schedules(db: &Db, count: u64, workspace: i64, tenant: i64) -> Result<i64> {
    let (with, from) = series(db.backend, count);
    let first = db
        .scalar("SELECT COALESCE(MAX(id), 0) FROM backup_schedules")
        .await?
        + 1;
    let now = ago(db.backend, "0");
    let name = match db.backend {
        Backend::Mariadb => "CONCAT('schedule ', g)",
        Backend::Postgres | Backend::Sqlite => "'schedule ' || g",
    };
    db.exec(&format!(
        "{with}INSERT INTO backup_schedules (id, workspace_id, tenant_id, name, frequency, \
           keep_last, is_enabled, created_at, updated_at) \
         SELECT {first} - 1 + g, {workspace}, {tenant}, {name}, 'daily', 7, TRUE, \
           {now}, {now} {from}"
    ))
    .await?;
    if db.backend == Backend::Postgres {
        // Explicit ids do not advance the identity sequence.
        db.exec(
            "SELECT setval(pg_get_serial_sequence('backup_schedules', 'id'), \
             (SELECT MAX(id) FROM backup_schedules))",
        )
        .await?;
    }
    Ok(first)
}
