//! The three schedule operations, each recorded as an operation run of its type.

use crate::error::ScheduleError;
use crate::history::{ScheduleHistory, SchedulePorts};
use crate::purge::{PurgePlan, PurgePolicy, history_cutoff};
use crate::retention::RetentionPlan;
use crate::source::BackupSource;
use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use operation_runs_domain::{
    BackupScheduleId, BackupSetId, CountError, Failure, FailureCode, FailureSummary, IdentityHash,
    OperationRun, RunContext, RunOutcome, RunType, UserId, WorkspaceId, sanitize_message,
};
use operation_runs_ports::{BackupRepository, BackupSchedule, BackupSet, ScheduleRunHistory};
use operation_runs_service::{OperationRunService, ServiceError, StartRequest, Started};
use std::collections::BTreeSet;
use std::fmt;
use std::ops::ControlFlow;

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

/// What started an operation; stored as `context.trigger`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Trigger {
    /// The scheduler, at the scheduled time.
    Schedule,
    /// A person, on demand ("run now").
    Manual,
    /// A retry of a failed attempt.
    Retry,
}

impl Trigger {
    /// The stored spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::Manual => "manual",
            Self::Retry => "retry",
        }
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether an operation acts or only plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Record a run and change things.
    Apply,
    /// Compute and return what would be done; record and change nothing.
    DryRun,
}

/// One schedule operation for one scheduled time. Build it with [`ScheduleRequest::new`].
///
/// `(schedule, scheduled_for)` is the operation's identity: while a run of it is active, a
/// second request gets that run back; once one completed successfully, it is not redone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleRequest {
    /// The workspace the caller is in; a schedule of another workspace is not found.
    pub workspace_id: WorkspaceId,
    /// The schedule.
    pub schedule_id: BackupScheduleId,
    /// The scheduled time; stored to the second (sub-seconds are dropped).
    pub scheduled_for: DateTime<Utc>,
    /// What started it.
    pub trigger: Trigger,
    /// Display name of the initiator.
    pub initiator_name: String,
    /// The person who started it, if a person did.
    pub user_id: Option<UserId>,
}

impl ScheduleRequest {
    /// A request by the scheduler (trigger `schedule`, initiator `scheduler`).
    #[must_use]
    pub fn new(
        workspace_id: WorkspaceId,
        schedule_id: BackupScheduleId,
        scheduled_for: DateTime<Utc>,
    ) -> Self {
        Self {
            workspace_id,
            schedule_id,
            scheduled_for,
            trigger: Trigger::Schedule,
            initiator_name: "scheduler".to_owned(),
            user_id: None,
        }
    }

    /// Sets the trigger.
    #[must_use]
    pub fn trigger(mut self, trigger: Trigger) -> Self {
        self.trigger = trigger;
        self
    }

    /// Names the person who started it (and uses their name as the initiator).
    #[must_use]
    pub fn started_by(mut self, user: UserId, name: impl Into<String>) -> Self {
        self.user_id = Some(user);
        self.initiator_name = name.into();
        self
    }

    /// Sets the initiator's display name (e.g. `system`).
    #[must_use]
    pub fn initiator(mut self, name: impl Into<String>) -> Self {
        self.initiator_name = name.into();
        self
    }

    fn normalized_time(&self) -> DateTime<Utc> {
        self.scheduled_for.trunc_subsecs(0)
    }

    fn identity(&self) -> serde_json::Value {
        serde_json::json!({
            "backup_schedule_id": self.schedule_id.get(),
            "scheduled_for": self.normalized_time().to_rfc3339_opts(SecondsFormat::Secs, true),
        })
    }

    fn context(&self) -> RunContext {
        RunContext::new()
            .with_backup_schedule_id(self.schedule_id)
            .with_scheduled_for(self.normalized_time())
            .with_trigger(self.trigger.as_str())
    }
}

/// What an operation call did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Execution<R> {
    /// A dry run: `R` describes what would be done; nothing was recorded or changed.
    /// (Backups have no dry run.)
    DryRun(R),
    /// This call did the work, recorded as `run` (completed `succeeded` or
    /// `partially_succeeded`).
    Performed {
        /// The completed run.
        run: OperationRun,
        /// What was done.
        report: R,
    },
    /// A run of the same schedule and scheduled time is active (another worker is on it);
    /// nothing was done.
    AlreadyActive(OperationRun),
    /// A run of the same schedule and scheduled time already completed successfully; it was
    /// not redone.
    AlreadyCompleted(OperationRun),
}

impl<R> Execution<R> {
    /// The run this call did, found active, or found completed; `None` for a dry run.
    #[must_use]
    pub fn run(&self) -> Option<&OperationRun> {
        match self {
            Self::DryRun(_) => None,
            Self::Performed { run, .. }
            | Self::AlreadyActive(run)
            | Self::AlreadyCompleted(run) => Some(run),
        }
    }

    /// The report of a dry run or of work this call did.
    #[must_use]
    pub fn report(&self) -> Option<&R> {
        match self {
            Self::DryRun(report) | Self::Performed { report, .. } => Some(report),
            Self::AlreadyActive(_) | Self::AlreadyCompleted(_) => None,
        }
    }

    /// Whether this call did the work.
    #[must_use]
    pub fn is_performed(&self) -> bool {
        matches!(self, Self::Performed { .. })
    }
}

/// What a scheduled backup made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    /// The new backup set (its id is the run's `context.backup_set_id`).
    pub set: BackupSet,
    /// Items that could not be backed up (stored on the run).
    pub failures: FailureSummary,
}

/// What retention did, or would do in a dry run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionReport {
    /// The plan.
    pub plan: RetentionPlan,
    /// Sets soft-deleted: as the store reported, or in a dry run the number planned.
    pub sets_soft_deleted: u64,
}

/// What a purge did, or would do in a dry run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeReport {
    /// The plan.
    pub plan: PurgePlan,
    /// Sets removed for good: as the store reported, or in a dry run the number planned.
    pub sets_purged: u64,
    /// Runs removed: as the store reported, or in a dry run the number planned.
    pub runs_purged: u64,
}

/// Write side: backups, retention and purge of backup schedules, each recorded as an operation
/// run (`backup_schedule_run`, `backup_schedule_retention`, `backup_schedule_purge`) with
/// `context = {backup_schedule_id, scheduled_for, trigger}` and identity
/// `{backup_schedule_id, scheduled_for}`.
///
/// Idempotency: a request whose identity has a completed successful run returns
/// [`Execution::AlreadyCompleted`] without doing anything (one indexed look-up of the identity,
/// [`operation_runs_ports::OperationRunRepository::latest_completed_with_identity`]); one whose
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

/// Where a request stands before any work.
enum Opened {
    /// A new run, begun: do the work.
    Running(OperationRun, BackupSchedule),
    /// A run of the identity is active.
    Active(OperationRun),
    /// A run of the identity completed successfully.
    Completed(OperationRun),
}

impl Opened {
    /// The run to work on, or what to answer instead.
    fn into_running<R>(self) -> ControlFlow<Execution<R>, (OperationRun, BackupSchedule)> {
        match self {
            Self::Running(run, schedule) => ControlFlow::Continue((run, schedule)),
            Self::Active(run) => ControlFlow::Break(Execution::AlreadyActive(run)),
            Self::Completed(run) => ControlFlow::Break(Execution::AlreadyCompleted(run)),
        }
    }
}

fn count(name: &'static str, value: u64) -> Result<(&'static str, i64), ScheduleError> {
    i64::try_from(value)
        .map(|v| (name, v))
        .map_err(|_| ServiceError::InvalidCounts(CountError::Overflow(name.to_owned())).into())
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
        let (run, schedule) = match self
            .open(request, RunType::BACKUP_SCHEDULE_RUN)
            .await?
            .into_running()
        {
            ControlFlow::Continue(running) => running,
            ControlFlow::Break(done) => return Ok(done),
        };
        let work = self.back_up(&run, &schedule, request.normalized_time(), source);
        match work.await {
            Ok((outcome, report)) => {
                let done = self
                    .finish(run, outcome, report.failures.clone(), FAILURE_BACKUP)
                    .await?;
                Ok(Execution::Performed { run: done, report })
            }
            Err(cause) => Err(self.fail(run, FAILURE_BACKUP, cause).await),
        }
    }

    async fn back_up<S: BackupSource>(
        &self,
        run: &OperationRun,
        schedule: &BackupSchedule,
        scheduled_for: DateTime<Utc>,
        source: &S,
    ) -> Result<(RunOutcome, BackupReport), ScheduleError> {
        let content = source.back_up(schedule, scheduled_for).await?;
        let items = count("items_backed_up", content.item_count)?;
        let name = format!(
            "{} {}",
            schedule.name,
            scheduled_for.to_rfc3339_opts(SecondsFormat::Secs, true)
        );
        let now = self.service.now();
        let set = self
            .backups()
            .create_set(schedule.id, &name, content.item_count, now)
            .await?;
        let patch = RunContext::new().with_backup_set_id(set.id);
        if let Err(error) = self.service.record_output(run.id(), &patch).await {
            self.discard_set(schedule.id, set.id).await;
            return Err(error.into());
        }
        self.service
            .record_progress(run.id(), &[("sets_created", 1), items])
            .await?;
        let outcome = if content.failures.is_empty() {
            RunOutcome::Succeeded
        } else {
            RunOutcome::PartiallySucceeded
        };
        Ok((
            outcome,
            BackupReport {
                set,
                failures: content.failures,
            },
        ))
    }

    async fn discard_set(&self, schedule: BackupScheduleId, set: BackupSetId) {
        let now = self.service.now();
        if let Err(error) = self.backups().soft_delete_sets(schedule, &[set], now).await {
            tracing::warn!(
                %set,
                error = %sanitize_message(&error.to_string()),
                "could not soft-delete a backup set no run references"
            );
        }
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
        let (run, schedule) = match self
            .open(request, RunType::BACKUP_SCHEDULE_RETENTION)
            .await?
            .into_running()
        {
            ControlFlow::Continue(running) => running,
            ControlFlow::Break(done) => return Ok(done),
        };
        match self.retain(&run, &schedule).await {
            Ok(report) => {
                let done = self
                    .finish(
                        run,
                        RunOutcome::Succeeded,
                        FailureSummary::new(),
                        FAILURE_RETENTION,
                    )
                    .await?;
                Ok(Execution::Performed { run: done, report })
            }
            Err(cause) => Err(self.fail(run, FAILURE_RETENTION, cause).await),
        }
    }

    async fn retention_plan(
        &self,
        schedule: &BackupSchedule,
    ) -> Result<RetentionPlan, ScheduleError> {
        let runs = self
            .history
            .walk_schedule(schedule, &[RunType::BACKUP_SCHEDULE_RUN], &[])
            .await?;
        let mut plan = RetentionPlan::from_runs(schedule, &runs);
        if !plan.to_soft_delete.is_empty() {
            let sets = self.backups().list_sets(schedule.id, true).await?;
            plan.exclude_deleted_sets(&sets);
        }
        Ok(plan)
    }

    async fn retain(
        &self,
        run: &OperationRun,
        schedule: &BackupSchedule,
    ) -> Result<RetentionReport, ScheduleError> {
        let plan = self.retention_plan(schedule).await?;
        let ids = plan.set_ids_to_soft_delete();
        let sets_soft_deleted = if ids.is_empty() {
            0
        } else {
            let now = self.service.now();
            self.backups()
                .soft_delete_sets(schedule.id, &ids, now)
                .await?
        };
        self.service
            .record_progress(
                run.id(),
                &[
                    count("sets_kept", plan.kept.len() as u64)?,
                    count("sets_soft_deleted", sets_soft_deleted)?,
                ],
            )
            .await?;
        Ok(RetentionReport {
            plan,
            sets_soft_deleted,
        })
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
        let (run, schedule) = match self
            .open(request, RunType::BACKUP_SCHEDULE_PURGE)
            .await?
            .into_running()
        {
            ControlFlow::Continue(running) => running,
            ControlFlow::Break(done) => return Ok(done),
        };
        match self.purge_now(&run, &schedule, policy).await {
            Ok(report) => {
                let done = self
                    .finish(
                        run,
                        RunOutcome::Succeeded,
                        FailureSummary::new(),
                        FAILURE_PURGE,
                    )
                    .await?;
                Ok(Execution::Performed { run: done, report })
            }
            Err(cause) => Err(self.fail(run, FAILURE_PURGE, cause).await),
        }
    }

    async fn purge_plan(
        &self,
        schedule: &BackupSchedule,
        policy: PurgePolicy,
    ) -> Result<PurgePlan, ScheduleError> {
        let now = self.service.now();
        let sets_deleted_before = now - policy.grace;
        let window_cutoff = now - policy.window;
        let sets_to_purge = self
            .backups()
            .count_purgeable_sets(schedule.id, sets_deleted_before)
            .await?;
        let live: BTreeSet<BackupSetId> = self
            .backups()
            .list_sets(schedule.id, false)
            .await?
            .into_iter()
            .filter(|set| set.deleted_at.is_none())
            .map(|set| set.id)
            .collect();
        let (runs_created_before, held_back_by) = if live.is_empty() {
            (window_cutoff, None)
        } else {
            let runs = self
                .history
                .walk_schedule(schedule, &[RunType::BACKUP_SCHEDULE_RUN], &[])
                .await?;
            history_cutoff(window_cutoff, &runs, &live)
        };
        let mut plan = PurgePlan {
            workspace_id: schedule.workspace_id,
            schedule_id: schedule.id,
            planned_at: now,
            sets_deleted_before,
            sets_to_purge,
            window_cutoff,
            runs_created_before,
            held_back_by,
            runs_to_purge: 0,
        };
        plan.runs_to_purge = self
            .runs()
            .count_purgeable_schedule_history(&plan.history_criteria())
            .await?;
        Ok(plan)
    }

    async fn purge_now(
        &self,
        run: &OperationRun,
        schedule: &BackupSchedule,
        policy: PurgePolicy,
    ) -> Result<PurgeReport, ScheduleError> {
        let plan = self.purge_plan(schedule, policy).await?;
        let sets_purged = self
            .backups()
            .purge_sets(schedule.id, plan.sets_deleted_before)
            .await?;
        self.service
            .record_progress(run.id(), &[count("sets_purged", sets_purged)?])
            .await?;
        let runs_purged = self
            .runs()
            .purge_schedule_history(&plan.history_criteria(), self.purge_batch_size)
            .await?;
        self.service
            .record_progress(run.id(), &[count("runs_purged", runs_purged)?])
            .await?;
        Ok(PurgeReport {
            plan,
            sets_purged,
            runs_purged,
        })
    }

    /// Looks the schedule up, returns a completed successful run of the identity if there is
    /// one, else starts (or finds active) the run and begins it.
    ///
    /// The look-up before the start and the start are two steps, so a run of the identity may
    /// complete successfully in between; the start then inserts a new run (no run of the
    /// identity is active any more). The look-up is therefore repeated once after a new run was
    /// inserted, and a run found then wins: the new run is cancelled as a duplicate. See the
    /// crate documentation for what this leaves open.
    async fn open(
        &self,
        request: &ScheduleRequest,
        run_type: RunType,
    ) -> Result<Opened, ScheduleError> {
        let schedule = self
            .history
            .schedule(request.workspace_id, request.schedule_id)
            .await?;
        let identity = request.identity();
        let hash = IdentityHash::compute(
            schedule.workspace_id,
            Some(schedule.tenant_id),
            &run_type,
            &identity,
        )
        .map_err(ServiceError::from)?;
        if let Some(done) = self.succeeded_before(schedule.workspace_id, &hash).await? {
            tracing::debug!(run = %done.id(), "already completed for this scheduled time");
            return Ok(Opened::Completed(done));
        }
        let mut start = StartRequest::new(
            schedule.workspace_id,
            run_type.as_str(),
            request.initiator_name.clone(),
        )
        .tenant(schedule.tenant_id)
        .identity(identity)
        .context(request.context());
        if let Some(user) = request.user_id {
            start = start.user(user);
        }
        let run = match self.service.start(start).await? {
            Started::Reused(active) => {
                tracing::debug!(run = %active.id(), "already active for this scheduled time");
                return Ok(Opened::Active(active));
            }
            Started::New(run) => run,
        };
        let code = match run_type {
            t if t == RunType::BACKUP_SCHEDULE_RUN => FAILURE_BACKUP,
            t if t == RunType::BACKUP_SCHEDULE_RETENTION => FAILURE_RETENTION,
            _ => FAILURE_PURGE,
        };
        // Our insert succeeded, so no other run of the identity was active then: every other
        // run of it had completed before, and is visible to a read made after the insert; and
        // while ours is active no other run of the identity can exist to complete.
        match self
            .succeeded_before(run.workspace_id(), run.identity_hash())
            .await
        {
            Ok(None) => {}
            Ok(Some(done)) => {
                self.cancel_duplicate(&run, &done).await;
                return Ok(Opened::Completed(done));
            }
            Err(cause) => return Err(self.fail(run, code, cause).await),
        }
        match self.service.begin(run.id()).await {
            Ok(running) => Ok(Opened::Running(running, schedule)),
            Err(cause) => Err(self.fail(run, code, cause.into()).await),
        }
    }

    /// The newest run of the identity that completed successfully, if any.
    async fn succeeded_before(
        &self,
        workspace: WorkspaceId,
        identity: &IdentityHash,
    ) -> Result<Option<OperationRun>, ScheduleError> {
        Ok(self
            .service
            .latest_completed(
                workspace,
                identity,
                &[RunOutcome::Succeeded, RunOutcome::PartiallySucceeded],
            )
            .await?)
    }

    /// Cancels a run started just after another run of its identity completed successfully,
    /// with failure [`FAILURE_DUPLICATE`] naming that run. Best effort: if it cannot be
    /// cancelled, the stale-run reaper completes it later.
    async fn cancel_duplicate(&self, duplicate: &OperationRun, done: &OperationRun) {
        tracing::debug!(
            run = %duplicate.id(),
            completed = %done.id(),
            "completed for this scheduled time just before this run started; cancelling it"
        );
        let failures = match FailureCode::parse(FAILURE_DUPLICATE) {
            Ok(code) => FailureSummary::single(Failure::new(
                code,
                &format!(
                    "run {} of this scheduled time completed successfully first",
                    done.id()
                ),
            )),
            // A snake_case constant (pinned by a test); this cannot happen.
            Err(_) => FailureSummary::new(),
        };
        if let Err(error) = self
            .service
            .complete(duplicate.id(), RunOutcome::Cancelled, failures)
            .await
        {
            tracing::warn!(
                run = %duplicate.id(),
                error = %sanitize_message(&error.to_string()),
                "could not cancel a duplicate run; the stale-run reaper will complete it"
            );
        }
    }

    /// Completes a run that did its work; if even that fails, the run is failed instead.
    async fn finish(
        &self,
        run: OperationRun,
        outcome: RunOutcome,
        failures: FailureSummary,
        code: &'static str,
    ) -> Result<OperationRun, ScheduleError> {
        match self.service.complete(run.id(), outcome, failures).await {
            Ok(done) => Ok(done),
            Err(cause) => Err(self.fail(run, code, cause.into()).await),
        }
    }

    /// Completes the run as `failed` with a sanitized failure and wraps the cause.
    async fn fail(
        &self,
        run: OperationRun,
        code: &'static str,
        cause: ScheduleError,
    ) -> ScheduleError {
        let code = match FailureCode::parse(code) {
            Ok(code) => code,
            // The codes are snake_case constants (pinned by a test); this cannot happen.
            Err(invalid) => return ServiceError::InvalidFailure(invalid).into(),
        };
        let failure = Failure::new(code, &cause.to_string());
        tracing::warn!(
            run = %run.id(),
            code = %failure.code(),
            message = failure.message(),
            "schedule operation failed"
        );
        let run = match self
            .service
            .complete(
                run.id(),
                RunOutcome::Failed,
                FailureSummary::single(failure.clone()),
            )
            .await
        {
            Ok(failed) => failed,
            Err(error) => {
                tracing::warn!(
                    run = %run.id(),
                    error = %sanitize_message(&error.to_string()),
                    "could not complete the run as failed; the stale-run reaper will"
                );
                run
            }
        };
        ScheduleError::OperationFailed {
            run: Box::new(run),
            failure,
            cause: Box::new(cause),
        }
    }
}
