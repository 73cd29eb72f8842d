//! Rows the legacy product wrote without today's validation, one per class, written raw next to
//! valid rows: every read and maintenance path keeps working, shows or skips exactly that row,
//! and leaves the valid rows as they were.

use crate::support::*;
use chrono::Duration;
use operation_runs_domain::{
    BackupSetId, FailureCode, OperationRun, RunContext, RunId, RunOutcome, RunStatus, RunType,
    RunTypeRegistry, Unreadable,
};
use operation_runs_ports::{PortError, RunFilter, ScheduleHistoryQuery};
use operation_runs_schedule_history::{PurgePolicy, ScheduleOperations, SchedulePorts};
use operation_runs_service::{OperationRunService, ServiceError};
use operation_runs_tests::{RawColumn, TestStore, on_every_store, runs_of, service_ports};
use serde_json::json;

/// One legacy class: the column written raw, which a reader must find unreadable, showing the
/// raw value.
struct Class {
    name: &'static str,
    completed: bool,
    column: &'static str,
    value: RawColumn,
}

impl Class {
    /// The raw value as an unreadable field shows it.
    fn raw(&self) -> String {
        match &self.value {
            RawColumn::Text(text) => (*text).to_owned(),
            RawColumn::Json(json) => json.to_string(),
            RawColumn::Null => "null".to_owned(),
        }
    }
}

fn classes() -> Vec<Class> {
    use RawColumn::{Json, Null, Text};
    let class = |name, completed, column, value| Class {
        name,
        completed,
        column,
        value,
    };
    vec![
        class(
            "failures not an array",
            true,
            "failure_summary",
            Json(json!({"error": "boom"})),
        ),
        class(
            "failure without code",
            true,
            "failure_summary",
            Json(json!([{"message": "no code"}])),
        ),
        class(
            "code not snake_case",
            true,
            "failure_summary",
            Json(json!([{"code": "GraphError", "message": "x"}])),
        ),
        class(
            "negative count",
            true,
            "summary_counts",
            Json(json!({"total": -3})),
        ),
        class(
            "count as text",
            true,
            "summary_counts",
            Json(json!({"total": "7"})),
        ),
        class(
            "id as text",
            true,
            "context",
            Json(json!({"backup_set_id": "seven"})),
        ),
        class(
            "time not RFC 3339",
            true,
            "context",
            Json(json!({"scheduled_for": "yesterday"})),
        ),
        class(
            "queued with an outcome",
            false,
            "outcome",
            Text("succeeded"),
        ),
        class("completed without completed_at", true, "completed_at", Null),
        class(
            "hash not canonical",
            true,
            "run_identity_hash",
            Text("NOT-A-HASH"),
        ),
        class("unknown status", true, "status", Text("done")),
    ]
}

fn unreadable_field<'a>(run: &'a OperationRun, field: &str) -> Option<&'a Unreadable> {
    run.unreadable_fields()
        .into_iter()
        .find_map(|(name, unreadable)| (name == field).then_some(unreadable))
}

async fn reads_show_each_legacy_class_and_leave_valid_rows_alone(store: TestStore) {
    let f = fixture(store).await;
    let valid_done = f
        .complete(&f.queued(1, t0()).await, RunOutcome::Succeeded, t0())
        .await;
    let mut legacy = Vec::new();
    for (n, class) in classes().into_iter().enumerate() {
        let n = 100 + i64::try_from(n).unwrap();
        let queued = f.queued(n, t0() + Duration::minutes(n)).await;
        let run = if class.completed {
            f.complete(&queued, RunOutcome::Failed, t0()).await
        } else {
            queued
        };
        f.harness
            .overwrite_run(&run, &[(class.column, class.value.clone())])
            .await;
        legacy.push((run.id(), class));
    }
    let valid_active = f.queued(2, t0()).await;

    let listed = runs_of(&f.store, f.ws, RunFilter::default()).await;
    assert_eq!(listed.len(), legacy.len() + 2, "the list shows every run");
    for run in &listed {
        let shown = f.store.get(run.id()).await.unwrap();
        assert_eq!(&shown, run, "the detail reads the row as the list does");
    }
    assert!(listed.contains(&valid_done) && listed.contains(&valid_active));
    for (id, class) in &legacy {
        let run = listed.iter().find(|r| r.id() == *id).unwrap();
        let unreadable = unreadable_field(run, class.column).unwrap_or_else(|| {
            panic!(
                "{}: {} should be unreadable in {run:?}",
                class.name, class.column
            )
        });
        assert_eq!(unreadable.raw(), class.raw(), "{}", class.name);
        assert_eq!(
            run.unreadable_fields().len(),
            1,
            "{}: only that field",
            class.name
        );
        assert_eq!(
            run.workspace_id(),
            f.ws,
            "{}: the rest stays readable",
            class.name
        );
    }
}

async fn the_reaper_completes_stale_legacy_runs_keeping_what_they_held(store: TestStore) {
    let f = fixture(store).await;
    let legacy = f.begin(&f.queued(1, t0()).await, t0()).await;
    f.harness
        .overwrite_run(
            &legacy,
            &[
                ("started_at", RawColumn::Null),
                (
                    "failure_summary",
                    RawColumn::Json(json!("legacy text, password=hunter2")),
                ),
            ],
        )
        .await;
    let valid = f.begin(&f.queued(2, t0()).await, t0()).await;
    let broken_status = f.queued(3, t0()).await;
    f.harness
        .overwrite_run(&broken_status, &[("status", RawColumn::Text("done"))])
        .await;

    let service =
        OperationRunService::new(service_ports(&f.store), RunTypeRegistry::with_builtins());
    let report = service.reap_stale(Duration::hours(1), 100).await.unwrap();
    let mut reaped = report.reaped.clone();
    reaped.sort();
    assert_eq!(reaped, vec![legacy.id(), valid.id()], "{report:?}");
    assert!(report.lost_races.is_empty(), "{report:?}");

    let done = f.store.get(legacy.id()).await.unwrap();
    assert_eq!(done.status(), RunStatus::Completed);
    assert_eq!(done.outcome(), RunOutcome::Failed);
    assert!(
        done.unreadable_fields().is_empty(),
        "a valid summary replaced the legacy one"
    );
    let failures = done.failure_summary().readable().unwrap().failures();
    let codes: Vec<&str> = failures.iter().map(|f| f.code().as_str()).collect();
    assert_eq!(
        codes,
        [
            FailureCode::UNREADABLE_FAILURE_SUMMARY,
            FailureCode::RUN_STALE
        ]
    );
    assert!(
        failures[0].message().contains("legacy text"),
        "{failures:?}"
    );
    assert!(
        !failures[0].message().contains("hunter2"),
        "sanitized: {failures:?}"
    );
    let untouched = f.store.get(broken_status.id()).await.unwrap();
    assert_eq!(
        untouched.updated_at(),
        broken_status.updated_at(),
        "not a stale run by its status"
    );
}

async fn schedule_maintenance_skips_unreadable_set_references(store: TestStore) {
    let f = fixture(store).await;
    let schedule = f.schedule("nightly", 1).await;
    let mut backups = Vec::new();
    for n in 0..3 {
        let set = f
            .store
            .create_set(schedule.id, &format!("set {n}"), 5, t0())
            .await
            .unwrap();
        let mut new = new_run(
            f.ws,
            Some(f.tenant),
            RunType::BACKUP_SCHEDULE_RUN,
            json!({"n": n}),
            t0() + Duration::minutes(n),
        );
        new.context = RunContext::new()
            .with_backup_schedule_id(schedule.id)
            .with_backup_set_id(set.id);
        let run = f.start(&new).await;
        backups.push((f.complete(&run, RunOutcome::Succeeded, t0()).await, set.id));
    }
    // The newest backup's set id was stored as text.
    let (newest, newest_set) = &backups[2];
    let raw = json!({"backup_schedule_id": schedule.id.get(), "backup_set_id": newest_set.get().to_string()});
    f.harness
        .overwrite_run(newest, &[("context", RawColumn::Json(raw))])
        .await;

    let history = f
        .store
        .schedule_history(&ScheduleHistoryQuery {
            workspace_id: f.ws,
            schedule_id: schedule.id,
            run_types: RunType::BACKUP_SCHEDULE_TYPES.to_vec(),
            outcomes: Vec::new(),
            after: None,
            limit: 10,
        })
        .await
        .unwrap();
    let ids: Vec<RunId> = history.runs.iter().map(OperationRun::id).collect();
    assert_eq!(
        ids,
        [newest.id(), backups[1].0.id(), backups[0].0.id()],
        "the history shows it"
    );

    let service =
        OperationRunService::new(service_ports(&f.store), RunTypeRegistry::with_builtins());
    let ports = SchedulePorts {
        history: f.store.clone(),
        backups: f.store.clone(),
    };
    let ops = ScheduleOperations::new(service, ports);
    let retention = ops.plan_retention(f.ws, schedule.id).await.unwrap();
    let kept: Vec<BackupSetId> = retention.kept.iter().map(|k| k.set).collect();
    let doomed: Vec<BackupSetId> = retention.set_ids_to_soft_delete();
    assert_eq!(kept, [backups[1].1], "keeps by the newest readable run");
    assert_eq!(doomed, [backups[0].1]);
    assert_eq!(retention.skipped.len(), 1, "{retention}");
    assert_eq!(
        (retention.skipped[0].run, retention.skipped[0].field),
        (newest.id(), "context")
    );
    assert!(
        retention
            .to_string()
            .contains(&format!("skip run {}", newest.id())),
        "{retention}"
    );

    let purge = ops
        .plan_purge(
            f.ws,
            schedule.id,
            PurgePolicy::new(Duration::zero(), Duration::zero()),
        )
        .await
        .unwrap();
    assert_eq!(
        purge.skipped.iter().map(|s| s.run).collect::<Vec<_>>(),
        [newest.id()],
        "{purge}"
    );
    assert_eq!(
        purge.held_back_by.map(|h| h.run),
        Some(backups[0].0.id()),
        "{purge}"
    );
}

async fn a_start_reuses_an_active_legacy_run_of_its_identity(store: TestStore) {
    let f = fixture(store).await;
    let new = new_run(
        f.ws,
        Some(f.tenant),
        RunType::INVENTORY_SYNC,
        json!({"n": 1}),
        t0(),
    );
    let legacy = f.start(&new).await;
    f.harness
        .overwrite_run(
            &legacy,
            &[
                ("summary_counts", RawColumn::Json(json!([1, 2]))),
                ("context", RawColumn::Json(json!({"scheduled_for": 5}))),
            ],
        )
        .await;
    let again = f.store.insert_or_get_active(&new).await.unwrap();
    assert!(again.reused);
    assert_eq!(again.run.id(), legacy.id());
    let fields: Vec<&str> = again
        .run
        .unreadable_fields()
        .iter()
        .map(|(f, _)| *f)
        .collect();
    assert_eq!(fields, ["summary_counts", "context"]);
}

/// Counts a legacy row stored loosely are never added to (nor cast, nor overwritten): the
/// guarded write refuses, the row keeps what it held, and the service names the field.
async fn counts_that_cannot_be_read_are_never_added_to(store: TestStore) {
    let f = fixture(store).await;
    let service =
        OperationRunService::new(service_ports(&f.store), RunTypeRegistry::with_builtins());
    let loose = [
        json!({"total": "7"}),
        json!({"total": 1.5}),
        json!({"total": [3]}),
        json!([1, 2]),
        // A count the write does not touch still makes the whole field unreadable.
        json!({"total": 1, "failed": -1}),
    ];
    for (n, raw) in loose.into_iter().enumerate() {
        let run = f.queued(i64::try_from(n).unwrap(), t0()).await;
        f.harness
            .overwrite_run(&run, &[("summary_counts", RawColumn::Json(raw.clone()))])
            .await;
        let before = f.store.get(run.id()).await.unwrap();
        assert!(
            unreadable_field(&before, "summary_counts").is_some(),
            "{raw}"
        );

        let refused = f
            .add_as(
                run.id(),
                &[RunType::INVENTORY_SYNC],
                &[("total", 1)],
                t0() + Duration::minutes(1),
            )
            .await;
        assert!(
            matches!(refused, Err(PortError::Conflict(_))),
            "{raw}: {refused:?}"
        );
        let through_service = service.record_progress(run.id(), &[("total", 1)]).await;
        assert!(
            matches!(
                through_service,
                Err(ServiceError::UnreadableField {
                    field: "summary_counts",
                    ..
                })
            ),
            "{raw}: {through_service:?}"
        );
        assert_eq!(f.store.get(run.id()).await.unwrap(), before, "{raw}");
    }
}

on_every_store!(
    reads_show_each_legacy_class_and_leave_valid_rows_alone,
    a_start_reuses_an_active_legacy_run_of_its_identity,
    the_reaper_completes_stale_legacy_runs_keeping_what_they_held,
    schedule_maintenance_skips_unreadable_set_references,
    counts_that_cannot_be_read_are_never_added_to,
);
