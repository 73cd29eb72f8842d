//! Races a store must settle, on every backend of `on_every_store!`, with each contender on a
//! handle of its own (its own connection pool on a SQL store).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use operation_runs_domain::{
    CountName, Failure, FailureCode, FailureSummary, IdentityHash, NewOperationRun, OperationRun,
    RunContext, RunId, RunOutcome, RunStatus, RunType, RunTypeRegistry, SummaryCounts, TenantId,
    Transition, WorkspaceId,
};
use operation_runs_ports::{
    Clock, PortError, RunFilter, RunListQuery, RunPage, RunQueries, RunStore, StatusCounts,
};
use operation_runs_service::{OperationRunService, ServiceError, ServicePorts};
use operation_runs_tests::{StoreBackend, TestStore, on_every_store, runs_of, service_ports};
use serde_json::json;
use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::Barrier;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 2, 12, 10, 0, 0).unwrap()
}

fn new_run(ws: WorkspaceId, tenant: TenantId, identity: serde_json::Value) -> NewOperationRun {
    let run_type = RunType::INVENTORY_SYNC;
    NewOperationRun {
        workspace_id: ws,
        tenant_id: Some(tenant),
        user_id: None,
        initiator_name: "scheduler".into(),
        identity_hash: IdentityHash::compute(ws, Some(tenant), &run_type, &identity).unwrap(),
        run_type,
        summary_counts: SummaryCounts::new(),
        context: RunContext::new(),
        created_at: t0(),
    }
}

async fn setup(harness: &TestStore) -> (Arc<dyn RunStore>, WorkspaceId, TenantId) {
    let store = harness.store.clone();
    let ws = store.create_workspace("Contoso").await.unwrap();
    let tenant = store.create_tenant(ws, "contoso.example").await.unwrap();
    (store, ws, tenant)
}

/// `n` handles on the store, each on a connection pool of its own.
async fn own_connections(harness: &TestStore, n: usize) -> Vec<Arc<dyn RunStore>> {
    let mut stores = Vec::with_capacity(n);
    for _ in 0..n {
        stores.push(harness.another_handle().await);
    }
    stores
}

/// A run of `identity`, started and begun at `t0()`.
async fn start_running(
    store: &Arc<dyn RunStore>,
    ws: WorkspaceId,
    tenant: TenantId,
    identity: serde_json::Value,
) -> OperationRun {
    let queued = store
        .insert_or_get_active(&new_run(ws, tenant, identity))
        .await
        .unwrap()
        .run;
    let begin = queued.next_state(Transition::Begin, t0()).unwrap();
    store
        .transition(queued.id(), RunStatus::Queued, &begin, t0())
        .await
        .unwrap()
}

/// Rounds of 32 concurrent starters of one identity: 100 on the servers; on SQLite, whose
/// writers queue for one lock and so never race inside the database, a few (each takes seconds).
fn start_rounds(backend: StoreBackend) -> usize {
    match backend {
        StoreBackend::Sqlite => 3,
        _ => 100,
    }
}

async fn concurrent_starters_of_one_identity_share_one_run(harness: TestStore) {
    let rounds = start_rounds(harness.backend);
    let (store, ws, tenant) = setup(&harness).await;
    let stores = own_connections(&harness, 32).await;
    let new = new_run(ws, tenant, json!({"selection": "all"}));
    // Many rounds: after the shared run completes, the identity starts exactly once again, and
    // a race lost only now and then (a deadlock on MariaDB, say) has its chances to show.
    let mut run_ids = BTreeSet::new();
    for round in 0..rounds {
        let barrier = Arc::new(Barrier::new(stores.len()));
        let tasks: Vec<_> = stores
            .iter()
            .cloned()
            .map(|s| {
                let barrier = barrier.clone();
                let new = new.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    s.insert_or_get_active(&new).await
                })
            })
            .collect();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap().unwrap());
        }
        let ids: BTreeSet<_> = results.iter().map(|r| r.run.id()).collect();
        assert_eq!(ids.len(), 1, "round {round}: one run for all starters");
        assert_eq!(
            results.iter().filter(|r| !r.reused).count(),
            1,
            "round {round}"
        );
        assert_eq!(
            results.iter().filter(|r| r.reused).count(),
            31,
            "round {round}"
        );
        let id = *ids.first().unwrap();
        assert!(run_ids.insert(id), "round {round} started a new run");
        let active = runs_of(&store, ws, RunFilter::default())
            .await
            .into_iter()
            .filter(|r| {
                r.status().readable().unwrap().is_active()
                    && r.identity_hash() == &new.identity_hash
            })
            .count();
        assert_eq!(active, 1, "round {round}");
        let run = store.get(id).await.unwrap();
        let next = run
            .next_state(Transition::Complete(RunOutcome::Cancelled), t0())
            .unwrap();
        store
            .transition(id, RunStatus::Queued, &next, t0())
            .await
            .unwrap();
    }
    assert_eq!(
        runs_of(&store, ws, RunFilter::default()).await.len(),
        rounds
    );
}

async fn concurrent_increments_lose_nothing(harness: TestStore) {
    let (store, ws, tenant) = setup(&harness).await;
    let run = store
        .insert_or_get_active(&new_run(ws, tenant, json!({})))
        .await
        .unwrap()
        .run;
    let stores = own_connections(&harness, 10).await;
    let total = CountName::parse("total").unwrap();
    let processed = CountName::parse("processed").unwrap();
    let barrier = Arc::new(Barrier::new(50));
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let s = stores[i % stores.len()].clone();
            let barrier = barrier.clone();
            let mut delta = SummaryCounts::new();
            delta.add(total.clone(), 1).unwrap();
            if i % 2 == 0 {
                delta.add(processed.clone(), 2).unwrap();
            }
            let id = run.id();
            tokio::spawn(async move {
                barrier.wait().await;
                s.increment_counts(
                    id,
                    &[RunType::INVENTORY_SYNC],
                    &delta,
                    t0() + Duration::seconds(1),
                )
                .await
            })
        })
        .collect();
    for task in tasks {
        let r = task.await.unwrap().unwrap();
        assert_eq!(*r.status().readable().unwrap(), RunStatus::Queued);
    }
    let stored = store.get(run.id()).await.unwrap();
    assert_eq!(stored.summary_counts().readable().unwrap().get(&total), 50);
    assert_eq!(
        stored.summary_counts().readable().unwrap().get(&processed),
        50
    );
    assert_eq!(stored.updated_at(), t0() + Duration::seconds(1));
}

async fn increments_racing_a_completion_with_counts_lose_nothing(harness: TestStore) {
    let (store, ws, tenant) = setup(&harness).await;
    let stores = own_connections(&harness, 8).await;
    let total = CountName::parse("total").unwrap();
    for round in 0..5 {
        let running = start_running(&store, ws, tenant, json!({ "round": round })).await;
        let done = running
            .next_state(Transition::Complete(RunOutcome::Succeeded), t0())
            .unwrap();
        let mut last = SummaryCounts::new();
        last.add(total.clone(), 100).unwrap();

        let contenders = 24;
        let barrier = Arc::new(Barrier::new(contenders + 1));
        let increments: Vec<_> = (0..contenders)
            .map(|i| {
                let s = stores[i % stores.len()].clone();
                let barrier = barrier.clone();
                let mut delta = SummaryCounts::new();
                delta.add(total.clone(), 1).unwrap();
                let id = running.id();
                tokio::spawn(async move {
                    barrier.wait().await;
                    s.increment_counts(id, &[RunType::INVENTORY_SYNC], &delta, t0())
                        .await
                })
            })
            .collect();
        let completion = {
            let s = stores[round % stores.len()].clone();
            let barrier = barrier.clone();
            let id = running.id();
            tokio::spawn(async move {
                barrier.wait().await;
                s.transition_with_counts(id, RunStatus::Running, &done, &last, t0())
                    .await
            })
        };
        let mut applied = 0;
        for task in increments {
            match task.await.unwrap() {
                Ok(r) => {
                    assert_eq!(
                        *r.status().readable().unwrap(),
                        RunStatus::Running,
                        "round {round}"
                    );
                    applied += 1;
                }
                Err(PortError::Conflict(_)) => {}
                Err(other) => panic!("round {round}: {other:?}"),
            }
        }
        let completed = completion.await.unwrap().unwrap();
        let stored = store.get(running.id()).await.unwrap();
        assert_eq!(stored, completed, "round {round}");
        assert_eq!(*stored.status().readable().unwrap(), RunStatus::Completed);
        // Every increment that reported success is in the final count, and so are the
        // completion's own counts: nothing lost on either side.
        assert_eq!(
            stored.summary_counts().readable().unwrap().get(&total),
            100 + applied,
            "round {round}"
        );
    }
}

async fn a_reaper_racing_a_completion_never_overwrites_it(harness: TestStore) {
    let (store, ws, tenant) = setup(&harness).await;
    let stores = own_connections(&harness, 2).await;
    for round in 0..20 {
        let running = start_running(&store, ws, tenant, json!({ "round": round })).await;

        let finished_at = t0() + Duration::minutes(5);
        let done = running
            .next_state(Transition::Complete(RunOutcome::Succeeded), finished_at)
            .unwrap();
        let reaped_at = t0() + Duration::hours(2);
        let mut reaped = running
            .next_state(Transition::Complete(RunOutcome::Failed), reaped_at)
            .unwrap();
        reaped.failure_summary = FailureSummary::single(Failure::new(
            FailureCode::parse(FailureCode::RUN_STALE).unwrap(),
            "no heartbeat for 2 hours",
        ));

        let barrier = Arc::new(Barrier::new(2));
        let race = |s: Arc<dyn RunStore>, state: operation_runs_domain::RunState, now| {
            let barrier = barrier.clone();
            let id = running.id();
            tokio::spawn(async move {
                barrier.wait().await;
                s.transition(id, RunStatus::Running, &state, now).await
            })
        };
        // Alternate who is spawned first so neither side is always favoured.
        let (worker, reaper) = if round % 2 == 0 {
            let w = race(stores[0].clone(), done.clone(), finished_at);
            let r = race(stores[1].clone(), reaped.clone(), reaped_at);
            (w, r)
        } else {
            let r = race(stores[1].clone(), reaped.clone(), reaped_at);
            let w = race(stores[0].clone(), done.clone(), finished_at);
            (w, r)
        };
        let (worker, reaper) = (worker.await.unwrap(), reaper.await.unwrap());
        let winner: OperationRun = match (worker, reaper) {
            (Ok(w), Err(PortError::Conflict(_))) => {
                assert_eq!(*w.outcome().readable().unwrap(), RunOutcome::Succeeded);
                w
            }
            (Err(PortError::Conflict(_)), Ok(r)) => {
                assert_eq!(*r.outcome().readable().unwrap(), RunOutcome::Failed);
                assert_eq!(r.failure_summary(), &reaped.failure_summary);
                r
            }
            other => panic!("round {round}: exactly one CAS must win, got {other:?}"),
        };
        let stored = store.get(running.id()).await.unwrap();
        assert_eq!(
            stored, winner,
            "round {round}: the stored run is the winner's"
        );
        // And a second late reaper still cannot touch it.
        let late = store
            .transition(running.id(), RunStatus::Running, &reaped, reaped_at)
            .await;
        assert!(matches!(late, Err(PortError::Conflict(_))));
        assert_eq!(store.get(running.id()).await.unwrap(), winner);
    }
}

// ---------------------------------------------------------------------------------------------
// The stale-run reaper against live workers

/// A clock that stands still.
struct FixedClock(DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// The service over `queries`, the rest of the ports on `store`, at a fixed time.
fn service_at(
    store: &Arc<dyn RunStore>,
    queries: Arc<dyn RunQueries>,
    now: DateTime<Utc>,
) -> OperationRunService {
    let ports = ServicePorts {
        queries,
        ..service_ports(store)
    };
    OperationRunService::new(
        ports.with_clock(Arc::new(FixedClock(now))),
        RunTypeRegistry::with_builtins(),
    )
}

/// `n` running inventory syncs whose last heartbeat is at `t0()`.
async fn running_runs(
    store: &Arc<dyn RunStore>,
    ws: WorkspaceId,
    tenant: TenantId,
    n: usize,
) -> Vec<RunId> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let running = start_running(store, ws, tenant, json!({ "worker": i })).await;
        ids.push(running.id());
    }
    ids
}

fn is_reaped(run: &OperationRun) -> bool {
    run.status() == RunStatus::Completed
        && run.outcome() == RunOutcome::Failed
        && run
            .failure_summary()
            .readable()
            .unwrap()
            .failures()
            .iter()
            .any(|f| f.code().as_str() == FailureCode::RUN_STALE)
}

type PortFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, PortError>> + Send + 'a>>;

/// Run queries whose `find_stale` lets each worker of the runs it found report progress
/// before it answers: the exact interleaving in which a status-only compare-and-set would
/// reap a run that is alive again. The other queries go straight to the store.
///
/// (Written out the way `#[async_trait]` expands, so this crate needs no extra dependency.)
struct WorkersWakeUpAfterFind {
    store: Arc<dyn RunStore>,
    worker: OperationRunService,
}

impl RunQueries for WorkersWakeUpAfterFind {
    fn find_stale<'s, 'f>(
        &'s self,
        heartbeat_before: DateTime<Utc>,
        limit: u32,
    ) -> PortFuture<'f, Vec<OperationRun>>
    where
        's: 'f,
        Self: 'f,
    {
        Box::pin(async move {
            let found = self.store.find_stale(heartbeat_before, limit).await?;
            for run in &found {
                self.worker
                    .record_progress(run.id(), &[("processed", 1)])
                    .await
                    .unwrap();
            }
            Ok(found)
        })
    }

    fn count_by_status<'s, 'a, 'f>(
        &'s self,
        workspace: WorkspaceId,
        filter: &'a RunFilter,
        cap: u32,
    ) -> PortFuture<'f, StatusCounts>
    where
        's: 'f,
        'a: 'f,
        Self: 'f,
    {
        self.store.count_by_status(workspace, filter, cap)
    }

    fn get<'s, 'f>(&'s self, id: RunId) -> PortFuture<'f, OperationRun>
    where
        's: 'f,
        Self: 'f,
    {
        self.store.get(id)
    }

    fn list<'s, 'a, 'f>(&'s self, query: &'a RunListQuery) -> PortFuture<'f, RunPage>
    where
        's: 'f,
        'a: 'f,
        Self: 'f,
    {
        self.store.list(query)
    }

    fn latest_completed_with_identity<'s, 'a, 'b, 'f>(
        &'s self,
        workspace: WorkspaceId,
        identity_hash: &'a IdentityHash,
        outcomes: &'b [RunOutcome],
    ) -> PortFuture<'f, Option<OperationRun>>
    where
        's: 'f,
        'a: 'f,
        'b: 'f,
        Self: 'f,
    {
        self.store
            .latest_completed_with_identity(workspace, identity_hash, outcomes)
    }
}

async fn progress_right_after_the_reapers_query_keeps_runs_alive(harness: TestStore) {
    let (store, ws, tenant) = setup(&harness).await;
    let ids = running_runs(&store, ws, tenant, 3).await;
    let reaped_at = t0() + Duration::hours(2);
    // The workers' progress lands at `reaped_at`, well after the threshold: they are alive.
    let worker = service_at(&store, store.clone(), reaped_at);
    let runs = Arc::new(WorkersWakeUpAfterFind {
        store: harness.another_handle().await,
        worker,
    });
    let reaper = service_at(&store, runs, reaped_at);

    let report = reaper.reap_stale(Duration::hours(1), 100).await.unwrap();

    assert!(report.reaped.is_empty(), "{report:?}");
    assert_eq!(report.lost_races, ids);
    for id in ids {
        let run = store.get(id).await.unwrap();
        assert_eq!(
            *run.status().readable().unwrap(),
            RunStatus::Running,
            "run {id} was reaped"
        );
        assert_eq!(
            run.summary_counts()
                .readable()
                .unwrap()
                .get_str("processed"),
            1
        );
        assert_eq!(run.updated_at(), reaped_at);
    }
}

async fn progress_racing_the_reaper_is_never_reaped_after_it_landed(harness: TestStore) {
    let (store, ws, tenant) = setup(&harness).await;
    let workers = own_connections(&harness, 8).await;
    let reaper_store = harness.another_handle().await;
    let now = t0() + Duration::hours(2);
    for round in 0..4 {
        let ids = running_runs(&store, ws, tenant, 24).await;
        let reaper = service_at(&store, reaper_store.clone(), now);
        let barrier = Arc::new(Barrier::new(ids.len() + 1));
        let progress: Vec<_> = ids
            .iter()
            .enumerate()
            .map(|(i, &id)| {
                let s = workers[i % workers.len()].clone();
                let service = service_at(&s, s.clone(), now);
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    (id, service.record_progress(id, &[("processed", 1)]).await)
                })
            })
            .collect();
        let reaping = {
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                reaper.reap_stale(Duration::hours(1), 1000).await
            })
        };
        let report = reaping.await.unwrap().unwrap();
        for task in progress {
            let (id, result) = task.await.unwrap();
            let stored = store.get(id).await.unwrap();
            match result {
                // The heartbeat landed: whatever the reaper saw before, the run stays alive.
                Ok(updated) => {
                    assert_eq!(*updated.status().readable().unwrap(), RunStatus::Running);
                    assert_eq!(
                        *stored.status().readable().unwrap(),
                        RunStatus::Running,
                        "round {round}: run {id} reaped after its heartbeat"
                    );
                    assert_eq!(
                        stored
                            .summary_counts()
                            .readable()
                            .unwrap()
                            .get_str("processed"),
                        1
                    );
                    assert!(!report.reaped.contains(&id), "round {round}: {report:?}");
                }
                // The reaper won: its worker's progress is refused and writes nothing.
                Err(ServiceError::Conflict(_) | ServiceError::Transition(_)) => {
                    assert!(is_reaped(&stored), "round {round}: {stored:?}");
                    assert!(stored.summary_counts().readable().unwrap().is_empty());
                    assert!(report.reaped.contains(&id), "round {round}: {report:?}");
                }
                Err(other) => panic!("round {round}: {other:?}"),
            }
        }
        // Every run the reaper touched is accounted for exactly once.
        let touched: BTreeSet<RunId> = report
            .reaped
            .iter()
            .chain(&report.lost_races)
            .copied()
            .collect();
        assert_eq!(touched.len(), report.reaped.len() + report.lost_races.len());
        // Leave no active run behind for the next round's reaper.
        for id in ids {
            let run = store.get(id).await.unwrap();
            if run.status().readable().unwrap().is_active() {
                let done = run
                    .next_state(Transition::Complete(RunOutcome::Succeeded), now)
                    .unwrap();
                store
                    .transition(id, *run.status().readable().unwrap(), &done, now)
                    .await
                    .unwrap();
            }
        }
    }
}

on_every_store!(
    concurrent_starters_of_one_identity_share_one_run,
    concurrent_increments_lose_nothing,
    increments_racing_a_completion_with_counts_lose_nothing,
    a_reaper_racing_a_completion_never_overwrites_it,
    progress_right_after_the_reapers_query_keeps_runs_alive,
    progress_racing_the_reaper_is_never_reaped_after_it_landed,
);
