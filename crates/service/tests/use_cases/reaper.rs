use crate::support::*;
use chrono::{DateTime, Duration, Utc};
use operation_runs_domain::{FailureCode, OperationRun, RunId, RunOutcome, RunState, RunStatus};
use operation_runs_ports::PortError;
use operation_runs_service::{ReapReport, ServiceError};

/// How many runs one reaping completes at the most, in these tests.
const LIMIT: u32 = 10;

/// How long without a heartbeat makes a run stale, in these tests.
fn threshold() -> Duration {
    Duration::minutes(30)
}

/// `find_stale` is asked once, for runs without a heartbeat for [`threshold`] (at most
/// [`LIMIT`] of them), and finds `found`.
fn expect_find_stale(mocks: &mut Mocks, found: Vec<OperationRun>) {
    mocks
        .queries
        .expect_find_stale()
        .withf(|before, limit| *before == now() - threshold() && *limit == LIMIT)
        .times(1)
        .returning(move |_, _| Ok(found.clone()));
}

/// Reaps with [`threshold`] and [`LIMIT`] over `mocks`, where the only write allowed is the
/// stale-guarded completion (never a plain status-only compare-and-set: it would ignore a fresh
/// heartbeat).
async fn reap(mut mocks: Mocks) -> Result<ReapReport, ServiceError> {
    mocks.forbid_writes_except(&[Write::CompleteIfStale]);
    mocks.service().reap_stale(threshold(), LIMIT).await
}

/// One `complete_if_stale` that `accepts` (by id, expected status, heartbeat limit, next state
/// and time), completing `stale` as a store would.
fn expect_reaped(
    mocks: &mut Mocks,
    stale: OperationRun,
    accepts: impl Fn(&RunId, &RunStatus, &DateTime<Utc>, &RunState, &DateTime<Utc>) -> bool
    + Send
    + 'static,
) {
    mocks
        .lifecycle
        .expect_complete_if_stale()
        .withf(accepts)
        .times(1)
        .returning(move |_, _, _, next, at| Ok(with_state(&stale, next, at)));
}

fn is_stale_completion(next: &RunState) -> bool {
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
    expect_find_stale(
        &mut mocks,
        vec![stuck_running.clone(), stuck_queued.clone()],
    );
    for (stale, status) in [
        (stuck_running, RunStatus::Running),
        (stuck_queued, RunStatus::Queued),
    ] {
        let id = stale.id();
        expect_reaped(
            &mut mocks,
            stale,
            move |run, expected, heartbeat_before, next, at| {
                *run == id
                    && *expected == status
                    && *heartbeat_before == now() - threshold()
                    && *at == now()
                    && is_stale_completion(next)
            },
        );
    }
    let report = reap(mocks).await.unwrap();

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
    expect_find_stale(&mut mocks, vec![stale.clone()]);
    // The compare-and-set is tried exactly once and never retried or forced.
    mocks
        .lifecycle
        .expect_complete_if_stale()
        .withf(|id, expected, _, next, _| {
            *id == RunId::new(1) && *expected == RunStatus::Running && is_stale_completion(next)
        })
        .times(1)
        .returning(|_, _, _, _, _| Err(PortError::Conflict("status is completed".into())));
    let report = reap(mocks).await.unwrap();

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
    expect_find_stale(&mut mocks, vec![first.clone(), second.clone()]);
    mocks
        .lifecycle
        .expect_complete_if_stale()
        .withf(|id, _, heartbeat_before, _, _| {
            *id == RunId::new(1) && *heartbeat_before == now() - threshold()
        })
        .times(1)
        .returning(|id, _, _, _, _| {
            Err(PortError::Conflict(format!(
                "run {id} has a fresh heartbeat"
            )))
        });
    expect_reaped(&mut mocks, second, |id, _, _, _, _| *id == RunId::new(2));
    let report = reap(mocks).await.unwrap();

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
    expect_find_stale(
        &mut mocks,
        vec![
            run(1).running().updated_at(hours_ago(3)).build(),
            run(2).running().updated_at(hours_ago(3)).build(),
        ],
    );
    mocks
        .lifecycle
        .expect_complete_if_stale()
        .times(1)
        .returning(|_, _, _, _, _| Err(PortError::backend("disk full")));
    let err = reap(mocks).await.unwrap_err();
    assert!(matches!(err, ServiceError::Port(_)), "{err:?}");
}
