//! What every conformance module builds on: a fixture (a store with a workspace and a tenant),
//! run builders, and reads through the ports.

use chrono::{DateTime, TimeZone, Utc};
use operation_runs_domain::{
    BackupScheduleId, CountName, Failure, FailureCode, FailureSummary, IdentityHash,
    NewOperationRun, OperationRun, RunContext, RunId, RunOutcome, RunState, RunStatus, RunType,
    SummaryCounts, TenantId, Transition, UserId, WorkspaceId,
};
use operation_runs_ports::{RunFilter, RunListQuery, RunStore, SeenItem};
use operation_runs_tests::TestStore;
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
            .transition(run.id(), run.status(), &next, now)
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
            .transition(run.id(), run.status(), &next, now)
            .await
            .unwrap()
    }

    /// Every run of `ws`, newest first.
    pub async fn runs_in(&self, ws: WorkspaceId) -> Vec<OperationRun> {
        let page = self
            .store
            .list(&RunListQuery {
                workspace_id: ws,
                filter: RunFilter::default(),
                after: None,
                limit: 10_000,
            })
            .await
            .unwrap();
        assert!(page.next.is_none());
        page.runs
    }

    /// How many runs the workspaces hold together.
    pub async fn count_runs(&self, workspaces: &[WorkspaceId]) -> usize {
        let mut n = 0;
        for ws in workspaces {
            n += self.runs_in(*ws).await.len();
        }
        n
    }

    pub async fn list_all(&self, filter: RunFilter) -> Vec<RunId> {
        let page = self
            .store
            .list(&RunListQuery {
                workspace_id: self.ws,
                filter,
                after: None,
                limit: 1000,
            })
            .await
            .unwrap();
        assert!(page.next.is_none());
        page.runs.iter().map(OperationRun::id).collect()
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
        outcome: run.outcome(),
    }
}

/// What the reaper writes for `run` at `now`.
pub fn reaped_state(run: &OperationRun, now: DateTime<Utc>) -> RunState {
    let mut next = run
        .next_state(Transition::Complete(RunOutcome::Failed), now)
        .unwrap();
    next.failure_summary = FailureSummary::single(Failure::new(
        FailureCode::parse(FailureCode::RUN_STALE).unwrap(),
        "no heartbeat",
    ));
    next
}

pub fn seen(external_id: &str, name: &str) -> SeenItem {
    SeenItem {
        external_id: external_id.into(),
        kind: "device".into(),
        display_name: name.into(),
    }
}
