//! 5. Monitoring.

use super::*;

#[derive(Debug, Clone)]
pub(crate) struct Expected {
    id: RunId,
    ws: WorkspaceId,
    run_type: &'static str,
    status: RunStatus,
    outcome: RunOutcome,
    tenant: TenantId,
    created_at: DateTime<Utc>,
}

/// A page of `ws`'s runs matching `filter`, older than `after`.
fn older(
    ws: WorkspaceId,
    filter: &RunFilter,
    after: Option<RunCursor>,
    limit: u32,
) -> RunListQuery {
    RunListQuery {
        workspace_id: ws,
        filter: filter.clone(),
        after,
        newer_than: None,
        limit,
    }
}

/// Every page of a list for a viewer; checks the page contract on the way.
pub(crate) async fn walk(
    w: &World,
    viewer: UserId,
    ws: WorkspaceId,
    filter: &RunFilter,
    limit: u32,
) -> Vec<RunId> {
    let mut ids = Vec::new();
    let mut after: Option<RunCursor> = None;
    loop {
        let query = older(ws, filter, after, limit);
        let page = w.service.list_runs(viewer, &query).await.unwrap();
        assert!(page.runs.len() <= limit as usize);
        ids.extend(page.runs.iter().map(OperationRun::id));
        match page.next {
            Some(next) => {
                assert_eq!(
                    page.runs.len(),
                    limit as usize,
                    "only the last page is short"
                );
                assert_eq!(Some(next.0), page.runs.last().map(OperationRun::id));
                // Clients get the cursor as text.
                after = Some(RunCursor::decode(&next.encode()).unwrap());
            }
            None => return ids,
        }
    }
}

/// What a filter selects, by the product's rules (`created_from` inclusive, `created_before`
/// exclusive).
pub(crate) fn selects(filter: &RunFilter, e: &Expected) -> bool {
    filter.run_type.as_deref().is_none_or(|t| t == e.run_type)
        && filter.status.is_none_or(|s| s == e.status)
        && filter.outcome.is_none_or(|o| o == e.outcome)
        && filter.tenant_id.is_none_or(|t| t == e.tenant)
        && filter.created_from.is_none_or(|from| e.created_at >= from)
        && filter
            .created_before
            .is_none_or(|before| e.created_at < before)
}

pub(crate) fn newest_first(model: &[Expected], keep: impl Fn(&Expected) -> bool) -> Vec<RunId> {
    let mut ids: Vec<RunId> = model.iter().filter(|e| keep(e)).map(|e| e.id).collect();
    ids.sort_by(|a, b| b.cmp(a));
    ids
}

/// The run types the monitoring model cycles through.
const RUN_TYPES: [&str; 3] = ["inventory_sync", "entra_group_sync", "drift_generate"];

/// The fates the monitoring model cycles through.
const FATES: [Fate; 6] = [
    Fate::Queued,
    Fate::Running,
    Fate::Completed(RunOutcome::Succeeded),
    Fate::Completed(RunOutcome::Failed),
    Fate::Completed(RunOutcome::PartiallySucceeded),
    Fate::QueuedThen(RunOutcome::Cancelled),
];

/// Makes the `i`-th run of the monitoring model in `ws` for `tenant` (its type and fate follow
/// from `i`), and returns what the model expects of it.
async fn seed_run(w: &World, ws: WorkspaceId, tenant: TenantId, i: usize) -> Expected {
    let run_type = RUN_TYPES[i % 3];
    let run = w
        .run(
            ws,
            tenant,
            run_type,
            json!({"n": i}),
            FATES[(i + i / 3) % 6],
        )
        .await;
    Expected {
        id: run.id(),
        ws,
        run_type,
        status: *run.status().readable().unwrap(),
        outcome: *run.outcome().readable().unwrap(),
        tenant,
        created_at: run.created_at(),
    }
}

pub(crate) async fn monitoring(db: TestDb) {
    let w = world(db).await;
    let ws_a = w.ws;
    let t1 = w.tenant;
    let t2 = w.another_tenant(ws_a, "fabrikam.example").await;
    let (ws_b, tb) = w.northwind().await;
    let viewer = UserId::new(100);
    let no_view = UserId::new(200);
    let stranger = UserId::new(300);
    // (workspace, user, may view, may manage).
    for (ws, user, view, manage) in [
        (ws_a, viewer, true, false),
        (ws_b, viewer, true, false),
        (ws_a, no_view, false, true),
        (ws_b, stranger, true, true),
    ] {
        w.store.add_member(ws, user, view, manage).await.unwrap();
    }

    // 21 runs in workspace A of every type, status, outcome and tenant, an hour apart, with
    // workspace B's runs interleaved.
    let mut model: Vec<Expected> = Vec::new();
    for i in 0..21_usize {
        w.clock.advance(Duration::hours(1));
        let tenant = if i % 4 == 3 { t2 } else { t1 };
        model.push(seed_run(&w, ws_a, tenant, i).await);
        if i % 5 == 0 {
            model.push(seed_run(&w, ws_b, tb, i).await);
        }
    }
    let in_a: Vec<Expected> = model.iter().filter(|e| e.ws == ws_a).cloned().collect();
    assert_eq!(in_a.len(), 21);

    // Each filter, every page of 3, against the model.
    let from = in_a[5].created_at;
    let before = in_a[12].created_at;
    let any = RunFilter::default;
    let status = |status| RunFilter {
        status: Some(status),
        ..any()
    };
    let outcome = |outcome| RunFilter {
        outcome: Some(outcome),
        ..any()
    };
    let filters = [
        any(),
        RunFilter {
            run_type: Some("entra_group_sync".into()),
            ..any()
        },
        status(RunStatus::Running),
        status(RunStatus::Queued),
        outcome(RunOutcome::Failed),
        outcome(RunOutcome::Cancelled),
        RunFilter {
            tenant_id: Some(t2),
            ..any()
        },
        RunFilter {
            created_from: Some(from),
            created_before: Some(before),
            ..any()
        },
        RunFilter {
            run_type: Some("inventory_sync".into()),
            status: Some(RunStatus::Completed),
            tenant_id: Some(t1),
            ..any()
        },
    ];
    for filter in &filters {
        let expected = newest_first(&model, |e| e.ws == ws_a && selects(filter, e));
        assert!(!expected.is_empty(), "{filter:?} selects nothing");
        if filter != &RunFilter::default() {
            assert!(expected.len() < in_a.len(), "{filter:?} filters nothing");
        }
        assert_eq!(
            walk(&w, viewer, ws_a, filter, 3).await,
            expected,
            "{filter:?}"
        );
    }
    assert_eq!(
        walk(&w, viewer, ws_a, &filters[7], 3).await,
        in_a[5..12].iter().rev().map(|e| e.id).collect::<Vec<_>>(),
        "created_from is inclusive, created_before exclusive"
    );
    assert_eq!(
        walk(&w, viewer, ws_b, &RunFilter::default(), 3).await,
        newest_first(&model, |e| e.ws == ws_b)
    );

    // Walking while new runs are inserted between page fetches: no duplicates, no gaps, and
    // the new runs neither appear nor shift the pages.
    for filter in &filters[..2] {
        let expected = newest_first(&model, |e| e.ws == ws_a && selects(filter, e));
        let mut seen: Vec<RunId> = Vec::new();
        let mut after = None;
        let mut inserted = Vec::new();
        loop {
            let query = older(ws_a, filter, after, 3);
            let page = w.service.list_runs(viewer, &query).await.unwrap();
            let offset = seen.len();
            let ids: Vec<RunId> = page.runs.iter().map(OperationRun::id).collect();
            assert_eq!(
                ids,
                expected[offset..(offset + 3).min(expected.len())].to_vec(),
                "page at {offset} of {filter:?}"
            );
            seen.extend(ids);
            // A run that matches the filter, newer than everything listed so far.
            w.clock.advance(secs(1));
            let new = w
                .run(
                    ws_a,
                    t1,
                    "entra_group_sync",
                    json!({"inserted": model.len()}),
                    Fate::Queued,
                )
                .await;
            inserted.push(new.id());
            model.push(Expected {
                id: new.id(),
                ws: ws_a,
                run_type: "entra_group_sync",
                status: *new.status().readable().unwrap(),
                outcome: *new.outcome().readable().unwrap(),
                tenant: t1,
                created_at: new.created_at(),
            });
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, expected);
        let unique: BTreeSet<RunId> = seen.iter().copied().collect();
        assert_eq!(unique.len(), seen.len(), "duplicates in {seen:?}");
        assert!(inserted.len() > 2);
        assert!(inserted.iter().all(|id| !seen.contains(id)));
        // A fresh walk sees them.
        let fresh = walk(&w, viewer, ws_a, filter, 3).await;
        assert_eq!(
            fresh,
            newest_first(&model, |e| e.ws == ws_a && selects(filter, e))
        );
    }

    // A single run for a member with the view capability.
    let run_a = in_a[4].id;
    let shown = w.service.show_run(viewer, ws_a, run_a).await.unwrap();
    assert_eq!(shown.id(), run_a);
    assert_eq!(shown.workspace_id(), ws_a);

    let query_a = older(ws_a, &RunFilter::default(), None, 3);
    // A non-member: not found, for the list and for a single run.
    let list = w.service.list_runs(stranger, &query_a).await;
    assert!(matches!(list, Err(ServiceError::NotFound)), "{list:?}");
    let show = w.service.show_run(stranger, ws_a, run_a).await;
    assert!(matches!(show, Err(ServiceError::NotFound)), "{show:?}");
    assert_eq!(show.unwrap_err().http_status(), 404);
    // A member without the view capability: forbidden.
    let list = w.service.list_runs(no_view, &query_a).await;
    assert!(matches!(list, Err(ServiceError::Forbidden)), "{list:?}");
    let show = w.service.show_run(no_view, ws_a, run_a).await;
    assert!(matches!(show, Err(ServiceError::Forbidden)), "{show:?}");
    assert_eq!(show.unwrap_err().http_status(), 403);
    // A run of workspace A asked for under workspace B, even by a viewer of both: not found.
    let show = w.service.show_run(viewer, ws_b, run_a).await;
    assert!(matches!(show, Err(ServiceError::NotFound)), "{show:?}");
    let show = w.service.show_run(stranger, ws_b, run_a).await;
    assert!(matches!(show, Err(ServiceError::NotFound)), "{show:?}");
    // A run that does not exist looks the same.
    let missing = RunId::new(in_a.iter().map(|e| e.id.get()).max().unwrap() + 10_000);
    let show = w.service.show_run(viewer, ws_a, missing).await;
    assert!(matches!(show, Err(ServiceError::NotFound)), "{show:?}");
}
