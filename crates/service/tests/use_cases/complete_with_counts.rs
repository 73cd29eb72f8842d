//! Completing with final counts: everything is checked first, then one atomic store call.

use crate::support::*;
use chrono::{DateTime, Utc};
use operation_runs_domain::{
    CountError, FailureSummary, MAX_COUNT, OperationRun, RunId, RunOutcome, RunState, RunStatus,
    SummaryCounts, TransitionError,
};
use operation_runs_ports::PortError;
use operation_runs_service::ServiceError;

/// A service over `run` that must refuse without writing anything.
async fn refused(
    run: &OperationRun,
    outcome: RunOutcome,
    counts: &[(&'static str, i64)],
) -> ServiceError {
    let mut mocks = Mocks::new();
    mocks.expect_get(run).forbid_writes();
    mocks
        .service()
        .complete_with_counts(run.id(), outcome, FailureSummary::new(), counts)
        .await
        .unwrap_err()
}

/// The one write allowed: a `transition_with_counts` that `accepts` (by id, expected status,
/// next state, count delta and time), answered as a store would, from `run` — never a separate
/// transition or increment.
fn expect_one_transition_with_counts(
    mocks: &mut Mocks,
    run: &OperationRun,
    accepts: impl Fn(&RunId, &RunStatus, &RunState, &SummaryCounts, &DateTime<Utc>) -> bool
    + Send
    + 'static,
) {
    let stored = run.clone();
    mocks
        .lifecycle
        .expect_transition_with_counts()
        .withf(accepts)
        .times(1)
        .returning(move |_, _, next, delta, at| {
            Ok(OperationRun::from_record(add_counts(
                with_state(&stored, next, at).record().clone(),
                delta,
            )))
        });
    mocks.forbid_writes_except(&[Write::TransitionWithCounts]);
}

#[tokio::test]
async fn counts_and_completion_are_one_store_call() {
    let running = run(7).running().counts(counts(&[("total", 5)])).build();
    let failures = device_unreachable();
    let mut mocks = Mocks::reading(&running);
    let expected_failures = failures.clone();
    expect_one_transition_with_counts(
        &mut mocks,
        &running,
        move |id, expected, next, delta, at| {
            *id == RunId::new(7)
                && *expected == RunStatus::Running
                && next.status == RunStatus::Completed
                && next.outcome == RunOutcome::PartiallySucceeded
                && next.completed_at == Some(now())
                && next.failure_summary == expected_failures
                && delta.get_str("total") == 4
                && delta.get_str("items_seen") == 2
                && delta.iter().count() == 2
                && *at == now()
        },
    );

    let done = mocks
        .service()
        .complete_with_counts(
            running.id(),
            RunOutcome::PartiallySucceeded,
            failures,
            &[("total", 3), ("items_seen", 2), ("total", 1)],
        )
        .await
        .unwrap();

    assert_eq!(done.status(), RunStatus::Completed);
    assert_eq!(done.outcome(), RunOutcome::PartiallySucceeded);
    assert_eq!(
        done.summary_counts().readable().unwrap().get_str("total"),
        9
    );
    assert_eq!(
        done.summary_counts()
            .readable()
            .unwrap()
            .get_str("items_seen"),
        2
    );
}

#[tokio::test]
async fn without_counts_it_completes_with_an_empty_delta() {
    // A stored type that is not registered can still be completed when no counts are given.
    let legacy = run(7).running().run_type("some_retired_sync").build();
    let mut mocks = Mocks::reading(&legacy);
    expect_one_transition_with_counts(&mut mocks, &legacy, |_, expected, next, delta, _| {
        *expected == RunStatus::Running && next.outcome == RunOutcome::Succeeded && delta.is_empty()
    });

    let done = mocks
        .service()
        .complete_with_counts(
            legacy.id(),
            RunOutcome::Succeeded,
            FailureSummary::new(),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(done.outcome(), RunOutcome::Succeeded);
}

#[tokio::test]
async fn an_illegal_transition_with_counts_writes_nothing() {
    // Valid counts do not make an illegal transition legal: a queued run cannot succeed …
    let queued = run(7).queued().build();
    let err = refused(&queued, RunOutcome::Succeeded, &[("total", 1)]).await;
    assert_illegal_from(&err, RunStatus::Queued);

    // … a completed run never changes …
    let done = run(8).completed(RunOutcome::Failed).build();
    let err = refused(&done, RunOutcome::Succeeded, &[("total", 1)]).await;
    assert_already_completed(&err);

    // … and `pending` is not a final outcome.
    let running = run(9).running().build();
    let err = refused(&running, RunOutcome::Pending, &[("total", 1)]).await;
    assert!(
        matches!(
            err,
            ServiceError::Transition(TransitionError::PendingIsNotFinal)
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn invalid_counts_on_a_legal_transition_write_nothing() {
    let running = run(7).running().build();
    let err = refused(&running, RunOutcome::Succeeded, &[("groups_seen", 1)]).await;
    assert!(
        matches!(&err, ServiceError::InvalidCounts(CountError::Undeclared { name, .. }) if name == "groups_seen"),
        "{err:?}"
    );

    let err = refused(&running, RunOutcome::Succeeded, &[("processed", -3)]).await;
    assert!(
        matches!(&err, ServiceError::InvalidCounts(CountError::Negative { name, value: -3 }) if name == "processed"),
        "{err:?}"
    );

    let full = run(8)
        .running()
        .counts(counts(&[("total", MAX_COUNT)]))
        .build();
    let err = refused(&full, RunOutcome::Succeeded, &[("total", 1)]).await;
    assert_count_overflow(&err, "total");

    let legacy = run(9).running().run_type("some_retired_sync").build();
    let err = refused(&legacy, RunOutcome::Succeeded, &[("total", 1)]).await;
    assert!(
        matches!(&err, ServiceError::UnregisteredRunType(t) if t == "some_retired_sync"),
        "{err:?}"
    );
}

#[tokio::test]
async fn store_refusals_keep_their_meaning() {
    for (refusal, check) in [
        (
            PortError::Conflict("run 7 is completed, expected running".into()),
            (|e: &ServiceError| matches!(e, ServiceError::Conflict(_)))
                as fn(&ServiceError) -> bool,
        ),
        (
            PortError::CountOverflow("total".into()),
            |e| matches!(e, ServiceError::InvalidCounts(CountError::Overflow(name)) if name == "total"),
        ),
        (PortError::NotFound, |e| matches!(e, ServiceError::NotFound)),
    ] {
        let running = run(7).running().build();
        let mut mocks = Mocks::reading(&running);
        let mut refusal = Some(refusal);
        mocks
            .lifecycle
            .expect_transition_with_counts()
            .times(1)
            .returning(move |_, _, _, _, _| Err(refusal.take().unwrap()));
        mocks.forbid_writes_except(&[Write::TransitionWithCounts]);

        let err = mocks
            .service()
            .complete_with_counts(
                running.id(),
                RunOutcome::Succeeded,
                FailureSummary::new(),
                &[("total", 1)],
            )
            .await
            .unwrap_err();
        assert!(check(&err), "{err:?}");
    }
}
