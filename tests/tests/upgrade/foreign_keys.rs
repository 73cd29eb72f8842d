//! Rows that break a foreign key (SQLite files written without enforcement) stop the cutover
//! before it changes anything.

use super::*;

/// Runs statements with foreign keys not enforced, as old SQLite files were written (a
/// connection of its own with `PRAGMA foreign_keys = OFF`; on PostgreSQL a transaction with
/// `session_replication_role = replica`, which skips the foreign-key triggers).
pub(crate) async fn exec_without_foreign_keys(db: &TestDb, statements: &[String]) {
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
            in_one_transaction(
                db,
                "SET LOCAL session_replication_role = replica",
                statements,
                None,
            )
            .await;
        }
        Backend::MariaDb => {
            // One connection (the transaction's), checks off for it alone, then on again.
            in_one_transaction(
                db,
                "SET SESSION foreign_key_checks = 0",
                statements,
                Some("SET SESSION foreign_key_checks = 1"),
            )
            .await;
        }
    }
}

/// Runs `before`, then `statements` (as the backend spells them), then `after` if given, in one
/// transaction.
async fn in_one_transaction(db: &TestDb, before: &str, statements: &[String], after: Option<&str>) {
    let txn = db.conn.begin().await.unwrap();
    txn.execute_unprepared(before).await.unwrap();
    for statement in statements {
        let statement = operation_runs_tests::sql_for(db.backend, statement);
        txn.execute_unprepared(&statement).await.unwrap();
    }
    if let Some(after) = after {
        txn.execute_unprepared(after).await.unwrap();
    }
    txn.commit().await.unwrap();
}

/// A clean baseline database with one dotted run type: (workspace, tenant).
pub(crate) async fn small_baseline(db: &TestDb) -> (i64, i64) {
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
pub(crate) fn broken(report: &PreflightReport) -> Vec<(String, String, String, u64)> {
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
/// blocking, and the cutover refuses at its first step with nothing applied. PostgreSQL and
/// MariaDB enforce foreign keys and rebuild no table: there nothing blocks.
pub(crate) async fn broken_foreign_keys_stop_the_cutover_before_it_changes_anything(db: TestDb) {
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

    // MariaDB, like PostgreSQL, enforces foreign keys (rows written with checks off stay as
    // they are) and rebuilds no table.
    if db.backend != Backend::Sqlite {
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
pub(crate) async fn the_table_rebuild_step_checks_foreign_keys_first(db: TestDb) {
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
    if db.backend != Backend::Sqlite {
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
