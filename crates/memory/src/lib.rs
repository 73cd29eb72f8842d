#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod records;
mod runs;

use chrono::{DateTime, SubsecRound, Utc};
use operation_runs_domain::{
    BackupScheduleId, BackupSetId, FindingId, InventoryItemId, Membership, OperationRun,
    RunColumns, RunId, RunRecord, TenantId, UserId, WorkspaceId,
};
use operation_runs_ports::{BackupSchedule, BackupSet, Finding, InventoryItem, PortError};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Every port of Operation Runs, in memory; see the crate documentation.
///
/// Cheap to clone: clones share the data.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
}

/// What the store holds; every map is keyed by id, so iteration is in id order.
#[derive(Debug, Default)]
struct State {
    workspaces: BTreeMap<WorkspaceId, String>,
    tenants: BTreeMap<TenantId, WorkspaceId>,
    /// Tenant names, only read by the provisioning look-ups.
    tenant_names: BTreeMap<TenantId, String>,
    memberships: BTreeMap<(WorkspaceId, UserId), Membership>,
    runs: BTreeMap<RunId, RunRecord>,
    items: BTreeMap<InventoryItemId, InventoryItem>,
    findings: BTreeMap<FindingId, Finding>,
    schedules: BTreeMap<BackupScheduleId, BackupSchedule>,
    sets: BTreeMap<BackupSetId, BackupSet>,
    /// The last id handed out or stored, per table: each table has its own sequence, as in a
    /// database.
    last_ids: BTreeMap<Table, i64>,
}

/// The tables whose ids the store generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Table {
    Workspaces,
    Tenants,
    Runs,
    Items,
    Findings,
    Schedules,
    Sets,
}

impl State {
    fn next_id(&mut self, table: Table) -> i64 {
        let last = self.last_ids.entry(table).or_insert(0);
        *last += 1;
        *last
    }

    /// Keeps generated ids above an id given by a caller.
    fn reserve_id(&mut self, table: Table, id: i64) {
        let last = self.last_ids.entry(table).or_insert(0);
        *last = (*last).max(id);
    }

    fn run(&self, id: RunId) -> Result<&RunRecord, PortError> {
        self.runs.get(&id).ok_or(PortError::NotFound)
    }
}

impl MemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The data, locked. A panic while the lock was held (a test's) leaves consistent data
    /// behind, since every change is made in full before the lock is released; so a poisoned
    /// lock is taken over rather than failing every later call.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A time as the databases keep it: to the microsecond. Every time a call is given, stored or
/// compared with stored times as a bound, goes through this first, as in the SQL store.
fn stored_time(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

/// A stored record as a run, read as the SQL stores read a row (see
/// [`OperationRun::from_record`]).
fn to_run(record: &RunRecord) -> OperationRun {
    OperationRun::from_record(record.clone())
}

/// Stored state set or read directly, for tests that start from a given state: rows keep the
/// ids given (later generated ids stay above them), and nothing is checked but what makes a
/// row readable.
impl MemoryStore {
    /// Stores (or replaces) a workspace with this id.
    pub fn put_workspace(&self, id: WorkspaceId, name: &str) {
        let mut state = self.state();
        state.reserve_id(Table::Workspaces, id.get());
        state.workspaces.insert(id, name.to_owned());
    }

    /// Stores (or replaces) a tenant of a workspace.
    pub fn put_tenant(&self, id: TenantId, workspace: WorkspaceId) {
        let mut state = self.state();
        state.reserve_id(Table::Tenants, id.get());
        state.tenants.insert(id, workspace);
    }

    /// Stores (or replaces) a membership.
    pub fn put_membership(&self, workspace: WorkspaceId, user: UserId, membership: Membership) {
        self.state()
            .memberships
            .insert((workspace, user), membership);
    }

    /// Stores (or replaces) a backup schedule.
    pub fn put_schedule(&self, schedule: BackupSchedule) {
        let mut state = self.state();
        state.reserve_id(Table::Schedules, schedule.id.get());
        state.schedules.insert(schedule.id, schedule);
    }

    /// Stores (or replaces) a backup set.
    pub fn put_set(&self, set: BackupSet) {
        let mut state = self.state();
        state.reserve_id(Table::Sets, set.id.get());
        state.sets.insert(set.id, set);
    }

    /// Stores (or replaces) a run in any state, as if a worker had written it, and returns it
    /// as it reads back.
    pub fn put_run(&self, record: RunRecord) -> OperationRun {
        let run = to_run(&record);
        let mut state = self.state();
        state.reserve_id(Table::Runs, record.id.get());
        state.runs.insert(record.id, record);
        run
    }

    /// Stores (or replaces) a run from the columns of a row, which may break today's rules as
    /// rows the legacy product wrote do; it reads back as a SQL store reads that row.
    pub fn put_run_columns(&self, columns: RunColumns) -> OperationRun {
        self.put_run(RunRecord::from_columns(columns))
    }

    /// Every stored run, by id.
    #[must_use]
    pub fn runs(&self) -> Vec<OperationRun> {
        self.state().runs.values().map(to_run).collect()
    }

    /// Every stored backup set, by id.
    #[must_use]
    pub fn sets(&self) -> Vec<BackupSet> {
        self.state().sets.values().cloned().collect()
    }
}
