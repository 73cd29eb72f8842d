//! Stale runs: which ones the reaper finds, and when its completion is refused.

use crate::support::*;
use chrono::Duration;
use operation_runs_domain::{OperationRun, RunContext, RunId, RunOutcome, RunStatus, RunType};
use operation_runs_ports::PortError;
use operation_runs_tests::{TestStore, on_every_store};

async fn stale_runs_are_active_ones_with_an_old_heartbeat_oldest_first(store: TestStore) {
    let f = fixture(store).await;
    let cutoff = t0() + Duration::hours(1);
    let a = f.queued(1, t0() + Duration::minutes(30)).await;
    let b = f.queued(2, t0()).await;
    let b = f.begin(&b, t0() + Duration::minutes(10)).await;
    let c = f
        .queued(
            3,
            t0() + Duration::minutes(59) + Duration::microseconds(999_999),
        )
        .await;
    // Exactly at the cutoff is not stale; after it neither; completed never.
    f.queued(4, cutoff).await;
    let fresh = f.queued(5, t0()).await;
    f.add_as(
        fresh.id(),
        &[RunType::INVENTORY_SYNC],
        &[],
        cutoff + Duration::minutes(1),
    )
    .await
    .unwrap();
    let done = f.queued(6, t0()).await;
    f.complete(&done, RunOutcome::Cancelled, t0()).await;

    let stale = f.store.find_stale(cutoff, 10).await.unwrap();
    let ids: Vec<RunId> = stale.iter().map(OperationRun::id).collect();
    assert_eq!(ids, vec![b.id(), a.id(), c.id()]);
    let stale = f.store.find_stale(cutoff, 2).await.unwrap();
    assert_eq!(
        stale.iter().map(OperationRun::id).collect::<Vec<_>>(),
        vec![b.id(), a.id()]
    );
    assert!(f.store.find_stale(t0(), 10).await.unwrap().is_empty());
}

async fn stale_completion_needs_the_status_and_an_old_heartbeat(store: TestStore) {
    let f = fixture(store).await;
    let cutoff = t0() + Duration::hours(1);
    let now = t0() + Duration::hours(2);

    // Found stale, then a heartbeat arrives: the reaper's write is refused, nothing written.
    let alive = f.queued(1, t0()).await;
    let alive = f.begin(&alive, t0()).await;
    let beat = f
        .add(
            alive.id(),
            &[("processed", 1)],
            cutoff + Duration::minutes(1),
        )
        .await
        .unwrap();
    f.assert_refused(f.reap(&alive, cutoff, now).await, &beat)
        .await;

    // A context merge is a heartbeat too.
    let merged = f.queued(2, t0()).await;
    let merged = f
        .store
        .merge_context(
            merged.id(),
            &RunContext::new().with_trigger("manual"),
            cutoff + Duration::seconds(1),
        )
        .await
        .unwrap();
    f.assert_refused(f.reap(&merged, cutoff, now).await, &merged)
        .await;

    // A heartbeat exactly at the cutoff is not older than it (as for `find_stale`).
    let edge = f.queued(3, cutoff).await;
    f.assert_refused(f.reap(&edge, cutoff, now).await, &edge)
        .await;

    // The status is compared too: a run that started meanwhile is not completed as queued.
    let queued = f.queued(4, t0()).await;
    let started = f.begin(&queued, t0()).await;
    f.assert_refused(f.reap(&queued, cutoff, now).await, &started)
        .await;

    // Really stale: completed, heartbeat bumped to `now`.
    let stale = f.queued(5, t0()).await;
    let next = reaped_state(&stale, now);
    let reaped = f.reap(&stale, cutoff, now).await.unwrap();
    assert_eq!(reaped.status(), RunStatus::Completed);
    assert_eq!(reaped.outcome(), RunOutcome::Failed);
    assert_eq!(reaped.completed_at(), Some(now));
    assert_eq!(reaped.updated_at(), now);
    assert_eq!(reaped.failure_summary(), &next.failure_summary);
    assert_eq!(f.store.get(stale.id()).await.unwrap(), reaped);

    // Completed is final, also for the reaper.
    let later = now + Duration::hours(1);
    f.assert_refused(f.reap(&stale, later, now).await, &reaped)
        .await;

    assert!(matches!(
        f.store
            .complete_if_stale(RunId::new(424_242), RunStatus::Queued, cutoff, &next, now)
            .await,
        Err(PortError::NotFound)
    ));
}

on_every_store!(
    stale_runs_are_active_ones_with_an_old_heartbeat_oldest_first,
    stale_completion_needs_the_status_and_an_old_heartbeat,
);
