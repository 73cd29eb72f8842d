//! Times are kept to the microsecond on every store, and every time bound a query or a guarded
//! write takes is compared at that precision: a bound finer than a microsecond acts as the
//! microsecond it falls in.

use crate::support::*;
use chrono::{DateTime, Duration, Utc};
use operation_runs_domain::{RunOutcome, RunType};
use operation_runs_ports::RunFilter;
use operation_runs_tests::{TestStore, on_every_store};

/// `t` plus half a microsecond: stored, it reads back as `t`.
fn within_the_microsecond(t: DateTime<Utc>) -> DateTime<Utc> {
    t + Duration::nanoseconds(500)
}

async fn times_are_stored_to_the_microsecond(store: TestStore) {
    let f = fixture(store).await;
    let at = within_the_microsecond(t0());
    let run = f.queued(1, at).await;
    assert_eq!((run.created_at(), run.updated_at()), (t0(), t0()));
    let running = f.begin(&run, at).await;
    assert_eq!(
        (
            *running.started_at().readable().unwrap(),
            running.updated_at()
        ),
        (Some(t0()), t0())
    );
    assert_eq!(f.store.get(run.id()).await.unwrap(), running);
}

async fn list_bounds_are_compared_to_the_microsecond(store: TestStore) {
    let f = fixture(store).await;
    let run = f.queued(1, t0()).await;
    let bound = within_the_microsecond(t0());
    let from = f
        .list_all(RunFilter {
            created_from: Some(bound),
            ..Default::default()
        })
        .await;
    assert_eq!(from, vec![run.id()], "created at the bound's microsecond");
    let before = f
        .list_all(RunFilter {
            created_before: Some(bound),
            ..Default::default()
        })
        .await;
    assert!(
        before.is_empty(),
        "not created before the bound's microsecond"
    );
}

async fn heartbeat_bounds_are_compared_to_the_microsecond(store: TestStore) {
    let f = fixture(store).await;
    let run = f.queued(1, t0()).await;
    let bound = within_the_microsecond(t0());
    assert!(f.store.find_stale(bound, 10).await.unwrap().is_empty());
    let later = t0() + Duration::hours(1);
    f.assert_refused(f.reap(&run, bound, later).await, &run)
        .await;
}

async fn purge_bounds_are_compared_to_the_microsecond(store: TestStore) {
    let f = fixture(store).await;
    let schedule = f.schedule("nightly", 1).await;
    let sid = schedule.id.get();
    let ours = (f.ws, Some(f.tenant));
    let [run_type, ..] = RunType::BACKUP_SCHEDULE_TYPES;
    let done = Some(RunOutcome::Succeeded);
    let old = history_run(&f, ours, sid, run_type.clone(), 1, t0(), done).await;
    history_run(&f, ours, sid, run_type, 2, t0(), done).await;
    let bound = within_the_microsecond(t0());
    assert_eq!(f.purge_history(schedule.id, bound).await, (0, 0));
    assert!(f.store.get(old.id).await.is_ok());

    let set = f
        .store
        .create_set(schedule.id, "set", 1, t0())
        .await
        .unwrap();
    f.store
        .soft_delete_sets(schedule.id, &[set.id], t0())
        .await
        .unwrap();
    assert_eq!(f.purge_sets(schedule.id, bound).await, (0, 0));
    assert_eq!(f.store.list_sets(schedule.id, true).await.unwrap().len(), 1);
}

on_every_store!(
    times_are_stored_to_the_microsecond,
    list_bounds_are_compared_to_the_microsecond,
    heartbeat_bounds_are_compared_to_the_microsecond,
    purge_bounds_are_compared_to_the_microsecond,
);
