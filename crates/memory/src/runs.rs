//! The run ports: lifecycle writes, queries and a schedule's history.

use crate::{MemoryStore, State, Table, stored_time, to_run};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use operation_runs_domain::context::keys as context_keys;
use operation_runs_domain::{
    BackupScheduleId, CountError, IdentityHash, NewOperationRun, OperationRun, RunContext, RunId,
    RunOutcome, RunRecord, RunState, RunStatus, RunType, Stored, SummaryCounts, WorkspaceId,
};
use operation_runs_ports::{
    CappedCount, HistoryPurgeCriteria, PortError, RunCursor, RunFilter, RunLifecycle, RunListQuery,
    RunPage, RunQueries, ScheduleHistoryQuery, ScheduleRunHistory, StartError, StartRefusal,
    StartedRun, StatusCounts,
};

/// A page of at most `limit` (at least 1) of `matching`, which must be newest first.
fn page<'a>(
    matching: impl Iterator<Item = &'a RunRecord>,
    limit: u32,
) -> Result<RunPage, PortError> {
    let limit = usize::try_from(limit.max(1)).unwrap_or(usize::MAX);
    let mut runs = Vec::new();
    let mut more = false;
    for record in matching {
        if runs.len() == limit {
            more = true;
            break;
        }
        runs.push(to_run(record));
    }
    let next = if more {
        runs.last().map(|run| RunCursor(run.id()))
    } else {
        None
    };
    Ok(RunPage { runs, next })
}

fn older_than(cursor: Option<RunCursor>, record: &RunRecord) -> bool {
    cursor.is_none_or(|RunCursor(id)| record.id < id)
}

/// Whether a run passes a list's filters (time bounds compared as stored, to the microsecond).
fn matches(f: &RunFilter, r: &RunRecord) -> bool {
    f.run_type.as_ref().is_none_or(|t| *t == r.run_type)
        && f.status.is_none_or(|s| r.status == s)
        && f.outcome.is_none_or(|o| r.outcome == o)
        && f.tenant_id.is_none_or(|t| Some(t) == r.tenant_id)
        && f.created_from
            .is_none_or(|from| r.created_at >= stored_time(from))
        && f.created_before
            .is_none_or(|before| r.created_at < stored_time(before))
}

fn overflow(error: CountError) -> PortError {
    match error {
        CountError::Overflow(name) => PortError::CountOverflow(name),
        other => PortError::backend(other),
    }
}

/// The refusal of an increment whose counts the run's type may not take.
fn not_among(id: RunId, run_type: &str) -> PortError {
    PortError::Conflict(format!(
        "run {id} is of type {run_type}, not one of the types given for these counts"
    ))
}

fn wrong_status(id: RunId, found: &Stored<RunStatus>, expected: &str) -> PortError {
    PortError::Conflict(format!("run {id} is {found}, expected {expected}"))
}

impl State {
    /// The run `id` if its status is `expected`, for a compare-and-set.
    fn run_in(&mut self, id: RunId, expected: RunStatus) -> Result<&mut RunRecord, PortError> {
        let record = self.runs.get_mut(&id).ok_or(PortError::NotFound)?;
        if record.status != expected {
            return Err(wrong_status(id, &record.status, expected.as_str()));
        }
        Ok(record)
    }

    /// The run `id` if it is active.
    fn active_run(&mut self, id: RunId) -> Result<&mut RunRecord, PortError> {
        let record = self.runs.get_mut(&id).ok_or(PortError::NotFound)?;
        if !record.status.is_readable_and(|s| s.is_active()) {
            return Err(wrong_status(id, &record.status, "queued or running"));
        }
        Ok(record)
    }

    /// A schedule's history runs (every backup-schedule type), in its workspace.
    fn history_of<'a>(
        &'a self,
        criteria: &'a HistoryPurgeCriteria,
    ) -> impl Iterator<Item = &'a RunRecord> + 'a {
        self.runs.values().filter(move |r| {
            r.workspace_id == criteria.workspace_id
                && schedule_of(r) == Some(criteria.schedule_id)
                && RunType::BACKUP_SCHEDULE_TYPES
                    .iter()
                    .any(|t| t.as_str() == r.run_type)
        })
    }

    /// What purge may delete: completed history runs created before the cutoff, except the
    /// newest run of each type.
    fn purgeable(&self, criteria: &HistoryPurgeCriteria) -> Vec<RunId> {
        let newest: Vec<RunId> = RunType::BACKUP_SCHEDULE_TYPES
            .iter()
            .filter_map(|t| {
                self.history_of(criteria)
                    .filter(|r| r.run_type == t.as_str())
                    .map(|r| r.id)
                    .max()
            })
            .collect();
        self.history_of(criteria)
            .filter(|r| {
                r.status == RunStatus::Completed
                    && r.created_at < stored_time(criteria.created_before)
                    && !newest.contains(&r.id)
            })
            .map(|r| r.id)
            .collect()
    }
}

fn set_state(record: &mut RunRecord, next: &RunState, now: DateTime<Utc>) {
    let mut next = next.clone();
    next.started_at = next.started_at.map(stored_time);
    next.completed_at = next.completed_at.map(stored_time);
    record.set_state(next);
    record.updated_at = stored_time(now);
}

/// The run's `context.backup_schedule_id` as the SQL stores' index reads it: an integer, found
/// in a context that breaks today's rules elsewhere too.
fn schedule_of(record: &RunRecord) -> Option<BackupScheduleId> {
    match &record.context {
        Stored::Readable(context) => context.backup_schedule_id(),
        Stored::Unreadable(unreadable) => {
            serde_json::from_str::<serde_json::Value>(unreadable.raw())
                .ok()?
                .get(context_keys::BACKUP_SCHEDULE_ID)?
                .as_i64()
                .map(BackupScheduleId::new)
        }
    }
}

/// The counts of a run, to add to: counts that cannot be read are not guessed at.
fn counts_of(record: &mut RunRecord) -> Result<&mut SummaryCounts, PortError> {
    let id = record.id;
    match &mut record.summary_counts {
        Stored::Readable(counts) => Ok(counts),
        Stored::Unreadable(unreadable) => Err(PortError::Conflict(format!(
            "run {id}'s stored counts cannot be read: {}",
            unreadable.reason()
        ))),
    }
}

#[async_trait]
impl RunLifecycle for MemoryStore {
    async fn insert_or_get_active(&self, new: &NewOperationRun) -> Result<StartedRun, StartError> {
        let mut state = self.state();
        // A tenant is checked first, as the SQL store's one statement does: a tenant named with
        // an unknown workspace is refused as not being that workspace's.
        if let Some(tenant) = new.tenant_id
            && state.tenants.get(&tenant) != Some(&new.workspace_id)
        {
            return Err(StartRefusal::TenantNotInWorkspace {
                tenant,
                workspace: new.workspace_id,
            }
            .into());
        }
        if !state.workspaces.contains_key(&new.workspace_id) {
            return Err(StartRefusal::UnknownWorkspace(new.workspace_id).into());
        }
        let active = state.runs.values().find(|r| {
            r.workspace_id == new.workspace_id
                && r.identity_hash == new.identity_hash
                && r.status.is_readable_and(|s| s.is_active())
        });
        if let Some(active) = active {
            return Ok(StartedRun {
                run: to_run(active),
                reused: true,
            });
        }
        let created = stored_time(new.created_at);
        let mut record = RunRecord::queued(RunId::new(state.next_id(Table::Runs)), new);
        record.created_at = created;
        record.updated_at = created;
        let run = to_run(&record);
        state.runs.insert(record.id, record);
        Ok(StartedRun { run, reused: false })
    }

    async fn transition(
        &self,
        id: RunId,
        expected: RunStatus,
        next: &RunState,
        now: DateTime<Utc>,
    ) -> Result<OperationRun, PortError> {
        let mut state = self.state();
        let record = state.run_in(id, expected)?;
        set_state(record, next, now);
        Ok(to_run(record))
    }

    async fn complete_if_stale(
        &self,
        id: RunId,
        expected: RunStatus,
        heartbeat_before: DateTime<Utc>,
        next: &RunState,
        now: DateTime<Utc>,
    ) -> Result<OperationRun, PortError> {
        let mut state = self.state();
        let record = state.run_in(id, expected)?;
        if record.updated_at >= stored_time(heartbeat_before) {
            return Err(PortError::Conflict(format!(
                "run {id} has a heartbeat at {}, not before {}",
                record.updated_at.to_rfc3339(),
                heartbeat_before.to_rfc3339()
            )));
        }
        set_state(record, next, now);
        Ok(to_run(record))
    }

    async fn transition_with_counts(
        &self,
        id: RunId,
        expected: RunStatus,
        next: &RunState,
        delta: &SummaryCounts,
        now: DateTime<Utc>,
    ) -> Result<OperationRun, PortError> {
        let mut state = self.state();
        let record = state.run_in(id, expected)?;
        // All or nothing: an overflow leaves the counts as they were.
        counts_of(record)?.merge(delta).map_err(overflow)?;
        set_state(record, next, now);
        Ok(to_run(record))
    }

    async fn increment_counts(
        &self,
        id: RunId,
        run_types: &[RunType],
        delta: &SummaryCounts,
        now: DateTime<Utc>,
    ) -> Result<OperationRun, PortError> {
        let mut state = self.state();
        let record = state.active_run(id)?;
        if !run_types.iter().any(|t| t.as_str() == record.run_type) {
            return Err(not_among(id, &record.run_type));
        }
        // All or nothing: an overflow leaves the counts as they were.
        counts_of(record)?.merge(delta).map_err(overflow)?;
        record.updated_at = stored_time(now);
        Ok(to_run(record))
    }

    async fn merge_context(
        &self,
        id: RunId,
        patch: &RunContext,
        now: DateTime<Utc>,
    ) -> Result<OperationRun, PortError> {
        let mut state = self.state();
        let record = state.active_run(id)?;
        let Stored::Readable(context) = &mut record.context else {
            return Err(PortError::Conflict(format!(
                "run {id}'s stored context cannot be read"
            )));
        };
        if let serde_json::Value::Object(patch) = patch.to_json() {
            for (key, value) in patch {
                *context = std::mem::take(context).with(&key, value);
            }
        }
        record.updated_at = stored_time(now);
        Ok(to_run(record))
    }
}

#[async_trait]
impl RunQueries for MemoryStore {
    async fn get(&self, id: RunId) -> Result<OperationRun, PortError> {
        Ok(to_run(self.state().run(id)?))
    }

    async fn list(&self, query: &RunListQuery) -> Result<RunPage, PortError> {
        let state = self.state();
        let listed = |r: &&RunRecord| {
            r.workspace_id == query.workspace_id
                && matches(&query.filter, r)
                && older_than(query.after, r)
        };
        let Some(RunCursor(newer_than)) = query.newer_than else {
            return page(state.runs.values().rev().filter(listed), query.limit);
        };
        // Walking back: the `limit` runs just newer than the cursor, newest first, and the
        // cursor of still newer runs if there are any.
        let limit = usize::try_from(query.limit.max(1)).unwrap_or(usize::MAX);
        let newer: Vec<&RunRecord> = state
            .runs
            .range(RunId::new(newer_than.get().saturating_add(1))..)
            .map(|(_, r)| r)
            .filter(listed)
            .take(limit + 1)
            .collect();
        let more = newer.len() > limit;
        let mut runs = newer
            .into_iter()
            .take(limit)
            .map(to_run)
            .collect::<Vec<_>>();
        runs.reverse();
        let next = if more {
            runs.first().map(|r| RunCursor(r.id()))
        } else {
            None
        };
        Ok(RunPage { runs, next })
    }

    async fn count_by_status(
        &self,
        workspace: WorkspaceId,
        filter: &RunFilter,
        cap: u32,
    ) -> Result<StatusCounts, PortError> {
        let state = self.state();
        let count = |status: RunStatus| {
            let filter = RunFilter {
                status: Some(status),
                ..filter.clone()
            };
            let counted = state
                .runs
                .values()
                .filter(|r| r.workspace_id == workspace && matches(&filter, r))
                .take(usize::try_from(cap).unwrap_or(usize::MAX).saturating_add(1))
                .count();
            CappedCount::of(counted as u64, cap)
        };
        Ok(StatusCounts {
            queued: count(RunStatus::Queued),
            running: count(RunStatus::Running),
            completed: count(RunStatus::Completed),
        })
    }

    async fn find_stale(
        &self,
        heartbeat_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OperationRun>, PortError> {
        let state = self.state();
        let heartbeat_before = stored_time(heartbeat_before);
        let mut stale: Vec<&RunRecord> = state
            .runs
            .values()
            .filter(|r| {
                r.status.is_readable_and(|s| s.is_active()) && r.updated_at < heartbeat_before
            })
            .collect();
        stale.sort_by_key(|r| (r.updated_at, r.id));
        Ok(stale
            .into_iter()
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .map(to_run)
            .collect())
    }

    async fn latest_completed_with_identity(
        &self,
        workspace: WorkspaceId,
        identity_hash: &IdentityHash,
        outcomes: &[RunOutcome],
    ) -> Result<Option<OperationRun>, PortError> {
        let state = self.state();
        Ok(state
            .runs
            .values()
            .rev()
            .find(|r| {
                r.workspace_id == workspace
                    && r.identity_hash == *identity_hash
                    && r.status == RunStatus::Completed
                    && (outcomes.is_empty() || outcomes.iter().any(|o| r.outcome == *o))
            })
            .map(to_run))
    }
}

#[async_trait]
impl ScheduleRunHistory for MemoryStore {
    async fn schedule_history(&self, query: &ScheduleHistoryQuery) -> Result<RunPage, PortError> {
        let state = self.state();
        let matching = state.runs.values().rev().filter(|r| {
            r.workspace_id == query.workspace_id
                && schedule_of(r) == Some(query.schedule_id)
                && query.run_types.iter().any(|t| t.as_str() == r.run_type)
                && (query.outcomes.is_empty() || query.outcomes.iter().any(|o| r.outcome == *o))
                && older_than(query.after, r)
        });
        page(matching, query.limit)
    }

    async fn count_purgeable_schedule_history(
        &self,
        criteria: &HistoryPurgeCriteria,
    ) -> Result<u64, PortError> {
        Ok(self.state().purgeable(criteria).len() as u64)
    }

    async fn purge_schedule_history(
        &self,
        criteria: &HistoryPurgeCriteria,
        _batch_size: u32,
    ) -> Result<u64, PortError> {
        // One lock for the whole purge: batches exist to bound a database's locks, and this
        // store's one lock is held only for the time it takes to delete from memory.
        let mut state = self.state();
        let doomed = state.purgeable(criteria);
        for id in &doomed {
            state.runs.remove(id);
        }
        // The databases' `ON DELETE SET NULL` on every reference to a run.
        for finding in state.findings.values_mut() {
            for reference in [
                &mut finding.baseline_operation_run_id,
                &mut finding.current_operation_run_id,
            ] {
                if reference.is_some_and(|run| doomed.contains(&run)) {
                    *reference = None;
                }
            }
        }
        for item in state.items.values_mut() {
            if item
                .last_seen_operation_run_id
                .is_some_and(|run| doomed.contains(&run))
            {
                item.last_seen_operation_run_id = None;
            }
        }
        Ok(doomed.len() as u64)
    }
}
