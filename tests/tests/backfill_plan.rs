//! Cutover step 3's findings backfill is planned on the bridges' keys with the planner's
//! statistics in place, on data with one tenant: a plan that joined the bridges on the tenant
//! alone and filtered the pairs compared every finding with every bridge (seconds per
//! thousand findings instead of milliseconds). Checked with `EXPLAIN`, never by timing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use operation_runs_migration::fixtures::{
    LEGACY_COLUMNS, explain_findings_backfill, seed_legacy_at_scale,
};
use operation_runs_tests::{Migrator, TestDb};
use sea_orm_migration::MigratorTrait;

#[tokio::test]
async fn the_findings_backfill_joins_each_bridge_on_its_key() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    Migrator::up(&db.conn, Some(1)).await.unwrap();
    seed_legacy_at_scale(&db.conn, 20_000, 20_000, 2_000)
        .await
        .unwrap();
    Migrator::up(&db.conn, Some(2)).await.unwrap();
    db.exec("ANALYZE").await;

    let plan = explain_findings_backfill(&db.conn).await.unwrap();
    let legacy_keys: Vec<&str> = LEGACY_COLUMNS
        .iter()
        .filter(|(table, _)| *table == "findings")
        .map(|(_, column)| *column)
        .collect();
    assert_eq!(legacy_keys.len(), 2, "both finding references are checked");
    for legacy in legacy_keys {
        let joined_on_key = plan
            .lines()
            .any(|l| l.contains(" Cond: ") && l.contains(legacy));
        let filtered_pairs = plan
            .lines()
            .any(|l| l.contains("Join Filter: ") && l.contains(legacy));
        assert!(joined_on_key && !filtered_pairs, "{legacy}:\n{plan}");
    }
}
