use crate::support::*;
use operation_runs_domain::{
    CountError, FailureSummary, MAX_COUNT, OperationRun, RunId, RunOutcome, RunStatus, RunType,
};
use operation_runs_ports::PortError;
use operation_runs_service::{OperationRunService, ServiceError};

/// A service that reads `run` once, and whose only allowed write is one successful `transition`
/// of it from `expected`.
fn service_moving(run: &OperationRun, expected: RunStatus) -> OperationRunService {
    let mut mocks = Mocks::new();
    mocks.expect_get(run);
    let current = run.clone();
    mocks
        .lifecycle
        .expect_transition()
        .withf(move |id, exp, _, at| *id == current.id() && *exp == expected && *at == now())
        .times(1)
        .returning({
            let run = run.clone();
            move |_, _, next, at| Ok(with_state(&run, next, at))
        });
    mocks.forbid_writes_except(&[Write::Transition]);
    mocks.service()
}

/// A service over `run` whose progress must be refused without writing: the increment, if the
/// service tries it, refuses as a store's guarded `UPDATE` would (completed, a type not among
/// those given, an overflow) and must never succeed; then the service reads `run` to say why.
async fn progress_refused_on(run: &OperationRun, counts: &[(&str, i64)]) -> ServiceError {
    let mut mocks = Mocks::new();
    let stored = run.clone();
    mocks
        .lifecycle
        .expect_increment_counts()
        .times(0..=1)
        .returning(move |id, types, delta, _| {
            assert_eq!(id, stored.id());
            if stored.status() == RunStatus::Completed {
                return Err(PortError::Conflict("completed".into()));
            }
            if !types.iter().any(|t| t.as_str() == stored.run_type()) {
                return Err(PortError::Conflict("another type".into()));
            }
            if stored
                .summary_counts()
                .readable()
                .unwrap()
                .clone()
                .merge(delta)
                .is_err()
            {
                return Err(PortError::CountOverflow("some count".into()));
            }
            panic!("the store's guard would have taken these counts")
        });
    mocks
        .expect_get(run)
        .forbid_writes_except(&[Write::IncrementCounts]);
    mocks
        .service()
        .record_progress(run.id(), counts)
        .await
        .unwrap_err()
}

/// A service over `run` that must refuse without writing.
async fn refused_on<F, Fut, T>(run: &OperationRun, call: F) -> ServiceError
where
    F: FnOnce(OperationRunService) -> Fut,
    Fut: std::future::Future<Output = Result<T, ServiceError>>,
    T: std::fmt::Debug,
{
    let mut mocks = Mocks::new();
    mocks.expect_get(run).forbid_writes();
    call(mocks.service()).await.unwrap_err()
}

/// The error of recording `("total", 1)` on run 7 when the store's increment refuses with
/// `refusal`. `read_after` is the run the service reads once, after the refusal, to say why;
/// `None`: the service must not read the run at all.
async fn progress_the_store_refuses(
    read_after: Option<&OperationRun>,
    refusal: PortError,
) -> ServiceError {
    let mut mocks = Mocks::new();
    match read_after {
        Some(run) => {
            mocks.expect_get(run);
        }
        None => {
            mocks.queries.expect_get().never();
        }
    }
    let mut refusal = Some(refusal);
    mocks
        .lifecycle
        .expect_increment_counts()
        .withf(|id, _, _, _| *id == RunId::new(7))
        .times(1)
        .returning(move |_, _, _, _| Err(refusal.take().unwrap()));
    mocks.forbid_writes_except(&[Write::IncrementCounts]);
    mocks
        .service()
        .record_progress(RunId::new(7), &[("total", 1)])
        .await
        .unwrap_err()
}

#[tokio::test]
async fn begin_moves_a_queued_run_to_running() {
    let queued = run(7).queued().build();
    let service = service_moving(&queued, RunStatus::Queued);

    let running = service.begin(queued.id()).await.unwrap();

    assert_eq!(running.status(), RunStatus::Running);
    assert_eq!(running.outcome(), RunOutcome::Pending);
    assert_eq!(running.started_at(), Some(now()));
}

#[tokio::test]
async fn beginning_a_running_run_is_refused() {
    let running = run(7).running().build();
    let err = refused_on(&running, |s| async move { s.begin(RunId::new(7)).await }).await;
    assert_illegal_from(&err, RunStatus::Running);
    assert_eq!(err.http_status(), 409);
}

#[tokio::test]
async fn an_unknown_run_is_not_found() {
    let mut mocks = Mocks::new();
    mocks.expect_get_fails(PortError::NotFound);
    mocks.forbid_writes();
    let err = mocks.service().begin(RunId::new(99)).await.unwrap_err();
    assert!(matches!(err, ServiceError::NotFound), "{err:?}");
}

#[tokio::test]
async fn a_backend_failure_is_a_port_error() {
    let mut mocks = Mocks::new();
    mocks.expect_get_fails(PortError::backend("connection reset"));
    mocks.forbid_writes();
    let err = mocks.service().begin(RunId::new(7)).await.unwrap_err();
    assert!(
        matches!(err, ServiceError::Port(PortError::Backend(_))),
        "{err:?}"
    );
    assert_eq!(err.http_status(), 500);
}

#[tokio::test]
async fn progress_adds_validated_counts() {
    let running = run(7).running().counts(counts(&[("total", 5)])).build();
    let mut mocks = Mocks::new();
    // One write and no read: the store's update is guarded by the types that take these counts.
    mocks.queries.expect_get().never();
    let stored = running.clone();
    mocks
        .lifecycle
        .expect_increment_counts()
        .withf(|id, types, delta, at| {
            *id == RunId::new(7)
                && types == [RunType::INVENTORY_SYNC]
                && delta.get_str("total") == 4
                && delta.get_str("items_seen") == 2
                && delta.iter().count() == 2
                && *at == now()
        })
        .times(1)
        .returning(move |_, _, delta, at| {
            let mut record = add_counts(stored.record().clone(), delta);
            record.updated_at = at;
            Ok(OperationRun::from_record(record))
        });
    mocks.forbid_writes_except(&[Write::IncrementCounts]);
    let service = mocks.service();

    let updated = service
        .record_progress(
            running.id(),
            &[("total", 3), ("items_seen", 2), ("total", 1)],
        )
        .await
        .unwrap();

    assert_eq!(
        updated
            .summary_counts()
            .readable()
            .unwrap()
            .get_str("total"),
        9
    );
    assert_eq!(
        updated
            .summary_counts()
            .readable()
            .unwrap()
            .get_str("items_seen"),
        2
    );
}

#[tokio::test]
async fn an_undeclared_count_is_refused() {
    let running = run(7).running().build();
    let err = progress_refused_on(&running, &[("total", 1), ("groups_seen", 1)]).await;
    assert!(
        matches!(&err, ServiceError::InvalidCounts(CountError::Undeclared { name, run_type })
            if name == "groups_seen" && run_type == "inventory_sync"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_negative_count_is_refused() {
    let running = run(7).running().build();
    let err = refused_on(&running, |s| async move {
        s.record_progress(RunId::new(7), &[("processed", -1)]).await
    })
    .await;
    assert!(
        matches!(&err, ServiceError::InvalidCounts(CountError::Negative { name, value: -1 }) if name == "processed"),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_overflowing_count_is_refused_before_writing() {
    // Within one request …
    let running = run(7).running().build();
    let err = refused_on(&running, |s| async move {
        s.record_progress(RunId::new(7), &[("total", i64::MAX), ("total", 1)])
            .await
    })
    .await;
    assert_count_overflow(&err, "total");

    // … and on top of what is stored.
    let full = run(8)
        .running()
        .counts(counts(&[("total", MAX_COUNT)]))
        .build();
    let err = progress_refused_on(&full, &[("total", 1)]).await;
    assert_count_overflow(&err, "total");
}

#[tokio::test]
async fn an_overflow_reported_by_the_store_is_an_invalid_count() {
    // The store is the authority: concurrent writers may have pushed the sum up since the read.
    let running = run(7).running().counts(counts(&[("total", 1)])).build();
    // Read after the refusal, to say why: the read sees no overflow, so the store's word stands.
    let err =
        progress_the_store_refuses(Some(&running), PortError::CountOverflow("total".into())).await;

    assert_count_overflow(&err, "total");
}

#[tokio::test]
async fn progress_on_a_completed_run_is_refused() {
    let done = run(7).completed(RunOutcome::Succeeded).build();
    let err = progress_refused_on(&done, &[("total", 1)]).await;
    assert_already_completed(&err);
}

#[tokio::test]
async fn a_failing_store_is_reported_without_reading_the_run() {
    let err = progress_the_store_refuses(None, PortError::backend("connection reset")).await;
    assert!(
        matches!(err, ServiceError::Port(PortError::Backend(_))),
        "{err:?}"
    );
}

#[tokio::test]
async fn progress_on_a_run_completed_meanwhile_is_a_conflict() {
    let running = run(7).running().build();
    let err = progress_the_store_refuses(
        Some(&running),
        PortError::Conflict("run is completed".into()),
    )
    .await;
    assert!(matches!(err, ServiceError::Conflict(_)), "{err:?}");
}

#[tokio::test]
async fn progress_on_an_unregistered_stored_type_is_refused() {
    let legacy = run(7).running().run_type("some_retired_sync").build();
    let err = progress_refused_on(&legacy, &[("total", 1)]).await;
    assert!(
        matches!(&err, ServiceError::UnregisteredRunType(t) if t == "some_retired_sync"),
        "{err:?}"
    );
}

#[tokio::test]
async fn complete_stores_the_outcome_and_failures() {
    let running = run(7).running().build();
    let failures = device_unreachable();
    let mut mocks = Mocks::reading(&running);
    let expected_failures = failures.clone();
    mocks
        .lifecycle
        .expect_transition()
        .withf(move |_, expected, next, _| {
            *expected == RunStatus::Running
                && next.status == RunStatus::Completed
                && next.outcome == RunOutcome::PartiallySucceeded
                && next.completed_at == Some(now())
                && next.failure_summary == expected_failures
        })
        .times(1)
        .returning({
            let run = running.clone();
            move |_, _, next, at| Ok(with_state(&run, next, at))
        });
    mocks.forbid_writes_except(&[Write::Transition]);

    let done = mocks
        .service()
        .complete(running.id(), RunOutcome::PartiallySucceeded, failures)
        .await
        .unwrap();

    assert_eq!(done.status(), RunStatus::Completed);
    assert_eq!(done.outcome(), RunOutcome::PartiallySucceeded);
    assert_eq!(
        done.failure_summary().readable().unwrap().failures()[0]
            .code()
            .as_str(),
        "device_unreachable"
    );
}

#[tokio::test]
async fn a_queued_run_cannot_complete_as_succeeded() {
    let queued = run(7).queued().build();
    let err = refused_on(&queued, |s| async move {
        s.complete(RunId::new(7), RunOutcome::Succeeded, FailureSummary::new())
            .await
    })
    .await;
    assert_illegal_from(&err, RunStatus::Queued);
}

#[tokio::test]
async fn a_queued_run_may_complete_as_failed() {
    let queued = run(7).queued().build();
    let done = service_moving(&queued, RunStatus::Queued)
        .complete(queued.id(), RunOutcome::Failed, FailureSummary::new())
        .await
        .unwrap();
    assert_eq!(done.outcome(), RunOutcome::Failed);
}

#[tokio::test]
async fn a_completed_run_never_changes() {
    let done = run(7).completed(RunOutcome::Failed).build();
    let err = refused_on(&done, |s| async move {
        s.complete(RunId::new(7), RunOutcome::Succeeded, FailureSummary::new())
            .await
    })
    .await;
    assert_already_completed(&err);
}

#[tokio::test]
async fn losing_the_compare_and_set_race_is_a_conflict() {
    let running = run(7).running().build();
    let mut mocks = Mocks::reading(&running);
    mocks
        .lifecycle
        .expect_transition()
        .times(1)
        .returning(|_, _, _, _| Err(PortError::Conflict("status is completed".into())));
    mocks.forbid_writes_except(&[Write::Transition]);

    let err = mocks
        .service()
        .complete(running.id(), RunOutcome::Succeeded, FailureSummary::new())
        .await
        .unwrap_err();

    assert!(
        matches!(&err, ServiceError::Conflict(reason) if reason.contains("completed")),
        "{err:?}"
    );
    assert_eq!(err.http_status(), 409);
}
