use crate::support::*;
use operation_runs_domain::{Membership, OperationRun, RunId, RunOutcome, RunStatus, UserId};
use operation_runs_ports::{PortError, RunCursor, RunFilter, RunListQuery, RunPage};
use operation_runs_service::{MAX_PAGE_SIZE, ServiceError};

const VIEWER: UserId = UserId::new(5);

async fn show(
    mocks: Mocks,
    workspace: operation_runs_domain::WorkspaceId,
) -> Result<(), ServiceError> {
    mocks
        .service()
        .show_run(VIEWER, workspace, RunId::new(7))
        .await
        .map(|run| assert_eq!(run.id(), RunId::new(7)))
}

/// Mocks where `stored` is read once and the viewer's membership of [`WS`] is `membership`;
/// nothing may be written.
fn reading_as_member(stored: &OperationRun, membership: Option<Membership>) -> Mocks {
    let mut mocks = Mocks::new();
    mocks
        .expect_get(stored)
        .expect_membership(WS, membership)
        .forbid_writes();
    mocks
}

/// The error of showing run 7 through [`WS`] when it is `stored` and the viewer's membership
/// there is `membership`: nothing may be written.
async fn show_refused(stored: OperationRun, membership: Option<Membership>) -> ServiceError {
    show(reading_as_member(&stored, membership), WS)
        .await
        .unwrap_err()
}

#[tokio::test]
async fn a_member_who_may_view_sees_the_run() {
    show(reading_as_member(&run(7).build(), member(true, false)), WS)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_run_of_another_workspace_is_not_found() {
    // The viewer may view OTHER_WS, but the run lives in WS: asking through OTHER_WS must not
    // reveal it.
    let mut mocks = Mocks::new();
    mocks
        .expect_get(&run(7).workspace(WS).build())
        .forbid_writes();
    mocks
        .directory
        .expect_membership()
        .returning(|_, _| Ok(member(true, true)));
    let err = show(mocks, OTHER_WS).await.unwrap_err();
    assert!(matches!(err, ServiceError::NotFound), "{err:?}");
    assert_eq!(err.http_status(), 404);
}

#[tokio::test]
async fn a_non_member_gets_not_found() {
    let err = show_refused(run(7).build(), None).await;
    assert!(matches!(err, ServiceError::NotFound), "{err:?}");
}

#[tokio::test]
async fn a_member_without_view_capability_is_forbidden() {
    let err = show_refused(run(7).build(), member(false, true)).await;
    assert!(matches!(err, ServiceError::Forbidden), "{err:?}");
    assert_eq!(err.http_status(), 403);
}

#[tokio::test]
async fn a_missing_run_is_not_found_without_asking_for_membership() {
    let mut mocks = Mocks::new();
    mocks.expect_get_fails(PortError::NotFound);
    mocks.directory.expect_membership().never();
    mocks.forbid_writes();
    let err = show(mocks, WS).await.unwrap_err();
    assert!(matches!(err, ServiceError::NotFound), "{err:?}");
}

fn query(workspace: operation_runs_domain::WorkspaceId) -> RunListQuery {
    RunListQuery {
        workspace_id: workspace,
        filter: RunFilter {
            status: Some(RunStatus::Completed),
            ..RunFilter::default()
        },
        after: Some(RunCursor(RunId::new(50))),
        newer_than: None,
        limit: 2,
    }
}

#[tokio::test]
async fn listing_passes_the_query_to_the_store() {
    let mut mocks = Mocks::new();
    mocks.expect_membership(WS, member(true, false));
    let expected = query(WS);
    mocks
        .queries
        .expect_list()
        .withf(move |q| *q == expected)
        .times(1)
        .returning(|_| {
            Ok(RunPage {
                runs: vec![
                    run(49).completed(RunOutcome::Succeeded).build(),
                    run(48).completed(RunOutcome::Failed).build(),
                ],
                next: Some(RunCursor(RunId::new(48))),
            })
        });
    mocks.forbid_writes();

    let page = mocks.service().list_runs(VIEWER, &query(WS)).await.unwrap();

    let ids: Vec<i64> = page.runs.iter().map(|r| r.id().get()).collect();
    assert_eq!(ids, [49, 48]);
    assert_eq!(page.next, Some(RunCursor(RunId::new(48))));
}

#[tokio::test]
async fn page_sizes_up_to_the_maximum_are_served() {
    for limit in [1, MAX_PAGE_SIZE] {
        let mut mocks = Mocks::new();
        mocks.expect_membership(WS, member(true, false));
        mocks
            .queries
            .expect_list()
            .withf(move |q| q.limit == limit)
            .times(1)
            .returning(|_| {
                Ok(RunPage {
                    runs: vec![],
                    next: None,
                })
            });
        mocks.forbid_writes();
        let query = RunListQuery { limit, ..query(WS) };
        mocks.service().list_runs(VIEWER, &query).await.unwrap();
    }
}

#[tokio::test]
async fn a_page_size_out_of_range_is_refused_before_reading() {
    assert_eq!(MAX_PAGE_SIZE, 500);
    for limit in [0, MAX_PAGE_SIZE + 1, u32::MAX] {
        let mut mocks = Mocks::new();
        mocks.directory.expect_membership().never();
        mocks.queries.expect_list().never();
        mocks.forbid_writes();
        let query = RunListQuery { limit, ..query(WS) };
        let err = mocks.service().list_runs(VIEWER, &query).await.unwrap_err();
        assert!(
            matches!(err, ServiceError::InvalidPageSize { requested, max: MAX_PAGE_SIZE } if requested == limit),
            "{err:?}"
        );
        assert_eq!(err.http_status(), 422);
        assert!(err.to_string().contains("between 1 and 500"), "{err}");
    }
}

#[tokio::test]
async fn listing_a_workspace_needs_membership_and_the_view_capability() {
    for (membership, not_found) in [(None, true), (member(false, true), false)] {
        let mut mocks = Mocks::new();
        mocks.expect_membership(WS, membership);
        mocks.queries.expect_list().never();
        mocks.forbid_writes();
        let err = mocks
            .service()
            .list_runs(VIEWER, &query(WS))
            .await
            .unwrap_err();
        if not_found {
            assert!(matches!(err, ServiceError::NotFound), "{err:?}");
        } else {
            assert!(matches!(err, ServiceError::Forbidden), "{err:?}");
        }
    }
}

#[tokio::test]
async fn a_manager_cancels_an_active_run() {
    let running = run(7).running().build();
    let mut mocks = Mocks::new();
    mocks
        .expect_get(&running)
        .expect_membership(WS, member(true, true));
    mocks
        .lifecycle
        .expect_transition()
        .withf(|id, expected, next, at| {
            *id == RunId::new(7)
                && *expected == RunStatus::Running
                && next.status == RunStatus::Completed
                && next.outcome == RunOutcome::Cancelled
                && *at == now()
        })
        .times(1)
        .returning({
            let run = running.clone();
            move |_, _, next, at| Ok(with_state(&run, next, at))
        });
    mocks.forbid_writes_except(&[Write::Transition]);

    let cancelled = mocks.service().cancel(VIEWER, running.id()).await.unwrap();
    assert_eq!(cancelled.outcome(), RunOutcome::Cancelled);
}

/// The error of cancelling run 7 when it is `stored` (in [`WS`]) and the viewer's membership
/// there is `membership`: nothing may be written.
async fn cancel_refused(stored: OperationRun, membership: Option<Membership>) -> ServiceError {
    reading_as_member(&stored, membership)
        .service()
        .cancel(VIEWER, RunId::new(7))
        .await
        .unwrap_err()
}

#[tokio::test]
async fn cancelling_needs_the_manage_capability() {
    let err = cancel_refused(run(7).running().build(), member(true, false)).await;
    assert!(matches!(err, ServiceError::Forbidden), "{err:?}");
}

#[tokio::test]
async fn cancelling_needs_the_view_capability_too() {
    // Managing a run one may not look at would act on something one cannot see.
    let err = cancel_refused(run(7).running().build(), member(false, true)).await;
    assert!(matches!(err, ServiceError::Forbidden), "{err:?}");
}

#[tokio::test]
async fn a_non_member_cannot_learn_that_a_run_exists_by_cancelling_it() {
    // Even a completed run answers 404 rather than a lifecycle error.
    let err = cancel_refused(run(7).completed(RunOutcome::Succeeded).build(), None).await;
    assert!(matches!(err, ServiceError::NotFound), "{err:?}");
}

#[tokio::test]
async fn only_a_member_who_may_view_and_manage_may_manage() {
    for (membership, expected) in [
        (None, false),
        (member(true, false), false),
        (member(false, true), false),
        (member(true, true), true),
    ] {
        let mut mocks = Mocks::new();
        mocks.expect_membership(WS, membership).forbid_writes();
        let may = mocks.service().may_manage(VIEWER, WS).await.unwrap();
        assert_eq!(may, expected, "{membership:?}");
    }
}
