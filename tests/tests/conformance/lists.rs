//! The monitoring list: filters, workspace scope, time comparisons and keyset pages.

use crate::support::*;
use chrono::{Duration, TimeZone, Utc};
use operation_runs_domain::{OperationRun, RunId, RunOutcome, RunStatus, RunType, WorkspaceId};
use operation_runs_ports::{CappedCount, RunCursor, RunFilter, RunListQuery, RunPage};
use operation_runs_tests::{TestStore, newest_page, on_every_store};
use serde_json::json;
use std::collections::BTreeSet;

async fn list_filters_and_workspace_scope(store: TestStore) {
    let f = fixture(store).await;
    let tenant2 = f.store.create_tenant(f.ws, "second").await.unwrap();
    let sync_a = f.queued(1, t0()).await;
    let sync_b = f.queued(2, t0() + Duration::hours(1)).await;
    let sync_b = f
        .complete(&sync_b, RunOutcome::Succeeded, t0() + Duration::hours(2))
        .await;
    let groups = f
        .start(&new_run(
            f.ws,
            Some(tenant2),
            RunType::ENTRA_GROUP_SYNC,
            json!({}),
            t0() + Duration::hours(3),
        ))
        .await;
    let groups = f
        .complete(&groups, RunOutcome::Failed, t0() + Duration::hours(4))
        .await;
    let running = f.queued(3, t0() + Duration::days(1)).await;
    let running = f.begin(&running, t0() + Duration::days(1)).await;
    // Another workspace's run is never listed.
    f.run_in_another_workspace().await;

    let all = f.list_all(RunFilter::default()).await;
    assert_eq!(
        all,
        vec![running.id(), groups.id(), sync_b.id(), sync_a.id()]
    );
    let any = RunFilter::default;
    let inventory_sync = || Some("inventory_sync".to_owned());
    let cases = [
        (
            RunFilter {
                run_type: inventory_sync(),
                ..any()
            },
            vec![running.id(), sync_b.id(), sync_a.id()],
        ),
        (
            RunFilter {
                status: Some(RunStatus::Completed),
                ..any()
            },
            vec![groups.id(), sync_b.id()],
        ),
        (
            RunFilter {
                outcome: Some(RunOutcome::Failed),
                ..any()
            },
            vec![groups.id()],
        ),
        (
            RunFilter {
                tenant_id: Some(tenant2),
                ..any()
            },
            vec![groups.id()],
        ),
        // created_from is inclusive, created_before exclusive.
        (
            RunFilter {
                created_from: Some(t0() + Duration::hours(1)),
                created_before: Some(t0() + Duration::days(1)),
                ..any()
            },
            vec![groups.id(), sync_b.id()],
        ),
        (
            RunFilter {
                run_type: inventory_sync(),
                status: Some(RunStatus::Queued),
                ..any()
            },
            vec![sync_a.id()],
        ),
        (
            RunFilter {
                run_type: Some("nothing_like_this".into()),
                ..any()
            },
            Vec::new(),
        ),
    ];
    for (filter, expected) in cases {
        assert_eq!(f.list_all(filter.clone()).await, expected, "{filter:?}");
    }
    let empty = f
        .store
        .list(&newest_page(WorkspaceId::new(999_999), 10))
        .await
        .unwrap();
    assert!(empty.runs.is_empty() && empty.next.is_none());
}

/// Times on SQLite are text: comparisons must still order as times, across fractional seconds,
/// midnight, months and years.
async fn time_filters_compare_as_times(store: TestStore) {
    let f = fixture(store).await;
    let base = Utc.with_ymd_and_hms(2025, 12, 31, 23, 59, 59).unwrap();
    let times = [
        base,
        base + Duration::milliseconds(5),
        base + Duration::milliseconds(500),
        base + Duration::microseconds(500_001),
        base + Duration::seconds(1), // 2026-01-01T00:00:00
        base + Duration::seconds(1) + Duration::microseconds(1),
        base + Duration::days(40),
    ];
    let mut ids = Vec::new();
    for (i, at) in times.iter().enumerate() {
        ids.push(f.queued(i as i64, *at).await.id());
    }
    for (i, at) in times.iter().enumerate() {
        let from = f
            .list_all(RunFilter {
                created_from: Some(*at),
                ..Default::default()
            })
            .await;
        let expected: Vec<RunId> = ids[i..].iter().rev().copied().collect();
        assert_eq!(from, expected, "created_from {at}");
        let before = f
            .list_all(RunFilter {
                created_before: Some(*at),
                ..Default::default()
            })
            .await;
        let expected: Vec<RunId> = ids[..i].iter().rev().copied().collect();
        assert_eq!(before, expected, "created_before {at}");
    }
    // Read back exactly as written (microsecond precision on every backend).
    for (id, at) in ids.iter().zip(times) {
        assert_eq!(f.store.get(*id).await.unwrap().created_at(), at);
    }
}

async fn list_pages_walk_everything_once_even_with_inserts_in_between(store: TestStore) {
    let f = fixture(store).await;
    let mut existing = Vec::new();
    for n in 0..23 {
        existing.push(f.queued(n, t0() + Duration::seconds(n)).await.id());
    }
    let expected: Vec<RunId> = existing.iter().rev().copied().collect();
    let mut seen = Vec::new();
    let mut after = None;
    let mut pages = 0;
    let mut inserted = Vec::new();
    loop {
        let page = f.page(after, 5).await;
        pages += 1;
        assert!(page.runs.len() <= 5);
        seen.extend(page.runs.iter().map(OperationRun::id));
        // Newer runs arriving meanwhile never shift the pages.
        inserted.push(f.queued(1000 + pages, t0() + Duration::days(1)).await.id());
        match page.next {
            Some(next) => {
                assert_eq!(page.runs.len(), 5);
                assert_eq!(next, RunCursor(page.runs.last().unwrap().id()));
                after = Some(next);
            }
            None => break,
        }
    }
    assert_eq!(pages, 5);
    assert_eq!(seen, expected, "every run once, newest first");

    // An exact multiple of the page size: the last full page says there is no next page.
    let all = f.list_all(RunFilter::default()).await;
    assert_eq!(all.len(), 23 + inserted.len());
    let mut after = None;
    let mut count = 0;
    let mut seen = BTreeSet::new();
    loop {
        let page = f.page(after, 4).await;
        count += 1;
        for run in &page.runs {
            assert!(seen.insert(run.id()));
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), 28);
    assert_eq!(count, 7, "28 runs in pages of 4 is 7 pages, no empty 8th");
    // Cursors survive their text form.
    let cursor = RunCursor(all[3]);
    assert_eq!(RunCursor::decode(&cursor.encode()), Some(cursor));
}

/// Counts per status follow the list's filters (but for status) and its workspace, and stop
/// at the cap: one more row than the cap reads as "more than the cap".
async fn counts_per_status_are_filtered_scoped_and_capped(store: TestStore) {
    let f = fixture(store).await;
    let mut queued = Vec::new();
    for n in 0..4 {
        queued.push(f.queued(n, t0() + Duration::minutes(n)).await);
    }
    let running = f.begin(&queued[0], t0() + Duration::hours(1)).await;
    let done = f.begin(&queued[1], t0() + Duration::hours(1)).await;
    f.complete(&done, RunOutcome::Succeeded, t0() + Duration::hours(2))
        .await;
    f.start(&new_run(
        f.ws,
        Some(f.tenant),
        RunType::ENTRA_GROUP_SYNC,
        json!({}),
        t0(),
    ))
    .await;
    // Another workspace's runs never count.
    let ws2 = f.run_in_another_workspace().await;

    let count = |filter: RunFilter, cap: u32| {
        let store = f.store.clone();
        async move { store.count_by_status(f.ws, &filter, cap).await }
    };
    let all = count(RunFilter::default(), 100).await.unwrap();
    assert_eq!(
        (all.queued, all.running, all.completed),
        (
            CappedCount::Exact(3),
            CappedCount::Exact(1),
            CappedCount::Exact(1)
        )
    );
    // The filter's own status does not narrow the counts of the others.
    let syncs = RunFilter {
        run_type: Some("inventory_sync".into()),
        status: Some(RunStatus::Running),
        ..Default::default()
    };
    let of_syncs = count(syncs, 100).await.unwrap();
    assert_eq!(
        (of_syncs.queued, of_syncs.running, of_syncs.completed),
        (
            CappedCount::Exact(2),
            CappedCount::Exact(1),
            CappedCount::Exact(1)
        )
    );
    assert_eq!(running.status(), RunStatus::Running);
    // At the cap a count is exact; above it, it is "more than the cap".
    let capped = count(RunFilter::default(), 2).await.unwrap();
    assert_eq!(capped.queued, CappedCount::MoreThan(2));
    assert_eq!(capped.running, CappedCount::Exact(1));
    let at_cap = count(RunFilter::default(), 3).await.unwrap();
    assert_eq!(at_cap.queued, CappedCount::Exact(3));
    let other = f
        .store
        .count_by_status(ws2, &RunFilter::default(), 100)
        .await;
    assert_eq!(other.unwrap().queued, CappedCount::Exact(1));
}

/// Walking back (`newer_than`) from any page gives the pages walked forward, in reverse, with
/// a cursor to the newer runs until the newest page.
async fn pages_walk_back_towards_the_newest_runs(store: TestStore) {
    let f = fixture(store).await;
    let mut ids = Vec::new();
    for n in 0..7 {
        ids.push(f.queued(n, t0() + Duration::minutes(n)).await.id());
    }
    // Another workspace's newer run is never listed.
    f.run_in_another_workspace().await;
    let back = |newer_than: RunId| {
        let store = f.store.clone();
        let query = RunListQuery {
            newer_than: Some(RunCursor(newer_than)),
            ..newest_page(f.ws, 3)
        };
        async move { store.list(&query).await.unwrap() }
    };
    let ids_of = |page: &RunPage| page.runs.iter().map(OperationRun::id).collect::<Vec<_>>();

    let from_oldest = back(ids[0]).await;
    assert_eq!(ids_of(&from_oldest), [ids[3], ids[2], ids[1]]);
    assert_eq!(from_oldest.next, Some(RunCursor(ids[3])));
    let newest = back(ids[3]).await;
    assert_eq!(ids_of(&newest), [ids[6], ids[5], ids[4]]);
    assert_eq!(newest.next, None, "nothing newer than the newest page");
    // The same page walked forward.
    let forward = f.page(Some(RunCursor(ids[4])), 3).await;
    assert_eq!(ids_of(&forward), ids_of(&from_oldest));
    assert!(back(ids[6]).await.runs.is_empty());
}

on_every_store!(
    pages_walk_back_towards_the_newest_runs,
    counts_per_status_are_filtered_scoped_and_capped,
    list_filters_and_workspace_scope,
    time_filters_compare_as_times,
    list_pages_walk_everything_once_even_with_inserts_in_between,
);
