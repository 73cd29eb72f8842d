//! Each cutover step on its own: its `down`, the preflight between steps, the backfill's
//! batches and numbers, and the times the migrations write.

use super::*;

pub(crate) async fn down_restores_the_baseline_shape_and_up_works_again(db: TestDb) {
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
pub(crate) async fn each_cutover_step_down_restores_the_shape_before_it(db: TestDb) {
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

pub(crate) async fn preflight_on_a_fresh_install(db: TestDb) {
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
pub(crate) async fn preflight_in_the_middle_of_the_cutover(db: TestDb) {
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
pub(crate) async fn batched_backfill_matches_the_baselines(db: TestDb) {
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
            _ => {
                let updated = fixtures::row_by_row_backfill(&db.conn, 100).await.unwrap();
                // What step 3 adds after its backfill, so row by row ends with its schema.
                fixtures::add_reference_keys_and_indexes(&db.conn)
                    .await
                    .unwrap();
                updated
            }
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
    // Row by row, completed with the keys and indexes step 3 adds, ends with the schema of
    // the hand-written backfill (which adds them too): the bench compares like with like.
    let (hand, row_by_row) = (
        finding_keys_and_indexes(&dbs[1]).await,
        finding_keys_and_indexes(&dbs[2]).await,
    );
    assert!(
        hand.iter()
            .any(|r| r[0].as_deref().is_some_and(|n| n.contains("operation_run"))),
        "{hand:?}"
    );
    assert_eq!(hand, row_by_row);
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

/// The indexes on `findings` and, on PostgreSQL and MariaDB, its foreign keys, by name.
async fn finding_keys_and_indexes(db: &TestDb) -> Vec<Vec<Option<String>>> {
    let sql = match db.backend {
        Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'findings' \
             AND name NOT LIKE 'sqlite_%' ORDER BY name"
        }
        Backend::Postgres => {
            "SELECT indexname FROM pg_indexes WHERE tablename = 'findings' UNION ALL \
             SELECT conname::text FROM pg_constraint \
             WHERE conrelid = 'findings'::regclass AND contype = 'f' ORDER BY 1"
        }
        Backend::MariaDb => {
            "SELECT index_name FROM information_schema.statistics \
             WHERE table_schema = DATABASE() AND table_name = 'findings' \
             AND index_name <> 'PRIMARY' UNION \
             SELECT constraint_name FROM information_schema.referential_constraints \
             WHERE constraint_schema = DATABASE() AND table_name = 'findings' ORDER BY 1"
        }
    };
    text_rows(&db.conn, sql).await
}

/// The backfill's numbers say what they mean: every row of the table examined, and only the
/// references that get a run counted as mapped (not the rows that stay null).
pub(crate) async fn backfill_reports_rows_examined_and_references_mapped(db: TestDb) {
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
pub(crate) async fn sql_timestamps_match_bound_chrono_times(db: TestDb) {
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
        Backend::Postgres | Backend::MariaDb => TimeDelta::microseconds(1),
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
