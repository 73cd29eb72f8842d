//! Upgrade tests of the migration history on every backend: a seeded pre-cutover database with
//! every legacy edge case, the preflight's exact counts, the cutover, and what must hold after it.
//!
//! Legacy names come from `operation_runs_migration::fixtures`: no file outside the migration
//! crate may spell them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use operation_runs_domain::{RunTypeRegistry, canonicalize, is_canonical};
use operation_runs_migration::fixtures::{self, LEGACY_COLUMNS, LEGACY_TABLES};
use operation_runs_migration::{
    PreflightReport, ReferenceBackfill, TypeStats, backfill_references, preflight,
};
use operation_runs_tests::{Backend, Migrator, TestDb, on_every_backend};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, SqlErr, Statement,
    TransactionTrait, Value,
};
use sea_orm_migration::MigratorTrait;
use std::collections::{BTreeMap, BTreeSet};

/// The baseline, the six cutover steps and the API tokens table.
const MIGRATIONS: usize = 8;

fn allowed_types() -> BTreeSet<String> {
    RunTypeRegistry::with_builtins()
        .iter()
        .map(|d| d.id().as_str().to_owned())
        .collect()
}

/// Every column of every row of a query, as text (the SQL must cast non-text columns).
async fn text_rows(conn: &DatabaseConnection, sql: &str) -> Vec<Vec<Option<String>>> {
    let rows = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.iter()
        .map(|row| {
            (0..row.column_names().len())
                .map(|i| row.try_get_by_index::<Option<String>>(i).unwrap())
                .collect()
        })
        .collect()
}

async fn exec_with(
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
        sql.to_owned()
    };
    conn.execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await
        .map(|r| r.rows_affected())
}

async fn opt_i64(conn: &DatabaseConnection, sql: &str, column: usize) -> Option<i64> {
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
async fn schema_shape(db: &TestDb) -> BTreeSet<String> {
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
async fn tables(db: &TestDb) -> BTreeSet<String> {
    let sql = match db.backend {
        Backend::Postgres => {
            "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
             WHERE table_schema = current_schema()"
        }
        Backend::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table'",
    };
    text_rows(&db.conn, sql)
        .await
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .filter(|t| t != "seaql_migrations" && t != "sqlite_sequence")
        .collect()
}

async fn columns(db: &TestDb, table: &str) -> BTreeSet<String> {
    let sql = match db.backend {
        Backend::Postgres => format!(
            "SELECT CAST(column_name AS TEXT) FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = '{table}'"
        ),
        Backend::Sqlite => format!("SELECT name FROM pragma_table_info('{table}')"),
    };
    text_rows(&db.conn, &sql)
        .await
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .collect()
}

/// Schema shape plus every row of every application table, as text.
async fn dump(db: &TestDb) -> (BTreeSet<String>, BTreeMap<String, Vec<Vec<Option<String>>>>) {
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

async fn count(db: &TestDb, table: &str) -> i64 {
    db.scalar_i64(&format!("SELECT COUNT(*) FROM {table}"))
        .await
        .unwrap()
}

/// The stored types the fixture seeded, with run counts.
fn seeded_type_counts(run_types: &BTreeMap<i64, String>) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for stored in run_types.values() {
        *counts.entry(stored.clone()).or_insert(0) += 1;
    }
    counts
}

fn assert_preflight_before(report: &PreflightReport, exp: &fixtures::EdgeCaseExpectations) {
    assert!(report.missing_legacy_objects.is_empty(), "{report:?}");
    assert!(!report.cutover_complete());
    assert_eq!(report.legacy_tables, exp.legacy_tables);
    assert_eq!(
        report.finding_baseline_refs,
        Some(exp.finding_baseline_refs)
    );
    assert_eq!(report.finding_current_refs, Some(exp.finding_current_refs));
    assert_eq!(
        report.inventory_last_seen_refs,
        Some(exp.inventory_last_seen_refs)
    );
    assert_eq!(
        report.duplicate_active_identities,
        exp.duplicate_active_identities
    );

    // Types: computed here with the domain's rules, independently of the migration crate.
    let allowed = allowed_types();
    let seeded = seeded_type_counts(&exp.run_types);
    let dotted: Vec<(String, String, u64)> = seeded
        .iter()
        .filter(|(stored, _)| stored.contains('.'))
        .map(|(stored, n)| (stored.clone(), canonicalize(stored).into_owned(), *n))
        .collect();
    let unregistered: Vec<(String, String, u64)> = seeded
        .iter()
        .filter(|(stored, _)| !allowed.contains(canonicalize(stored).as_ref()))
        .map(|(stored, n)| (stored.clone(), canonicalize(stored).into_owned(), *n))
        .collect();
    let flat = |t: &[TypeStats]| -> Vec<(String, String, u64)> {
        t.iter()
            .map(|t| (t.stored.clone(), t.canonical.clone(), t.rows))
            .collect()
    };
    assert_eq!(flat(&report.dotted_types), dotted);
    assert_eq!(flat(&report.unregistered_types), unregistered);
    assert_eq!(
        dotted.len(),
        10,
        "the fixture covers the nine legacy spellings and one unknown dotted type"
    );
    assert_eq!(
        unregistered
            .iter()
            .map(|t| t.1.as_str())
            .collect::<Vec<_>>(),
        ["custom_report_export", "legacy_cleanup"]
    );

    assert!(report.would_lose_anything());
    assert_eq!(report.unbridged_legacy_runs(), 6);
    assert_eq!(report.superseded_runs(), 3);
    let text = report.to_string();
    assert!(text.contains("WILL lose data"), "{text}");
    assert!(text.contains("superseded_duplicate"), "{text}");
    let json = serde_json::to_value(report).unwrap();
    assert_eq!(json["legacy_tables"][0]["bridge_null"], 1);
}

async fn assert_references(db: &TestDb, exp: &fixtures::EdgeCaseExpectations) {
    for (id, (baseline, current)) in &exp.findings {
        let sql = format!(
            "SELECT baseline_operation_run_id, current_operation_run_id FROM findings WHERE id = {id}"
        );
        assert_eq!(
            (
                opt_i64(&db.conn, &sql, 0).await,
                opt_i64(&db.conn, &sql, 1).await
            ),
            (*baseline, *current),
            "finding {id}"
        );
    }
    for (id, last_seen) in &exp.inventory_items {
        let sql = format!("SELECT last_seen_operation_run_id FROM inventory_items WHERE id = {id}");
        assert_eq!(opt_i64(&db.conn, &sql, 0).await, *last_seen, "item {id}");
    }
    // Every expected value is either null or an existing run.
    let orphans = db
        .scalar_i64(
            "SELECT COUNT(*) FROM findings AS f WHERE \
             (f.baseline_operation_run_id IS NOT NULL AND NOT EXISTS \
               (SELECT 1 FROM operation_runs AS o WHERE o.id = f.baseline_operation_run_id)) \
             OR (f.current_operation_run_id IS NOT NULL AND NOT EXISTS \
               (SELECT 1 FROM operation_runs AS o WHERE o.id = f.current_operation_run_id))",
        )
        .await;
    assert_eq!(orphans, Some(0));
}

async fn assert_types_and_duplicates(db: &TestDb, exp: &fixtures::EdgeCaseExpectations) {
    let stored: BTreeMap<i64, String> = text_rows(
        &db.conn,
        "SELECT CAST(id AS TEXT), type FROM operation_runs",
    )
    .await
    .into_iter()
    .map(|r| {
        (
            r[0].clone().unwrap().parse().unwrap(),
            r[1].clone().unwrap(),
        )
    })
    .collect();
    assert_eq!(
        stored.keys().collect::<Vec<_>>(),
        exp.run_types.keys().collect::<Vec<_>>(),
        "no operation run is created or removed by the cutover"
    );
    for (id, seeded) in &exp.run_types {
        assert_eq!(
            stored[id],
            canonicalize(seeded),
            "run {id} seeded as {seeded}"
        );
        assert!(is_canonical(&stored[id]), "{}", stored[id]);
    }

    let superseded: BTreeSet<i64> = exp
        .duplicate_active_identities
        .iter()
        .flat_map(|d| d.superseded_run_ids.iter().copied())
        .collect();
    for d in &exp.duplicate_active_identities {
        let row = &text_rows(
            &db.conn,
            &format!(
                "SELECT status, outcome, CAST(failure_summary AS TEXT) FROM operation_runs \
                 WHERE id = {}",
                d.kept_run_id
            ),
        )
        .await[0];
        assert!(
            matches!(row[0].as_deref(), Some("queued" | "running")),
            "the newest run stays active: {row:?}"
        );
        assert_eq!(row[1].as_deref(), Some("pending"));
        for id in &d.superseded_run_ids {
            let row = &text_rows(
                &db.conn,
                &format!(
                    "SELECT status, outcome, CAST(failure_summary AS TEXT), \
                     CAST(completed_at AS TEXT) FROM operation_runs WHERE id = {id}"
                ),
            )
            .await[0];
            assert_eq!(row[0].as_deref(), Some("completed"), "run {id}");
            assert_eq!(row[1].as_deref(), Some("failed"), "run {id}");
            assert!(row[3].is_some(), "run {id} has a completion time");
            let failures: serde_json::Value =
                serde_json::from_str(row[2].as_deref().unwrap()).unwrap();
            assert_eq!(failures.as_array().unwrap().len(), 1, "{failures}");
            assert_eq!(failures[0]["code"], "superseded_duplicate");
            let message = failures[0]["message"].as_str().unwrap();
            assert!(message.contains(&d.kept_run_id.to_string()), "{message}");
        }
    }
    // Nothing else was superseded, and no identity has two active runs any more.
    let marked = text_rows(
        &db.conn,
        "SELECT CAST(id AS TEXT), CAST(failure_summary AS TEXT) FROM operation_runs \
         WHERE status = 'completed' AND outcome = 'failed'",
    )
    .await
    .into_iter()
    .filter(|r| r[1].as_deref().unwrap().contains("superseded_duplicate"))
    .map(|r| r[0].clone().unwrap().parse::<i64>().unwrap())
    .collect::<BTreeSet<_>>();
    assert_eq!(marked, superseded);
}

async fn assert_legacy_schema_gone(db: &TestDb) {
    let all = tables(db).await;
    for table in LEGACY_TABLES {
        assert!(!all.contains(table), "{table} still exists");
    }
    for (table, column) in LEGACY_COLUMNS {
        assert!(
            !columns(db, table).await.contains(*column),
            "{table}.{column} still exists"
        );
    }
    for (table, column) in [
        ("findings", "baseline_operation_run_id"),
        ("findings", "current_operation_run_id"),
        ("inventory_items", "last_seen_operation_run_id"),
    ] {
        assert!(
            columns(db, table).await.contains(column),
            "{table}.{column}"
        );
    }
}

async fn assert_foreign_keys_hold(db: &TestDb, exp: &fixtures::EdgeCaseExpectations) {
    if db.backend == Backend::Sqlite {
        assert_eq!(db.scalar_i64("PRAGMA foreign_keys").await, Some(1));
        assert!(
            text_rows(&db.conn, "PRAGMA foreign_key_check")
                .await
                .is_empty(),
            "foreign key violations after the cutover"
        );
    }
    let missing = db
        .scalar_i64("SELECT COALESCE(MAX(id), 0) + 1000 FROM operation_runs")
        .await
        .unwrap();
    for column in ["baseline_operation_run_id", "current_operation_run_id"] {
        let inserted = exec_with(
            &db.conn,
            &format!(
                "INSERT INTO findings (workspace_id, tenant_id, subject_external_id, change, \
                 {column}) VALUES (?, ?, 'x', 'added', ?)"
            ),
            vec![
                exp.workspace_id.into(),
                exp.tenant_id.into(),
                missing.into(),
            ],
        )
        .await;
        assert!(inserted.is_err(), "findings.{column} accepts a missing run");
    }
    let inserted = exec_with(
        &db.conn,
        "INSERT INTO inventory_items (workspace_id, tenant_id, external_id, kind, display_name, \
         last_seen_operation_run_id) VALUES (?, ?, 'fk-probe', 'device', 'probe', ?)",
        vec![
            exp.workspace_id.into(),
            exp.tenant_id.into(),
            missing.into(),
        ],
    )
    .await;
    assert!(inserted.is_err(), "inventory_items accepts a missing run");

    // ON DELETE SET NULL: deleting a referenced run clears the references to it.
    let (finding, run) = exp
        .findings
        .iter()
        .find_map(|(id, (baseline, _))| baseline.map(|run| (*id, run)))
        .unwrap();
    exec_with(
        &db.conn,
        "DELETE FROM operation_runs WHERE id = ?",
        vec![run.into()],
    )
    .await
    .unwrap();
    let sql = format!("SELECT baseline_operation_run_id FROM findings WHERE id = {finding}");
    assert_eq!(opt_i64(&db.conn, &sql, 0).await, None);
    let referencing = db
        .scalar_i64(&format!(
            "SELECT COUNT(*) FROM inventory_items WHERE last_seen_operation_run_id = {run}"
        ))
        .await;
    assert_eq!(referencing, Some(0));
}

async fn assert_one_active_run_per_identity(db: &TestDb, exp: &fixtures::EdgeCaseExpectations) {
    let duplicate = &exp.duplicate_active_identities[0];
    let insert = |status: &'static str| {
        exec_with(
            &db.conn,
            "INSERT INTO operation_runs (workspace_id, tenant_id, initiator_name, type, status, \
             outcome, run_identity_hash) VALUES (?, ?, 'probe', 'inventory_sync', ?, ?, ?)",
            vec![
                duplicate.workspace_id.into(),
                exp.tenant_id.into(),
                status.into(),
                (if status == "completed" {
                    "succeeded"
                } else {
                    "pending"
                })
                .into(),
                duplicate.run_identity_hash.clone().into(),
            ],
        )
    };
    for status in ["queued", "running"] {
        let err = insert(status).await.expect_err("a second active run");
        assert!(
            matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))),
            "{err}"
        );
    }
    // Completed runs of the identity are unconstrained, and once the active one completes the
    // identity may start again.
    insert("completed").await.unwrap();
    exec_with(
        &db.conn,
        "UPDATE operation_runs SET status = 'completed', outcome = 'succeeded' WHERE id = ?",
        vec![duplicate.kept_run_id.into()],
    )
    .await
    .unwrap();
    insert("queued").await.unwrap();
}

async fn cutover_of_a_seeded_legacy_database(db: TestDb) {
    Migrator::up(&db.conn, Some(1)).await.unwrap();
    let exp = fixtures::seed_legacy_edge_cases(&db.conn).await.unwrap();
    let runs_before = count(&db, "operation_runs").await;
    assert_eq!(runs_before as usize, exp.run_types.len());

    let report = preflight(&db.conn, &allowed_types()).await.unwrap();
    assert_preflight_before(&report, &exp);
    // The preflight only reads.
    assert_eq!(preflight(&db.conn, &allowed_types()).await.unwrap(), report);

    Migrator::up(&db.conn, None).await.unwrap();
    assert_eq!(
        Migrator::get_pending_migrations(&db.conn)
            .await
            .unwrap()
            .len(),
        0
    );
    assert_eq!(count(&db, "operation_runs").await, runs_before);
    assert_references(&db, &exp).await;
    assert_types_and_duplicates(&db, &exp).await;
    assert_legacy_schema_gone(&db).await;

    // A second `up` is a no-op, and so is re-running every migration with the version records
    // lost (each migration is defensive on its own).
    let before = dump(&db).await;
    Migrator::up(&db.conn, None).await.unwrap();
    assert_eq!(dump(&db).await, before);
    db.exec("DELETE FROM seaql_migrations").await;
    Migrator::up(&db.conn, None).await.unwrap();
    assert_eq!(dump(&db).await, before);
    assert_eq!(count(&db, "seaql_migrations").await, MIGRATIONS as i64);
    assert_eq!(count(&db, "operation_runs").await, runs_before);

    // The preflight after the cutover says so instead of failing.
    let after = preflight(&db.conn, &allowed_types()).await.unwrap();
    assert!(after.cutover_complete(), "{after:?}");
    assert_eq!(after.missing_legacy_objects.len(), 6);
    assert!(after.dotted_types.is_empty());
    assert!(after.duplicate_active_identities.is_empty());
    assert!(!after.would_lose_anything());
    assert!(after.to_string().contains("already gone"), "{after}");

    // The upgraded schema is exactly a fresh install's.
    let fresh = TestDb::migrated(db.backend).await.unwrap();
    assert_eq!(schema_shape(&db).await, schema_shape(&fresh).await);

    assert_foreign_keys_hold(&db, &exp).await;
    assert_one_active_run_per_identity(&db, &exp).await;
}

async fn down_restores_the_baseline_shape_and_up_works_again(db: TestDb) {
    Migrator::up(&db.conn, Some(1)).await.unwrap();
    let baseline_shape = schema_shape(&db).await;
    let exp = fixtures::seed_legacy_edge_cases(&db.conn).await.unwrap();
    Migrator::up(&db.conn, None).await.unwrap();
    let cutover_shape = schema_shape(&db).await;

    // Undo the cutover: the baseline's shape comes back (the dropped data does not).
    Migrator::down(&db.conn, Some((MIGRATIONS - 1) as u32))
        .await
        .unwrap();
    assert_eq!(schema_shape(&db).await, baseline_shape);
    assert_eq!(count(&db, "findings").await as usize, exp.findings.len());
    for table in LEGACY_TABLES {
        assert_eq!(count(&db, table).await, 0, "{table} comes back empty");
    }
    if db.backend == Backend::Sqlite {
        assert!(
            text_rows(&db.conn, "PRAGMA foreign_key_check")
                .await
                .is_empty()
        );
    }

    // Down all the way, then the whole history again on the empty schema.
    Migrator::down(&db.conn, None).await.unwrap();
    assert!(tables(&db).await.is_empty(), "{:?}", tables(&db).await);
    Migrator::up(&db.conn, None).await.unwrap();
    assert_eq!(schema_shape(&db).await, cutover_shape);
    assert_eq!(
        Migrator::get_pending_migrations(&db.conn)
            .await
            .unwrap()
            .len(),
        0
    );
}

/// Every cutover step's `down` leaves exactly the shape the step started from (for example,
/// the backfill step's indexes and, on PostgreSQL, its foreign keys go with its `down`).
async fn each_cutover_step_down_restores_the_shape_before_it(db: TestDb) {
    Migrator::up(&db.conn, Some(1)).await.unwrap();
    fixtures::seed_legacy_edge_cases(&db.conn).await.unwrap();
    let mut shapes = vec![schema_shape(&db).await];
    for _ in 1..MIGRATIONS {
        Migrator::up(&db.conn, Some(1)).await.unwrap();
        shapes.push(schema_shape(&db).await);
    }
    for step in (1..MIGRATIONS).rev() {
        Migrator::down(&db.conn, Some(1)).await.unwrap();
        assert_eq!(
            schema_shape(&db).await,
            shapes[step - 1],
            "down of cutover step {step}"
        );
    }
}

async fn preflight_on_a_fresh_install(db: TestDb) {
    Migrator::up(&db.conn, None).await.unwrap();
    let report = preflight(&db.conn, &allowed_types()).await.unwrap();
    assert!(report.cutover_complete());
    assert!(report.legacy_tables.is_empty());
    assert!(report.finding_baseline_refs.is_none());
    assert!(report.unregistered_types.is_empty());
    assert!(!report.would_lose_anything());

    // On a fresh baseline there is nothing to lose either.
    let baseline = TestDb::new(db.backend).await.unwrap();
    Migrator::up(&baseline.conn, Some(1)).await.unwrap();
    let report = preflight(&baseline.conn, &allowed_types()).await.unwrap();
    assert!(!report.cutover_complete());
    assert_eq!(report.legacy_tables.len(), 3);
    assert!(!report.would_lose_anything(), "{report}");
    assert!(report.to_string().contains("loses nothing"));
}

/// Between the steps of the cutover the preflight still reads: after the backfill the mapped
/// references count as already set, and once the legacy columns are gone it names them.
async fn preflight_in_the_middle_of_the_cutover(db: TestDb) {
    Migrator::up(&db.conn, Some(1)).await.unwrap();
    let exp = fixtures::seed_legacy_edge_cases(&db.conn).await.unwrap();
    // Steps 1 to 3: types canonical, canonical columns added and backfilled.
    Migrator::up(&db.conn, Some(3)).await.unwrap();
    let report = preflight(&db.conn, &allowed_types()).await.unwrap();
    assert!(report.dotted_types.is_empty());
    assert_eq!(report.legacy_tables, exp.legacy_tables);
    for (seen, expected) in [
        (report.finding_baseline_refs, exp.finding_baseline_refs),
        (report.finding_current_refs, exp.finding_current_refs),
        (
            report.inventory_last_seen_refs,
            exp.inventory_last_seen_refs,
        ),
    ] {
        let seen = seen.unwrap();
        assert_eq!(seen.already_set, expected.already_set + expected.mapped);
        assert_eq!(seen.mapped, 0);
        assert_eq!(seen.null_after(), expected.null_after());
        assert_eq!(seen.lost(), expected.lost());
    }
    // Step 4: the legacy columns are gone, the legacy tables not yet.
    Migrator::up(&db.conn, Some(1)).await.unwrap();
    let report = preflight(&db.conn, &allowed_types()).await.unwrap();
    assert!(!report.cutover_complete());
    assert_eq!(report.legacy_tables, exp.legacy_tables);
    assert!(report.finding_baseline_refs.is_none());
    assert!(report.inventory_last_seen_refs.is_none());
    let missing: BTreeSet<String> = report.missing_legacy_objects.iter().cloned().collect();
    let expected: BTreeSet<String> = LEGACY_COLUMNS
        .iter()
        .map(|(table, column)| format!("{table}.{column}"))
        .collect();
    assert_eq!(missing, expected);
}

/// The batched backfill gives exactly what the single hand-written statement and the legacy
/// row-by-row loop give, across many batch boundaries.
async fn batched_backfill_matches_the_baselines(db: TestDb) {
    let mut dbs = vec![db];
    for _ in 0..2 {
        dbs.push(TestDb::new(dbs[0].backend).await.unwrap());
    }
    let (mut results, mut mapped) = (Vec::new(), Vec::new());
    for (n, db) in dbs.iter().enumerate() {
        Migrator::up(&db.conn, Some(1)).await.unwrap();
        let seeded = fixtures::seed_legacy_at_scale(&db.conn, 700, 500, 300)
            .await
            .unwrap();
        assert_eq!((seeded.inventory_items, seeded.findings), (700, 500));
        // Canonicalize types and add the canonical columns.
        Migrator::up(&db.conn, Some(2)).await.unwrap();
        mapped.push(match n {
            0 => backfill_references(&db.conn, 37)
                .await
                .unwrap()
                .iter()
                .map(|r| r.mapped)
                .sum(),
            1 => fixtures::hand_written_backfill(&db.conn).await.unwrap(),
            _ => fixtures::row_by_row_backfill(&db.conn, 100).await.unwrap(),
        });
        let mut refs = text_rows(
            &db.conn,
            "SELECT CAST(id AS TEXT), CAST(baseline_operation_run_id AS TEXT), \
             CAST(current_operation_run_id AS TEXT) FROM findings ORDER BY id",
        )
        .await;
        refs.extend(
            text_rows(
                &db.conn,
                "SELECT CAST(id AS TEXT), CAST(last_seen_operation_run_id AS TEXT) \
                 FROM inventory_items ORDER BY id",
            )
            .await,
        );
        results.push(refs);
    }
    assert_eq!(results[0], results[1]);
    assert_eq!(results[0], results[2]);
    // The batched backfill counts as mapped exactly the references the baselines wrote.
    assert!(mapped[0] > 0);
    assert_eq!(mapped[0], mapped[1]);
    assert_eq!(mapped[0], mapped[2]);
    // The mix is realistic: some references mapped, some null.
    let flat: Vec<&Option<String>> = results[0].iter().flat_map(|r| r.iter().skip(1)).collect();
    assert!(flat.iter().any(|v| v.is_some()) && flat.iter().any(|v| v.is_none()));
    // The rest of the history completes on the batched database.
    Migrator::up(&dbs[0].conn, None).await.unwrap();
    assert_legacy_schema_gone(&dbs[0]).await;
}

/// The backfill's numbers say what they mean: every row of the table examined, and only the
/// references that get a run counted as mapped (not the rows that stay null).
async fn backfill_reports_rows_examined_and_references_mapped(db: TestDb) {
    Migrator::up(&db.conn, Some(1)).await.unwrap();
    let exp = fixtures::seed_legacy_edge_cases(&db.conn).await.unwrap();
    Migrator::up(&db.conn, Some(2)).await.unwrap();
    let numbers = |result: Vec<ReferenceBackfill>| -> Vec<(String, u64, u64)> {
        result
            .iter()
            .map(|r| (format!("{}.{}", r.table, r.column), r.examined, r.mapped))
            .collect()
    };
    let (findings, items) = (exp.findings.len() as u64, exp.inventory_items.len() as u64);
    let first = numbers(backfill_references(&db.conn, 4).await.unwrap());
    assert_eq!(
        first,
        [
            (
                "findings.baseline_operation_run_id".to_owned(),
                findings,
                exp.finding_baseline_refs.mapped
            ),
            (
                "findings.current_operation_run_id".to_owned(),
                findings,
                exp.finding_current_refs.mapped
            ),
            (
                "inventory_items.last_seen_operation_run_id".to_owned(),
                items,
                exp.inventory_last_seen_refs.mapped
            ),
        ]
    );
    // Rows that stay null are not counted: the fixture has unmappable references on every
    // column.
    for stats in [
        exp.finding_baseline_refs,
        exp.finding_current_refs,
        exp.inventory_last_seen_refs,
    ] {
        assert!(stats.lost() > 0 && stats.mapped > 0, "{stats:?}");
    }
    let again = numbers(backfill_references(&db.conn, 4).await.unwrap());
    assert!(
        again.iter().all(|(_, _, mapped)| *mapped == 0),
        "nothing left to map: {again:?}"
    );
    Migrator::up(&db.conn, None).await.unwrap();
    assert_references(&db, &exp).await;
    assert!(backfill_references(&db.conn, 4).await.unwrap().is_empty());
}

/// Timestamps written by the migrations' SQL (`SQLITE_UTC_NOW` on SQLite, `now()` on
/// PostgreSQL) order correctly against times bound through SeaORM.
async fn sql_timestamps_match_bound_chrono_times(db: TestDb) {
    use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
    Migrator::up(&db.conn, Some(1)).await.unwrap();
    let before = Utc::now() - TimeDelta::seconds(2);
    db.exec("INSERT INTO workspaces (name) VALUES ('default time')")
        .await;
    let after = Utc::now() + TimeDelta::seconds(2);
    let exact = DateTime::parse_from_rfc3339("2026-02-12T10:11:12Z")
        .unwrap()
        .with_timezone(&Utc);
    let samples = [
        exact,
        exact + TimeDelta::milliseconds(120),
        exact + TimeDelta::microseconds(123_456),
        exact + TimeDelta::nanoseconds(987_654_321),
    ];
    for (n, at) in samples.iter().enumerate() {
        exec_with(
            &db.conn,
            "INSERT INTO workspaces (name, created_at) VALUES (?, ?)",
            vec![format!("bound {n}").into(), (*at).into()],
        )
        .await
        .unwrap();
    }
    let count_between = |lo: DateTime<Utc>, hi: DateTime<Utc>| {
        let conn = &db.conn;
        async move {
            let backend = conn.get_database_backend();
            let sql = match backend {
                DbBackend::Postgres => {
                    "SELECT COUNT(*) FROM workspaces WHERE created_at > $1 AND created_at < $2"
                }
                _ => "SELECT COUNT(*) FROM workspaces WHERE created_at > ? AND created_at < ?",
            };
            conn.query_one_raw(Statement::from_sql_and_values(
                backend,
                sql,
                vec![lo.into(), hi.into()],
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index::<i64>(0)
            .unwrap()
        }
    };
    assert_eq!(count_between(before, after).await, 1, "the SQL-written row");
    // PostgreSQL keeps microseconds; SQLite keeps the text exactly.
    let tick = match db.backend {
        Backend::Postgres => TimeDelta::microseconds(1),
        Backend::Sqlite => TimeDelta::nanoseconds(1),
    };
    for at in samples {
        assert_eq!(count_between(at - tick, at + tick).await, 1, "{at}");
    }
    if db.backend == Backend::Sqlite {
        // Byte for byte the format sqlx writes for a bound `DateTime<Utc>`.
        let rows = text_rows(&db.conn, "SELECT name, created_at FROM workspaces").await;
        for row in rows {
            let text = row[1].clone().unwrap();
            let parsed = DateTime::parse_from_rfc3339(&text)
                .unwrap()
                .with_timezone(&Utc);
            assert_eq!(
                text,
                parsed.to_rfc3339_opts(SecondsFormat::AutoSi, false),
                "{row:?}"
            );
        }
        let bound = text_rows(
            &db.conn,
            "SELECT created_at FROM workspaces WHERE name = 'bound 0'",
        )
        .await;
        assert_eq!(bound[0][0].as_deref(), Some("2026-02-12T10:11:12+00:00"));
    }
}

/// Runs statements with foreign keys not enforced, as old SQLite files were written (a
/// connection of its own with `PRAGMA foreign_keys = OFF`; on PostgreSQL a transaction with
/// `session_replication_role = replica`, which skips the foreign-key triggers).
async fn exec_without_foreign_keys(db: &TestDb, statements: &[String]) {
    match db.backend {
        Backend::Sqlite => {
            let mut options = ConnectOptions::new(db.url.clone());
            options.max_connections(1).sqlx_logging(false);
            let single = Database::connect(options).await.unwrap();
            single
                .execute_unprepared("PRAGMA foreign_keys = OFF")
                .await
                .unwrap();
            assert_eq!(
                opt_i64(&single, "PRAGMA foreign_keys", 0).await,
                Some(0),
                "one connection, enforcement off"
            );
            for statement in statements {
                single.execute_unprepared(statement).await.unwrap();
            }
            single.close().await.unwrap();
        }
        Backend::Postgres => {
            let txn = db.conn.begin().await.unwrap();
            txn.execute_unprepared("SET LOCAL session_replication_role = replica")
                .await
                .unwrap();
            for statement in statements {
                txn.execute_unprepared(statement).await.unwrap();
            }
            txn.commit().await.unwrap();
        }
    }
}

/// A clean baseline database with one dotted run type: (workspace, tenant).
async fn small_baseline(db: &TestDb) -> (i64, i64) {
    Migrator::up(&db.conn, Some(1)).await.unwrap();
    db.exec("INSERT INTO workspaces (name) VALUES ('w')").await;
    let ws = db
        .scalar_i64("SELECT MAX(id) FROM workspaces")
        .await
        .unwrap();
    db.exec(&format!(
        "INSERT INTO tenants (workspace_id, name) VALUES ({ws}, 't')"
    ))
    .await;
    let tenant = db.scalar_i64("SELECT MAX(id) FROM tenants").await.unwrap();
    db.exec(&format!(
        "INSERT INTO operation_runs (workspace_id, tenant_id, initiator_name, type, status, \
         outcome, run_identity_hash) VALUES ({ws}, {tenant}, 'system', 'inventory.sync', \
         'completed', 'succeeded', '{}')",
        "a".repeat(64)
    ))
    .await;
    let report = preflight(&db.conn, &allowed_types()).await.unwrap();
    assert!(report.broken_foreign_keys.is_empty(), "{report}");
    assert!(!report.would_lose_anything(), "{report}");
    (ws, tenant)
}

/// (table, column, references, rows) of each broken foreign key the preflight reports.
fn broken(report: &PreflightReport) -> Vec<(String, String, String, u64)> {
    report
        .broken_foreign_keys
        .iter()
        .map(|b| {
            (
                b.table.clone(),
                b.column.clone(),
                b.references.clone(),
                b.rows,
            )
        })
        .collect()
}

/// Rows breaking a foreign key (possible in SQLite files written without enforcement) would make
/// the table rebuild of step 4 fail after steps 1 to 3 committed. The preflight reports them as
/// blocking, and the cutover refuses at its first step with nothing applied. PostgreSQL enforces
/// foreign keys and rebuilds no table: there nothing blocks.
async fn broken_foreign_keys_stop_the_cutover_before_it_changes_anything(db: TestDb) {
    let (ws, tenant) = small_baseline(&db).await;
    let missing_tenant = tenant + 100;
    let missing_run = db
        .scalar_i64("SELECT MAX(id) + 100 FROM operation_runs")
        .await
        .unwrap();
    exec_without_foreign_keys(
        &db,
        &[
            format!(
                "INSERT INTO findings (workspace_id, tenant_id, subject_external_id, change) \
                 VALUES ({ws}, {missing_tenant}, 'orphan', 'added')"
            ),
            format!(
                "INSERT INTO inventory_items (workspace_id, tenant_id, external_id, kind, \
                 display_name, last_seen_operation_run_id) \
                 VALUES ({ws}, {tenant}, 'orphan-item', 'device', 'Orphan', {missing_run})"
            ),
        ],
    )
    .await;
    let report = preflight(&db.conn, &allowed_types()).await.unwrap();
    let text = report.to_string();

    if db.backend == Backend::Postgres {
        assert!(report.broken_foreign_keys.is_empty(), "{report}");
        assert_eq!(report.blocking_problems(), 0);
        assert!(!report.would_lose_anything(), "{report}");
        Migrator::up(&db.conn, None).await.unwrap();
        assert_eq!(
            db.scalar_i64("SELECT COUNT(*) FROM findings WHERE subject_external_id = 'orphan'")
                .await,
            Some(1)
        );
        return;
    }

    assert_eq!(
        broken(&report),
        [
            (
                "inventory_items".to_owned(),
                "last_seen_operation_run_id".to_owned(),
                "operation_runs".to_owned(),
                1
            ),
            (
                "findings".to_owned(),
                "tenant_id".to_owned(),
                "tenants".to_owned(),
                1
            ),
        ]
    );
    assert_eq!(report.blocking_problems(), 2);
    assert!(
        report.would_lose_anything(),
        "--strict must refuse: {report}"
    );
    assert!(
        text.contains("findings.tenant_id -> tenants: 1 rows"),
        "{text}"
    );
    assert!(text.contains("WILL REFUSE TO START"), "{text}");
    assert!(!text.contains("The cutover loses nothing"), "{text}");
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["broken_foreign_keys"][1]["references"], "tenants");

    let err = Migrator::up(&db.conn, None).await.unwrap_err().to_string();
    for needle in [
        "cannot start",
        "1 row(s) of findings whose tenant_id points at a missing tenants row",
        "1 row(s) of inventory_items whose last_seen_operation_run_id points at a missing \
         operation_runs row",
        "oprun preflight",
        "changed nothing",
    ] {
        assert!(err.contains(needle), "`{needle}` not in: {err}");
    }
    // Nothing of the cutover was applied: only the baseline is recorded, the dotted type is
    // still there and the canonical finding columns were not added.
    assert_eq!(count(&db, "seaql_migrations").await, 1);
    assert_eq!(
        Migrator::get_pending_migrations(&db.conn)
            .await
            .unwrap()
            .len(),
        MIGRATIONS - 1
    );
    assert_eq!(
        text_rows(&db.conn, "SELECT type FROM operation_runs").await,
        [[Some("inventory.sync".to_owned())]]
    );
    assert!(
        !columns(&db, "findings")
            .await
            .contains("baseline_operation_run_id")
    );
    assert_eq!(preflight(&db.conn, &allowed_types()).await.unwrap(), report);

    // Once the rows are fixed the cutover runs.
    db.exec("DELETE FROM findings WHERE subject_external_id = 'orphan'")
        .await;
    db.exec(
        "UPDATE inventory_items SET last_seen_operation_run_id = NULL \
         WHERE external_id = 'orphan-item'",
    )
    .await;
    let report = preflight(&db.conn, &allowed_types()).await.unwrap();
    assert_eq!(report.blocking_problems(), 0, "{report}");
    assert!(!report.would_lose_anything(), "{report}");
    Migrator::up(&db.conn, None).await.unwrap();
    assert_legacy_schema_gone(&db).await;
    assert_eq!(
        text_rows(&db.conn, "SELECT type FROM operation_runs").await,
        [[Some("inventory_sync".to_owned())]]
    );
}

/// A database whose first cutover steps were applied before step 1 checked foreign keys: step 4
/// runs the same check before rebuilding anything.
async fn the_table_rebuild_step_checks_foreign_keys_first(db: TestDb) {
    let (ws, _) = small_baseline(&db).await;
    Migrator::up(&db.conn, Some(3)).await.unwrap();
    exec_without_foreign_keys(
        &db,
        &[format!(
            "INSERT INTO findings (workspace_id, tenant_id, subject_external_id, change) \
             VALUES ({ws}, 999999, 'orphan', 'added')"
        )],
    )
    .await;
    if db.backend == Backend::Postgres {
        Migrator::up(&db.conn, None).await.unwrap();
        return;
    }
    let err = Migrator::up(&db.conn, None).await.unwrap_err().to_string();
    assert!(
        err.contains("cannot drop the legacy reference columns")
            && err.contains("1 row(s) of findings whose tenant_id")
            && err.contains("oprun preflight"),
        "{err}"
    );
    assert_eq!(count(&db, "seaql_migrations").await, 4);
    for (table, column) in LEGACY_COLUMNS {
        assert!(
            columns(&db, table).await.contains(*column),
            "{table}.{column} is still there"
        );
    }
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
