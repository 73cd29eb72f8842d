//! The cutover of a seeded legacy database with every edge case, and what must hold after it.

use super::*;

pub(crate) fn assert_preflight_before(
    report: &PreflightReport,
    exp: &fixtures::EdgeCaseExpectations,
) {
    assert!(report.missing_legacy_objects.is_empty(), "{report:?}");
    assert!(!report.cutover_complete());
    assert_eq!(report.legacy_tables, exp.legacy_tables);
    assert_reference_stats(
        report,
        &exp.finding_baseline_refs,
        &exp.finding_current_refs,
        &exp.inventory_last_seen_refs,
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

pub(crate) async fn assert_references(db: &TestDb, exp: &fixtures::EdgeCaseExpectations) {
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

pub(crate) async fn assert_types_and_duplicates(db: &TestDb, exp: &fixtures::EdgeCaseExpectations) {
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

pub(crate) async fn assert_legacy_schema_gone(db: &TestDb) {
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

pub(crate) async fn assert_foreign_keys_hold(db: &TestDb, exp: &fixtures::EdgeCaseExpectations) {
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
    let finding_with = |column: &str| {
        let sql = format!(
            "INSERT INTO findings (workspace_id, tenant_id, subject_external_id, change, \
             {column}) VALUES (?, ?, 'x', 'added', ?)"
        );
        (sql, format!("findings.{column}"))
    };
    let item = "INSERT INTO inventory_items (workspace_id, tenant_id, external_id, kind, \
                display_name, last_seen_operation_run_id) \
                VALUES (?, ?, 'fk-probe', 'device', 'probe', ?)";
    for (sql, reference) in [
        finding_with("baseline_operation_run_id"),
        finding_with("current_operation_run_id"),
        (item.to_owned(), "inventory_items".to_owned()),
    ] {
        let values = vec![
            exp.workspace_id.into(),
            exp.tenant_id.into(),
            missing.into(),
        ];
        let inserted = exec_with(&db.conn, &sql, values).await;
        assert!(inserted.is_err(), "{reference} accepts a missing run");
    }

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

pub(crate) async fn assert_one_active_run_per_identity(
    db: &TestDb,
    exp: &fixtures::EdgeCaseExpectations,
) {
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

pub(crate) async fn cutover_of_a_seeded_legacy_database(db: TestDb) {
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
