//! Count increments, their overflow, and completion with final counts in one change.

use crate::support::*;
use chrono::Duration;
use operation_runs_domain::{
    MAX_COUNT, RunId, RunOutcome, RunStatus, RunType, SummaryCounts, Transition,
};
use operation_runs_ports::PortError;
use operation_runs_tests::{TestStore, on_every_store};

async fn counts_add_up_and_bump_the_heartbeat_only_while_active(store: TestStore) {
    let f = fixture(store).await;
    let run = f.queued(1, t0()).await;
    let t1 = t0() + Duration::seconds(1);
    let r = f
        .add(run.id(), &[("total", 3), ("processed", 1)], t1)
        .await
        .unwrap();
    assert_eq!(
        r.summary_counts(),
        &counts(&[("total", 3), ("processed", 1)])
    );
    assert_eq!(r.updated_at(), t1);
    let running = f.begin(&r, t1).await;
    let t2 = t0() + Duration::seconds(2);
    let r = f
        .add(run.id(), &[("total", 2), ("failed", 4)], t2)
        .await
        .unwrap();
    assert_eq!(
        r.summary_counts(),
        &counts(&[("total", 5), ("processed", 1), ("failed", 4)])
    );
    assert_eq!(r.status(), RunStatus::Running);
    assert_eq!(r.started_at(), running.started_at());
    assert_eq!(f.store.get(run.id()).await.unwrap(), r);

    // An empty delta is a pure heartbeat.
    let t3 = t0() + Duration::seconds(3);
    let beat = f
        .store
        .increment_counts(run.id(), &SYNC, &SummaryCounts::new(), t3)
        .await
        .unwrap();
    assert_eq!(beat.updated_at(), t3);
    assert_eq!(beat.summary_counts(), r.summary_counts());

    let done = f.complete(&beat, RunOutcome::Succeeded, t3).await;
    let late = f
        .add(run.id(), &[("total", 1)], t3 + Duration::seconds(1))
        .await;
    f.assert_refused(late, &done).await;

    assert!(matches!(
        f.store
            .increment_counts(RunId::new(424_242), &SYNC, &counts(&[("total", 1)]), t3)
            .await,
        Err(PortError::NotFound)
    ));
}

/// The fixture's runs are inventory syncs.
const SYNC: [RunType; 1] = [RunType::INVENTORY_SYNC];

/// The increment is guarded by the run types given (those whose declared counts accept the
/// delta): a run of another type is a conflict, nothing written, not even the heartbeat; and
/// the status is checked before the type, the overflow after it.
async fn an_increment_for_other_run_types_writes_nothing(store: TestStore) {
    let f = fixture(store).await;
    let run = f.queued(1, t0()).await;
    let t1 = t0() + Duration::seconds(1);
    let before = f.add(run.id(), &[("total", 1)], t1).await.unwrap();
    let t2 = t0() + Duration::seconds(2);
    for others in [
        vec![RunType::ENTRA_GROUP_SYNC, RunType::DRIFT_GENERATE],
        Vec::new(),
    ] {
        let refused = f
            .store
            .increment_counts(run.id(), &others, &counts(&[("total", 1)]), t2)
            .await;
        assert!(
            matches!(&refused, Err(PortError::Conflict(why)) if why.contains("inventory_sync")),
            "{others:?}: {refused:?}"
        );
        assert_eq!(f.store.get(run.id()).await.unwrap(), before);
    }
    // Its own type among others is accepted.
    let added = f
        .add_as(
            run.id(),
            &[RunType::ENTRA_GROUP_SYNC, RunType::INVENTORY_SYNC],
            &[("total", 2)],
            t2,
        )
        .await
        .unwrap();
    assert_eq!(
        added.summary_counts().readable().unwrap().get_str("total"),
        3
    );
    assert_eq!(added.updated_at(), t2);

    // A wrong type at the maximum is refused for its type, not for the overflow …
    f.add(run.id(), &[("processed", MAX_COUNT)], t2)
        .await
        .unwrap();
    let wrong = f
        .add_as(
            run.id(),
            &[RunType::DRIFT_GENERATE],
            &[("processed", 1)],
            t2,
        )
        .await;
    assert!(matches!(wrong, Err(PortError::Conflict(_))), "{wrong:?}");
    // … and a completed run for its status, whatever the types.
    let current = f.store.get(run.id()).await.unwrap();
    let done = f.complete(&current, RunOutcome::Succeeded, t2).await;
    let late = f
        .add_as(run.id(), &[RunType::DRIFT_GENERATE], &[("total", 1)], t2)
        .await;
    assert!(
        matches!(&late, Err(PortError::Conflict(why)) if why.contains("completed")),
        "{late:?}"
    );
    assert_eq!(f.store.get(run.id()).await.unwrap(), done);
}

async fn count_overflow_writes_nothing(store: TestStore) {
    let f = fixture(store).await;
    let run = f.queued(1, t0()).await;
    let t1 = t0() + Duration::seconds(1);
    f.add(run.id(), &[("total", MAX_COUNT - 1)], t1)
        .await
        .unwrap();
    let at_max = f.add(run.id(), &[("total", 1)], t1).await.unwrap();
    assert_eq!(
        at_max.summary_counts().readable().unwrap().get_str("total"),
        MAX_COUNT
    );

    let t2 = t0() + Duration::seconds(2);
    let over = f.add(run.id(), &[("total", 1)], t2).await;
    assert!(
        matches!(&over, Err(PortError::CountOverflow(name)) if name == "total"),
        "{over:?}"
    );
    // Several counts at once: all or nothing.
    let over = f.add(run.id(), &[("processed", 5), ("total", 1)], t2).await;
    assert!(
        matches!(&over, Err(PortError::CountOverflow(name)) if name == "total"),
        "{over:?}"
    );
    let stored = f.store.get(run.id()).await.unwrap();
    assert_eq!(stored, at_max, "nothing written, not even the heartbeat");

    // A big delta on a fresh count is fine up to the maximum.
    let r = f
        .add(run.id(), &[("processed", MAX_COUNT)], t2)
        .await
        .unwrap();
    assert_eq!(
        r.summary_counts().readable().unwrap().get_str("processed"),
        MAX_COUNT
    );
}

async fn completion_with_counts_is_all_or_nothing(store: TestStore) {
    let f = fixture(store).await;
    let run = f.queued(1, t0()).await;
    let t1 = t0() + Duration::seconds(1);
    let running = f.begin(&run, t1).await;
    f.add(run.id(), &[("total", 3)], t1).await.unwrap();

    let t2 = t0() + Duration::seconds(2);
    let done = failed_with(
        &running,
        RunOutcome::PartiallySucceeded,
        "device_unreachable",
        "device 12 did not answer",
        t2,
    );

    // A wrong expected status writes neither the state nor the counts.
    let stale = f.store.get(run.id()).await.unwrap();
    let wrong = f
        .store
        .transition_with_counts(
            run.id(),
            RunStatus::Queued,
            &done,
            &counts(&[("total", 1)]),
            t2,
        )
        .await;
    f.assert_refused(wrong, &stale).await;

    // An overflowing count writes neither either: the run stays running.
    f.add(run.id(), &[("failed", MAX_COUNT)], t1).await.unwrap();
    let before = f.store.get(run.id()).await.unwrap();
    let over = f
        .store
        .transition_with_counts(
            run.id(),
            RunStatus::Running,
            &done,
            &counts(&[("total", 1), ("failed", 1)]),
            t2,
        )
        .await;
    assert!(
        matches!(&over, Err(PortError::CountOverflow(name)) if name == "failed"),
        "{over:?}"
    );
    assert_eq!(f.store.get(run.id()).await.unwrap(), before);
    assert_eq!(before.status(), RunStatus::Running);

    // Both at once.
    let completed = f
        .store
        .transition_with_counts(
            run.id(),
            RunStatus::Running,
            &done,
            &counts(&[("total", 2), ("processed", 5)]),
            t2,
        )
        .await
        .unwrap();
    assert_eq!(completed.status(), RunStatus::Completed);
    assert_eq!(completed.outcome(), RunOutcome::PartiallySucceeded);
    assert_eq!(completed.completed_at(), Some(t2));
    assert_eq!(completed.started_at(), Some(t1));
    assert_eq!(completed.updated_at(), t2);
    assert_eq!(completed.failure_summary(), &done.failure_summary);
    assert_eq!(
        completed.summary_counts(),
        &counts(&[("total", 5), ("processed", 5), ("failed", MAX_COUNT)])
    );
    assert_eq!(f.store.get(run.id()).await.unwrap(), completed);

    // Completed is final, counts included.
    let late = f
        .store
        .transition_with_counts(
            run.id(),
            RunStatus::Running,
            &done,
            &counts(&[("total", 1)]),
            t2 + Duration::seconds(1),
        )
        .await;
    f.assert_refused(late, &completed).await;

    // An empty delta is a plain transition, here of a queued run to cancelled.
    let queued = f.queued(2, t0()).await;
    let cancel = queued
        .next_state(Transition::Complete(RunOutcome::Cancelled), t2)
        .unwrap();
    let cancelled = f
        .store
        .transition_with_counts(
            queued.id(),
            RunStatus::Queued,
            &cancel,
            &SummaryCounts::new(),
            t2,
        )
        .await
        .unwrap();
    assert_eq!(cancelled.outcome(), RunOutcome::Cancelled);
    assert!(cancelled.summary_counts().readable().unwrap().is_empty());

    assert!(matches!(
        f.store
            .transition_with_counts(
                RunId::new(424_242),
                RunStatus::Running,
                &done,
                &counts(&[("total", 1)]),
                t2
            )
            .await,
        Err(PortError::NotFound)
    ));
}

on_every_store!(
    counts_add_up_and_bump_the_heartbeat_only_while_active,
    an_increment_for_other_run_types_writes_nothing,
    count_overflow_writes_nothing,
    completion_with_counts_is_all_or_nothing,
);
