//! Upgrade tests of what real legacy databases hold: bridges that lead out of the referencing
//! row's tenant or to a run of another type, and rows with ids of zero or below.
//!
//! Legacy names come from `operation_runs_migration::fixtures`: no file outside the migration
//! crate may spell them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "legacy_data/support.rs"]
mod support;

use operation_runs_migration::fixtures;
use operation_runs_migration::{BridgeRejection, backfill_references, preflight};
use operation_runs_tests::{Migrator, TestDb, on_every_backend};
use sea_orm_migration::MigratorTrait;
use support::{allowed_types, assert_reference_stats, finding_references, item_references};

on_every_backend!(new =>
    bridges_to_another_tenants_run_stay_null,
    small_batches_backfill_ids_of_zero_and_below,
);

/// The preflight lists each refused bridge with its reason and ids; after the cutover the whole
/// reference columns hold exactly the runs of the row's own tenant (and, for findings, type).
async fn bridges_to_another_tenants_run_stay_null(db: TestDb) {
    Migrator::up(&db.conn, Some(1)).await.unwrap();
    let exp = fixtures::seed_legacy_bridges(&db.conn).await.unwrap();

    let report = preflight(&db.conn, &allowed_types()).await.unwrap();
    assert_reference_stats(
        &report,
        &exp.finding_baseline_refs,
        &exp.finding_current_refs,
        &exp.inventory_last_seen_refs,
    );
    assert_eq!(report.rejected_bridges, exp.rejected_bridges);
    let reasons: Vec<BridgeRejection> = report.rejected_bridges.iter().map(|r| r.reason).collect();
    assert!(reasons.contains(&BridgeRejection::AnotherTenant));
    assert!(reasons.contains(&BridgeRejection::WrongType));
    // The refused references are losses, counted like the others.
    assert!(report.would_lose_anything());
    assert_eq!(
        report.lost_references(),
        exp.finding_baseline_refs.lost()
            + exp.finding_current_refs.lost()
            + exp.inventory_last_seen_refs.lost()
    );
    let text = report.to_string();
    assert!(text.contains("bridge to another tenant's run"), "{text}");
    let baseline = &exp.rejected_bridges[0];
    assert!(baseline.rows > baseline.ids.len() as u64, "{baseline:?}");
    let listed = operation_runs_tests::listed_ids(&baseline.ids);
    assert!(
        text.contains(&format!(
            "findings.baseline_operation_run_id: bridge to another tenant's run: {} rows (ids {listed}, …)",
            baseline.rows
        )),
        "{text}"
    );

    Migrator::up(&db.conn, None).await.unwrap();
    assert_eq!(finding_references(&db).await, exp.findings);
    assert_eq!(item_references(&db).await, exp.inventory_items);
}

/// Batches of two rows from the smallest id up: rows with ids 0 and below are backfilled like
/// any other, and the batched result is the one-batch result.
async fn small_batches_backfill_ids_of_zero_and_below(db: TestDb) {
    Migrator::up(&db.conn, Some(1)).await.unwrap();
    let exp = fixtures::seed_legacy_bridges(&db.conn).await.unwrap();
    assert!(exp.findings.keys().any(|id| *id <= 0));
    assert!(
        exp.findings
            .iter()
            .any(|(id, refs)| *id <= 0 && refs.0.is_some())
    );
    assert!(
        exp.inventory_items
            .iter()
            .any(|(id, r)| *id < 0 && r.is_some())
    );
    Migrator::up(&db.conn, Some(2)).await.unwrap();

    let done = backfill_references(&db.conn, 2).await.unwrap();
    let mapped: Vec<u64> = done.iter().map(|r| r.mapped).collect();
    assert_eq!(
        mapped,
        [
            exp.finding_baseline_refs.mapped,
            exp.finding_current_refs.mapped,
            exp.inventory_last_seen_refs.mapped,
        ]
    );
    assert_eq!(done[0].examined, exp.findings.len() as u64);
    assert_eq!(finding_references(&db).await, exp.findings);
    assert_eq!(item_references(&db).await, exp.inventory_items);
}
