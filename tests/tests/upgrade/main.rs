//! Upgrade tests of the migration history on every backend: a seeded pre-cutover database with
//! every legacy edge case, the preflight's exact counts, the cutover, and what must hold after it.
//!
//! Legacy names come from `operation_runs_migration::fixtures`: no file outside the migration
//! crate may spell them.
//!
//! This file holds the schema and row readers the modules share: the seeded edge cases
//! (`edge_cases`), each step and its `down` (`steps`), and rows that break foreign keys
//! (`foreign_keys`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../legacy_data/support.rs"]
mod legacy_support;

mod edge_cases;
mod foreign_keys;
mod steps;

use edge_cases::{
    assert_legacy_schema_gone, assert_references, cutover_of_a_seeded_legacy_database,
};
use foreign_keys::broken_foreign_keys_stop_the_cutover_before_it_changes_anything;
use foreign_keys::the_table_rebuild_step_checks_foreign_keys_first;
use steps::backfill_reports_rows_examined_and_references_mapped;
use steps::batched_backfill_matches_the_baselines;
use steps::down_restores_the_baseline_shape_and_up_works_again;
use steps::each_cutover_step_down_restores_the_shape_before_it;
use steps::preflight_in_the_middle_of_the_cutover;
use steps::preflight_on_a_fresh_install;
use steps::sql_timestamps_match_bound_chrono_times;

use legacy_support::{allowed_types, assert_reference_stats};
use operation_runs_domain::{canonicalize, is_canonical};
use operation_runs_migration::fixtures::{self, LEGACY_COLUMNS, LEGACY_TABLES};
use operation_runs_migration::{
    PreflightReport, ReferenceBackfill, TypeStats, backfill_references, preflight,
};
use operation_runs_tests::{Backend, Migrator, TestDb, on_every_backend, text_rows};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, SqlErr, Statement,
    TransactionTrait, Value,
};
use sea_orm_migration::MigratorTrait;
use std::collections::{BTreeMap, BTreeSet};

/// The baseline, the six cutover steps and the API tokens table.
pub(crate) const MIGRATIONS: usize = 8;

pub(crate) async fn exec_with(
    conn: &DatabaseConnection,
    sql: &str,
    values: Vec<Value>,
) -> Result<u64, sea_orm::DbErr> {
    let backend = conn.get_database_backend();
    let sql = if backend == DbBackend::Postgres {
        let mut n = 0;
        sql.chars()
            .map(|c| {
                if c == '?' {
                    n += 1;
                    format!("${n}")
                } else {
                    c.to_string()
                }
            })
            .collect()
    } else {
        operation_runs_tests::sql_for_conn(conn, sql).into_owned()
    };
    conn.execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await
        .map(|r| r.rows_affected())
}

pub(crate) async fn opt_i64(conn: &DatabaseConnection, sql: &str, column: usize) -> Option<i64> {
    let sql = &*operation_runs_tests::sql_for_conn(conn, sql);
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .unwrap_or_else(|| panic!("{sql}: no row"));
    row.try_get_by_index::<Option<i64>>(column).unwrap()
}

/// Schema shape: columns, indexes, constraints (order of columns ignored).
pub(crate) async fn schema_shape(db: &TestDb) -> BTreeSet<String> {
    let queries: &[&str] = match db.backend {
        Backend::Postgres => &[
            "SELECT 'column', CAST(table_name AS TEXT), CAST(column_name AS TEXT), \
               CAST(data_type AS TEXT), CAST(is_nullable AS TEXT), CAST(column_default AS TEXT) \
             FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name <> 'seaql_migrations'",
            "SELECT 'index', CAST(tablename AS TEXT), CAST(indexname AS TEXT), indexdef \
             FROM pg_indexes \
             WHERE schemaname = current_schema() AND tablename <> 'seaql_migrations'",
            "SELECT 'constraint', CAST(CAST(conrelid AS regclass) AS TEXT), CAST(conname AS TEXT), \
               pg_get_constraintdef(oid) \
             FROM pg_constraint \
             WHERE connamespace = CAST(current_schema() AS regnamespace) \
               AND CAST(CAST(conrelid AS regclass) AS TEXT) <> 'seaql_migrations'",
        ],
        Backend::Sqlite => &[
            "SELECT 'column', m.name, p.name, p.type, CAST(p.\"notnull\" AS TEXT), p.dflt_value, \
               CAST(p.pk AS TEXT) \
             FROM sqlite_master AS m JOIN pragma_table_info(m.name) AS p \
             WHERE m.type = 'table' AND m.name NOT IN ('seaql_migrations', 'sqlite_sequence')",
            "SELECT 'index', m.name, il.name, CAST(il.\"unique\" AS TEXT), \
               CAST(il.partial AS TEXT), \
               (SELECT group_concat(COALESCE(ii.name, '<expr>'), ',') \
                FROM pragma_index_info(il.name) AS ii), \
               (SELECT s.sql FROM sqlite_master AS s WHERE s.name = il.name) \
             FROM sqlite_master AS m JOIN pragma_index_list(m.name) AS il \
             WHERE m.type = 'table' AND m.name <> 'seaql_migrations'",
            "SELECT 'foreign key', m.name, fk.\"table\", fk.\"from\", fk.\"to\", fk.on_delete \
             FROM sqlite_master AS m JOIN pragma_foreign_key_list(m.name) AS fk \
             WHERE m.type = 'table'",
        ],
        Backend::MariaDb => &[
            "SELECT 'column', table_name, column_name, column_type, is_nullable, \
               column_default, collation_name, generation_expression \
             FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name <> 'seaql_migrations'",
            "SELECT 'index', table_name, index_name, CAST(non_unique AS CHAR), \
               GROUP_CONCAT(column_name ORDER BY seq_in_index) \
             FROM information_schema.statistics \
             WHERE table_schema = DATABASE() AND table_name <> 'seaql_migrations' \
             GROUP BY table_name, index_name, non_unique",
            "SELECT 'foreign key', k.table_name, k.constraint_name, k.column_name, \
               k.referenced_table_name, k.referenced_column_name, r.delete_rule \
             FROM information_schema.key_column_usage AS k \
             JOIN information_schema.referential_constraints AS r \
               ON r.constraint_schema = k.constraint_schema \
              AND r.constraint_name = k.constraint_name \
             WHERE k.table_schema = DATABASE()",
            "SELECT 'check', table_name, constraint_name, check_clause \
             FROM information_schema.check_constraints WHERE constraint_schema = DATABASE()",
        ],
    };
    let mut shape = BTreeSet::new();
    for sql in queries {
        for row in text_rows(&db.conn, sql).await {
            let parts: Vec<String> = row
                .into_iter()
                .map(|v| v.unwrap_or_else(|| "NULL".into()))
                .collect();
            shape.insert(parts.join(" | "));
        }
    }
    shape
}

/// Application tables (everything but the migration bookkeeping).
pub(crate) async fn tables(db: &TestDb) -> BTreeSet<String> {
    let sql = match db.backend {
        Backend::Postgres => {
            "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
             WHERE table_schema = current_schema()"
        }
        Backend::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table'",
        Backend::MariaDb => {
            "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
        }
    };
    text_rows(&db.conn, sql)
        .await
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .filter(|t| t != "seaql_migrations" && t != "sqlite_sequence")
        .collect()
}

pub(crate) async fn columns(db: &TestDb, table: &str) -> BTreeSet<String> {
    let sql = match db.backend {
        Backend::Postgres => format!(
            "SELECT CAST(column_name AS TEXT) FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = '{table}'"
        ),
        Backend::Sqlite => format!("SELECT name FROM pragma_table_info('{table}')"),
        Backend::MariaDb => format!(
            "SELECT column_name FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = '{table}'"
        ),
    };
    text_rows(&db.conn, &sql)
        .await
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .collect()
}

/// Schema shape plus every row of every application table, as text.
pub(crate) async fn dump(
    db: &TestDb,
) -> (BTreeSet<String>, BTreeMap<String, Vec<Vec<Option<String>>>>) {
    let mut rows = BTreeMap::new();
    for table in tables(db).await {
        let cols: Vec<String> = columns(db, &table)
            .await
            .into_iter()
            .map(|c| format!("CAST(\"{c}\" AS TEXT)"))
            .collect();
        let mut content = text_rows(
            &db.conn,
            &format!("SELECT {} FROM {table}", cols.join(", ")),
        )
        .await;
        content.sort();
        rows.insert(table, content);
    }
    (schema_shape(db).await, rows)
}

pub(crate) async fn count(db: &TestDb, table: &str) -> i64 {
    db.scalar_i64(&format!("SELECT COUNT(*) FROM {table}"))
        .await
        .unwrap()
}

/// The stored types the fixture seeded, with run counts.
pub(crate) fn seeded_type_counts(run_types: &BTreeMap<i64, String>) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for stored in run_types.values() {
        *counts.entry(stored.clone()).or_insert(0) += 1;
    }
    counts
}

on_every_backend!(new =>
    broken_foreign_keys_stop_the_cutover_before_it_changes_anything,
    the_table_rebuild_step_checks_foreign_keys_first,
    cutover_of_a_seeded_legacy_database,
    down_restores_the_baseline_shape_and_up_works_again,
    each_cutover_step_down_restores_the_shape_before_it,
    preflight_on_a_fresh_install,
    preflight_in_the_middle_of_the_cutover,
    batched_backfill_matches_the_baselines,
    backfill_reports_rows_examined_and_references_mapped,
    sql_timestamps_match_bound_chrono_times,
);
