#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use chrono::{Duration, SecondsFormat};
use common::{
    OTHER_WS, SCHEDULE, TENANT, WRITES, WS, World, assert_first_failure_hides,
    assert_scheduled_context, base, count, first_failure_code, now,
};
use operation_runs_domain::{
    BackupSetId, Failure, FailureCode, OperationRun, RunContext, RunOutcome, RunStatus, RunType,
    UserId,
};
use operation_runs_ports::PortError;
use operation_runs_schedule_history::{
    BackupContent, BackupSourceError, Execution, FAILURE_BACKUP, FAILURE_DUPLICATE, FAILURE_PURGE,
    FAILURE_RETENTION, Mode, PurgePolicy, ScheduleError, ScheduleRequest, Trigger, source_fn,
};
use operation_runs_service::StartRequest;

fn request() -> ScheduleRequest {
    ScheduleRequest::new(WS, SCHEDULE, base() + Duration::days(99))
}

fn items(n: u64) -> impl operation_runs_schedule_history::BackupSource {
    source_fn(move |_, _| Ok(BackupContent::items(n)))
}

/// A backup of 3 items, keeping the last 3, while the port method `failing` fails with
/// `message`: the world it ran in and the error it ended in.
async fn backup_failing_at(failing: &'static str, message: &str) -> (World, ScheduleError) {
    let world = World::new(3);
    world.fail(failing, message);
    let err = world
        .ops(200)
        .run_backup(&request(), &items(3))
        .await
        .unwrap_err();
    (world, err)
}

/// Everything stored about a run, as text: no secret may appear anywhere in it.
fn stored_text(world: &World) -> String {
    format!("{:?}", world.runs())
}

#[test]
fn failure_codes_are_valid() {
    for code in [
        FAILURE_BACKUP,
        FAILURE_RETENTION,
        FAILURE_PURGE,
        FAILURE_DUPLICATE,
    ] {
        assert_eq!(FailureCode::parse(code).unwrap().as_str(), code);
    }
}

/// Soft-deleted sets purged after 7 days, runs after 30.
fn week_and_month_policy() -> PurgePolicy {
    PurgePolicy::new(Duration::days(7), Duration::days(30))
}

#[tokio::test]
async fn a_backup_creates_a_set_and_records_it_on_its_run() {
    let world = World::new(3);
    let done = world
        .ops(200)
        .run_backup(&request(), &items(42))
        .await
        .unwrap();
    let Execution::Performed { run, report } = done else {
        panic!("the backup should have run");
    };
    assert!(run.is_type(&RunType::BACKUP_SCHEDULE_RUN));
    assert_eq!(
        (
            *run.status().readable().unwrap(),
            *run.outcome().readable().unwrap()
        ),
        (RunStatus::Completed, RunOutcome::Succeeded)
    );
    assert_eq!(run.tenant_id(), Some(TENANT));
    assert_eq!(run.initiator_name(), "scheduler");
    assert_scheduled_context(&run, request().scheduled_for);
    assert_eq!(
        run.context().readable().unwrap().backup_set_id(),
        Some(report.set.id)
    );
    assert_eq!(count(&run, "sets_created"), 1);
    assert_eq!(count(&run, "items_backed_up"), 42);
    assert!(run.failure_summary().readable().unwrap().is_empty());
    assert_eq!(report.set.item_count, 42);
    assert_eq!(report.set.schedule_id, SCHEDULE);
    assert!(
        report.set.name.starts_with("nightly "),
        "{}",
        report.set.name
    );
    assert_eq!(world.sets().len(), 1);
    assert_eq!(world.run(run.id()), run);
}

#[tokio::test]
async fn a_backup_with_failed_items_is_partially_succeeded() {
    let world = World::new(3);
    let failure = Failure::new(
        FailureCode::parse("item_failed").unwrap(),
        "policy 9 unreadable",
    );
    let partial = {
        let failure = failure.clone();
        source_fn(move |_, _| Ok(BackupContent::items(5).with_failure(failure.clone())))
    };
    let done = world
        .ops(200)
        .run_backup(&request(), &partial)
        .await
        .unwrap();
    let run = done.run().unwrap();
    assert_eq!(
        *run.outcome().readable().unwrap(),
        RunOutcome::PartiallySucceeded
    );
    assert_eq!(
        run.failure_summary().readable().unwrap().failures(),
        &[failure]
    );
    assert_eq!(count(run, "items_backed_up"), 5);
}

#[tokio::test]
async fn a_manual_backup_names_its_person_and_trigger() {
    let world = World::new(3);
    let request = request()
        .trigger(Trigger::Manual)
        .started_by(UserId::new(5), "Ada");
    let done = world
        .ops(200)
        .run_backup(&request, &items(1))
        .await
        .unwrap();
    let run = done.run().unwrap();
    assert_eq!(run.user_id(), Some(UserId::new(5)));
    assert_eq!(run.initiator_name(), "Ada");
    assert_eq!(run.context().readable().unwrap().trigger(), Some("manual"));
}

#[tokio::test]
async fn a_failing_backup_source_fails_the_run_with_a_sanitized_failure() {
    let world = World::new(3);
    let failing = source_fn(|_, _| {
        Err(BackupSourceError::new(
            "graph login failed: password=secret123",
        ))
    });
    let err = world
        .ops(200)
        .run_backup(&request(), &failing)
        .await
        .unwrap_err();
    let run = err.failed_run().expect("a run was recorded").clone();
    assert!(matches!(err.root(), ScheduleError::Source(_)), "{err:?}");
    assert_eq!(
        (
            *run.status().readable().unwrap(),
            *run.outcome().readable().unwrap()
        ),
        (RunStatus::Completed, RunOutcome::Failed)
    );
    let failures = run.failure_summary().readable().unwrap().failures();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].code().as_str(), FAILURE_BACKUP);
    assert!(failures[0].message().contains("graph login failed"));
    assert!(failures[0].message().contains("[REDACTED]"));
    assert!(!stored_text(&world).contains("secret123"));
    assert!(!err.to_string().contains("secret123"), "{err}");
    // Nor anywhere in the error chain, which reporters (anyhow's `{:#}`, tracing) print whole.
    let mut chain = Vec::new();
    let mut next: Option<&dyn std::error::Error> = Some(&err);
    while let Some(e) = next {
        chain.push(e.to_string());
        next = e.source();
    }
    assert!(!chain.join(": ").contains("secret123"), "{chain:?}");
    assert_eq!(world.run(run.id()), run);
    assert!(world.sets().is_empty(), "no set for a failed backup");
    assert_eq!(run.context().readable().unwrap().backup_set_id(), None);
}

#[tokio::test]
async fn a_port_failing_midway_fails_the_run_and_returns_the_error() {
    let (world, err) =
        backup_failing_at("create_set", "connection to db lost (password=hunter22)").await;
    assert!(
        matches!(err.root(), ScheduleError::Port(PortError::Backend(_))),
        "{err:?}"
    );
    let run = world.run(err.failed_run().unwrap().id());
    assert_eq!(*run.outcome().readable().unwrap(), RunOutcome::Failed);
    assert_eq!(first_failure_code(&run), FAILURE_BACKUP);
    assert!(!stored_text(&world).contains("hunter22"));
}

#[tokio::test]
async fn a_set_whose_id_cannot_be_recorded_is_soft_deleted_again() {
    let (world, err) = backup_failing_at("merge_context", "disk full").await;
    assert_eq!(err.failed_run().unwrap().outcome(), RunOutcome::Failed);
    assert_eq!(world.deleted_sets(), vec![1], "no run references the set");
}

#[tokio::test]
async fn counts_failing_after_the_set_exists_leave_the_set_on_the_failed_run() {
    let (world, err) = backup_failing_at("increment_counts", "timeout").await;
    let run = world.run(err.failed_run().unwrap().id());
    assert_eq!(*run.outcome().readable().unwrap(), RunOutcome::Failed);
    // Retention removes it once it is older than the oldest kept run.
    assert_eq!(
        run.context().readable().unwrap().backup_set_id(),
        Some(BackupSetId::new(1))
    );
    assert!(world.deleted_sets().is_empty());
}

#[tokio::test]
async fn a_second_backup_while_one_is_active_reuses_it() {
    let world = World::new(3);
    let ops = world.ops(200);
    let active = ops
        .service()
        .start(
            StartRequest::new(WS, "backup_schedule_run", "scheduler")
                .tenant(TENANT)
                .identity(serde_json::json!({
                    "scheduled_for": request().scheduled_for.to_rfc3339_opts(SecondsFormat::Secs, true),
                    "backup_schedule_id": SCHEDULE.get(),
                }))
                .context(RunContext::new().with_backup_schedule_id(SCHEDULE)),
        )
        .await
        .unwrap()
        .into_run();
    let calls_before = world.calls().len();
    let second = ops.run_backup(&request(), &items(3)).await.unwrap();
    assert_eq!(second, Execution::AlreadyActive(active.clone()));
    assert!(
        !world.calls()[calls_before..].contains(&"create_set"),
        "no work is done twice"
    );
    assert_eq!(world.runs_of(&RunType::BACKUP_SCHEDULE_RUN).len(), 1);
    assert_eq!(world.run(active.id()).status(), RunStatus::Queued);
}

#[tokio::test]
async fn a_completed_backup_is_not_redone_but_a_failed_one_is_retried() {
    let world = World::new(3);
    let ops = world.ops(2);
    world.fail("create_set", "boom");
    let failed = ops.run_backup(&request(), &items(3)).await.unwrap_err();
    world.heal();
    // Other scheduled times fill the history; the look-up reads only this identity's runs.
    for day in 1..=4 {
        let other = ScheduleRequest::new(WS, SCHEDULE, base() + Duration::days(day));
        assert!(
            ops.run_backup(&other, &items(1))
                .await
                .unwrap()
                .is_performed()
        );
    }

    let retry = request().trigger(Trigger::Retry);
    let first = ops.run_backup(&retry, &items(3)).await.unwrap();
    let Execution::Performed { run: done, .. } = first else {
        panic!("a failed attempt must not block a retry");
    };
    assert_ne!(done.id(), failed.failed_run().unwrap().id());

    let sets_before = world.sets().len();
    let calls_before = world.calls().len();
    // Sub-seconds are dropped: this is the same scheduled time.
    let again = ScheduleRequest::new(
        WS,
        SCHEDULE,
        request().scheduled_for + Duration::milliseconds(250),
    );
    assert_eq!(
        ops.run_backup(&again, &items(3)).await.unwrap(),
        Execution::AlreadyCompleted(done)
    );
    assert_eq!(world.sets().len(), sets_before, "no second set");
    // One look-up of the identity, no walk through the schedule's history.
    assert_eq!(
        world.calls()[calls_before..],
        ["get_schedule", "latest_completed_with_identity"]
    );
}

/// The identity inputs of `request()`'s operations.
fn identity_of_request() -> serde_json::Value {
    serde_json::json!({
        "backup_schedule_id": SCHEDULE.get(),
        "scheduled_for": request().scheduled_for.to_rfc3339_opts(SecondsFormat::Secs, true),
    })
}

#[tokio::test]
async fn a_backup_that_completes_between_look_up_and_start_is_not_redone() {
    let world = World::new(3);
    // Another worker's backup of the same scheduled time is running …
    let other = world.seed_with_identity(
        RunType::BACKUP_SCHEDULE_RUN,
        RunStatus::Running,
        RunOutcome::Pending,
        RunContext::new().with_backup_schedule_id(SCHEDULE),
        Some(identity_of_request()),
    );
    // … and completes right after our look-up found nothing, before our start.
    world.after_latest_completed(move |world| world.complete(other, RunOutcome::Succeeded));
    let ops = world.ops(200);

    let answer = ops
        .run_backup(
            &request(),
            &source_fn(|_, _| panic!("the backup must not be done twice")),
        )
        .await
        .unwrap();

    let done = world.run(other);
    assert_eq!(*done.outcome().readable().unwrap(), RunOutcome::Succeeded);
    assert_eq!(answer, Execution::AlreadyCompleted(done));
    // Our start inserted a run (the other one was no longer active); it was cancelled as a
    // duplicate before doing anything.
    let ours: Vec<OperationRun> = world
        .runs_of(&RunType::BACKUP_SCHEDULE_RUN)
        .into_iter()
        .filter(|r| r.id() != other)
        .collect();
    assert_eq!(ours.len(), 1);
    let duplicate = &ours[0];
    assert_eq!(
        *duplicate.status().readable().unwrap(),
        RunStatus::Completed
    );
    assert_eq!(
        *duplicate.outcome().readable().unwrap(),
        RunOutcome::Cancelled
    );
    assert_eq!(
        *duplicate.started_at().readable().unwrap(),
        None,
        "never began"
    );
    assert_eq!(duplicate.identity_hash(), world.run(other).identity_hash());
    let failures = duplicate.failure_summary().readable().unwrap().failures();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].code().as_str(), FAILURE_DUPLICATE);
    assert!(
        failures[0].message().contains(&other.to_string()),
        "{failures:?}"
    );
    let calls = world.calls();
    assert!(!calls.contains(&"create_set"), "{calls:?}");
    assert_eq!(
        calls
            .iter()
            .filter(|c| **c == "latest_completed_with_identity")
            .count(),
        2,
        "{calls:?}"
    );

    // From now on the successful run answers straight away.
    let again = ops.run_backup(&request(), &items(1)).await.unwrap();
    assert_eq!(again, Execution::AlreadyCompleted(world.run(other)));
}

#[tokio::test]
async fn a_failing_second_look_up_fails_the_new_run() {
    let world = World::new(3);
    // The first look-up answers; then the store fails.
    world.after_latest_completed(|world| {
        world.fail("latest_completed_with_identity", "connection reset");
    });
    let ops = world.ops(200);

    let err = ops.run_backup(&request(), &items(1)).await.unwrap_err();

    let run = err.failed_run().expect("the new run is reported").clone();
    let stored = world.run(run.id());
    assert_eq!(*stored.outcome().readable().unwrap(), RunOutcome::Failed);
    assert_eq!(*stored.started_at().readable().unwrap(), None);
    assert_eq!(first_failure_code(&stored), FAILURE_BACKUP);
    assert!(
        matches!(
            err.root(),
            ScheduleError::Service(operation_runs_service::ServiceError::Port(_))
        ),
        "{err:?}"
    );
    assert!(!world.calls().contains(&"create_set"));
}

#[tokio::test]
async fn retention_for_the_same_scheduled_time_runs_once() {
    let world = World::new(1);
    let ops = world.ops(200);
    for day in 1..=3 {
        ops.run_backup(
            &ScheduleRequest::new(WS, SCHEDULE, base() + Duration::days(day)),
            &items(1),
        )
        .await
        .unwrap();
    }
    let first = ops.apply_retention(&request(), Mode::Apply).await.unwrap();
    assert!(first.is_performed());
    assert_eq!(world.deleted_sets(), vec![1, 2]);
    let second = ops.apply_retention(&request(), Mode::Apply).await.unwrap();
    assert_eq!(
        second,
        Execution::AlreadyCompleted(first.run().unwrap().clone())
    );
    let next_day = ScheduleRequest::new(WS, SCHEDULE, request().scheduled_for + Duration::days(1));
    assert!(
        ops.apply_retention(&next_day, Mode::Apply)
            .await
            .unwrap()
            .is_performed()
    );
    assert_eq!(world.runs_of(&RunType::BACKUP_SCHEDULE_RETENTION).len(), 2);
}

#[tokio::test]
async fn retention_failing_midway_fails_its_run() {
    let world = World::new(1);
    world.set(1, None);
    world.set(2, None);
    world.succeeded(1);
    world.succeeded(2);
    world.fail(
        "soft_delete_sets",
        "UPDATE failed; dsn=postgres://app:pw@db client_secret=abc123xyz",
    );
    let err = world
        .ops(200)
        .apply_retention(&request(), Mode::Apply)
        .await
        .unwrap_err();
    let run = world.run(err.failed_run().unwrap().id());
    assert!(run.is_type(&RunType::BACKUP_SCHEDULE_RETENTION));
    assert_eq!(*run.outcome().readable().unwrap(), RunOutcome::Failed);
    assert_first_failure_hides(&run, FAILURE_RETENTION, "abc123xyz");
    assert!(world.deleted_sets().is_empty());
}

#[tokio::test]
async fn purge_removes_old_deleted_sets_and_old_history() {
    let world = World::new(1);
    // Backups on days 1..=4; retention soft-deleted sets 1 and 2 long ago, set 3 recently.
    let ctx = || RunContext::new().with_backup_schedule_id(SCHEDULE);
    world.set(1, Some(base() + Duration::days(2)));
    world.set(2, Some(base() + Duration::days(3)));
    world.set(3, Some(now() - Duration::days(1)));
    world.set(4, None);
    world.succeeded(1);
    world.succeeded(2);
    world.seed(
        RunType::BACKUP_SCHEDULE_RETENTION,
        RunStatus::Completed,
        RunOutcome::Succeeded,
        ctx(),
    );
    world.seed(
        RunType::BACKUP_SCHEDULE_RETENTION,
        RunStatus::Completed,
        RunOutcome::Succeeded,
        ctx(),
    );
    world.succeeded(3);
    let b4 = world.succeeded(4);
    let active_retention = world.seed(
        RunType::BACKUP_SCHEDULE_RETENTION,
        RunStatus::Running,
        RunOutcome::Pending,
        ctx(),
    );
    let policy = week_and_month_policy();

    let plan = world
        .ops(200)
        .plan_purge(WS, SCHEDULE, policy)
        .await
        .unwrap();
    assert_eq!(plan.sets_to_purge, 2);
    assert_eq!(plan.sets_deleted_before, now() - Duration::days(7));
    // Run b4 still has a live set, so the history cutoff moves back to it.
    assert_eq!(plan.held_back_by.map(|h| h.run), Some(b4));
    assert_eq!(plan.runs_created_before, world.run(b4).created_at());
    assert_eq!(plan.window_cutoff, now() - Duration::days(30));
    // Runs 1..=5 are older; run 5's set is only soft-deleted, so its run may go (the set is
    // purged through the set store, not through its run).
    assert_eq!(plan.runs_to_purge, 5, "{plan}");

    let done = world
        .ops(200)
        .with_purge_batch_size(3)
        .purge(&request(), policy, Mode::Apply)
        .await
        .unwrap();
    let Execution::Performed { run, report } = done else {
        panic!("purge should have run");
    };
    assert_eq!((report.sets_purged, report.runs_purged), (2, 5));
    assert_eq!(count(&run, "sets_purged"), 2);
    assert_eq!(count(&run, "runs_purged"), 5);
    assert_eq!(*run.outcome().readable().unwrap(), RunOutcome::Succeeded);
    assert_eq!(world.purge_batches(), vec![3]);
    let remaining: Vec<_> = world.runs().iter().map(|r| r.id()).collect();
    assert_eq!(remaining, vec![b4, active_retention, run.id()]);
    let sets: Vec<i64> = world.sets().iter().map(|s| s.id.get()).collect();
    assert_eq!(sets, vec![3, 4]);
}

#[tokio::test]
async fn purge_without_live_sets_uses_the_window() {
    let world = World::new(1);
    world.backup(RunStatus::Completed, RunOutcome::Failed, None);
    world.backup(RunStatus::Completed, RunOutcome::Failed, None);
    let plan = world
        .ops(200)
        .plan_purge(WS, SCHEDULE, week_and_month_policy())
        .await
        .unwrap();
    assert_eq!(plan.held_back_by, None);
    assert_eq!(plan.runs_created_before, now() - Duration::days(30));
    assert_eq!(plan.runs_to_purge, 1, "the newest run of the type stays");
    assert!(
        !world.calls().contains(&"schedule_history"),
        "no walk needed"
    );
}

#[tokio::test]
async fn purge_failing_midway_keeps_what_was_done_and_fails_its_run() {
    let world = World::new(1);
    world.set(1, Some(base()));
    world.backup(RunStatus::Completed, RunOutcome::Failed, None);
    world.fail(
        "purge_schedule_history",
        "deadlock detected; token=Bearer abc.def.ghi",
    );
    let err = world
        .ops(200)
        .purge(&request(), week_and_month_policy(), Mode::Apply)
        .await
        .unwrap_err();
    let run = world.run(err.failed_run().unwrap().id());
    assert_eq!(*run.outcome().readable().unwrap(), RunOutcome::Failed);
    assert_eq!(count(&run, "sets_purged"), 1);
    assert_first_failure_hides(&run, FAILURE_PURGE, "abc.def.ghi");
    assert!(world.sets().is_empty());
}

#[tokio::test]
async fn a_negative_purge_policy_is_refused_before_anything() {
    let world = World::new(1);
    let err = world
        .ops(200)
        .purge(
            &request(),
            PurgePolicy::new(Duration::days(-1), Duration::days(30)),
            Mode::Apply,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ScheduleError::InvalidPolicy(_)), "{err}");
    assert!(world.calls().is_empty());
}

#[tokio::test]
async fn operations_on_a_schedule_of_another_workspace_are_not_found() {
    let world = World::new(1);
    let foreign = ScheduleRequest::new(OTHER_WS, SCHEDULE, now());
    let ops = world.ops(200);
    let policy = week_and_month_policy();
    let results = [
        ops.run_backup(&foreign, &items(1)).await.map(|_| ()),
        ops.apply_retention(&foreign, Mode::Apply).await.map(|_| ()),
        ops.apply_retention(&foreign, Mode::DryRun)
            .await
            .map(|_| ()),
        ops.purge(&foreign, policy, Mode::Apply).await.map(|_| ()),
        ops.purge(&foreign, policy, Mode::DryRun).await.map(|_| ()),
    ];
    for result in results {
        assert!(matches!(result, Err(ScheduleError::NotFound)), "{result:?}");
    }
    assert!(!world.calls().iter().any(|c| WRITES.contains(c)));
}

#[tokio::test]
async fn dry_runs_report_the_plan_and_record_nothing() {
    let world = World::new(1);
    world.set(1, None);
    world.set(2, None);
    world.set(3, Some(base()));
    world.succeeded(1);
    world.succeeded(2);
    let ops = world.ops(200);
    let retention = ops.apply_retention(&request(), Mode::DryRun).await.unwrap();
    let Execution::DryRun(report) = retention else {
        panic!("a dry run");
    };
    assert_eq!(
        report.plan.set_ids_to_soft_delete(),
        vec![BackupSetId::new(1)]
    );
    assert_eq!(report.sets_soft_deleted, 1);
    let purge = ops
        .purge(&request(), week_and_month_policy(), Mode::DryRun)
        .await
        .unwrap();
    let Execution::DryRun(report) = purge else {
        panic!("a dry run");
    };
    assert_eq!(report.sets_purged, 1);
    let calls = world.calls();
    assert!(
        !calls.iter().any(|c| WRITES.contains(c) || *c == "get"),
        "{calls:?}"
    );
    assert_eq!(world.deleted_sets(), vec![3]);
    assert_eq!(world.runs().len(), 2);
}

#[tokio::test]
async fn dry_runs_against_bare_mocks_call_no_write_method() {
    use operation_runs_ports::{
        MockBackupRepository, MockRunLifecycle, MockRunQueries, MockScheduleRunHistory,
    };
    let world = World::new(1);
    world.set(1, None);
    world.succeeded(1);
    world.succeeded(2);
    // The whole history (two backups), newest first, in one page.
    let newest_first: Vec<_> = world.runs().into_iter().rev().collect();

    let mut history = MockScheduleRunHistory::new();
    history.expect_schedule_history().returning(move |_| {
        Ok(operation_runs_ports::RunPage {
            runs: newest_first.clone(),
            next: None,
        })
    });
    history
        .expect_count_purgeable_schedule_history()
        .times(1)
        .returning(|_| Ok(0));
    history.expect_purge_schedule_history().never();
    // A lifecycle mock without expectations fails the test on any write.
    let (lifecycle, queries) = (MockRunLifecycle::new(), MockRunQueries::new());
    let mut backups = MockBackupRepository::new();
    let schedule = world.schedule();
    backups
        .expect_get_schedule()
        .returning(move |_| Ok(schedule.clone()));
    let sets = world.sets();
    backups
        .expect_list_sets()
        .returning(move |_, _| Ok(sets.clone()));
    backups
        .expect_count_purgeable_sets()
        .times(1)
        .returning(|_, _| Ok(0));
    backups.expect_create_set().never();
    backups.expect_soft_delete_sets().never();
    backups.expect_purge_sets().never();
    let service = world.service_over(std::sync::Arc::new(lifecycle), std::sync::Arc::new(queries));
    let ops = operation_runs_schedule_history::ScheduleOperations::new(
        service,
        operation_runs_schedule_history::SchedulePorts {
            history: std::sync::Arc::new(history),
            backups: std::sync::Arc::new(backups),
        },
    );

    let retention = ops.apply_retention(&request(), Mode::DryRun).await.unwrap();
    assert_eq!(
        retention.report().unwrap().plan.set_ids_to_soft_delete(),
        vec![BackupSetId::new(1)]
    );
    let purge = ops
        .purge(&request(), week_and_month_policy(), Mode::DryRun)
        .await
        .unwrap();
    assert!(matches!(purge, Execution::DryRun(_)));
}
