//! The three schedule operations, each recorded as an operation run of its type: what they
//! are (this module), the one path each takes (`path`), the work each does (`work`), and the
//! values callers pass and get back (`request`).

mod path;
mod request;
mod work;

pub use request::{
    BackupReport, Execution, Mode, PurgeReport, RetentionReport, ScheduleRequest, Trigger,
};

use crate::error::ScheduleError;
use crate::history::{ScheduleHistory, SchedulePorts};
use crate::purge::{PurgePlan, PurgePolicy};
use crate::retention::RetentionPlan;
use crate::source::BackupSource;
use operation_runs_domain::{BackupScheduleId, RunType, WorkspaceId};
use operation_runs_ports::{BackupRepository, ScheduleRunHistory};
use operation_runs_service::OperationRunService;
use path::Operation;
use std::fmt;

/// Failure code of a `backup_schedule_run` that failed.
pub const FAILURE_BACKUP: &str = "backup_failed";
/// Failure code of a `backup_schedule_retention` that failed.
pub const FAILURE_RETENTION: &str = "retention_failed";
/// Failure code of a `backup_schedule_purge` that failed.
pub const FAILURE_PURGE: &str = "purge_failed";
/// Failure code on a run cancelled right after it was started because another run of the same
/// schedule, type and scheduled time had just completed successfully (its message names that
/// run). Such a run did no work.
pub const FAILURE_DUPLICATE: &str = "duplicate_of_completed_run";

/// Rows deleted per statement when purging run history, unless set. Each batch commits on its
/// own and pays a fixed cost (planning, commit, finding where to continue) besides the rows it
/// deletes: at 500 per batch that cost more than doubled a large purge on PostgreSQL, while
/// 5,000 rows still take well under a second per statement (see BENCHMARKS.md).
const PURGE_BATCH_SIZE: u32 = 5_000;

const BACKUP: Operation = Operation {
    run_type: &RunType::BACKUP_SCHEDULE_RUN,
    failure_code: FAILURE_BACKUP,
};
const RETENTION: Operation = Operation {
    run_type: &RunType::BACKUP_SCHEDULE_RETENTION,
    failure_code: FAILURE_RETENTION,
};
const PURGE: Operation = Operation {
    run_type: &RunType::BACKUP_SCHEDULE_PURGE,
    failure_code: FAILURE_PURGE,
};

/// Write side: backups, retention and purge of backup schedules, each recorded as an operation
/// run (`backup_schedule_run`, `backup_schedule_retention`, `backup_schedule_purge`) with
/// `context = {backup_schedule_id, scheduled_for, trigger}` and identity
/// `{backup_schedule_id, scheduled_for}`.
///
/// Idempotency: a request whose identity has a completed successful run returns
/// [`Execution::AlreadyCompleted`] without doing anything (one indexed look-up of the identity,
/// [`OperationRunService::latest_completed`]); one whose
/// identity has an active run returns [`Execution::AlreadyActive`] (the run store's
/// active-identity guarantee). A failed or cancelled attempt does not block: the next request is
/// a retry with a new run. The look-up is repeated once after a new run was started, so a run
/// that completed between the look-up and the start is found and the new run is cancelled
/// ([`FAILURE_DUPLICATE`]) before it does any work; the crate documentation states exactly what
/// remains open.
///
/// Failures: once the run is recorded, any failure completes it as `failed` with one failure
/// (`backup_failed`, `retention_failed` or `purge_failed`, sanitized message) and returns
/// [`ScheduleError::OperationFailed`]. What was done before the failure stays done.
#[derive(Clone)]
pub struct ScheduleOperations {
    service: OperationRunService,
    history: ScheduleHistory,
    purge_batch_size: u32,
}

impl fmt::Debug for ScheduleOperations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScheduleOperations")
            .field("history", &self.history)
            .field("purge_batch_size", &self.purge_batch_size)
            .finish_non_exhaustive()
    }
}

impl ScheduleOperations {
    /// Operations over the service (start, begin, progress, complete) and the backup store.
    #[must_use]
    pub fn new(service: OperationRunService, ports: SchedulePorts) -> Self {
        let history = ScheduleHistory::new(service.clone(), ports);
        Self {
            service,
            history,
            purge_batch_size: PURGE_BATCH_SIZE,
        }
    }

    /// Sets how many runs one purge statement deletes (default 5,000); at least 1.
    #[must_use]
    pub fn with_purge_batch_size(mut self, size: u32) -> Self {
        self.purge_batch_size = size.max(1);
        self
    }

    /// Sets the page size used to read whole histories (default 200); at least 1.
    #[must_use]
    pub fn with_walk_page_size(mut self, size: u32) -> Self {
        self.history = self.history.with_walk_page_size(size);
        self
    }

    /// The read side.
    #[must_use]
    pub fn history(&self) -> &ScheduleHistory {
        &self.history
    }

    /// The run service.
    #[must_use]
    pub fn service(&self) -> &OperationRunService {
        &self.service
    }

    fn backups(&self) -> &dyn BackupRepository {
        self.history.ports.backups.as_ref()
    }

    fn runs(&self) -> &dyn ScheduleRunHistory {
        self.history.ports.history.as_ref()
    }

    /// The retention plan of a schedule as things stand; reads only.
    ///
    /// # Errors
    /// [`ScheduleError::NotFound`] if the schedule does not exist in `workspace`;
    /// [`ScheduleError::Port`] when a store fails.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn plan_retention(
        &self,
        workspace: WorkspaceId,
        schedule: BackupScheduleId,
    ) -> Result<RetentionPlan, ScheduleError> {
        let schedule = self.history.schedule(workspace, schedule).await?;
        self.retention_plan(&schedule).await
    }

    /// The purge plan of a schedule as things stand (at the clock's now); reads only.
    ///
    /// # Errors
    /// [`ScheduleError::InvalidPolicy`] for a negative grace or window;
    /// [`ScheduleError::NotFound`] if the schedule does not exist in `workspace`;
    /// [`ScheduleError::Port`] when a store fails.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn plan_purge(
        &self,
        workspace: WorkspaceId,
        schedule: BackupScheduleId,
        policy: PurgePolicy,
    ) -> Result<PurgePlan, ScheduleError> {
        let policy = policy.validate()?;
        let schedule = self.history.schedule(workspace, schedule).await?;
        self.purge_plan(&schedule, policy).await
    }

    /// Runs one scheduled backup: records a `backup_schedule_run` run, asks `source` for the
    /// content, creates the backup set, records its id as `context.backup_set_id` and the
    /// counts `sets_created` and `items_backed_up`, and completes `succeeded` (or
    /// `partially_succeeded` if the source reported failures). A dry run is not offered.
    ///
    /// # Errors
    /// [`ScheduleError::NotFound`] if the schedule does not exist in the request's workspace;
    /// [`ScheduleError::Service`] / [`ScheduleError::Port`] when starting fails (no run);
    /// [`ScheduleError::OperationFailed`] when anything fails once the run exists. If the set
    /// was created but its id could not be recorded on the run, the set is soft-deleted again
    /// (best effort), since retention could never find it.
    #[tracing::instrument(
        skip(self, request, source),
        fields(workspace = %request.workspace_id, schedule = %request.schedule_id, scheduled_for = %request.normalized_time()),
        err(level = "debug")
    )]
    pub async fn run_backup<S: BackupSource>(
        &self,
        request: &ScheduleRequest,
        source: &S,
    ) -> Result<Execution<BackupReport>, ScheduleError> {
        let scheduled_for = request.normalized_time();
        self.perform(request, BACKUP, async |run, schedule| {
            self.back_up(run, schedule, scheduled_for, source).await
        })
        .await
    }

    /// Applies the schedule's retention (see [`RetentionPlan`]) as a
    /// `backup_schedule_retention` run with counts `sets_kept` and `sets_soft_deleted`. With
    /// [`Mode::DryRun`] it only returns the plan: no run is recorded, nothing changes.
    ///
    /// # Errors
    /// [`ScheduleError::NotFound`] if the schedule does not exist in the request's workspace;
    /// [`ScheduleError::Service`] / [`ScheduleError::Port`] when reading (dry run) or starting
    /// fails; [`ScheduleError::OperationFailed`] when anything fails once the run exists.
    #[tracing::instrument(
        skip(self, request),
        fields(workspace = %request.workspace_id, schedule = %request.schedule_id, scheduled_for = %request.normalized_time()),
        err(level = "debug")
    )]
    pub async fn apply_retention(
        &self,
        request: &ScheduleRequest,
        mode: Mode,
    ) -> Result<Execution<RetentionReport>, ScheduleError> {
        if mode == Mode::DryRun {
            let plan = self
                .plan_retention(request.workspace_id, request.schedule_id)
                .await?;
            let sets_soft_deleted = plan.to_soft_delete.len() as u64;
            return Ok(Execution::DryRun(RetentionReport {
                plan,
                sets_soft_deleted,
            }));
        }
        self.perform(request, RETENTION, async |run, schedule| {
            self.retain(run, schedule).await
        })
        .await
    }

    /// Purges the schedule (see [`PurgePlan`]) as a `backup_schedule_purge` run with counts
    /// `sets_purged` and `runs_purged`: first the sets soft-deleted before `now - grace`, then
    /// the completed runs created before `now - window` (never an active run, never the newest
    /// run of each type, never a run whose set still exists). With [`Mode::DryRun`] it only
    /// returns the plan: no run is recorded, nothing changes.
    ///
    /// # Errors
    /// [`ScheduleError::InvalidPolicy`] for a negative grace or window;
    /// [`ScheduleError::NotFound`] if the schedule does not exist in the request's workspace;
    /// [`ScheduleError::Service`] / [`ScheduleError::Port`] when reading (dry run) or starting
    /// fails; [`ScheduleError::OperationFailed`] when anything fails once the run exists.
    #[tracing::instrument(
        skip(self, request),
        fields(workspace = %request.workspace_id, schedule = %request.schedule_id, scheduled_for = %request.normalized_time()),
        err(level = "debug")
    )]
    pub async fn purge(
        &self,
        request: &ScheduleRequest,
        policy: PurgePolicy,
        mode: Mode,
    ) -> Result<Execution<PurgeReport>, ScheduleError> {
        let policy = policy.validate()?;
        if mode == Mode::DryRun {
            let plan = self
                .plan_purge(request.workspace_id, request.schedule_id, policy)
                .await?;
            return Ok(Execution::DryRun(PurgeReport {
                sets_purged: plan.sets_to_purge,
                runs_purged: plan.runs_to_purge,
                plan,
            }));
        }
        self.perform(request, PURGE, async |run, schedule| {
            self.purge_now(run, schedule, policy).await
        })
        .await
    }
}
