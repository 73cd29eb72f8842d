//! `oprun migrate up` behind the preflight: a cutover that would lose data is refused (exit 6,
//! nothing applied) unless `--accept-data-loss` is given; a new database and a lossless
//! cutover need no flag.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::{baseline_databases, databases, ok, ok_json, run};
use operation_runs_migration::fixtures::{LEGACY_COLUMNS, LEGACY_TABLES, seed_legacy_edge_cases};
use operation_runs_migration::{Migrator, MigratorTrait};
use operation_runs_tests::TestDb;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::Value;

/// Every row of the tables the cutover touches, as text, in a stable order.
async fn contents(db: &TestDb) -> Vec<Vec<Option<String>>> {
    let mut out = Vec::new();
    let mut queries: Vec<String> = [
        "SELECT CAST(id AS TEXT), type, status, outcome, CAST(failure_summary AS TEXT) \
         FROM operation_runs ORDER BY id",
        "SELECT * FROM findings ORDER BY id",
        "SELECT * FROM inventory_items ORDER BY id",
    ]
    .map(str::to_owned)
    .to_vec();
    for table in LEGACY_TABLES {
        queries.push(format!("SELECT * FROM {table} ORDER BY id"));
    }
    for sql in queries {
        let rows = operation_runs_tests::query_rows(&db.conn, &sql).await;
        for row in rows {
            let cells = (0..row.column_names().len())
                .map(|i| {
                    row.try_get_by_index::<Option<String>>(i)
                        .or_else(|_| {
                            row.try_get_by_index::<Option<i64>>(i)
                                .map(|v| v.map(|v| v.to_string()))
                        })
                        .unwrap_or_else(|_| Some("<other>".to_owned()))
                })
                .collect();
            out.push(cells);
        }
    }
    out
}

/// The migrations recorded as applied, or `None` when the migration table does not exist.
async fn recorded(db: &TestDb) -> Option<Vec<String>> {
    let rows = db
        .conn
        .query_all_raw(Statement::from_string(
            db.db_backend(),
            "SELECT version FROM seaql_migrations ORDER BY version",
        ))
        .await
        .ok()?;
    Some(
        rows.iter()
            .map(|r| r.try_get_by_index::<String>(0).unwrap())
            .collect(),
    )
}

/// A database of each configured backend at the baseline, seeded with every legacy edge case.
async fn edge_case_databases() -> Vec<TestDb> {
    let all = baseline_databases().await;
    for db in &all {
        seed_legacy_edge_cases(&db.conn).await.unwrap();
    }
    all
}

fn all_applied(url: &str) -> bool {
    let status = ok_json(url, &["migrate", "status"]);
    status
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["applied"] == Value::Bool(true))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lossy_cutover_is_refused_without_the_flag_and_applied_with_it() {
    for db in edge_case_databases().await {
        let url = db.url.as_str();
        let (migrations, data) = (recorded(&db).await, contents(&db).await);

        let ran = run(url, &["migrate", "up"]);
        assert_eq!(ran.code, 6, "{}\n{}", ran.stdout, ran.stderr);
        assert!(
            ran.stderr.contains("Operation runs cutover preflight")
                && ran.stderr.contains("WILL lose data"),
            "the preflight is on stderr:\n{}",
            ran.stderr
        );
        let last = ran.stderr.lines().last().unwrap();
        assert!(
            last.starts_with("error: ")
                && last.contains("would lose data")
                && last.contains("--accept-data-loss"),
            "{last}"
        );
        assert!(!ran.stdout.contains("applied"), "{}", ran.stdout);
        assert_eq!(recorded(&db).await, migrations, "no migration recorded");
        assert_eq!(contents(&db).await, data, "no row changed");

        // Steps that lose nothing do not need the flag.
        ok(url, &["migrate", "up", "--steps", "2"]);
        assert_eq!(recorded(&db).await.unwrap().len(), 3);
        let ran = run(url, &["migrate", "up"]);
        assert_eq!(ran.code, 6, "{}", ran.stderr);
        assert_eq!(recorded(&db).await.unwrap().len(), 3);

        let applied = ok_json(url, &["migrate", "up", "--accept-data-loss"]);
        assert_eq!(
            applied["applied"].as_array().unwrap().len(),
            Migrator::migrations().len() - 3,
            "{applied}"
        );
        assert!(all_applied(url));
    }
}

/// Tables without a record of their migrations (a legacy database never migrated by this
/// history): refused without creating the migration table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untracked_lossy_database_is_refused_without_creating_anything() {
    for db in edge_case_databases().await {
        let url = db.url.as_str();
        db.exec("DROP TABLE seaql_migrations").await;
        let data = contents(&db).await;

        let ran = run(url, &["migrate", "up"]);
        assert_eq!(ran.code, 6, "{}", ran.stderr);
        assert_eq!(recorded(&db).await, None, "no migration table created");
        assert_eq!(contents(&db).await, data);

        ok(url, &["migrate", "up", "--accept-data-loss"]);
        assert!(all_applied(url));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_database_needs_no_flag() {
    for db in databases().await {
        let url = db.url.as_str();
        let applied = ok_json(url, &["migrate", "up"]);
        assert_eq!(
            applied["applied"].as_array().unwrap().len(),
            Migrator::migrations().len()
        );
        assert!(all_applied(url));
    }
}

/// A legacy database whose every legacy row is bridged and whose every reference maps: the
/// cutover loses nothing and runs without the flag, carrying the references over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lossless_cutover_needs_no_flag() {
    for db in edge_case_databases().await {
        let url = db.url.as_str();
        // Keep only what survives: references whose bridge leads to a run of the row's own
        // workspace and tenant (for findings, an inventory sync), bridged legacy rows, one
        // active run per identity. The preflight below confirms nothing is lost.
        for (table, column) in LEGACY_COLUMNS {
            let of_type = if *table == "findings" {
                "AND o.type IN ('inventory_sync', 'inventory.sync')"
            } else {
                ""
            };
            db.exec(&format!(
                "UPDATE {table} SET {column} = NULL WHERE NOT EXISTS (SELECT 1 FROM {legacy} AS l \
                 JOIN operation_runs AS o ON o.id = l.operation_run_id \
                 WHERE l.id = {table}.{column} AND o.workspace_id = {table}.workspace_id \
                 AND o.tenant_id = {table}.tenant_id {of_type})",
                legacy = LEGACY_TABLES[0],
            ))
            .await;
        }
        for table in LEGACY_TABLES {
            db.exec(&format!(
                "DELETE FROM {table} WHERE operation_run_id IS NULL \
                 OR operation_run_id NOT IN (SELECT id FROM operation_runs)"
            ))
            .await;
        }
        db.exec(
            "UPDATE operation_runs SET status = 'completed', outcome = 'cancelled' \
             WHERE status IN ('queued', 'running') AND id NOT IN (SELECT MAX(id) \
             FROM operation_runs WHERE status IN ('queued', 'running') \
             GROUP BY workspace_id, run_identity_hash)",
        )
        .await;
        let report = ok_json(url, &["preflight", "--strict"]);
        assert_eq!(report["would_lose_anything"], false, "{report}");
        let references = db
            .scalar_i64(&format!(
                "SELECT COUNT(*) FROM findings WHERE {} IS NOT NULL",
                LEGACY_COLUMNS[1].1
            ))
            .await
            .unwrap();
        assert!(references > 0, "the seed keeps references to carry over");

        ok(url, &["migrate", "up"]);
        assert!(all_applied(url));
        assert_eq!(
            db.scalar_i64(
                "SELECT COUNT(*) FROM findings WHERE baseline_operation_run_id IS NOT NULL"
            )
            .await,
            Some(references),
            "every reference carried over"
        );
    }
}
