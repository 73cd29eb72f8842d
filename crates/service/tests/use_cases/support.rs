//! Builders and mock wiring shared by the use-case tests.

use chrono::{DateTime, Duration, TimeZone, Utc};
use operation_runs_domain::{CountError, RunStatus, TransitionError};
use operation_runs_domain::{
    CountName, Failure, FailureCode, FailureSummary, IdentityHash, Membership, NewOperationRun,
    OperationRun, RunId, RunRecord, RunScope, RunState, RunType, RunTypeDescriptor,
    RunTypeRegistry, Stored, SummaryCounts, TenantId, WorkspaceId,
};
use operation_runs_ports::testing::RunBuilder;
use operation_runs_ports::{
    MockClock, MockFindingRepository, MockInventoryRepository, MockRunLifecycle, MockRunQueries,
    MockWorkspaceDirectory, PortError, StartedRun,
};
use operation_runs_service::{OperationRunService, ServiceError, ServicePorts};
use std::sync::Arc;

pub const WS: WorkspaceId = WorkspaceId::new(1);
pub const OTHER_WS: WorkspaceId = WorkspaceId::new(2);
pub const TENANT: TenantId = TenantId::new(10);
pub const OTHER_TENANT: TenantId = TenantId::new(11);
/// A workspace-scoped type the tests register on top of the built-ins.
pub const WORKSPACE_REPORT: &str = "workspace_report";

/// The fixed "now" of every test.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

pub fn hours_ago(hours: i64) -> DateTime<Utc> {
    now() - Duration::hours(hours)
}

/// A membership with the given capabilities.
pub fn member(view: bool, manage: bool) -> Option<Membership> {
    Some(Membership {
        can_view_operations: view,
        can_manage_operations: manage,
    })
}

/// An `inventory_sync` run of [`TENANT`] in [`WS`], queued, created an hour ago, with an
/// identity of its own: `run(7).running().build()`.
pub fn run(id: i64) -> RunBuilder {
    RunBuilder::new(
        RunId::new(id),
        WS,
        &RunType::INVENTORY_SYNC,
        IdentityHash::parse(&format!("{id:064x}")).unwrap(),
        hours_ago(1),
    )
    .tenant(Some(TENANT))
}

/// Counts from `(name, value)` pairs.
pub fn counts(pairs: &[(&str, u64)]) -> SummaryCounts {
    pairs
        .iter()
        .map(|(name, value)| (CountName::parse(name).unwrap(), *value))
        .collect()
}

/// The failures of a run whose device 12 did not answer (code `device_unreachable`).
pub fn device_unreachable() -> FailureSummary {
    FailureSummary::single(Failure::new(
        FailureCode::parse("device_unreachable").unwrap(),
        "device 12 did not answer",
    ))
}

/// What a store returns after a successful compare-and-set.
pub fn with_state(run: &OperationRun, next: &RunState, at: DateTime<Utc>) -> OperationRun {
    let mut record = run.record().clone();
    record.set_state(next.clone());
    record.updated_at = at;
    OperationRun::from_record(record)
}

/// `record` with `delta` added to its (readable) counts.
pub fn add_counts(mut record: RunRecord, delta: &SummaryCounts) -> RunRecord {
    let mut counts = record.summary_counts.readable().unwrap().clone();
    counts.merge(delta).unwrap();
    record.summary_counts = Stored::Readable(counts);
    record
}

/// What a store returns after inserting `new` as run `id`.
pub fn inserted(id: i64, new: &NewOperationRun) -> OperationRun {
    OperationRun::from_record(RunRecord::queued(RunId::new(id), new))
}

pub fn started(run: OperationRun, reused: bool) -> StartedRun {
    StartedRun { run, reused }
}

/// Asserts that `err` refuses, as illegal, a transition out of `from`.
#[track_caller]
pub fn assert_illegal_from(err: &ServiceError, from: RunStatus) {
    assert!(
        matches!(err, ServiceError::Transition(TransitionError::Illegal { from: f, .. }) if *f == from),
        "{err:?}"
    );
}

/// Asserts that `err` refuses to change a completed run.
#[track_caller]
pub fn assert_already_completed(err: &ServiceError) {
    assert!(
        matches!(
            err,
            ServiceError::Transition(TransitionError::AlreadyCompleted)
        ),
        "{err:?}"
    );
}

/// Asserts that `err` refuses counts because the count `name` would overflow.
#[track_caller]
pub fn assert_count_overflow(err: &ServiceError, name: &str) {
    assert!(
        matches!(err, ServiceError::InvalidCounts(CountError::Overflow(n)) if n == name),
        "{err:?}"
    );
}

/// The write methods of the ports, for [`Mocks::forbid_writes_except`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    InsertOrGetActive,
    Transition,
    TransitionWithCounts,
    CompleteIfStale,
    IncrementCounts,
    UpsertSeen,
    InsertFindings,
}

/// One mock per port and a clock fixed at [`now`].
pub struct Mocks {
    pub lifecycle: MockRunLifecycle,
    pub queries: MockRunQueries,
    pub directory: MockWorkspaceDirectory,
    pub inventory: MockInventoryRepository,
    pub findings: MockFindingRepository,
}

impl Mocks {
    pub fn new() -> Self {
        Self {
            lifecycle: MockRunLifecycle::new(),
            queries: MockRunQueries::new(),
            directory: MockWorkspaceDirectory::new(),
            inventory: MockInventoryRepository::new(),
            findings: MockFindingRepository::new(),
        }
    }

    /// Mocks where `run` is read exactly once.
    pub fn reading(run: &OperationRun) -> Self {
        let mut mocks = Self::new();
        mocks.expect_get(run);
        mocks
    }

    /// `get(id)` returns `run` exactly once.
    pub fn expect_get(&mut self, run: &OperationRun) -> &mut Self {
        let returned = run.clone();
        self.queries
            .expect_get()
            .with(mockall::predicate::eq(run.id()))
            .times(1)
            .returning(move |_| Ok(returned.clone()));
        self
    }

    /// `get` fails with `error` exactly once.
    pub fn expect_get_fails(&mut self, error: PortError) -> &mut Self {
        let mut error = Some(error);
        self.queries
            .expect_get()
            .times(1)
            .returning(move |_| Err(error.take().unwrap()));
        self
    }

    /// `membership(workspace, _)` returns `membership` exactly once.
    pub fn expect_membership(
        &mut self,
        workspace: WorkspaceId,
        membership: Option<Membership>,
    ) -> &mut Self {
        self.directory
            .expect_membership()
            .withf(move |ws, _| *ws == workspace)
            .times(1)
            .returning(move |_, _| Ok(membership));
        self
    }

    /// Every write method of every port must never be called.
    pub fn forbid_writes(&mut self) -> &mut Self {
        self.forbid_writes_except(&[])
    }

    /// Every write method except `allowed` must never be called; set the allowed ones' own
    /// expectations before this (mockall tries expectations in the order they were set).
    pub fn forbid_writes_except(&mut self, allowed: &[Write]) -> &mut Self {
        macro_rules! never_unless_allowed {
            ($($write:ident: $port:ident.$expect:ident),+) => {$(
                if !allowed.contains(&Write::$write) {
                    self.$port.$expect().never();
                }
            )+};
        }
        never_unless_allowed!(
            InsertOrGetActive: lifecycle.expect_insert_or_get_active,
            Transition: lifecycle.expect_transition,
            CompleteIfStale: lifecycle.expect_complete_if_stale,
            TransitionWithCounts: lifecycle.expect_transition_with_counts,
            IncrementCounts: lifecycle.expect_increment_counts,
            UpsertSeen: inventory.expect_upsert_seen,
            InsertFindings: findings.expect_insert_findings
        );
        self
    }

    /// The service over these mocks, with the built-in types and [`WORKSPACE_REPORT`].
    pub fn service(self) -> OperationRunService {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(now());
        let mut registry = RunTypeRegistry::with_builtins();
        registry
            .register(RunTypeDescriptor::new(
                RunType::parse(WORKSPACE_REPORT).unwrap(),
                RunScope::Workspace,
            ))
            .unwrap();
        OperationRunService::new(
            ServicePorts {
                lifecycle: Arc::new(self.lifecycle),
                queries: Arc::new(self.queries),
                directory: Arc::new(self.directory),
                inventory: Arc::new(self.inventory),
                findings: Arc::new(self.findings),
                clock: Arc::new(clock),
            },
            registry,
        )
    }
}
