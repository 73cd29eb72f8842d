//! What the legacy-data upgrade tests share: the preflight's reference counts, and reading
//! whole columns back.
#![allow(dead_code)] // Each test file uses its own part.

use operation_runs_domain::RunTypeRegistry;
use operation_runs_migration::{PreflightReport, ReferenceStats};
use operation_runs_tests::TestDb;
use sea_orm::{ConnectionTrait, Statement};
use std::collections::{BTreeMap, BTreeSet};

/// The built-in run types, the allow-list `oprun preflight` uses.
pub fn allowed_types() -> BTreeSet<String> {
    RunTypeRegistry::with_builtins()
        .iter()
        .map(|d| d.id().as_str().to_owned())
        .collect()
}

/// Asserts that the preflight counted, as given, the references it would bridge: findings'
/// baseline and current runs, and inventory items' last-seen runs.
#[track_caller]
pub fn assert_reference_stats(
    report: &PreflightReport,
    finding_baseline: &ReferenceStats,
    finding_current: &ReferenceStats,
    inventory_last_seen: &ReferenceStats,
) {
    assert_eq!(
        report.finding_baseline_refs.as_ref(),
        Some(finding_baseline)
    );
    assert_eq!(report.finding_current_refs.as_ref(), Some(finding_current));
    assert_eq!(
        report.inventory_last_seen_refs.as_ref(),
        Some(inventory_last_seen)
    );
}

/// Every row of a query whose first column is an id and whose other columns are nullable
/// integers.
pub async fn id_map(db: &TestDb, sql: &str) -> BTreeMap<i64, Vec<Option<i64>>> {
    let rows = db
        .conn
        .query_all_raw(Statement::from_string(db.db_backend(), sql.to_owned()))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.iter()
        .map(|row| {
            let id: i64 = row.try_get_by_index(0).unwrap();
            let rest = (1..row.column_names().len())
                .map(|i| row.try_get_by_index::<Option<i64>>(i).unwrap())
                .collect();
            (id, rest)
        })
        .collect()
}

/// `findings` as id → (baseline, current) canonical references.
pub async fn finding_references(db: &TestDb) -> BTreeMap<i64, (Option<i64>, Option<i64>)> {
    id_map(
        db,
        "SELECT id, baseline_operation_run_id, current_operation_run_id FROM findings",
    )
    .await
    .into_iter()
    .map(|(id, refs)| (id, (refs[0], refs[1])))
    .collect()
}

/// `inventory_items` as id → last-seen canonical reference.
pub async fn item_references(db: &TestDb) -> BTreeMap<i64, Option<i64>> {
    id_map(
        db,
        "SELECT id, last_seen_operation_run_id FROM inventory_items",
    )
    .await
    .into_iter()
    .map(|(id, refs)| (id, refs[0]))
    .collect()
}
