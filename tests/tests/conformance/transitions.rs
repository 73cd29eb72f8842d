//! State changes are compare-and-set: a late writer never overwrites a finished run.

use crate::support::*;
use chrono::Duration;
use operation_runs_domain::{RunId, RunOutcome, RunStatus, Transition};
use operation_runs_ports::PortError;
use operation_runs_tests::{TestStore, on_every_store};

async fn transitions_are_compare_and_set(store: TestStore) {
    let f = fixture(store).await;
    let run = f.queued(1, t0()).await;
    let t1 = t0() + Duration::milliseconds(1500);
    let begin = run.next_state(Transition::Begin, t1).unwrap();
    let transition =
        async |expected, next, at| f.store.transition(run.id(), expected, next, at).await;
    let running = transition(RunStatus::Queued, &begin, t1).await.unwrap();
    assert_eq!(running.status(), RunStatus::Running);
    assert_eq!(running.started_at(), Some(t1));
    assert_eq!(running.updated_at(), t1);
    assert_eq!(f.store.get(run.id()).await.unwrap(), running);

    // The same CAS again: the run is no longer queued, nothing is written.
    let late = t0() + Duration::seconds(9);
    let again = transition(RunStatus::Queued, &begin, late).await;
    f.assert_refused(again, &running).await;

    let t2 = t0() + Duration::seconds(3);
    let done = failed_with(
        &running,
        RunOutcome::Failed,
        "graph_error",
        "Graph said no",
        t2,
    );
    let completed = transition(RunStatus::Running, &done, t2).await.unwrap();
    assert_eq!(completed.status(), RunStatus::Completed);
    assert_eq!(completed.outcome(), RunOutcome::Failed);
    assert_eq!(completed.completed_at(), Some(t2));
    assert_eq!(completed.started_at(), Some(t1));
    assert_eq!(completed.failure_summary(), &done.failure_summary);
    assert_eq!(f.store.get(run.id()).await.unwrap(), completed);

    // A late writer (a reaper) cannot overwrite the completed run.
    let reap = running
        .next_state(Transition::Complete(RunOutcome::Cancelled), late)
        .unwrap();
    for expected in [RunStatus::Running, RunStatus::Queued] {
        let r = transition(expected, &reap, late).await;
        assert!(matches!(r, Err(PortError::Conflict(_))), "{r:?}");
    }
    assert_eq!(f.store.get(run.id()).await.unwrap(), completed);

    assert!(matches!(
        f.store
            .transition(RunId::new(424_242), RunStatus::Queued, &begin, t1)
            .await,
        Err(PortError::NotFound)
    ));
}

on_every_store!(transitions_are_compare_and_set,);
