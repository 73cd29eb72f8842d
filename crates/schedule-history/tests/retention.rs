#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::{
    FOREIGN_SCHEDULE, OTHER_WS, SCHEDULE, WS, World, assert_scheduled_context, base, count, now,
};
use operation_runs_domain::{BackupSetId, RunId, RunOutcome, RunStatus, RunType};
use operation_runs_schedule_history::{
    Execution, LeftReason, LeftSet, Mode, RetentionDecision, RetentionPlan, RunSet, ScheduleError,
    ScheduleRequest,
};

fn rs(set: i64, run: RunId) -> RunSet {
    RunSet {
        set: BackupSetId::new(set),
        run,
    }
}

async fn plan(world: &World) -> RetentionPlan {
    world.ops(200).plan_retention(WS, SCHEDULE).await.unwrap()
}

/// A world keeping the sets of the last `keep_last` successful runs, with live sets 1..=n.
fn world_with_sets(keep_last: u32, n: i64) -> World {
    let world = World::new(keep_last);
    for id in 1..=n {
        world.set(id, None);
    }
    world
}

/// Successful runs with sets 1..=n, oldest first.
fn succeeded_with_sets(world: &World, n: i64) -> Vec<RunId> {
    (1..=n).map(|set| world.succeeded(set)).collect()
}

/// A failed run with set 1, then successful runs with sets 2 and 3; returns the failed run.
fn failed_then_two_successes(world: &World) -> RunId {
    let failed = world.backup(RunStatus::Completed, RunOutcome::Failed, Some(1));
    world.succeeded(2);
    world.succeeded(3);
    failed
}

#[tokio::test]
async fn keep_last_zero_turns_retention_off() {
    let world = world_with_sets(0, 3);
    let runs = succeeded_with_sets(&world, 3);
    let plan = plan(&world).await;
    assert_eq!(plan.decision(), RetentionDecision::Off);
    assert!(plan.to_soft_delete.is_empty());
    assert_eq!(
        plan.kept,
        vec![rs(3, runs[2]), rs(2, runs[1]), rs(1, runs[0])]
    );
    assert!(plan.to_string().contains("retention is off"));
    assert!(!world.calls().contains(&"list_sets"));
}

#[tokio::test]
async fn fewer_successful_runs_than_keep_last_deletes_nothing() {
    let world = world_with_sets(3, 3);
    let old_failed = failed_then_two_successes(&world);
    let plan = plan(&world).await;
    assert_eq!(plan.decision(), RetentionDecision::TooFewSuccessfulRuns);
    assert_eq!(plan.successful_runs, 2);
    assert!(plan.to_soft_delete.is_empty(), "{plan}");
    assert!(!plan.kept.iter().any(|k| k.run == old_failed));
}

#[tokio::test]
async fn exactly_keep_last_successful_runs_keeps_them_all() {
    let world = world_with_sets(3, 3);
    let runs = succeeded_with_sets(&world, 3);
    let plan = plan(&world).await;
    assert_eq!(plan.decision(), RetentionDecision::Applies);
    assert_eq!(plan.kept.len(), 3);
    assert!(plan.to_soft_delete.is_empty());
    assert_eq!(plan.oldest_kept_run(), Some(runs[0]));
}

#[tokio::test]
async fn exactly_keep_last_still_deletes_the_set_of_an_older_failed_run() {
    let world = world_with_sets(2, 3);
    let failed = failed_then_two_successes(&world);
    let plan = plan(&world).await;
    assert_eq!(plan.to_soft_delete, vec![rs(1, failed)]);
}

#[tokio::test]
async fn one_more_successful_run_than_keep_last_deletes_the_oldest_set() {
    let world = world_with_sets(3, 4);
    let runs = succeeded_with_sets(&world, 4);
    let plan = plan(&world).await;
    assert_eq!(
        plan.kept,
        vec![rs(4, runs[3]), rs(3, runs[2]), rs(2, runs[1])]
    );
    assert_eq!(plan.to_soft_delete, vec![rs(1, runs[0])]);
    assert_eq!(plan.oldest_kept_run(), Some(runs[1]));
}

#[tokio::test]
async fn failed_and_cancelled_runs_between_successful_ones_do_not_count() {
    let world = world_with_sets(2, 5);
    let s1 = world.succeeded(1);
    let failed_old = world.backup(RunStatus::Completed, RunOutcome::Failed, Some(2));
    let s3 = world.succeeded(3);
    let cancelled_new = world.backup(RunStatus::Completed, RunOutcome::Cancelled, Some(4));
    let s5 = world.succeeded(5);
    let plan = plan(&world).await;
    assert_eq!(plan.kept, vec![rs(5, s5), rs(3, s3)]);
    assert_eq!(plan.to_soft_delete, vec![rs(2, failed_old), rs(1, s1)]);
    assert_eq!(
        plan.left,
        vec![LeftSet {
            run_set: rs(4, cancelled_new),
            reason: LeftReason::NewerThanOldestKept
        }]
    );
}

#[tokio::test]
async fn partially_succeeded_counts_as_successful() {
    let world = world_with_sets(2, 3);
    let s1 = world.succeeded(1);
    let partial = world.backup(
        RunStatus::Completed,
        RunOutcome::PartiallySucceeded,
        Some(2),
    );
    let s3 = world.succeeded(3);
    let plan = plan(&world).await;
    assert_eq!(plan.successful_runs, 3);
    assert_eq!(plan.kept, vec![rs(3, s3), rs(2, partial)]);
    assert_eq!(plan.to_soft_delete, vec![rs(1, s1)]);
}

#[tokio::test]
async fn the_set_of_an_active_run_is_never_touched() {
    let world = world_with_sets(1, 4);
    let queued_old = world.backup(RunStatus::Queued, RunOutcome::Pending, Some(1));
    let running_old = world.backup(RunStatus::Running, RunOutcome::Pending, Some(2));
    let s3 = world.succeeded(3);
    let running_new = world.backup(RunStatus::Running, RunOutcome::Pending, Some(4));
    let plan = plan(&world).await;
    assert_eq!(plan.kept, vec![rs(3, s3)]);
    assert!(plan.to_soft_delete.is_empty(), "{plan}");
    let left: Vec<(RunSet, LeftReason)> = plan.left.iter().map(|l| (l.run_set, l.reason)).collect();
    assert_eq!(
        left,
        vec![
            (rs(4, running_new), LeftReason::ActiveRun),
            (rs(2, running_old), LeftReason::ActiveRun),
            (rs(1, queued_old), LeftReason::ActiveRun),
        ]
    );
}

#[tokio::test]
async fn a_set_shared_with_a_kept_or_active_run_is_never_deleted() {
    let world = world_with_sets(1, 3);
    let old_sharing_kept = world.succeeded(3);
    let old_sharing_active = world.succeeded(2);
    let old_alone = world.succeeded(1);
    let active = world.backup(RunStatus::Running, RunOutcome::Pending, Some(2));
    let kept = world.succeeded(3);
    let plan = plan(&world).await;
    assert_eq!(plan.kept, vec![rs(3, kept)]);
    assert_eq!(plan.to_soft_delete, vec![rs(1, old_alone)]);
    let reasons: Vec<(RunId, LeftReason)> = plan
        .left
        .iter()
        .map(|l| (l.run_set.run, l.reason))
        .collect();
    assert!(reasons.contains(&(old_sharing_kept, LeftReason::SharedWithKeptRun(kept))));
    assert!(reasons.contains(&(old_sharing_active, LeftReason::SharedWithActiveRun(active))));
    assert!(reasons.contains(&(active, LeftReason::ActiveRun)));

    world
        .ops(200)
        .apply_retention(&ScheduleRequest::new(WS, SCHEDULE, now()), Mode::Apply)
        .await
        .unwrap();
    assert_eq!(world.deleted_sets(), vec![1]);
}

#[tokio::test]
async fn runs_without_a_backup_set_are_ignored() {
    let world = world_with_sets(2, 3);
    let s1 = world.succeeded(1);
    world.backup(RunStatus::Completed, RunOutcome::Succeeded, None);
    world.backup(RunStatus::Completed, RunOutcome::Failed, None);
    let s3 = world.succeeded(3);
    let plan = plan(&world).await;
    // Had the set-less run counted, run 1's set would go.
    assert_eq!(plan.successful_runs, 2);
    assert_eq!(plan.kept, vec![rs(3, s3), rs(1, s1)]);
    assert!(plan.to_soft_delete.is_empty());
    assert!(plan.left.is_empty());
}

#[tokio::test]
async fn a_set_referenced_by_two_old_runs_is_deleted_once() {
    let world = world_with_sets(1, 2);
    world.backup(RunStatus::Completed, RunOutcome::Failed, Some(1));
    let retry = world.succeeded(1);
    world.succeeded(2);
    let plan = plan(&world).await;
    assert_eq!(plan.to_soft_delete, vec![rs(1, retry)]);
}

#[tokio::test]
async fn already_soft_deleted_sets_are_not_counted_as_to_delete() {
    let world = World::new(1);
    world.set(1, Some(base()));
    world.set(2, None);
    world.set(3, None);
    // Set 4 is gone altogether (purged).
    let gone = world.succeeded(4);
    let deleted = world.succeeded(1);
    let live = world.succeeded(2);
    world.succeeded(3);
    let plan = plan(&world).await;
    assert_eq!(plan.to_soft_delete, vec![rs(2, live)]);
    assert_eq!(plan.already_deleted, vec![rs(1, deleted), rs(4, gone)]);
    let ops = world.ops(200);
    let done = ops
        .apply_retention(&ScheduleRequest::new(WS, SCHEDULE, now()), Mode::Apply)
        .await
        .unwrap();
    let Execution::Performed { run, report } = done else {
        panic!("retention should have run");
    };
    assert_eq!(report.sets_soft_deleted, 1);
    assert_eq!(count(&run, "sets_soft_deleted"), 1);
    assert_eq!(world.deleted_sets(), vec![1, 2]);
}

#[tokio::test]
async fn selection_walks_every_page_of_the_history() {
    let world = world_with_sets(2, 7);
    let runs = succeeded_with_sets(&world, 7);
    // Runs of the other two types in between must not disturb the backup pages.
    world.seed(
        RunType::BACKUP_SCHEDULE_RETENTION,
        RunStatus::Completed,
        RunOutcome::Succeeded,
        operation_runs_domain::RunContext::new().with_backup_schedule_id(SCHEDULE),
    );
    let plan = world.ops(2).plan_retention(WS, SCHEDULE).await.unwrap();
    assert_eq!(plan.kept, vec![rs(7, runs[6]), rs(6, runs[5])]);
    assert_eq!(
        plan.set_ids_to_soft_delete(),
        (1..=5).rev().map(BackupSetId::new).collect::<Vec<_>>()
    );
    let pages = world.history_pages();
    assert_eq!(pages.len(), 4, "7 runs in pages of 2: {pages:?}");
    assert_eq!(pages[0].0, None);
    assert!(pages.iter().all(|(_, limit)| *limit == 2));
    let cursors: Vec<i64> = pages[1..].iter().map(|(c, _)| c.unwrap().0.get()).collect();
    assert_eq!(cursors, vec![runs[5].get(), runs[3].get(), runs[1].get()]);
}

#[tokio::test]
async fn a_schedule_of_another_workspace_is_not_found() {
    let world = World::new(2);
    let err = world
        .ops(200)
        .plan_retention(WS, FOREIGN_SCHEDULE)
        .await
        .unwrap_err();
    assert!(matches!(err, ScheduleError::NotFound), "{err}");
    let err = world
        .ops(200)
        .apply_retention(
            &ScheduleRequest::new(OTHER_WS, SCHEDULE, now()),
            Mode::Apply,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ScheduleError::NotFound), "{err}");
    let err = world
        .ops(200)
        .plan_retention(WS, operation_runs_domain::BackupScheduleId::new(999))
        .await
        .unwrap_err();
    assert!(err.is_not_found());
    assert!(!world.calls().iter().any(|c| common::WRITES.contains(c)));
}

#[tokio::test]
async fn applying_retention_records_a_retention_run_with_its_counts() {
    let world = world_with_sets(2, 4);
    (1..=4).for_each(|s| {
        world.succeeded(s);
    });
    let scheduled_for = now();
    let done = world
        .ops(200)
        .apply_retention(
            &ScheduleRequest::new(WS, SCHEDULE, scheduled_for),
            Mode::Apply,
        )
        .await
        .unwrap();
    let Execution::Performed { run, report } = done else {
        panic!("retention should have run");
    };
    assert!(run.is_type(&RunType::BACKUP_SCHEDULE_RETENTION));
    assert_eq!(run.status(), RunStatus::Completed);
    assert_eq!(run.outcome(), RunOutcome::Succeeded);
    assert_scheduled_context(&run, scheduled_for);
    assert_eq!(count(&run, "sets_kept"), 2);
    assert_eq!(count(&run, "sets_soft_deleted"), 2);
    assert_eq!(report.sets_soft_deleted, 2);
    assert_eq!(world.deleted_sets(), vec![1, 2]);
    assert_eq!(
        world.run(run.id()),
        run,
        "what was returned is what is stored"
    );
}

#[test]
fn the_plan_prints_what_it_will_do() {
    let world = world_with_sets(1, 3);
    world.succeeded(1);
    world.backup(RunStatus::Running, RunOutcome::Pending, Some(2));
    world.succeeded(3);
    let schedule = world.schedule();
    let runs = world.runs();
    let text = RetentionPlan::from_runs(&schedule, &runs).to_string();
    assert_eq!(
        text,
        "retention plan for backup schedule 7 (keep last 1, 2 successful runs with a set)\n  \
         keep 1 set: set 3 (run 3)\n  \
         soft-delete 1 set: set 1 (run 1)\n  \
         leave set 2 (run 2): its run is still active"
    );
}
