//! A schedule-history purge in many batches: the newest run of each type is read once and the
//! batches walk the ids, so the result must be exactly what one statement would delete — also
//! when kept runs sit between purgeable ones and when the last batch comes out empty.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use operation_runs_domain::{
    BackupScheduleId, IdentityHash, NewOperationRun, OperationRun, RunContext, RunId, RunOutcome,
    RunType, SummaryCounts, Transition,
};
use operation_runs_ports::{HistoryPurgeCriteria, PortError};
use operation_runs_tests::{TestStore, on_every_store};
use serde_json::json;

on_every_store!(batches_delete_exactly_the_purgeable_runs_between_kept_ones);

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

async fn batches_delete_exactly_the_purgeable_runs_between_kept_ones(harness: TestStore) {
    let store = harness.store.clone();
    let ws = store.create_workspace("Contoso").await.unwrap();
    let tenant = store.create_tenant(ws, "contoso.example").await.unwrap();
    let schedule = store
        .create_backup_schedule(ws, tenant, "nightly", 3)
        .await
        .unwrap();
    let start = async |sid: BackupScheduleId, run_type: RunType, n: i64, at: DateTime<Utc>| {
        let new = NewOperationRun {
            workspace_id: ws,
            tenant_id: Some(tenant),
            user_id: None,
            initiator_name: "scheduler".into(),
            identity_hash: IdentityHash::compute(ws, Some(tenant), &run_type, &json!({ "n": n }))
                .unwrap(),
            run_type,
            summary_counts: SummaryCounts::new(),
            context: RunContext::new().with_backup_schedule_id(sid),
            created_at: at,
        };
        let run: OperationRun = store.insert_or_get_active(&new).await.unwrap().run;
        run
    };
    let fail = async |run: &OperationRun, at: DateTime<Utc>| {
        let next = run
            .next_state(Transition::Complete(RunOutcome::Failed), at)
            .unwrap();
        store
            .transition(run.id(), *run.status().readable().unwrap(), &next, at)
            .await
            .unwrap();
    };

    // 25 old backups, one in five still active; the 20 completed ones are purgeable …
    let (mut purgeable, mut kept): (Vec<RunId>, Vec<RunId>) = (Vec::new(), Vec::new());
    for n in 0..25 {
        let at = t0() + Duration::hours(n);
        let run = start(schedule.id, RunType::BACKUP_SCHEDULE_RUN, n, at).await;
        if n % 5 == 2 {
            kept.push(run.id());
        } else {
            fail(&run, at).await;
            purgeable.push(run.id());
        }
    }
    // … but not the newest backup, though old and completed.
    let at = t0() + Duration::hours(30);
    let newest = start(schedule.id, RunType::BACKUP_SCHEDULE_RUN, 100, at).await;
    fail(&newest, t0() + Duration::hours(30)).await;
    kept.push(newest.id());
    // Another schedule's old run is never touched.
    let other = store
        .create_backup_schedule(ws, tenant, "weekly", 3)
        .await
        .unwrap();
    let foreign = start(other.id, RunType::BACKUP_SCHEDULE_RUN, 200, t0()).await;
    fail(&foreign, t0()).await;
    kept.push(foreign.id());

    let criteria = HistoryPurgeCriteria {
        workspace_id: ws,
        schedule_id: schedule.id,
        created_before: t0() + Duration::hours(48),
    };
    assert_eq!(
        store
            .count_purgeable_schedule_history(&criteria)
            .await
            .unwrap(),
        20
    );
    // 20 in batches of 4: five full batches, then an empty one ends the purge.
    assert_eq!(
        store.purge_schedule_history(&criteria, 4).await.unwrap(),
        20
    );
    for id in &purgeable {
        assert!(
            matches!(store.get(*id).await, Err(PortError::NotFound)),
            "{id} purged"
        );
    }
    for id in &kept {
        assert!(store.get(*id).await.is_ok(), "{id} kept");
    }
    assert_eq!(store.purge_schedule_history(&criteria, 4).await.unwrap(), 0);
    // Batches of 3 over what is left after two more old runs complete: 2 deleted, newest kept.
    for id in &kept[..2] {
        let run = store.get(*id).await.unwrap();
        fail(&run, t0() + Duration::hours(40)).await;
    }
    assert_eq!(store.purge_schedule_history(&criteria, 3).await.unwrap(), 2);
    assert!(store.get(newest.id()).await.is_ok());
    assert!(store.get(foreign.id()).await.is_ok());
}
