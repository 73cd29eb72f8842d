//! Retention planning: which backup sets a schedule keeps and which it soft-deletes.
//!
//! The decision is made from the schedule's `backup_schedule_run` runs alone (their outcome,
//! order and `context.backup_set_id`); the backup-set store is only asked which of the sets to
//! delete are deleted already.

use operation_runs_domain::{
    BackupScheduleId, BackupSetId, OperationRun, RunId, RunType, Stored, Unreadable,
};
use operation_runs_ports::{BackupSchedule, BackupSet};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A backup set and the run that created it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunSet {
    /// The set (`context.backup_set_id` of the run).
    pub set: BackupSetId,
    /// The `backup_schedule_run` run.
    pub run: RunId,
}

impl fmt::Display for RunSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "set {} (run {})", self.set, self.run)
    }
}

/// Why retention leaves a set alone that it neither keeps nor deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeftReason {
    /// Its run is queued or running: an active run's set is never touched.
    ActiveRun,
    /// A kept run references the same set.
    SharedWithKeptRun(RunId),
    /// An active run references the same set.
    SharedWithActiveRun(RunId),
    /// Its run did not succeed but is newer than the oldest kept run; the set goes once newer
    /// successful runs push it past the oldest kept one.
    NewerThanOldestKept,
}

impl fmt::Display for LeftReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ActiveRun => f.write_str("its run is still active"),
            Self::SharedWithKeptRun(run) => write!(f, "kept run {run} references it too"),
            Self::SharedWithActiveRun(run) => write!(f, "active run {run} references it too"),
            Self::NewerThanOldestKept => f.write_str("newer than the oldest kept run"),
        }
    }
}

/// A set retention leaves alone, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeftSet {
    /// The set and its run.
    pub run_set: RunSet,
    /// Why it stays.
    pub reason: LeftReason,
}

/// A run retention could not judge because a field it needs breaks today's rules (a row the
/// legacy product wrote): it neither keeps nor deletes anything on that run's account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedRun {
    /// The run.
    pub run: RunId,
    /// The stored field that cannot be read.
    pub field: &'static str,
    /// Why it cannot be read.
    pub reason: String,
}

impl fmt::Display for SkippedRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "run {}: its {} cannot be read ({})",
            self.run, self.field, self.reason
        )
    }
}

/// Where a run with a set stands, as far as retention is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    Active,
    Successful,
    Unsuccessful,
}

/// What retention reads of one run: its set and standing, nothing (another schedule's run, or
/// no set), or the field that stops it.
enum Judged {
    Relevant(RunSet, Standing),
    Ignored,
    Skipped(SkippedRun),
}

fn judge(schedule: BackupScheduleId, run: &OperationRun) -> Judged {
    let skipped = |field, unreadable: &Unreadable| {
        Judged::Skipped(SkippedRun {
            run: run.id(),
            field,
            reason: unreadable.reason().to_owned(),
        })
    };
    let context = match run.context().readable() {
        Ok(context) => context,
        Err(unreadable) => return skipped("context", unreadable),
    };
    let Some(set) = context
        .backup_set_id()
        .filter(|_| context.backup_schedule_id() == Some(schedule))
    else {
        return Judged::Ignored;
    };
    let run_set = RunSet { set, run: run.id() };
    let standing = match run.status() {
        Stored::Unreadable(unreadable) => return skipped("status", &unreadable),
        Stored::Readable(status) if status.is_active() => Standing::Active,
        Stored::Readable(_) => match run.outcome() {
            Stored::Unreadable(unreadable) => return skipped("outcome", &unreadable),
            Stored::Readable(outcome) if outcome.is_successful() => Standing::Successful,
            Stored::Readable(_) => Standing::Unsuccessful,
        },
    };
    Judged::Relevant(run_set, standing)
}

/// Whether retention deletes anything at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetentionDecision {
    /// Keep-last is 0: retention is off, nothing is deleted.
    Off,
    /// Fewer successful runs than keep-last: nothing is deleted.
    TooFewSuccessfulRuns,
    /// The newest keep-last successful runs are kept; sets of older runs go.
    Applies,
}

/// What retention keeps and soft-deletes for one schedule; print it (`Display`) before acting.
///
/// Rules: the sets of the newest `keep_last` successful (`succeeded` or `partially_succeeded`)
/// runs are kept; the sets of completed runs older than the oldest kept run are soft-deleted,
/// except a set that a kept or an active run references too; the set of an active run is never
/// touched; runs without a `backup_set_id` are ignored (they neither count nor lose anything),
/// and runs whose context, status or outcome cannot be read are skipped and reported.
/// With `keep_last = 0`, or fewer successful runs than `keep_last`, nothing is deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPlan {
    /// The schedule.
    pub schedule_id: BackupScheduleId,
    /// Its keep-last setting.
    pub keep_last: u32,
    /// How many completed successful runs with a set the schedule has.
    pub successful_runs: usize,
    /// The sets kept, newest first (distinct sets).
    pub kept: Vec<RunSet>,
    /// The sets to soft-delete, newest first (distinct sets, none deleted already).
    pub to_soft_delete: Vec<RunSet>,
    /// Sets retention would delete that are soft-deleted (or purged) already; not counted.
    pub already_deleted: Vec<RunSet>,
    /// Sets neither kept nor deleted, with the reason.
    pub left: Vec<LeftSet>,
    /// Runs that could not be judged (a field retention needs cannot be read): they count for
    /// nothing, and nothing is kept or deleted on their account.
    pub skipped: Vec<SkippedRun>,
}

impl RetentionPlan {
    /// Plans from the schedule's `backup_schedule_run` runs, in any order. Runs of other types
    /// or schedules, and runs without a `backup_set_id`, are ignored. Every set to delete is
    /// listed in [`RetentionPlan::to_soft_delete`] until
    /// [`RetentionPlan::exclude_deleted_sets`] moves the deleted ones out.
    #[must_use]
    pub fn from_runs(schedule: &BackupSchedule, runs: &[OperationRun]) -> Self {
        let mut relevant: Vec<(RunSet, Standing)> = Vec::new();
        let mut skipped = Vec::new();
        for run in runs
            .iter()
            .filter(|run| run.is_type(&RunType::BACKUP_SCHEDULE_RUN))
        {
            match judge(schedule.id, run) {
                Judged::Relevant(run_set, standing) => relevant.push((run_set, standing)),
                Judged::Ignored => {}
                Judged::Skipped(run) => skipped.push(run),
            }
        }
        relevant.sort_by_key(|(run_set, _)| std::cmp::Reverse(run_set.run));
        relevant.dedup_by_key(|(run_set, _)| run_set.run);
        skipped.sort_by_key(|s: &SkippedRun| std::cmp::Reverse(s.run));
        skipped.dedup_by_key(|s| s.run);

        let successful: Vec<RunSet> = relevant
            .iter()
            .filter(|(_, standing)| *standing == Standing::Successful)
            .map(|(run_set, _)| *run_set)
            .collect();
        let mut plan = Self {
            schedule_id: schedule.id,
            keep_last: schedule.keep_last,
            successful_runs: successful.len(),
            kept: Vec::new(),
            to_soft_delete: Vec::new(),
            already_deleted: Vec::new(),
            left: Vec::new(),
            skipped,
        };
        let keep_last = usize::try_from(schedule.keep_last).unwrap_or(usize::MAX);
        let kept_runs: Vec<RunSet> = match plan.decision() {
            RetentionDecision::Applies => successful.iter().take(keep_last).copied().collect(),
            // Nothing is deleted, so every successful run's set is kept.
            _ => successful,
        };
        let mut kept_sets: BTreeMap<BackupSetId, RunId> = BTreeMap::new();
        for run_set in &kept_runs {
            if kept_sets.insert(run_set.set, run_set.run).is_none() {
                plan.kept.push(*run_set);
            }
        }
        if plan.decision() != RetentionDecision::Applies {
            return plan;
        }
        let kept_run_ids: BTreeSet<RunId> = kept_runs.iter().map(|k| k.run).collect();
        let oldest_kept = kept_runs.last().map_or(RunId::new(i64::MAX), |k| k.run);
        let mut active_sets: BTreeMap<BackupSetId, RunId> = BTreeMap::new();
        for (run_set, standing) in &relevant {
            if *standing == Standing::Active {
                // Runs are newest first, so the first (newest) active referrer is named.
                active_sets.entry(run_set.set).or_insert(run_set.run);
            }
        }
        let mut doomed: BTreeSet<BackupSetId> = BTreeSet::new();
        for (run_set, standing) in &relevant {
            if kept_run_ids.contains(&run_set.run) {
                continue;
            }
            let reason = if *standing == Standing::Active {
                Some(LeftReason::ActiveRun)
            } else if let Some(kept_by) = kept_sets.get(&run_set.set) {
                Some(LeftReason::SharedWithKeptRun(*kept_by))
            } else if let Some(active) = active_sets.get(&run_set.set) {
                Some(LeftReason::SharedWithActiveRun(*active))
            } else if run_set.run > oldest_kept {
                Some(LeftReason::NewerThanOldestKept)
            } else {
                None
            };
            match reason {
                Some(reason) => plan.left.push(LeftSet {
                    run_set: *run_set,
                    reason,
                }),
                None => {
                    if doomed.insert(run_set.set) {
                        plan.to_soft_delete.push(*run_set);
                    }
                }
            }
        }
        plan
    }

    /// Moves the sets to delete that are soft-deleted already, or gone, to
    /// [`RetentionPlan::already_deleted`]. `sets` are the schedule's sets, deleted ones
    /// included; a set missing from it counts as gone.
    pub fn exclude_deleted_sets(&mut self, sets: &[BackupSet]) {
        let live: BTreeSet<BackupSetId> = sets
            .iter()
            .filter(|s| s.schedule_id == self.schedule_id && s.deleted_at.is_none())
            .map(|s| s.id)
            .collect();
        let (to_delete, gone): (Vec<RunSet>, Vec<RunSet>) = self
            .to_soft_delete
            .iter()
            .partition(|run_set| live.contains(&run_set.set));
        self.to_soft_delete = to_delete;
        self.already_deleted.extend(gone);
    }

    /// Whether retention deletes anything at all.
    #[must_use]
    pub fn decision(&self) -> RetentionDecision {
        let keep_last = usize::try_from(self.keep_last).unwrap_or(usize::MAX);
        if self.keep_last == 0 {
            RetentionDecision::Off
        } else if self.successful_runs < keep_last {
            RetentionDecision::TooFewSuccessfulRuns
        } else {
            RetentionDecision::Applies
        }
    }

    /// The oldest kept run, when retention applies.
    #[must_use]
    pub fn oldest_kept_run(&self) -> Option<RunId> {
        match self.decision() {
            RetentionDecision::Applies => self.kept.iter().map(|k| k.run).min(),
            _ => None,
        }
    }

    /// The ids of the sets to soft-delete.
    #[must_use]
    pub fn set_ids_to_soft_delete(&self) -> Vec<BackupSetId> {
        self.to_soft_delete.iter().map(|s| s.set).collect()
    }
}

fn write_sets(f: &mut fmt::Formatter<'_>, label: &str, sets: &[RunSet]) -> fmt::Result {
    let noun = if sets.len() == 1 { "set" } else { "sets" };
    write!(f, "\n  {label} {} {noun}", sets.len())?;
    for (i, run_set) in sets.iter().enumerate() {
        write!(f, "{}{run_set}", if i == 0 { ": " } else { ", " })?;
    }
    Ok(())
}

impl fmt::Display for RetentionPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "retention plan for backup schedule {} (keep last {}, {} successful runs with a set)",
            self.schedule_id, self.keep_last, self.successful_runs
        )?;
        match self.decision() {
            RetentionDecision::Off => {
                write!(f, "\n  retention is off (keep last 0): nothing is deleted")?;
            }
            RetentionDecision::TooFewSuccessfulRuns => write!(
                f,
                "\n  fewer successful runs than {}: nothing is deleted",
                self.keep_last
            )?,
            RetentionDecision::Applies => {}
        }
        write_sets(f, "keep", &self.kept)?;
        write_sets(f, "soft-delete", &self.to_soft_delete)?;
        if !self.already_deleted.is_empty() {
            write_sets(f, "already deleted", &self.already_deleted)?;
        }
        for left in &self.left {
            write!(f, "\n  leave {}: {}", left.run_set, left.reason)?;
        }
        for skipped in &self.skipped {
            write!(f, "\n  skip {skipped}")?;
        }
        Ok(())
    }
}
