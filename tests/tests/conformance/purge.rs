//! Purging a schedule's history keeps active, recent and newest-of-each-type runs.

use crate::support::*;
use chrono::Duration;
use operation_runs_domain::{RunOutcome, RunType};
use operation_runs_ports::{NewFinding, PortError};
use operation_runs_tests::{TestStore, on_every_store};
use serde_json::json;
use std::collections::BTreeSet;

async fn purge_keeps_active_recent_and_newest_of_each_type(store: TestStore) {
    let f = fixture(store).await;
    let schedule = f.schedule("nightly", 3).await;
    let sid = schedule.id.get();
    let cutoff = t0() + Duration::days(10);
    let old = |d: i64| t0() + Duration::days(d);
    let [run, retention, purge] = RunType::BACKUP_SCHEDULE_TYPES;
    let mut expect_deleted = BTreeSet::new();
    let mut expect_kept = BTreeSet::new();
    let mut n = 0;
    let mut make = async |run_type: &RunType, at, outcome| {
        n += 1;
        history_run(
            &f,
            (f.ws, Some(f.tenant)),
            sid,
            run_type.clone(),
            n,
            at,
            outcome,
        )
        .await
        .id
    };
    // Old completed runs of every type: purgeable ...
    for d in 0..4 {
        expect_deleted.insert(make(&run, old(d), Some(RunOutcome::Succeeded)).await);
    }
    expect_deleted.insert(make(&retention, old(1), Some(RunOutcome::Succeeded)).await);
    // ... but an old active run is not,
    expect_kept.insert(make(&run, old(4), None).await);
    // nor is the newest run of a type, even when old and completed,
    expect_kept.insert(make(&retention, old(2), Some(RunOutcome::Failed)).await);
    expect_kept.insert(make(&purge, old(3), Some(RunOutcome::Succeeded)).await);
    // nor anything created at or after the cutoff.
    expect_kept.insert(make(&run, cutoff, Some(RunOutcome::Succeeded)).await);
    expect_kept.insert(make(&run, cutoff + Duration::days(1), Some(RunOutcome::Failed)).await);
    // Other schedules, workspaces and types are never touched.
    let mut untouched = BTreeSet::new();
    let ws2 = f.store.create_workspace("Fabrikam").await.unwrap();
    let others = [
        ((f.ws, Some(f.tenant)), sid + 1, run.clone(), 100),
        ((f.ws, Some(f.tenant)), sid, RunType::INVENTORY_SYNC, 101),
        ((ws2, None), sid, run.clone(), 102),
    ];
    for (scope, schedule, run_type, n) in others {
        let succeeded = Some(RunOutcome::Succeeded);
        let other = history_run(&f, scope, schedule, run_type, n, old(0), succeeded).await;
        untouched.insert(other.id);
    }

    let n = expect_deleted.len() as u64;
    assert_eq!(f.purge_history(schedule.id, cutoff).await, (n, n));
    for id in &expect_deleted {
        assert!(
            matches!(f.store.get(*id).await, Err(PortError::NotFound)),
            "{id} deleted"
        );
    }
    for id in expect_kept.iter().chain(&untouched) {
        assert!(f.store.get(*id).await.is_ok(), "{id} kept");
    }
    assert_eq!(f.purge_history(schedule.id, cutoff).await, (0, 0));
}

/// Items and findings outlive the runs they name: a purged run's references read as none, and
/// the references to kept runs stay.
async fn purged_runs_are_no_longer_referenced(store: TestStore) {
    let f = fixture(store).await;
    let schedule = f.schedule("nightly", 3).await;
    let sid = schedule.id.get();
    let at = t0();
    let tenant = (f.ws, Some(f.tenant));
    let [run_type, ..] = RunType::BACKUP_SCHEDULE_TYPES;
    let outcome = Some(RunOutcome::Succeeded);
    let purged = history_run(&f, tenant, sid, run_type.clone(), 1, at, outcome)
        .await
        .id;
    let kept = history_run(&f, tenant, sid, run_type, 2, at, outcome)
        .await
        .id;
    f.store
        .upsert_seen(f.ws, f.tenant, &[seen("a", "Alpha")], purged, at)
        .await
        .unwrap();
    f.store
        .upsert_seen(f.ws, f.tenant, &[seen("b", "Bravo")], kept, at)
        .await
        .unwrap();
    let finding = NewFinding {
        workspace_id: f.ws,
        tenant_id: f.tenant,
        baseline_operation_run_id: purged,
        current_operation_run_id: kept,
        subject_external_id: "a".into(),
        change: "removed".into(),
        details: json!({}),
    };
    f.store.insert_findings(&[finding], at).await.unwrap();

    let cutoff = at + Duration::days(1);
    assert_eq!(f.purge_history(schedule.id, cutoff).await, (1, 1));
    assert!(matches!(
        f.store.get(purged).await,
        Err(PortError::NotFound)
    ));

    let items = f.store.list_items(f.tenant).await.unwrap();
    let seen_by: Vec<_> = items
        .iter()
        .map(|i| (i.external_id.as_str(), i.last_seen_operation_run_id))
        .collect();
    assert_eq!(seen_by, vec![("a", None), ("b", Some(kept))]);
    let findings = f.store.list_findings(f.tenant).await.unwrap();
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].baseline_operation_run_id, None);
    assert_eq!(findings[0].current_operation_run_id, Some(kept));
}

on_every_store!(
    purge_keeps_active_recent_and_newest_of_each_type,
    purged_runs_are_no_longer_referenced,
);
