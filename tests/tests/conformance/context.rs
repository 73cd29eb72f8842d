//! Merging into an active run's context.

use crate::support::*;
use chrono::Duration;
use operation_runs_domain::{
    BackupScheduleId, BackupSetId, RunContext, RunId, RunOutcome, RunType,
};
use operation_runs_ports::{PortError, ScheduleHistoryQuery};
use operation_runs_tests::{TestStore, on_every_store};
use serde_json::json;

async fn context_merges_top_level_keys_while_active(store: TestStore) {
    let f = fixture(store).await;
    let mut new = new_run(
        f.ws,
        Some(f.tenant),
        RunType::BACKUP_SCHEDULE_RUN,
        json!({}),
        t0(),
    );
    new.context = RunContext::from_json(json!({
        "backup_schedule_id": 5, "trigger": "schedule", "nested": {"a": 1, "b": 2}
    }))
    .unwrap();
    let run = f.start(&new).await;
    let f_counts = f.add(run.id(), &[("total", 2)], t0()).await.unwrap();
    let t1 = t0() + Duration::seconds(1);
    let patch = RunContext::from_json(json!({
        "backup_set_id": 42, "nested": {"c": 3}, "note": null, "weird key.with dots": "ok"
    }))
    .unwrap();
    let merged = f.store.merge_context(run.id(), &patch, t1).await.unwrap();
    assert_eq!(
        merged.context().readable().unwrap().to_json(),
        json!({
            "backup_schedule_id": 5, "trigger": "schedule", "backup_set_id": 42,
            "nested": {"c": 3}, "note": null, "weird key.with dots": "ok"
        })
    );
    assert_eq!(
        merged.context().readable().unwrap().backup_set_id(),
        Some(BackupSetId::new(42))
    );
    assert_eq!(merged.updated_at(), t1);
    assert_eq!(merged.summary_counts(), f_counts.summary_counts());
    assert_eq!(f.store.get(run.id()).await.unwrap(), merged);

    // The schedule id is still found by the history query after a merge.
    let history = f
        .store
        .schedule_history(&ScheduleHistoryQuery {
            workspace_id: f.ws,
            schedule_id: BackupScheduleId::new(5),
            run_types: RunType::BACKUP_SCHEDULE_TYPES.to_vec(),
            outcomes: vec![],
            after: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(history.runs, vec![merged.clone()]);

    // An empty patch is a pure heartbeat.
    let t2 = t1 + Duration::seconds(1);
    let beat = f
        .store
        .merge_context(run.id(), &RunContext::new(), t2)
        .await
        .unwrap();
    assert_eq!(beat.context(), merged.context());
    assert_eq!(beat.updated_at(), t2);
    let merged = beat;

    let done = f.complete(&merged, RunOutcome::Cancelled, t1).await;
    let late = f.store.merge_context(run.id(), &patch, t1).await;
    f.assert_refused(late, &done).await;
    assert!(matches!(
        f.store.merge_context(RunId::new(424_242), &patch, t1).await,
        Err(PortError::NotFound)
    ));
}

on_every_store!(context_merges_top_level_keys_while_active,);
