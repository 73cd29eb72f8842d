//! Upgrade tests of runs the legacy product wrote without today's validation: the preflight
//! names each class of value today's rules reject and each class the cutover rewrites, and the
//! cutover rewrites exactly the values with one right answer, leaving every other column of
//! every row as it was.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "legacy_data/support.rs"]
mod support;

use operation_runs_domain::RunId;
use operation_runs_migration::fixtures::{self, RowChange};
use operation_runs_migration::preflight;
use operation_runs_ports::RunQueries;
use operation_runs_sea_orm::SeaOrmStore;
use operation_runs_tests::{Backend, Migrator, TestDb, on_every_backend};
use sea_orm::ConnectionTrait;
use sea_orm_migration::MigratorTrait;
use std::collections::BTreeMap;
use support::allowed_types;

on_every_backend!(new =>
    the_preflight_names_every_class_and_the_cutover_rewrites_the_decidable_ones,
    a_context_that_is_no_json_blocks_the_cutover_before_it_changes_anything,
);

const COLUMNS: [&str; 16] = [
    "id",
    "workspace_id",
    "tenant_id",
    "user_id",
    "initiator_name",
    "type",
    "status",
    "outcome",
    "run_identity_hash",
    "summary_counts",
    "failure_summary",
    "context",
    "started_at",
    "completed_at",
    "created_at",
    "updated_at",
];

/// `db` at the baseline, seeded with every class of unreadable legacy row.
async fn seed_at_the_baseline(db: &TestDb) -> fixtures::UnreadableExpectations {
    Migrator::up(&db.conn, Some(1)).await.unwrap();
    fixtures::seed_legacy_unreadable_rows(&db.conn)
        .await
        .unwrap()
}

/// Every run as column → stored value, as text.
async fn runs(db: &TestDb) -> BTreeMap<i64, BTreeMap<&'static str, Option<String>>> {
    let select: Vec<String> = COLUMNS
        .iter()
        .map(|c| format!("CAST({c} AS TEXT)"))
        .collect();
    let sql = format!(
        "SELECT {} FROM operation_runs ORDER BY id",
        select.join(", ")
    );
    let rows = operation_runs_tests::query_rows(&db.conn, &sql).await;
    rows.iter()
        .map(|row| {
            let values: BTreeMap<&'static str, Option<String>> = COLUMNS
                .iter()
                .enumerate()
                .map(|(i, c)| (*c, row.try_get_by_index::<Option<String>>(i).unwrap()))
                .collect();
            let id = values["id"].as_deref().unwrap().parse().unwrap();
            (id, values)
        })
        .collect()
}

async fn the_preflight_names_every_class_and_the_cutover_rewrites_the_decidable_ones(db: TestDb) {
    let exp = seed_at_the_baseline(&db).await;

    let report = preflight(&db.conn, &allowed_types()).await.unwrap();
    assert_eq!(report.unreadable_rows, exp.unreadable_rows);
    assert_eq!(report.cutover_rewrites, exp.cutover_rewrites);
    assert_eq!(exp.unreadable_rows.len(), 13, "every class is seeded");
    assert_eq!(exp.cutover_rewrites.len(), 4, "every rewrite is seeded");
    // The hash rewrite makes two active runs one identity: the preflight sees it coming.
    let superseded: Vec<i64> = exp
        .changes
        .iter()
        .filter(|(_, c)| **c == RowChange::Superseded)
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(report.duplicate_active_identities.len(), 1);
    assert_eq!(
        report.duplicate_active_identities[0].superseded_run_ids,
        superseded
    );
    assert!(
        report.duplicate_active_identities[0]
            .run_identity_hash
            .chars()
            .all(|c| !c.is_ascii_uppercase())
    );
    let text = report.to_string();
    for section in &exp.unreadable_rows {
        let line = format!(
            "{}.{} {}: {} rows (ids {})",
            section.table,
            section.column,
            section.class,
            section.rows,
            operation_runs_tests::listed_ids(&section.ids)
        );
        assert!(text.contains(&line), "{line} in {text}");
    }
    assert!(text.contains("Values the cutover rewrites"), "{text}");

    let before = runs(&db).await;
    assert_eq!(
        before.keys().copied().collect::<Vec<_>>(),
        exp.changes.keys().copied().collect::<Vec<_>>()
    );
    Migrator::up(&db.conn, None).await.unwrap();
    let after = runs(&db).await;
    assert_eq!(after.len(), before.len());
    for (id, change) in &exp.changes {
        let (old, new) = (&before[id], &after[id]);
        let mut expected = old.clone();
        match change {
            RowChange::Unchanged => {}
            RowChange::HashLowered => {
                expected.insert(
                    "run_identity_hash",
                    old["run_identity_hash"].as_ref().map(|h| h.to_lowercase()),
                );
            }
            RowChange::Context(json) => {
                let stored: serde_json::Value =
                    serde_json::from_str(new["context"].as_deref().unwrap()).unwrap();
                assert_eq!(&stored, json, "run {id}");
                expected.insert("context", new["context"].clone());
            }
            RowChange::StartedAtFromCreatedAt => {
                expected.insert("started_at", old["created_at"].clone());
            }
            RowChange::CompletedAtFromUpdatedAt => {
                expected.insert("completed_at", old["updated_at"].clone());
            }
            RowChange::Superseded => {
                assert_eq!(new["status"].as_deref(), Some("completed"), "run {id}");
                assert_eq!(new["outcome"].as_deref(), Some("failed"), "run {id}");
                assert!(
                    new["failure_summary"]
                        .as_deref()
                        .unwrap()
                        .contains("superseded_duplicate")
                );
                assert_eq!(
                    new["run_identity_hash"],
                    old["run_identity_hash"].as_ref().map(|h| h.to_lowercase())
                );
                continue;
            }
            other => panic!("unexpected change {other:?}"),
        }
        assert_eq!(new, &expected, "run {id}");
    }

    // After the cutover the report lists what is left, and the rewrites are done.
    let report = preflight(&db.conn, &allowed_types()).await.unwrap();
    assert!(report.cutover_rewrites.is_empty());
    assert_eq!(report.unreadable_rows, exp.unreadable_rows);
    assert!(!report.would_lose_anything());

    // The store reads every run, and finds unreadable exactly what the preflight named.
    let store = SeaOrmStore::from_connection(db.conn.clone());
    for id in after.keys() {
        store.get(RunId::new(*id)).await.unwrap();
    }
    for stats in &report.unreadable_rows {
        for id in &stats.ids {
            let run = store.get(RunId::new(*id)).await.unwrap();
            assert!(
                run.unreadable_fields()
                    .iter()
                    .any(|(field, _)| *field == stats.column),
                "run {id}: {} ({}) should read as unreadable: {run:?}",
                stats.column,
                stats.class
            );
        }
    }
}

/// On SQLite a `context` that is no JSON would fail step 6's index after the legacy data is
/// gone: the preflight names it as blocking and step 1 refuses, changing nothing, until it is
/// fixed. PostgreSQL's `jsonb` cannot hold such a value.
async fn a_context_that_is_no_json_blocks_the_cutover_before_it_changes_anything(db: TestDb) {
    let exp = seed_at_the_baseline(&db).await;
    let report = preflight(&db.conn, &allowed_types()).await.unwrap();
    assert!(report.blocking_rows.is_empty());
    assert_eq!(report.blocking_problems(), 0);
    let id = *exp.changes.keys().next().unwrap();
    let not_json = format!(
        "UPDATE operation_runs SET context = '{{\"backup_schedule_id\": 1' WHERE id = {id}"
    );
    match db.backend {
        Backend::Postgres => return,
        // The column is `JSON`, checked with `JSON_VALID`: the value cannot be stored at all.
        Backend::MariaDb => {
            let refused = db.conn.execute_unprepared(&not_json).await.unwrap_err();
            assert!(refused.to_string().contains("CONSTRAINT"), "{refused}");
            return;
        }
        Backend::Sqlite => {}
    }
    db.exec(&not_json).await;
    let report = preflight(&db.conn, &allowed_types()).await.unwrap();
    assert_eq!(report.blocking_problems(), 1);
    let blocking: Vec<(&str, &str, u64, &[i64])> = report
        .blocking_rows
        .iter()
        .map(|b| {
            (
                b.column.as_str(),
                b.class.as_str(),
                b.rows,
                b.ids.as_slice(),
            )
        })
        .collect();
    assert_eq!(blocking, [("context", "not_json", 1, &[id][..])]);
    // Not also reported as merely unreadable.
    assert_eq!(report.unreadable_rows, exp.unreadable_rows);
    assert!(report.to_string().contains("WILL REFUSE TO START"));

    let before = runs(&db).await;
    let refused = Migrator::up(&db.conn, None).await.unwrap_err().to_string();
    assert!(refused.contains("not_json"), "{refused}");
    assert_eq!(runs(&db).await, before, "nothing changed");
    assert_eq!(
        Migrator::get_pending_migrations(&db.conn)
            .await
            .unwrap()
            .len(),
        Migrator::migrations().len() - 1,
        "only the baseline is applied"
    );

    db.exec(&format!(
        "UPDATE operation_runs SET context = '{{}}' WHERE id = {id}"
    ))
    .await;
    Migrator::up(&db.conn, None).await.unwrap();
}
