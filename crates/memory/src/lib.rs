#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod records;
mod runs;

use chrono::{DateTime, SubsecRound, Utc};
use operation_runs_domain::{
    BackupScheduleId, BackupSetId, FindingId, InventoryItemId, Membership, OperationRun, RunId,
    RunRecord, TenantId, UserId, WorkspaceId,
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
    /// The last id handed out, shared by every table (ids only need to be unique per table
    /// and growing, as a database's are).
    last_id: i64,
}

impl State {
    fn next_id(&mut self) -> i64 {
        self.last_id += 1;
        self.last_id
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

/// A time as the databases keep it: to the microsecond.
fn stored_time(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

/// A stored record as a run; a record this store wrote is always consistent, so a failure here
/// is a bug reported as a backend failure rather than a panic.
fn to_run(record: &RunRecord) -> Result<OperationRun, PortError> {
    OperationRun::from_record(record.clone()).map_err(PortError::backend)
}
