use crate::support::*;
use chrono::Duration;
use operation_runs_domain::{FailureCode, RunId, RunOutcome, RunStatus};
use operation_runs_ports::PortError;
use operation_runs_service::{ReapReport, ServiceError};

fn is_stale_completion(next: &operation_runs_domain::RunState) -> bool {
    next.status == RunStatus::Completed
        && next.outcome == RunOutcome::Failed
        && next.completed_at == Some(now())
        && next
            .failure_summary
            .failures()
            .iter()
            .any(|f| f.code().as_str() == FailureCode::RUN_STALE)
}

#[tokio::test]
async fn stale_runs_complete_as_failed_with_run_stale() {
    let stuck_running = run(1).running().updated_at(hours_ago(3)).build();
    let stuck_queued = run(2).queued().updated_at(hours_ago(2)).build();
    let mut mocks = Mocks::new();
    let found = vec![stuck_running.clone(), stuck_queued.clone()];
    mocks
        .queries
        .expect_find_stale()
        .withf(|before, limit| *before == now() - Duration::minutes(30) && *limit == 10)
        .times(1)
        .returning(move |_, _| Ok(found.clone()));
    for (stale, status) in [
        (stuck_running, RunStatus::Running),
        (stuck_queued, RunStatus::Queued),
    ] {
        let id = stale.id();
        mocks
            .lifecycle
            .expect_complete_if_stale()
            .withf(move |run, expected, heartbeat_before, next, at| {
                *run == id
                    && *expected == status
                    && *heartbeat_before == now() - Duration::minutes(30)
                    && *at == now()
                    && is_stale_completion(next)
            })
            .times(1)
            .returning(move |_, _, _, next, at| Ok(with_state(&stale, next, at)));
    }
    // Never a plain status-only compare-and-set: it would ignore a fresh heartbeat.
    mocks.forbid_writes_except(&[Write::CompleteIfStale]);

    let report = mocks
        .service()
        .reap_stale(Duration::minutes(30), 10)
        .await
        .unwrap();

    assert_eq!(
        report,
        ReapReport {
            reaped: vec![RunId::new(1), RunId::new(2)],
            lost_races: vec![],
        }
    );
}

#[tokio::test]
async fn a_run_completed_meanwhile_is_a_lost_race_and_stays_untouched() {
    let stale = run(1).running().updated_at(hours_ago(3)).build();
    let mut mocks = Mocks::new();
    let found = vec![stale.clone()];
    mocks
        .queries
        .expect_find_stale()
        .times(1)
        .returning(move |_, _| Ok(found.clone()));
    // The compare-and-set is tried exactly once and never retried or forced.
    mocks
        .lifecycle
        .expect_complete_if_stale()
        .withf(|id, expected, _, next, _| {
            *id == RunId::new(1) && *expected == RunStatus::Running && is_stale_completion(next)
        })
        .times(1)
        .returning(|_, _, _, _, _| Err(PortError::Conflict("status is completed".into())));
    mocks.forbid_writes_except(&[Write::CompleteIfStale]);

    let report = mocks
        .service()
        .reap_stale(Duration::minutes(30), 10)
        .await
        .unwrap();

    assert_eq!(report.reaped, vec![]);
    assert_eq!(report.lost_races, vec![RunId::new(1)]);
}

#[tokio::test]
async fn a_heartbeat_after_the_query_keeps_the_run_alive() {
    // Found stale, but its worker reports progress before the reaper's write: the store's
    // heartbeat guard refuses, and the reaper takes that as a lost race, not an error.
    let first = run(1).running().updated_at(hours_ago(3)).build();
    let second = run(2).running().updated_at(hours_ago(3)).build();
    let mut mocks = Mocks::new();
    let found = vec![first.clone(), second.clone()];
    mocks
        .queries
        .expect_find_stale()
        .times(1)
        .returning(move |_, _| Ok(found.clone()));
    mocks
        .lifecycle
        .expect_complete_if_stale()
        .withf(|id, _, heartbeat_before, _, _| {
            *id == RunId::new(1) && *heartbeat_before == now() - Duration::minutes(30)
        })
        .times(1)
        .returning(|id, _, _, _, _| {
            Err(PortError::Conflict(format!(
                "run {id} has a fresh heartbeat"
            )))
        });
    mocks
        .lifecycle
        .expect_complete_if_stale()
        .withf(|id, _, _, _, _| *id == RunId::new(2))
        .times(1)
        .returning(move |_, _, _, next, at| Ok(with_state(&second, next, at)));
    mocks.forbid_writes_except(&[Write::CompleteIfStale]);

    let report = mocks
        .service()
        .reap_stale(Duration::minutes(30), 10)
        .await
        .unwrap();

    assert_eq!(
        report,
        ReapReport {
            reaped: vec![RunId::new(2)],
            lost_races: vec![RunId::new(1)],
        }
    );
}

#[tokio::test]
async fn a_negative_threshold_is_refused() {
    let mut mocks = Mocks::new();
    mocks.queries.expect_find_stale().never();
    mocks.forbid_writes();
    let err = mocks
        .service()
        .reap_stale(Duration::minutes(-5), 10)
        .await
        .unwrap_err();
    assert!(matches!(err, ServiceError::InvalidThreshold(_)), "{err:?}");
}

#[tokio::test]
async fn a_store_failure_stops_reaping() {
    let mut mocks = Mocks::new();
    let found = vec![
        run(1).running().updated_at(hours_ago(3)).build(),
        run(2).running().updated_at(hours_ago(3)).build(),
    ];
    mocks
        .queries
        .expect_find_stale()
        .times(1)
        .returning(move |_, _| Ok(found.clone()));
    mocks
        .lifecycle
        .expect_complete_if_stale()
        .times(1)
        .returning(|_, _, _, _, _| Err(PortError::backend("disk full")));
    mocks.forbid_writes_except(&[Write::CompleteIfStale]);
    let err = mocks
        .service()
        .reap_stale(Duration::minutes(30), 10)
        .await
        .unwrap_err();
    assert!(matches!(err, ServiceError::Port(_)), "{err:?}");
}
