//! What callers pass to the schedule operations and what they get back.

use crate::purge::PurgePlan;
use crate::retention::RetentionPlan;
use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use operation_runs_domain::{
    BackupScheduleId, FailureSummary, OperationRun, RunContext, UserId, WorkspaceId,
};
use operation_runs_ports::BackupSet;
use std::fmt;

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

    pub(super) fn normalized_time(&self) -> DateTime<Utc> {
        self.scheduled_for.trunc_subsecs(0)
    }

    pub(super) fn identity(&self) -> serde_json::Value {
        serde_json::json!({
            "backup_schedule_id": self.schedule_id.get(),
            "scheduled_for": self.normalized_time().to_rfc3339_opts(SecondsFormat::Secs, true),
        })
    }

    pub(super) fn context(&self) -> RunContext {
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
