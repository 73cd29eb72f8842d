//! The world the schedule tests run in: the in-memory store (`operation-runs-memory`, the
//! backend that passes the conformance suite) seen through a probe that records every call to
//! the ports the schedule code uses, can make any of them fail, and can let another process act
//! between two steps. Any state is seeded directly, with the ids the tests name.
#![allow(dead_code)]

mod probe;

use chrono::{DateTime, Duration, TimeZone, Utc};
use operation_runs_domain::{
    BackupScheduleId, BackupSetId, IdentityHash, Membership, OperationRun, RunContext, RunId,
    RunOutcome, RunStatus, RunType, RunTypeRegistry, TenantId, Transition, UserId, WorkspaceId,
};
use operation_runs_memory::MemoryStore;
use operation_runs_ports::testing::RunBuilder;
use operation_runs_ports::{BackupSchedule, BackupSet, Clock, RunCursor, RunLifecycle, RunQueries};
use operation_runs_schedule_history::{ScheduleHistory, ScheduleOperations, SchedulePorts};
use operation_runs_service::{OperationRunService, ServicePorts};
pub use probe::Probe;
use std::sync::Arc;

pub const WS: WorkspaceId = WorkspaceId::new(1);
pub const OTHER_WS: WorkspaceId = WorkspaceId::new(2);
pub const TENANT: TenantId = TenantId::new(10);
pub const SCHEDULE: BackupScheduleId = BackupScheduleId::new(7);
/// A schedule of [`OTHER_WS`].
pub const FOREIGN_SCHEDULE: BackupScheduleId = BackupScheduleId::new(8);

pub fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 2, 1, 3, 0, 0).unwrap()
}

/// "Now" of every test: 100 days after [`base`].
pub fn now() -> DateTime<Utc> {
    base() + Duration::days(100)
}

/// The count `name` in `run`'s (readable) summary counts.
pub fn count(run: &OperationRun, name: &str) -> u64 {
    run.summary_counts().readable().unwrap().get_str(name)
}

/// The code of `run`'s first failure.
pub fn first_failure_code(run: &OperationRun) -> String {
    run.failure_summary().readable().unwrap().failures()[0]
        .code()
        .as_str()
        .to_owned()
}

/// Asserts that `run`'s first failure has `code` and that its message keeps `secret` out.
#[track_caller]
pub fn assert_first_failure_hides(run: &OperationRun, code: &str, secret: &str) {
    let failure = &run.failure_summary().readable().unwrap().failures()[0];
    assert_eq!(failure.code().as_str(), code);
    assert!(!failure.message().contains(secret), "{}", failure.message());
}

/// Asserts that `run`'s context says it ran for [`SCHEDULE`], for the time `scheduled_for`, on
/// the schedule's trigger.
#[track_caller]
pub fn assert_scheduled_context(run: &OperationRun, scheduled_for: DateTime<Utc>) {
    let context = run.context().readable().unwrap();
    assert_eq!(context.backup_schedule_id(), Some(SCHEDULE));
    assert_eq!(context.scheduled_for(), Some(scheduled_for));
    assert_eq!(context.trigger(), Some("schedule"));
}

/// The write methods of the ports, as the probe names them.
pub const WRITES: [&str; 8] = [
    "insert_or_get_active",
    "transition",
    "increment_counts",
    "merge_context",
    "purge_schedule_history",
    "create_set",
    "soft_delete_sets",
    "purge_sets",
];

struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        now()
    }
}

#[derive(Clone)]
pub struct World {
    pub store: MemoryStore,
    pub probe: Probe,
    schedule: BackupSchedule,
}

impl World {
    /// Workspaces [`WS`] and [`OTHER_WS`], a tenant in each, and [`SCHEDULE`] (of `WS`) and
    /// [`FOREIGN_SCHEDULE`] (of `OTHER_WS`) keeping `keep_last` sets.
    pub fn new(keep_last: u32) -> Self {
        let store = MemoryStore::new();
        let other_tenant = TenantId::new(20);
        store.put_workspace(WS, "Contoso");
        store.put_workspace(OTHER_WS, "Fabrikam");
        store.put_tenant(TENANT, WS);
        store.put_tenant(other_tenant, OTHER_WS);
        let schedule = |id, workspace_id, tenant_id, name: &str| BackupSchedule {
            id,
            workspace_id,
            tenant_id,
            name: name.into(),
            keep_last,
        };
        store.put_schedule(schedule(
            FOREIGN_SCHEDULE,
            OTHER_WS,
            other_tenant,
            "elsewhere",
        ));
        let schedule = schedule(SCHEDULE, WS, TENANT, "nightly");
        store.put_schedule(schedule.clone());
        let probe = Probe::new(store.clone());
        Self {
            store,
            probe,
            schedule,
        }
    }

    /// Makes a port method fail with a backend error carrying `message`.
    pub fn fail(&self, method: &'static str, message: &str) {
        self.probe.fail(method, message);
    }

    /// Every method stops failing.
    pub fn heal(&self) {
        self.probe.heal();
    }

    /// Every port method called so far, in order.
    pub fn calls(&self) -> Vec<&'static str> {
        self.probe.calls()
    }

    /// Runs `then` once, right after the next `latest_completed_with_identity` answered: what
    /// another process does between a look-up and the next step.
    pub fn after_latest_completed(&self, then: impl FnOnce(&World) + Send + 'static) {
        let world = self.clone();
        self.probe
            .after_latest_completed(Box::new(move || then(&world)));
    }

    /// `(after, limit)` of every `schedule_history` call.
    pub fn history_pages(&self) -> Vec<(Option<RunCursor>, u32)> {
        self.probe.history_pages()
    }

    /// The batch size of every `purge_schedule_history` call.
    pub fn purge_batches(&self) -> Vec<u32> {
        self.probe.purge_batches()
    }

    /// Seeds a `backup_schedule_run` of [`SCHEDULE`] (ids grow, so later seeds are newer).
    pub fn backup(&self, status: RunStatus, outcome: RunOutcome, set: Option<i64>) -> RunId {
        let mut context = RunContext::new().with_backup_schedule_id(SCHEDULE);
        if let Some(set) = set {
            context = context.with_backup_set_id(BackupSetId::new(set));
        }
        self.seed(RunType::BACKUP_SCHEDULE_RUN, status, outcome, context)
    }

    pub fn succeeded(&self, set: i64) -> RunId {
        self.backup(RunStatus::Completed, RunOutcome::Succeeded, Some(set))
    }

    pub fn seed(
        &self,
        run_type: RunType,
        status: RunStatus,
        outcome: RunOutcome,
        context: RunContext,
    ) -> RunId {
        self.seed_with_identity(run_type, status, outcome, context, None)
    }

    /// [`World::seed`] with the given identity inputs (default: unique to the run), created
    /// `id` hours after [`base`].
    pub fn seed_with_identity(
        &self,
        run_type: RunType,
        status: RunStatus,
        outcome: RunOutcome,
        context: RunContext,
        identity: Option<serde_json::Value>,
    ) -> RunId {
        let id = RunId::new(self.store.runs().last().map_or(1, |r| r.id().get() + 1));
        let identity = identity.unwrap_or_else(|| serde_json::json!({"seed": id.get()}));
        let created = base() + Duration::hours(id.get());
        let hash = IdentityHash::compute(WS, Some(TENANT), &run_type, &identity).unwrap();
        let run = RunBuilder::new(id, WS, &run_type, hash, created)
            .tenant(Some(TENANT))
            .context(context);
        let run = match status {
            RunStatus::Queued => run,
            RunStatus::Running => run.running(),
            RunStatus::Completed => run.completed(outcome).completed_at(created),
        };
        self.store.put_run(run.record());
        id
    }

    /// Completes a stored run with `outcome`, as another worker would.
    pub fn complete(&self, id: RunId, outcome: RunOutcome) {
        let mut record = self.run(id).record().clone();
        let next = self
            .run(id)
            .next_state(Transition::Complete(outcome), now())
            .unwrap();
        record.set_state(next);
        self.store.put_run(record);
    }

    /// Seeds a backup set of [`SCHEDULE`] with a given id.
    pub fn set(&self, id: i64, deleted_at: Option<DateTime<Utc>>) {
        self.store.put_set(BackupSet {
            id: BackupSetId::new(id),
            schedule_id: SCHEDULE,
            name: format!("set {id}"),
            item_count: 1,
            created_at: base(),
            deleted_at,
        });
    }

    /// Makes `user` a member of [`WS`].
    pub fn member(&self, user: UserId, can_view_operations: bool) {
        self.store.put_membership(
            WS,
            user,
            Membership {
                can_view_operations,
                can_manage_operations: false,
            },
        );
    }

    pub fn runs(&self) -> Vec<OperationRun> {
        self.store.runs()
    }

    pub fn sets(&self) -> Vec<BackupSet> {
        self.store.sets()
    }

    /// [`SCHEDULE`] as seeded.
    pub fn schedule(&self) -> BackupSchedule {
        self.schedule.clone()
    }

    pub fn run(&self, id: RunId) -> OperationRun {
        self.runs().into_iter().find(|r| r.id() == id).unwrap()
    }

    pub fn runs_of(&self, run_type: &RunType) -> Vec<OperationRun> {
        self.runs()
            .into_iter()
            .filter(|r| r.is_type(run_type))
            .collect()
    }

    pub fn deleted_sets(&self) -> Vec<i64> {
        self.sets()
            .iter()
            .filter(|s| s.deleted_at.is_some())
            .map(|s| s.id.get())
            .collect()
    }

    /// The run service over `lifecycle` and `queries`, the directory of the store, at [`now`].
    pub fn service_over(
        &self,
        lifecycle: Arc<dyn RunLifecycle>,
        queries: Arc<dyn RunQueries>,
    ) -> OperationRunService {
        let ports = ServicePorts {
            lifecycle,
            queries,
            ..ServicePorts::from_store(Arc::new(self.store.clone()))
        };
        OperationRunService::new(
            ports.with_clock(Arc::new(FixedClock)),
            RunTypeRegistry::with_builtins(),
        )
    }

    /// The run service over the probe.
    pub fn service(&self) -> OperationRunService {
        let probe = Arc::new(self.probe.clone());
        self.service_over(probe.clone(), probe)
    }

    /// The schedule ports over the probe.
    pub fn schedule_ports(&self) -> SchedulePorts {
        let probe = Arc::new(self.probe.clone());
        SchedulePorts {
            history: probe.clone(),
            backups: probe,
        }
    }

    /// The read side over the probe.
    pub fn history(&self) -> ScheduleHistory {
        ScheduleHistory::new(self.service(), self.schedule_ports())
    }

    /// Operations over the probe, reading histories in pages of `page_size`.
    pub fn ops(&self, page_size: u32) -> ScheduleOperations {
        ScheduleOperations::new(self.service(), self.schedule_ports())
            .with_walk_page_size(page_size)
    }
}
