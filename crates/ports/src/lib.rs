#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod error;
mod model;

pub use error::PortError;
pub use model::*;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use operation_runs_domain::{
    BackupScheduleId, BackupSetId, IdentityHash, Membership, NewOperationRun, OperationRun,
    RunContext, RunId, RunOutcome, RunState, RunStatus, SummaryCounts, TenantId, UserId,
    WorkspaceId,
};

/// The canonical run store (`operation_runs`).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait OperationRunRepository: Send + Sync {
    /// Inserts a queued run unless a run of the same `(workspace_id, identity_hash)` is active
    /// (queued or running); then returns that active run with `reused: true`.
    ///
    /// This MUST be atomic against concurrent callers in other processes: exactly one of many
    /// concurrent starters of one identity inserts, the others get the same run back (a
    /// database-enforced uniqueness, never a check-then-insert).
    ///
    /// When `tenant_id` is set, the run is inserted only if that tenant belongs to
    /// `workspace_id`, checked as part of the same atomic insert, so callers need no look-up of
    /// their own before starting. (An active run of the identity names the same workspace and
    /// tenant, both being part of an [`IdentityHash`], and passed that check when it was
    /// inserted.)
    ///
    /// # Errors
    /// [`PortError::NotFound`] if the workspace does not exist, or `tenant_id` is set and that
    /// tenant does not exist or belongs to another workspace (nothing is written);
    /// [`PortError::Backend`] when the store fails.
    async fn insert_or_get_active(&self, new: &NewOperationRun) -> Result<StartedRun, PortError>;

    /// One run by id, whatever its workspace (callers check access).
    ///
    /// # Errors
    /// [`PortError::NotFound`] if there is no such run; [`PortError::Backend`] when the store fails.
    async fn get(&self, id: RunId) -> Result<OperationRun, PortError>;

    /// Compare-and-set: writes `next` (status, outcome, times, failures) and bumps `updated_at`
    /// to `now` only if the run's current status is `expected`.
    ///
    /// # Errors
    /// [`PortError::NotFound`] if there is no such run; [`PortError::Conflict`] if its status is no
    /// longer `expected` (nothing is written); [`PortError::Backend`] when the store fails.
    async fn transition(
        &self,
        id: RunId,
        expected: RunStatus,
        next: &RunState,
        now: DateTime<Utc>,
    ) -> Result<OperationRun, PortError>;

    /// Compare-and-set for the stale-run reaper: writes `next` and bumps `updated_at` to `now`
    /// like [`OperationRunRepository::transition`], but only if the run's status is still
    /// `expected` AND its heartbeat (`updated_at`) is still strictly older than
    /// `heartbeat_before`, both checked in the same atomic change.
    ///
    /// A heartbeat that arrives after the run was found stale (a progress update, a context
    /// merge) therefore makes this a [`PortError::Conflict`]: a run that is alive again is never
    /// completed by the reaper.
    ///
    /// # Errors
    /// [`PortError::NotFound`] if there is no such run; [`PortError::Conflict`] if its status is no
    /// longer `expected` or its heartbeat is at or after `heartbeat_before`;
    /// [`PortError::Backend`] when the store fails. Nothing is written on any error.
    async fn complete_if_stale(
        &self,
        id: RunId,
        expected: RunStatus,
        heartbeat_before: DateTime<Utc>,
        next: &RunState,
        now: DateTime<Utc>,
    ) -> Result<OperationRun, PortError>;

    /// Compare-and-set with counts: like [`OperationRunRepository::transition`], and in the same
    /// atomic change adds `delta` to the run's counts (as
    /// [`OperationRunRepository::increment_counts`] does, so concurrent increments are never
    /// lost). Either both the state and the counts are written, or nothing is. An empty `delta`
    /// makes it a plain `transition`.
    ///
    /// Used to complete a run with its final counts, so no reader ever sees the counts without
    /// the completion or the completion without the counts.
    ///
    /// # Errors
    /// [`PortError::NotFound`] if there is no such run; [`PortError::Conflict`] if its status is no
    /// longer `expected`; [`PortError::CountOverflow`] if a sum would exceed `MAX_COUNT`;
    /// [`PortError::Backend`] when the store fails. Nothing is written on any error.
    async fn transition_with_counts(
        &self,
        id: RunId,
        expected: RunStatus,
        next: &RunState,
        delta: &SummaryCounts,
        now: DateTime<Utc>,
    ) -> Result<OperationRun, PortError>;

    /// Atomically adds `delta` to the run's counts (no lost update under concurrent writers) and
    /// bumps `updated_at` (the heartbeat), only while the run is active.
    ///
    /// # Errors
    /// [`PortError::NotFound`] if there is no such run; [`PortError::Conflict`] if it is completed;
    /// [`PortError::CountOverflow`] if a sum would exceed `MAX_COUNT` (nothing is written);
    /// [`PortError::Backend`] when the store fails.
    async fn increment_counts(
        &self,
        id: RunId,
        delta: &SummaryCounts,
        now: DateTime<Utc>,
    ) -> Result<OperationRun, PortError>;

    /// Merges `patch` into an active run's context: each top-level key of `patch` replaces the
    /// stored value of that key, other stored keys stay. Bumps `updated_at` to `now` (the
    /// heartbeat). Used to record what a run produced while it runs (e.g. the `backup_set_id`
    /// of a scheduled backup, known only once the set exists).
    ///
    /// This MUST be one atomic change of `context` and `updated_at` only: concurrent count
    /// increments and merges of other keys are never lost.
    ///
    /// # Errors
    /// [`PortError::NotFound`] if there is no such run; [`PortError::Conflict`] if it is
    /// completed (nothing is written); [`PortError::Backend`] when the store fails.
    async fn merge_context(
        &self,
        id: RunId,
        patch: &RunContext,
        now: DateTime<Utc>,
    ) -> Result<OperationRun, PortError>;

    /// A page of a workspace's runs, newest first (by id), filtered; keyset-paginated.
    ///
    /// # Errors
    /// [`PortError::Backend`] when the store fails.
    async fn list(&self, query: &RunListQuery) -> Result<RunPage, PortError>;

    /// Active runs whose heartbeat (`updated_at`) is older than `heartbeat_before`, oldest first.
    ///
    /// # Errors
    /// [`PortError::Backend`] when the store fails.
    async fn find_stale(
        &self,
        heartbeat_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OperationRun>, PortError>;

    /// The newest (by id) completed run of the identity `(workspace, identity_hash)` whose
    /// outcome is one of `outcomes` (any final outcome when `outcomes` is empty); `None` if there
    /// is none. Served by the `(workspace_id, run_identity_hash)` index: it reads the runs of
    /// one identity, never a whole history.
    ///
    /// Used for idempotency beyond the active run: "has this operation already succeeded?".
    ///
    /// # Errors
    /// [`PortError::Backend`] when the store fails.
    async fn latest_completed_with_identity(
        &self,
        workspace: WorkspaceId,
        identity_hash: &IdentityHash,
        outcomes: &[RunOutcome],
    ) -> Result<Option<OperationRun>, PortError>;

    /// A page of one backup schedule's history: runs of the requested backup-schedule types whose
    /// `context.backup_schedule_id` is the schedule, in its workspace, newest first (by id).
    ///
    /// # Errors
    /// [`PortError::Backend`] when the store fails.
    async fn schedule_history(&self, query: &ScheduleHistoryQuery) -> Result<RunPage, PortError>;

    /// How many runs [`OperationRunRepository::purge_schedule_history`] would delete.
    ///
    /// # Errors
    /// [`PortError::Backend`] when the store fails.
    async fn count_purgeable_schedule_history(
        &self,
        criteria: &HistoryPurgeCriteria,
    ) -> Result<u64, PortError>;

    /// Deletes completed runs of the schedule's history created before the cutoff, never an
    /// active run and never the newest run of each type, in batches of at most `batch_size`
    /// rows (one statement each). Returns how many were deleted.
    ///
    /// # Errors
    /// [`PortError::Backend`] when the store fails (batches already done stay done).
    async fn purge_schedule_history(
        &self,
        criteria: &HistoryPurgeCriteria,
        batch_size: u32,
    ) -> Result<u64, PortError>;
}

/// Inventory items, as inventory syncs see them.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait InventoryRepository: Send + Sync {
    /// Upserts the items by `(tenant_id, external_id)` and sets their
    /// `last_seen_operation_run_id` to `run`, all or nothing: set-based (never a statement per
    /// item), in one transaction; an adapter may split a large batch into several statements
    /// within that transaction to stay under its backend's parameter limit. An external id given
    /// twice is upserted once (its last occurrence wins). Returns the stored item of each given
    /// item, in the order given.
    ///
    /// # Errors
    /// [`PortError::NotFound`] if the tenant or run does not exist; [`PortError::Backend`] when the
    /// store fails (nothing is written then).
    async fn upsert_seen(
        &self,
        workspace: WorkspaceId,
        tenant: TenantId,
        items: &[SeenItem],
        run: RunId,
        now: DateTime<Utc>,
    ) -> Result<Vec<InventoryItem>, PortError>;

    /// A tenant's items, ordered by external id.
    ///
    /// # Errors
    /// [`PortError::Backend`] when the store fails.
    async fn list_items(&self, tenant: TenantId) -> Result<Vec<InventoryItem>, PortError>;
}

/// Drift findings.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait FindingRepository: Send + Sync {
    /// Inserts findings, all or nothing. Returns them with their ids.
    ///
    /// # Errors
    /// [`PortError::NotFound`] if a referenced run, tenant or workspace does not exist;
    /// [`PortError::Backend`] when the store fails (nothing is written then).
    async fn insert_findings(
        &self,
        findings: &[NewFinding],
        now: DateTime<Utc>,
    ) -> Result<Vec<Finding>, PortError>;

    /// A tenant's findings, ordered by id.
    ///
    /// # Errors
    /// [`PortError::Backend`] when the store fails.
    async fn list_findings(&self, tenant: TenantId) -> Result<Vec<Finding>, PortError>;
}

/// Backup schedules and the backup sets their runs create.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait BackupRepository: Send + Sync {
    /// One schedule.
    ///
    /// # Errors
    /// [`PortError::NotFound`] if there is no such schedule; [`PortError::Backend`] when the store fails.
    async fn get_schedule(&self, id: BackupScheduleId) -> Result<BackupSchedule, PortError>;

    /// Creates a backup set of a schedule.
    ///
    /// # Errors
    /// [`PortError::NotFound`] if the schedule does not exist; [`PortError::Backend`] when the
    /// store fails.
    async fn create_set(
        &self,
        schedule: BackupScheduleId,
        name: &str,
        item_count: u64,
        now: DateTime<Utc>,
    ) -> Result<BackupSet, PortError>;

    /// A schedule's sets, newest first; soft-deleted ones included only if asked.
    ///
    /// # Errors
    /// [`PortError::Backend`] when the store fails.
    async fn list_sets(
        &self,
        schedule: BackupScheduleId,
        include_deleted: bool,
    ) -> Result<Vec<BackupSet>, PortError>;

    /// Soft-deletes those of `ids` that belong to the schedule and are not deleted yet, in one
    /// statement. Returns how many changed.
    ///
    /// # Errors
    /// [`PortError::Backend`] when the store fails.
    async fn soft_delete_sets(
        &self,
        schedule: BackupScheduleId,
        ids: &[BackupSetId],
        now: DateTime<Utc>,
    ) -> Result<u64, PortError>;

    /// How many of the schedule's sets were soft-deleted before `deleted_before`.
    ///
    /// # Errors
    /// [`PortError::Backend`] when the store fails.
    async fn count_purgeable_sets(
        &self,
        schedule: BackupScheduleId,
        deleted_before: DateTime<Utc>,
    ) -> Result<u64, PortError>;

    /// Removes for good the schedule's sets soft-deleted before `deleted_before`, in one
    /// statement. Returns how many were removed.
    ///
    /// # Errors
    /// [`PortError::Backend`] when the store fails.
    async fn purge_sets(
        &self,
        schedule: BackupScheduleId,
        deleted_before: DateTime<Utc>,
    ) -> Result<u64, PortError>;
}

/// Workspaces, their tenants and members, as the access rules need them.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait WorkspaceDirectory: Send + Sync {
    /// The user's membership in the workspace; `None` if not a member (or no such workspace).
    ///
    /// # Errors
    /// [`PortError::Backend`] when the store fails.
    async fn membership(
        &self,
        workspace: WorkspaceId,
        user: UserId,
    ) -> Result<Option<Membership>, PortError>;

    /// The workspace a tenant belongs to; `None` if there is no such tenant.
    ///
    /// # Errors
    /// [`PortError::Backend`] when the store fails.
    async fn tenant_workspace(&self, tenant: TenantId) -> Result<Option<WorkspaceId>, PortError>;
}

/// The time, injectable so tests control it.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait Clock: Send + Sync {
    /// Now, in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
