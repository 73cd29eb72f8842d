//! Values the ports exchange.

use chrono::{DateTime, Utc};
use operation_runs_domain::{
    BackupScheduleId, BackupSetId, FindingId, InventoryItemId, OperationRun, RunId, RunOutcome,
    RunStatus, RunType, TenantId, WorkspaceId,
};

/// What [`crate::RunLifecycle::insert_or_get_active`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartedRun {
    /// The inserted run, or the active run of the same identity.
    pub run: OperationRun,
    /// `true` if the run already existed.
    pub reused: bool,
}

/// Keyset position: the id of the last run of the previous page (pages go newest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunCursor(pub RunId);

impl RunCursor {
    /// The opaque text form handed to clients.
    #[must_use]
    pub fn encode(self) -> String {
        format!("r{}", self.0.get())
    }

    /// Parses [`RunCursor::encode`]'s output.
    #[must_use]
    pub fn decode(text: &str) -> Option<Self> {
        text.strip_prefix('r')?
            .parse()
            .ok()
            .map(|id| Self(RunId::new(id)))
    }
}

/// Filters of the monitoring list; `None` means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFilter {
    /// Stored type (exact).
    pub run_type: Option<String>,
    /// Status.
    pub status: Option<RunStatus>,
    /// Outcome.
    pub outcome: Option<RunOutcome>,
    /// Tenant.
    pub tenant_id: Option<TenantId>,
    /// Created at or after.
    pub created_from: Option<DateTime<Utc>>,
    /// Created strictly before.
    pub created_before: Option<DateTime<Utc>>,
}

/// A page request of a workspace's runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunListQuery {
    /// The workspace.
    pub workspace_id: WorkspaceId,
    /// Filters.
    pub filter: RunFilter,
    /// Runs strictly older (smaller id) than this; `None` for the first page.
    pub after: Option<RunCursor>,
    /// Runs strictly newer (larger id) than this: the page just before the one whose last
    /// run this names, walking back towards the newest runs. `None` walks towards older runs.
    pub newer_than: Option<RunCursor>,
    /// Page size (at least 1).
    pub limit: u32,
}

/// A page of runs, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunPage {
    /// The runs.
    pub runs: Vec<OperationRun>,
    /// The cursor to continue in the query's direction, `None` when nothing is left there:
    /// older runs (`after`) normally; newer runs (`newer_than`) for a query walking back.
    pub next: Option<RunCursor>,
}

/// A count that stops at a cap, so counting a huge table stays cheap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CappedCount {
    /// Exactly this many.
    Exact(u64),
    /// More than this many (the cap); how many more was not counted.
    MoreThan(u64),
}

impl CappedCount {
    /// `counted` rows, of which at most `cap + 1` were read, as a capped count.
    #[must_use]
    pub fn of(counted: u64, cap: u32) -> Self {
        let cap = u64::from(cap);
        if counted > cap {
            Self::MoreThan(cap)
        } else {
            Self::Exact(counted)
        }
    }
}

/// How many runs of a workspace's list have each status, each counted up to a cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusCounts {
    /// Queued runs.
    pub queued: CappedCount,
    /// Running runs.
    pub running: CappedCount,
    /// Completed runs.
    pub completed: CappedCount,
}

/// A page request of one backup schedule's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleHistoryQuery {
    /// The schedule's workspace (history never crosses workspaces).
    pub workspace_id: WorkspaceId,
    /// The schedule.
    pub schedule_id: BackupScheduleId,
    /// Which of the backup-schedule types; must be non-empty.
    pub run_types: Vec<RunType>,
    /// Outcomes to include; empty means any.
    pub outcomes: Vec<RunOutcome>,
    /// Runs strictly older than this; `None` for the first page.
    pub after: Option<RunCursor>,
    /// Page size (at least 1).
    pub limit: u32,
}

/// Which runs of a schedule's history may be purged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPurgeCriteria {
    /// The schedule's workspace.
    pub workspace_id: WorkspaceId,
    /// The schedule.
    pub schedule_id: BackupScheduleId,
    /// Only runs created strictly before this.
    pub created_before: DateTime<Utc>,
}

/// An item an inventory sync observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenItem {
    /// The item's id in the tenant's directory.
    pub external_id: String,
    /// What it is (e.g. `device`, `policy`).
    pub kind: String,
    /// Display name.
    pub display_name: String,
}

/// An inventory item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryItem {
    /// Id.
    pub id: InventoryItemId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// The item's id in the tenant's directory.
    pub external_id: String,
    /// What it is.
    pub kind: String,
    /// Display name.
    pub display_name: String,
    /// The canonical run that saw it last.
    pub last_seen_operation_run_id: Option<RunId>,
}

/// A drift finding to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFinding {
    /// Workspace.
    pub workspace_id: WorkspaceId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// The completed `inventory_sync` run compared against.
    pub baseline_operation_run_id: RunId,
    /// The newer completed `inventory_sync` run.
    pub current_operation_run_id: RunId,
    /// The drifted item's external id.
    pub subject_external_id: String,
    /// `added`, `removed`, `changed`, …
    pub change: String,
    /// Details of the change.
    pub details: serde_json::Value,
}

impl NewFinding {
    /// The finding as a store keeps it under `id`.
    #[must_use]
    pub fn stored_as(&self, id: FindingId) -> Finding {
        Finding {
            id,
            workspace_id: self.workspace_id,
            tenant_id: self.tenant_id,
            baseline_operation_run_id: Some(self.baseline_operation_run_id),
            current_operation_run_id: Some(self.current_operation_run_id),
            subject_external_id: self.subject_external_id.clone(),
            change: self.change.clone(),
            details: self.details.clone(),
        }
    }
}

/// A stored finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Id.
    pub id: FindingId,
    /// Workspace.
    pub workspace_id: WorkspaceId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Baseline run (null once that run is purged).
    pub baseline_operation_run_id: Option<RunId>,
    /// Current run (null once that run is purged).
    pub current_operation_run_id: Option<RunId>,
    /// The drifted item's external id.
    pub subject_external_id: String,
    /// Kind of change.
    pub change: String,
    /// Details.
    pub details: serde_json::Value,
}

/// A backup schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSchedule {
    /// Id.
    pub id: BackupScheduleId,
    /// Workspace.
    pub workspace_id: WorkspaceId,
    /// Tenant backed up.
    pub tenant_id: TenantId,
    /// Display name.
    pub name: String,
    /// Retention: keep the sets of this many newest successful runs (0: retention off).
    pub keep_last: u32,
}

/// A backup set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSet {
    /// Id.
    pub id: BackupSetId,
    /// The schedule that made it.
    pub schedule_id: BackupScheduleId,
    /// Display name.
    pub name: String,
    /// How many items it holds.
    pub item_count: u64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Soft-deletion time.
    pub deleted_at: Option<DateTime<Utc>>,
}
