//! Purge planning: what is removed for good.

use crate::error::ScheduleError;
use crate::retention::{RunSet, SkippedRun};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use operation_runs_domain::{BackupScheduleId, BackupSetId, OperationRun, RunType, WorkspaceId};
use operation_runs_ports::HistoryPurgeCriteria;
use std::collections::BTreeSet;
use std::fmt;

/// How long soft-deleted sets and run history are kept before a purge removes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurgePolicy {
    /// Backup sets soft-deleted longer ago than this are removed for good.
    pub grace: Duration,
    /// Runs of the schedule's history created longer ago than this are removed (never an
    /// active run, never the newest run of each type, never a run whose set still exists).
    pub window: Duration,
}

impl PurgePolicy {
    /// A policy.
    #[must_use]
    pub fn new(grace: Duration, window: Duration) -> Self {
        Self { grace, window }
    }

    pub(crate) fn validate(self) -> Result<Self, ScheduleError> {
        if self.grace < Duration::zero() || self.window < Duration::zero() {
            return Err(ScheduleError::InvalidPolicy(format!(
                "grace ({}) and window ({}) must not be negative",
                self.grace, self.window
            )));
        }
        Ok(self)
    }
}

/// What a purge removes for one schedule; print it (`Display`) before acting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgePlan {
    /// The schedule's workspace.
    pub workspace_id: WorkspaceId,
    /// The schedule.
    pub schedule_id: BackupScheduleId,
    /// The time the plan was made.
    pub planned_at: DateTime<Utc>,
    /// Sets soft-deleted strictly before this are removed (`planned_at - grace`).
    pub sets_deleted_before: DateTime<Utc>,
    /// How many sets that is.
    pub sets_to_purge: u64,
    /// `planned_at - window`.
    pub window_cutoff: DateTime<Utc>,
    /// Completed runs created strictly before this are removed: the window cutoff, moved back
    /// to the oldest run whose backup set is not deleted (see [`PurgePlan::held_back_by`]).
    pub runs_created_before: DateTime<Utc>,
    /// The oldest `backup_schedule_run` run whose set still exists (not soft-deleted), when it
    /// is older than the window cutoff. Its history is kept, because retention finds sets only
    /// through their runs: purging the run would leave its set behind forever.
    pub held_back_by: Option<RunSet>,
    /// How many runs that is (never an active run, never the newest run of each type).
    pub runs_to_purge: u64,
    /// `backup_schedule_run` runs older than the window cutoff whose context cannot be read, so
    /// whether they hold a live set back is unknown: they hold nothing back (retention cannot
    /// find a set through them either) and are reported here.
    pub skipped: Vec<SkippedRun>,
}

impl PurgePlan {
    /// The criteria handed to the run store.
    #[must_use]
    pub fn history_criteria(&self) -> HistoryPurgeCriteria {
        HistoryPurgeCriteria {
            workspace_id: self.workspace_id,
            schedule_id: self.schedule_id,
            created_before: self.runs_created_before,
        }
    }
}

/// The history cutoff: the window cutoff, or the creation time of the oldest run referencing a
/// live set if that is earlier (so no such run is purged); and the runs older than the window
/// whose reference cannot be read.
pub(crate) fn history_cutoff(
    window_cutoff: DateTime<Utc>,
    backup_runs: &[OperationRun],
    live_sets: &BTreeSet<BackupSetId>,
) -> (DateTime<Utc>, Option<RunSet>, Vec<SkippedRun>) {
    let mut oldest_holding: Option<(DateTime<Utc>, RunSet)> = None;
    let mut skipped = Vec::new();
    let old_runs = backup_runs.iter().filter(|run| {
        run.is_type(&RunType::BACKUP_SCHEDULE_RUN) && run.created_at() < window_cutoff
    });
    for run in old_runs {
        let set = match run.context().readable() {
            Ok(context) => context.backup_set_id(),
            Err(unreadable) => {
                skipped.push(SkippedRun {
                    run: run.id(),
                    field: "context",
                    reason: unreadable.reason().to_owned(),
                });
                continue;
            }
        };
        let Some(set) = set.filter(|set| live_sets.contains(set)) else {
            continue;
        };
        let holding = (run.created_at(), RunSet { set, run: run.id() });
        if oldest_holding.is_none_or(|oldest| (holding.0, holding.1.run) < (oldest.0, oldest.1.run))
        {
            oldest_holding = Some(holding);
        }
    }
    match oldest_holding {
        Some((created_at, run_set)) => (created_at, Some(run_set), skipped),
        None => (window_cutoff, None, skipped),
    }
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl fmt::Display for PurgePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "purge plan for backup schedule {} (at {})",
            self.schedule_id,
            time(self.planned_at)
        )?;
        write!(
            f,
            "\n  purge {} backup sets soft-deleted before {}",
            self.sets_to_purge,
            time(self.sets_deleted_before)
        )?;
        write!(
            f,
            "\n  purge {} runs created before {} (never an active run, never the newest run of each type)",
            self.runs_to_purge,
            time(self.runs_created_before)
        )?;
        if let Some(held) = self.held_back_by {
            write!(
                f,
                "\n  history window ends at {}, held back to {held}: its backup set still exists",
                time(self.window_cutoff)
            )?;
        }
        for skipped in &self.skipped {
            write!(f, "\n  holds nothing back, {skipped}")?;
        }
        Ok(())
    }
}
