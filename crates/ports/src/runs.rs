//! The canonical run store (`operation_runs`), by job: lifecycle writes and queries.

use crate::error::{PortError, StartError};
#[cfg(doc)]
use crate::model::CappedCount;
use crate::model::{RunFilter, RunListQuery, RunPage, StartedRun, StatusCounts};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use operation_runs_domain::{
    IdentityHash, NewOperationRun, OperationRun, RunContext, RunId, RunOutcome, RunState,
    RunStatus, RunType, SummaryCounts, WorkspaceId,
};

/// Writes to runs: starting one and every later change, each one atomic statement guarded by
/// the state it expects (compare-and-set), so a late writer never overwrites a finished run.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait RunLifecycle: Send + Sync {
    /// Inserts a queued run unless a run of the same `(workspace_id, identity_hash)` is active
    /// (queued or running); then returns that active run with `reused: true`.
    ///
    /// This MUST be atomic against concurrent callers in other processes: exactly one of many
    /// concurrent starters of one identity inserts, the others get the same run back (a
    /// database-enforced uniqueness, never a check-then-insert).
    ///
    /// The run is inserted only if its workspace exists and, when `tenant_id` is set, that
    /// tenant belongs to the workspace, both checked by the same atomic insert, so callers need
    /// no look-up of their own before starting. (An active run of the identity names the same
    /// workspace and tenant, both being part of an [`IdentityHash`], and passed that check when
    /// it was inserted.)
    ///
    /// # Errors
    /// [`StartError::Refused`] with the reason ([`crate::StartRefusal`]) when the workspace is
    /// unknown or the tenant is unknown or belongs to another workspace (nothing is written);
    /// [`StartError::Port`] when the store fails.
    async fn insert_or_get_active(&self, new: &NewOperationRun) -> Result<StartedRun, StartError>;

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
    /// like [`RunLifecycle::transition`], but only if the run's status is still
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

    /// Compare-and-set with counts: like [`RunLifecycle::transition`], and in the same
    /// atomic change adds `delta` to the run's counts (as
    /// [`RunLifecycle::increment_counts`] does, so concurrent increments are never
    /// lost). Either both the state and the counts are written, or nothing is. An empty `delta`
    /// makes it a plain `transition`.
    ///
    /// Used to complete a run with its final counts, so no reader ever sees the counts without
    /// the completion or the completion without the counts.
    ///
    /// # Errors
    /// [`PortError::NotFound`] if there is no such run; [`PortError::Conflict`] if its status is no
    /// longer `expected`, or its stored counts cannot be read (a legacy row: they are never
    /// added to, see [`RunLifecycle::increment_counts`]); [`PortError::CountOverflow`] if a sum
    /// would exceed `MAX_COUNT`; [`PortError::Backend`] when the store fails. Nothing is written
    /// on any error.
    async fn transition_with_counts(
        &self,
        id: RunId,
        expected: RunStatus,
        next: &RunState,
        delta: &SummaryCounts,
        now: DateTime<Utc>,
    ) -> Result<OperationRun, PortError>;

    /// Atomically adds `delta` to the run's counts (no lost update under concurrent writers) and
    /// bumps `updated_at` (the heartbeat), only while the run is active and its type is one of
    /// `run_types`.
    ///
    /// `run_types` are the types allowed to take these counts (the caller knows from its
    /// registry which types declare every name of `delta`), so that the write itself checks the
    /// run's state, type and overflow and the caller need not read the run first. An empty
    /// `run_types` matches no run.
    ///
    /// This MUST be one guarded write: the state, the type and the overflow are checked by the
    /// statement that adds, never by a read before it; only a refused write may read, to say why.
    ///
    /// # Errors
    /// Nothing is written on any error. [`PortError::NotFound`] if there is no such run;
    /// [`PortError::Conflict`] if it is completed, or its type is not among `run_types`, or its
    /// stored counts cannot be read (a legacy row whose counts are not an object of non-negative
    /// integers, as [`OperationRun::from_columns`] reads them): counts that cannot be read are
    /// never added to, cast or replaced; [`PortError::CountOverflow`] if a sum would exceed
    /// `MAX_COUNT`;
    /// [`PortError::Backend`] when the store fails.
    async fn increment_counts(
        &self,
        id: RunId,
        run_types: &[RunType],
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
}

/// Reads of runs.
///
/// Every read of this port, and every run a [`RunLifecycle`] or [`crate::ScheduleRunHistory`]
/// method returns, is tolerant: a stored field that breaks today's rules (a row the legacy
/// product wrote) never fails the read. The run comes back with that field
/// [`operation_runs_domain::Stored::Unreadable`], holding the raw value and the reason, and
/// the rest of the run intact ([`OperationRun::from_columns`] decodes a row so). Filters and
/// keys work on the stored values as they are: a status that is no known spelling matches no
/// status filter and is not active.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait RunQueries: Send + Sync {
    /// One run by id, whatever its workspace (callers check access).
    ///
    /// # Errors
    /// [`PortError::NotFound`] if there is no such run; [`PortError::Backend`] when the store fails.
    async fn get(&self, id: RunId) -> Result<OperationRun, PortError>;

    /// A page of a workspace's runs, newest first (by id), filtered; keyset-paginated.
    ///
    /// # Errors
    /// [`PortError::Backend`] when the store fails.
    async fn list(&self, query: &RunListQuery) -> Result<RunPage, PortError>;

    /// For each status, how many of the workspace's runs match `filter` (its own `status`
    /// ignored): the counts a monitoring list shows beside its pages. Each count reads at most
    /// `cap + 1` rows through the list's index and reports more than `cap` as
    /// [`CappedCount::MoreThan`]`(cap)`, so a huge history never makes the list slow.
    ///
    /// # Errors
    /// [`PortError::Backend`] when the store fails.
    async fn count_by_status(
        &self,
        workspace: WorkspaceId,
        filter: &RunFilter,
        cap: u32,
    ) -> Result<StatusCounts, PortError>;

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
}
