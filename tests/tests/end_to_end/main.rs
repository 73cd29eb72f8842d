//! Every operation of the product end to end on the real adapter: each test drives the public
//! API the way a host service's job would (`OperationRunService` and `ScheduleOperations` wired
//! to `SeaOrmStore`, with a clock the test controls) and reads the results back from the
//! database. SQLite always, PostgreSQL when `OPRUN_TEST_POSTGRES_URL` is set.
//!
//! One module per job; this file holds the wiring and the SQL read-backs they share.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use operation_runs_domain::{
    BackupScheduleId, BackupSetId, Failure, FailureCode, FailureSummary, OperationRun, RunId,
    RunOutcome, RunStatus, RunTypeRegistry, TenantId, UserId, WorkspaceId,
};
use operation_runs_ports::{
    BackupRepository, Clock, FindingRepository, InventoryRepository, Provisioning, RunCursor,
    RunFilter, RunListQuery, RunQueries, SeenItem,
};
use operation_runs_schedule_history::{
    BackupContent, BackupSourceError, Execution, HistoryQuery, Mode, PurgePolicy, RunSet,
    ScheduleError, ScheduleOperations, SchedulePorts, ScheduleRequest, source_fn,
};
use operation_runs_sea_orm::SeaOrmStore;
use operation_runs_service::{
    DriftChange, DriftRefusal, OperationRunService, ServiceError, ServicePorts, StartRequest,
};
use operation_runs_tests::{TestDb, on_every_backend};
use sea_orm::{ConnectionTrait, QueryResult, Statement, TryGetable};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

mod drift;
mod entra;
mod inventory;
mod monitoring;
mod reaper;
mod schedule;

use drift::drift_generation;
use entra::entra_group_sync_partial_failure;
use inventory::inventory_sync_job;
use monitoring::monitoring;
use reaper::stale_runs_are_reaped;
use schedule::schedule_life;

// ---------------------------------------------------------------------------------------------
// Wiring, as a host service does it.

pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
}

/// A clock the test moves by hand.
#[derive(Debug)]
pub(crate) struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    fn at(start: DateTime<Utc>) -> Arc<Self> {
        Arc::new(Self(Mutex::new(start)))
    }

    fn set(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        *self.0.lock().unwrap() = at;
        at
    }

    fn advance(&self, by: Duration) -> DateTime<Utc> {
        let mut now = self.0.lock().unwrap();
        *now += by;
        *now
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

pub(crate) struct World {
    db: TestDb,
    store: SeaOrmStore,
    clock: Arc<TestClock>,
    service: OperationRunService,
    ws: WorkspaceId,
    tenant: TenantId,
}

/// A new workspace called `name` with one tenant, `domain`.
async fn workspace_with_tenant(
    store: &SeaOrmStore,
    name: &str,
    domain: &str,
) -> (WorkspaceId, TenantId) {
    let ws = store.create_workspace(name).await.unwrap();
    let tenant = store.create_tenant(ws, domain).await.unwrap();
    (ws, tenant)
}

pub(crate) async fn world(db: TestDb) -> World {
    let store = SeaOrmStore::from_connection(db.conn.clone());
    let clock = TestClock::at(t0());
    let store_arc = Arc::new(store.clone());
    let service = OperationRunService::new(
        ServicePorts::from_store(store_arc).with_clock(clock.clone()),
        RunTypeRegistry::with_builtins(),
    );
    let (ws, tenant) = workspace_with_tenant(&store, "Contoso", "contoso.example").await;
    World {
        db,
        store,
        clock,
        service,
        ws,
        tenant,
    }
}

impl World {
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Starts a new run (asserting it is new), optionally begins it, optionally completes it.
    async fn run(
        &self,
        ws: WorkspaceId,
        tenant: TenantId,
        run_type: &str,
        identity: Value,
        fate: Fate,
    ) -> OperationRun {
        let request = StartRequest::new(ws, run_type, "scheduler")
            .tenant(tenant)
            .identity(identity);
        let started = self.service.start(request).await.unwrap();
        assert!(!started.is_reused(), "expected a new run");
        let mut run = started.into_run();
        match fate {
            Fate::Queued => {}
            Fate::QueuedThen(outcome) => {
                run = self
                    .service
                    .complete(run.id(), outcome, FailureSummary::new())
                    .await
                    .unwrap();
            }
            Fate::Running => run = self.service.begin(run.id()).await.unwrap(),
            Fate::Completed(outcome) => {
                self.service.begin(run.id()).await.unwrap();
                run = self
                    .service
                    .complete(run.id(), outcome, FailureSummary::new())
                    .await
                    .unwrap();
            }
        }
        run
    }

    /// The id of a new run of the world's own workspace and tenant (see [`World::run`]).
    async fn own_run(&self, run_type: &str, identity: Value, fate: Fate) -> RunId {
        self.run(self.ws, self.tenant, run_type, identity, fate)
            .await
            .id()
    }

    /// Records `counts` on `run`, then completes it as succeeded.
    async fn count_then_succeed(&self, run: RunId, counts: &[(&str, i64)]) {
        self.service.record_progress(run, counts).await.unwrap();
        self.service
            .complete(run, RunOutcome::Succeeded, FailureSummary::new())
            .await
            .unwrap();
    }

    /// A new tenant, `domain`, of `ws`.
    async fn another_tenant(&self, ws: WorkspaceId, domain: &str) -> TenantId {
        self.store.create_tenant(ws, domain).await.unwrap()
    }

    /// A second workspace, Northwind, with its tenant `northwind.example`.
    async fn northwind(&self) -> (WorkspaceId, TenantId) {
        workspace_with_tenant(&self.store, "Northwind", "northwind.example").await
    }

    async fn count(&self, sql: &str) -> i64 {
        self.db.scalar_i64(sql).await.unwrap()
    }

    async fn stored(&self, id: RunId) -> StoredRun {
        stored_run(&self.db, id).await
    }

    /// Completes `run` after `later`, through the service; the row as stored, and when.
    async fn complete_later(
        &self,
        run: RunId,
        later: Duration,
        outcome: RunOutcome,
        failures: FailureSummary,
    ) -> (StoredRun, DateTime<Utc>) {
        let completed_at = self.clock.advance(later);
        self.service.complete(run, outcome, failures).await.unwrap();
        (self.stored(run).await, completed_at)
    }
}

#[derive(Debug, Clone, Copy)]
enum Fate {
    Queued,
    QueuedThen(RunOutcome),
    Running,
    Completed(RunOutcome),
}

/// The sets of a retention plan, each with its run, in the order given.
pub(crate) fn run_sets(pairs: &[(BackupSetId, RunId)]) -> Vec<RunSet> {
    pairs
        .iter()
        .map(|&(set, run)| RunSet { set, run })
        .collect()
}

pub(crate) fn secs(n: i64) -> Duration {
    Duration::seconds(n)
}

pub(crate) fn code(raw: &str) -> FailureCode {
    FailureCode::parse(raw).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Reading rows back with plain SQL, around the adapter.

pub(crate) async fn row(db: &TestDb, sql: &str) -> QueryResult {
    let sql = &*operation_runs_tests::sql_for(db.backend, sql);
    db.conn
        .query_one_raw(Statement::from_string(db.db_backend(), sql.to_owned()))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .unwrap_or_else(|| panic!("{sql}: no row"))
}

pub(crate) async fn rows(db: &TestDb, sql: &str) -> Vec<QueryResult> {
    operation_runs_tests::query_rows(&db.conn, sql).await
}

/// The first two columns of every row of `sql`, as `(A, B)`.
pub(crate) async fn column_pairs<A: TryGetable, B: TryGetable>(
    db: &TestDb,
    sql: &str,
) -> Vec<(A, B)> {
    rows(db, sql)
        .await
        .iter()
        .map(|r| {
            (
                r.try_get_by_index::<A>(0).unwrap(),
                r.try_get_by_index::<B>(1).unwrap(),
            )
        })
        .collect()
}

/// An `operation_runs` row as stored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredRun {
    run_type: String,
    status: String,
    outcome: String,
    tenant_id: Option<i64>,
    summary_counts: Value,
    /// `failure_summary` exactly as stored, as text.
    failure_text: String,
    failure_summary: Value,
    context: Value,
    started_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

pub(crate) async fn stored_run(db: &TestDb, id: RunId) -> StoredRun {
    let r = row(
        db,
        &format!(
            r#"SELECT "type", status, outcome, tenant_id, CAST(summary_counts AS TEXT),
                      CAST(failure_summary AS TEXT), CAST(context AS TEXT),
                      started_at, completed_at, created_at, updated_at
               FROM operation_runs WHERE id = {}"#,
            id.get()
        ),
    )
    .await;
    let text = |i: usize| r.try_get_by_index::<String>(i).unwrap();
    let json = |i: usize| serde_json::from_str::<Value>(&text(i)).unwrap();
    StoredRun {
        run_type: text(0),
        status: text(1),
        outcome: text(2),
        tenant_id: r.try_get_by_index(3).unwrap(),
        summary_counts: json(4),
        failure_text: text(5),
        failure_summary: json(5),
        context: json(6),
        started_at: r.try_get_by_index(7).unwrap(),
        completed_at: r.try_get_by_index(8).unwrap(),
        created_at: r.try_get_by_index(9).unwrap(),
        updated_at: r.try_get_by_index(10).unwrap(),
    }
}

pub(crate) async fn run_exists(db: &TestDb, id: RunId) -> bool {
    db.scalar_i64(&format!(
        "SELECT COUNT(*) FROM operation_runs WHERE id = {}",
        id.get()
    ))
    .await
        == Some(1)
}

on_every_backend!(migrated =>
    inventory_sync_job,
    entra_group_sync_partial_failure,
    drift_generation,
    schedule_life,
    monitoring,
    stale_runs_are_reaped,
);
