//! What every conformance module builds on: a fixture (a store with a workspace and a tenant),
//! run builders, and reads through the ports.

use chrono::{DateTime, TimeZone, Utc};
use operation_runs_domain::{
    BackupScheduleId, CountName, Failure, FailureCode, FailureSummary, IdentityHash,
    NewOperationRun, OperationRun, RunContext, RunId, RunOutcome, RunState, RunStatus, RunType,
    RunTypeRegistry, SummaryCounts, TenantId, Transition, UserId, WorkspaceId,
};
use operation_runs_ports::{
    BackupSchedule, HistoryPurgeCriteria, PortError, RunCursor, RunFilter, RunListQuery, RunPage,
    RunStore, SeenItem,
};
use operation_runs_tests::{TestStore, newest_page, runs_of};
use serde_json::json;
use std::sync::Arc;

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 2, 12, 10, 0, 0).unwrap()
}

/// A store with a workspace and one of its tenants, seeded through the ports.
pub struct Fixture {
    /// The backend (kept alive for the test; the SQL-only tests reach its database).
    #[allow(dead_code)]
    pub harness: TestStore,
    pub store: Arc<dyn RunStore>,
    pub ws: WorkspaceId,
    pub tenant: TenantId,
}

pub async fn fixture(harness: TestStore) -> Fixture {
    let store = harness.store.clone();
    let ws = store.create_workspace("Contoso").await.unwrap();
    let tenant = store.create_tenant(ws, "contoso.example").await.unwrap();
    Fixture {
        harness,
        store,
        ws,
        tenant,
    }
}

pub fn new_run(
    ws: WorkspaceId,
    tenant: Option<TenantId>,
    run_type: RunType,
    identity: serde_json::Value,
    created_at: DateTime<Utc>,
) -> NewOperationRun {
    NewOperationRun {
        workspace_id: ws,
        tenant_id: tenant,
        user_id: Some(UserId::new(7)),
        initiator_name: "Ada".into(),
        identity_hash: IdentityHash::compute(ws, tenant, &run_type, &identity).unwrap(),
        run_type,
        summary_counts: SummaryCounts::new(),
        context: RunContext::new(),
        created_at,
    }
}

pub fn counts(pairs: &[(&str, u64)]) -> SummaryCounts {
    let mut c = SummaryCounts::new();
    for (name, value) in pairs {
        c.add(CountName::parse(name).unwrap(), *value).unwrap();
    }
    c
}

impl Fixture {
    pub async fn start(&self, new: &NewOperationRun) -> OperationRun {
        self.store.insert_or_get_active(new).await.unwrap().run
    }

    /// A fresh queued inventory sync of the fixture's tenant, unique by `n`.
    pub async fn queued(&self, n: i64, created_at: DateTime<Utc>) -> OperationRun {
        self.start(&new_run(
            self.ws,
            Some(self.tenant),
            RunType::INVENTORY_SYNC,
            json!({ "n": n }),
            created_at,
        ))
        .await
    }

    pub async fn begin(&self, run: &OperationRun, now: DateTime<Utc>) -> OperationRun {
        let next = run.next_state(Transition::Begin, now).unwrap();
        self.store
            .transition(run.id(), *run.status().readable().unwrap(), &next, now)
            .await
            .unwrap()
    }

    pub async fn complete(
        &self,
        run: &OperationRun,
        outcome: RunOutcome,
        now: DateTime<Utc>,
    ) -> OperationRun {
        let run = if run.status() == RunStatus::Queued && outcome.is_successful() {
            self.begin(run, now).await
        } else {
            run.clone()
        };
        let next = run.next_state(Transition::Complete(outcome), now).unwrap();
        self.store
            .transition(run.id(), *run.status().readable().unwrap(), &next, now)
            .await
            .unwrap()
    }

    /// Every run of `ws`, newest first.
    pub async fn runs_in(&self, ws: WorkspaceId) -> Vec<OperationRun> {
        runs_of(&self.store, ws, RunFilter::default()).await
    }

    /// How many runs the workspaces hold together.
    pub async fn count_runs(&self, workspaces: &[WorkspaceId]) -> usize {
        let mut n = 0;
        for ws in workspaces {
            n += self.runs_in(*ws).await.len();
        }
        n
    }

    /// A new workspace (Fabrikam) with a queued drift run created at [`t0`]: what the fixture
    /// workspace's lists and counts must never show. Returns that workspace.
    pub async fn run_in_another_workspace(&self) -> WorkspaceId {
        let ws2 = self.store.create_workspace("Fabrikam").await.unwrap();
        self.start(&new_run(
            ws2,
            None,
            RunType::DRIFT_GENERATE,
            json!({}),
            t0(),
        ))
        .await;
        ws2
    }

    /// The ids of the fixture workspace's runs that `filter` selects, newest first.
    pub async fn list_all(&self, filter: RunFilter) -> Vec<RunId> {
        let runs = runs_of(&self.store, self.ws, filter).await;
        runs.iter().map(OperationRun::id).collect()
    }

    /// One page of the fixture workspace's runs.
    pub async fn page(&self, after: Option<RunCursor>, limit: u32) -> RunPage {
        let query = RunListQuery {
            after,
            ..newest_page(self.ws, limit)
        };
        self.store.list(&query).await.unwrap()
    }

    /// A backup schedule of the fixture tenant keeping `keep_last` runs' sets.
    pub async fn schedule(&self, name: &str, keep_last: u32) -> BackupSchedule {
        self.store
            .create_backup_schedule(self.ws, self.tenant, name, keep_last)
            .await
            .unwrap()
    }

    /// Counts, then purges (in batches of 2), the history of `schedule` created before `cutoff`:
    /// what the count said and how many were purged.
    pub async fn purge_history(
        &self,
        schedule: BackupScheduleId,
        cutoff: DateTime<Utc>,
    ) -> (u64, u64) {
        let criteria = HistoryPurgeCriteria {
            workspace_id: self.ws,
            schedule_id: schedule,
            created_before: cutoff,
        };
        let counted = self
            .store
            .count_purgeable_schedule_history(&criteria)
            .await
            .unwrap();
        let purged = self
            .store
            .purge_schedule_history(&criteria, 2)
            .await
            .unwrap();
        (counted, purged)
    }

    /// Counts the sets of `schedule` purgeable before `deleted_before`, then purges them.
    pub async fn purge_sets(
        &self,
        schedule: BackupScheduleId,
        deleted_before: DateTime<Utc>,
    ) -> (u64, u64) {
        let counted = self
            .store
            .count_purgeable_sets(schedule, deleted_before)
            .await
            .unwrap();
        let purged = self
            .store
            .purge_sets(schedule, deleted_before)
            .await
            .unwrap();
        (counted, purged)
    }

    /// What the reaper does to `run` (as read, with its status then) found with a heartbeat
    /// before `cutoff`, at `now`.
    pub async fn reap(
        &self,
        run: &OperationRun,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<OperationRun, PortError> {
        let next = reaped_state(run, now);
        self.store
            .complete_if_stale(
                run.id(),
                *run.status().readable().unwrap(),
                cutoff,
                &next,
                now,
            )
            .await
    }

    /// Adds the named counts to `run` at `at`.
    pub async fn add(
        &self,
        run: RunId,
        pairs: &[(&str, u64)],
        at: DateTime<Utc>,
    ) -> Result<OperationRun, PortError> {
        // Every built-in type, as the service passes for the counts all of them declare.
        let types: Vec<RunType> = RunTypeRegistry::with_builtins()
            .iter()
            .map(|d| d.id().clone())
            .collect();
        self.add_as(run, &types, pairs, at).await
    }

    /// Adds the named counts to `run` at `at`, for a run of one of `run_types`.
    pub async fn add_as(
        &self,
        run: RunId,
        run_types: &[RunType],
        pairs: &[(&str, u64)],
        at: DateTime<Utc>,
    ) -> Result<OperationRun, PortError> {
        self.store
            .increment_counts(run, run_types, &counts(pairs), at)
            .await
    }

    /// Asserts that a guarded write was refused as a conflict and left the run as `unchanged`.
    pub async fn assert_refused(
        &self,
        result: Result<OperationRun, PortError>,
        unchanged: &OperationRun,
    ) {
        assert!(matches!(result, Err(PortError::Conflict(_))), "{result:?}");
        assert_eq!(&self.store.get(unchanged.id()).await.unwrap(), unchanged);
    }
}

/// A run of a schedule's history, as the history tests remember it.
pub struct HistoryRun {
    pub id: RunId,
    pub run_type: RunType,
    pub outcome: RunOutcome,
}

/// A run of `run_type` in the history of schedule `schedule`, completed with `outcome` if given.
pub async fn history_run(
    f: &Fixture,
    (ws, tenant): (WorkspaceId, Option<TenantId>),
    schedule: i64,
    run_type: RunType,
    n: i64,
    created_at: DateTime<Utc>,
    outcome: Option<RunOutcome>,
) -> HistoryRun {
    let mut new = new_run(ws, tenant, run_type.clone(), json!({ "n": n }), created_at);
    new.context = RunContext::new().with_backup_schedule_id(BackupScheduleId::new(schedule));
    let run = f.start(&new).await;
    let run = match outcome {
        Some(o) => f.complete(&run, o, created_at).await,
        None => run,
    };
    HistoryRun {
        id: run.id(),
        run_type,
        outcome: *run.outcome().readable().unwrap(),
    }
}

/// What the reaper writes for `run` at `now`.
pub fn reaped_state(run: &OperationRun, now: DateTime<Utc>) -> RunState {
    failed_with(
        run,
        RunOutcome::Failed,
        FailureCode::RUN_STALE,
        "no heartbeat",
        now,
    )
}

/// `run` completed with `outcome` at `at`, reporting one failure.
pub fn failed_with(
    run: &OperationRun,
    outcome: RunOutcome,
    code: &str,
    message: &str,
    at: DateTime<Utc>,
) -> RunState {
    let mut next = run.next_state(Transition::Complete(outcome), at).unwrap();
    next.failure_summary =
        FailureSummary::single(Failure::new(FailureCode::parse(code).unwrap(), message));
    next
}

pub fn seen(external_id: &str, name: &str) -> SeenItem {
    SeenItem {
        external_id: external_id.into(),
        kind: "device".into(),
        display_name: name.into(),
    }
}
