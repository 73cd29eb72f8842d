#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::{FOREIGN_SCHEDULE, OTHER_WS, SCHEDULE, WS, World};
use operation_runs_domain::{
    BackupScheduleId, RunContext, RunId, RunOutcome, RunStatus, RunType, UserId,
};
use operation_runs_ports::{MockScheduleRunHistory, RunCursor, RunPage};
use operation_runs_schedule_history::{
    HistoryQuery, MAX_PAGE_SIZE, ScheduleError, ScheduleHistory, SchedulePorts,
};
use std::sync::Arc;

/// A history of every type and outcome, plus runs that must never show up in it.
fn seeded() -> (World, Vec<RunId>) {
    let world = World::new(3);
    let ctx = || RunContext::new().with_backup_schedule_id(SCHEDULE);
    let ids = vec![
        world.succeeded(1),
        world.seed(
            RunType::BACKUP_SCHEDULE_RETENTION,
            RunStatus::Completed,
            RunOutcome::Succeeded,
            ctx(),
        ),
        world.backup(RunStatus::Completed, RunOutcome::Failed, None),
        world.backup(
            RunStatus::Completed,
            RunOutcome::PartiallySucceeded,
            Some(2),
        ),
        world.seed(
            RunType::BACKUP_SCHEDULE_PURGE,
            RunStatus::Completed,
            RunOutcome::Failed,
            ctx(),
        ),
        world.backup(RunStatus::Running, RunOutcome::Pending, None),
    ];
    // Another schedule's run and an inventory sync naming the schedule: never in the history.
    world.seed(
        RunType::BACKUP_SCHEDULE_RUN,
        RunStatus::Completed,
        RunOutcome::Succeeded,
        RunContext::new().with_backup_schedule_id(BackupScheduleId::new(99)),
    );
    world.seed(
        RunType::INVENTORY_SYNC,
        RunStatus::Completed,
        RunOutcome::Succeeded,
        ctx(),
    );
    (world, ids)
}

fn history(world: &World) -> ScheduleHistory {
    world.ops(200).history().clone()
}

fn ids(page: &RunPage) -> Vec<RunId> {
    page.runs.iter().map(|r| r.id()).collect()
}

#[tokio::test]
async fn a_page_is_newest_first_and_keyset_paginated() {
    let (world, runs) = seeded();
    let history = history(&world);
    let mut query = HistoryQuery::new(WS, SCHEDULE).limit(4);
    let first = history.page(&query).await.unwrap();
    assert_eq!(ids(&first), vec![runs[5], runs[4], runs[3], runs[2]]);
    assert_eq!(first.next, Some(RunCursor(runs[2])));
    query = query.after(first.next);
    let second = history.page(&query).await.unwrap();
    assert_eq!(ids(&second), vec![runs[1], runs[0]]);
    assert_eq!(second.next, None);

    let all = history.all(&HistoryQuery::new(WS, SCHEDULE)).await.unwrap();
    let mut expected = runs.clone();
    expected.reverse();
    assert_eq!(all.iter().map(|r| r.id()).collect::<Vec<_>>(), expected);
}

#[tokio::test]
async fn filters_by_type_and_outcome() {
    let (world, runs) = seeded();
    let history = history(&world);
    let backups = history
        .page(&HistoryQuery::new(WS, SCHEDULE).run_type(RunType::BACKUP_SCHEDULE_RUN))
        .await
        .unwrap();
    assert_eq!(ids(&backups), vec![runs[5], runs[3], runs[2], runs[0]]);
    let successful = history
        .page(
            &HistoryQuery::new(WS, SCHEDULE)
                .run_type(RunType::BACKUP_SCHEDULE_RUN)
                .outcome(RunOutcome::Succeeded)
                .outcome(RunOutcome::PartiallySucceeded),
        )
        .await
        .unwrap();
    assert_eq!(ids(&successful), vec![runs[3], runs[0]]);
    let failed = history
        .page(&HistoryQuery::new(WS, SCHEDULE).outcome(RunOutcome::Failed))
        .await
        .unwrap();
    assert_eq!(ids(&failed), vec![runs[4], runs[2]]);
    let active = history
        .page(&HistoryQuery::new(WS, SCHEDULE).outcome(RunOutcome::Pending))
        .await
        .unwrap();
    assert_eq!(ids(&active), vec![runs[5]]);
}

#[tokio::test]
async fn only_backup_schedule_types_may_be_asked_for() {
    let (world, _) = seeded();
    let err = history(&world)
        .page(&HistoryQuery::new(WS, SCHEDULE).run_type(RunType::INVENTORY_SYNC))
        .await
        .unwrap_err();
    assert!(matches!(err, ScheduleError::InvalidQuery(_)), "{err}");
    assert!(world.calls().is_empty(), "refused before any read");
}

#[tokio::test]
async fn page_sizes_are_bounded() {
    let (world, _) = seeded();
    let history = history(&world);
    history
        .page(&HistoryQuery::new(WS, SCHEDULE).limit(0))
        .await
        .unwrap();
    history
        .page(&HistoryQuery::new(WS, SCHEDULE).limit(100_000))
        .await
        .unwrap();
    let limits: Vec<u32> = world.history_pages().iter().map(|(_, l)| *l).collect();
    assert_eq!(limits, vec![1, MAX_PAGE_SIZE]);
}

#[tokio::test]
async fn a_schedule_of_another_workspace_or_none_at_all_is_not_found() {
    let (world, _) = seeded();
    let history = history(&world);
    for query in [
        HistoryQuery::new(WS, FOREIGN_SCHEDULE),
        HistoryQuery::new(OTHER_WS, SCHEDULE),
        HistoryQuery::new(WS, BackupScheduleId::new(404)),
    ] {
        let err = history.page(&query).await.unwrap_err();
        assert!(matches!(err, ScheduleError::NotFound), "{query:?}: {err}");
        let err = history
            .latest(query.workspace_id, query.schedule_id)
            .await
            .unwrap_err();
        assert!(matches!(err, ScheduleError::NotFound), "{query:?}: {err}");
    }
    assert!(!world.calls().contains(&"schedule_history"));
}

#[tokio::test]
async fn latest_runs_per_type_and_latest_successful_backup() {
    let (world, runs) = seeded();
    let latest = history(&world).latest(WS, SCHEDULE).await.unwrap();
    assert_eq!(latest.backup.map(|r| r.id()), Some(runs[5]));
    assert_eq!(latest.retention.map(|r| r.id()), Some(runs[1]));
    assert_eq!(latest.purge.map(|r| r.id()), Some(runs[4]));
    // The partially succeeded run is newer than the succeeded one and counts as successful.
    assert_eq!(latest.successful_backup.map(|r| r.id()), Some(runs[3]));

    let empty = World::new(3);
    let latest = history(&empty).latest(WS, SCHEDULE).await.unwrap();
    assert_eq!(latest, Default::default());
}

#[tokio::test]
async fn viewers_get_not_found_or_forbidden_by_the_product_rules() {
    let (world, runs) = seeded();
    world.member(UserId::new(1), true);
    world.member(UserId::new(2), false);
    let history = world.history();
    let query = HistoryQuery::new(WS, SCHEDULE);

    let page = history
        .page_for_viewer(UserId::new(1), &query)
        .await
        .unwrap();
    assert_eq!(page.runs.len(), runs.len());
    assert!(
        history
            .latest_for_viewer(UserId::new(1), WS, SCHEDULE)
            .await
            .is_ok()
    );

    let calls_before = world.calls().len();
    let err = history
        .page_for_viewer(UserId::new(2), &query)
        .await
        .unwrap_err();
    assert!(matches!(err, ScheduleError::Forbidden), "{err}");
    let err = history
        .page_for_viewer(UserId::new(3), &query)
        .await
        .unwrap_err();
    assert!(matches!(err, ScheduleError::NotFound), "{err}");
    let err = history
        .latest_for_viewer(UserId::new(3), WS, SCHEDULE)
        .await
        .unwrap_err();
    assert!(matches!(err, ScheduleError::NotFound), "{err}");
    assert_eq!(
        world.calls().len(),
        calls_before,
        "a refused viewer learns nothing, not even whether the schedule exists"
    );
}

#[tokio::test]
async fn a_store_whose_cursor_does_not_move_is_an_error_not_a_loop() {
    let world = World::new(3);
    world.succeeded(1);
    let stuck = world.run(RunId::new(1));
    let mut stuck_history = MockScheduleRunHistory::new();
    stuck_history
        .expect_schedule_history()
        .times(2)
        .returning(move |_| {
            Ok(RunPage {
                runs: vec![stuck.clone()],
                next: Some(RunCursor(RunId::new(5))),
            })
        });
    let history = ScheduleHistory::new(
        world.service(),
        SchedulePorts {
            history: Arc::new(stuck_history),
            ..world.schedule_ports()
        },
    );
    let err = history
        .all(&HistoryQuery::new(WS, SCHEDULE))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ScheduleError::InconsistentHistory(_)),
        "{err}"
    );
}
