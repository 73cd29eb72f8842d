//! The store as the schedule code sees it, watched: every call of the run, history and backup
//! ports is recorded and may be made to fail before it reaches the store.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use operation_runs_domain::{
    BackupScheduleId, BackupSetId, IdentityHash, NewOperationRun, OperationRun, RunContext, RunId,
    RunOutcome, RunState, RunStatus, RunType, SummaryCounts, WorkspaceId,
};
use operation_runs_memory::MemoryStore;
use operation_runs_ports::{
    BackupRepository, BackupSchedule, BackupSet, HistoryPurgeCriteria, PortError, RunCursor,
    RunFilter, RunLifecycle, RunListQuery, RunPage, RunQueries, ScheduleHistoryQuery,
    ScheduleRunHistory, StartError, StartedRun, StatusCounts,
};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

type Meanwhile = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct Watch {
    /// Port method name → error message it fails with.
    failing: BTreeMap<&'static str, String>,
    calls: Vec<&'static str>,
    history_pages: Vec<(Option<RunCursor>, u32)>,
    purge_batches: Vec<u32>,
    after_latest_completed: Option<Meanwhile>,
}

#[derive(Clone)]
pub struct Probe {
    store: MemoryStore,
    watch: Arc<Mutex<Watch>>,
}

impl Probe {
    pub fn new(store: MemoryStore) -> Self {
        Self {
            store,
            watch: Arc::default(),
        }
    }

    fn watch(&self) -> MutexGuard<'_, Watch> {
        self.watch.lock().unwrap()
    }

    pub fn fail(&self, method: &'static str, message: &str) {
        self.watch().failing.insert(method, message.to_owned());
    }

    pub fn heal(&self) {
        self.watch().failing.clear();
    }

    pub fn calls(&self) -> Vec<&'static str> {
        self.watch().calls.clone()
    }

    pub fn history_pages(&self) -> Vec<(Option<RunCursor>, u32)> {
        self.watch().history_pages.clone()
    }

    pub fn purge_batches(&self) -> Vec<u32> {
        self.watch().purge_batches.clone()
    }

    pub fn after_latest_completed(&self, then: Meanwhile) {
        self.watch().after_latest_completed = Some(then);
    }

    /// Records the call; fails it if asked to.
    fn enter(&self, method: &'static str) -> Result<(), PortError> {
        let mut watch = self.watch();
        watch.calls.push(method);
        match watch.failing.get(method) {
            Some(message) => Err(PortError::backend(message.clone())),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl RunLifecycle for Probe {
    async fn insert_or_get_active(&self, new: &NewOperationRun) -> Result<StartedRun, StartError> {
        self.enter("insert_or_get_active")?;
        self.store.insert_or_get_active(new).await
    }

    async fn transition(
        &self,
        id: RunId,
        expected: RunStatus,
        next: &RunState,
        now: DateTime<Utc>,
    ) -> Result<OperationRun, PortError> {
        self.enter("transition")?;
        self.store.transition(id, expected, next, now).await
    }

    async fn complete_if_stale(
        &self,
        id: RunId,
        expected: RunStatus,
        heartbeat_before: DateTime<Utc>,
        next: &RunState,
        now: DateTime<Utc>,
    ) -> Result<OperationRun, PortError> {
        self.enter("complete_if_stale")?;
        self.store
            .complete_if_stale(id, expected, heartbeat_before, next, now)
            .await
    }

    async fn transition_with_counts(
        &self,
        id: RunId,
        expected: RunStatus,
        next: &RunState,
        delta: &SummaryCounts,
        now: DateTime<Utc>,
    ) -> Result<OperationRun, PortError> {
        self.enter("transition_with_counts")?;
        self.store
            .transition_with_counts(id, expected, next, delta, now)
            .await
    }

    async fn increment_counts(
        &self,
        id: RunId,
        run_types: &[RunType],
        delta: &SummaryCounts,
        now: DateTime<Utc>,
    ) -> Result<OperationRun, PortError> {
        self.enter("increment_counts")?;
        self.store.increment_counts(id, run_types, delta, now).await
    }

    async fn merge_context(
        &self,
        id: RunId,
        patch: &RunContext,
        now: DateTime<Utc>,
    ) -> Result<OperationRun, PortError> {
        self.enter("merge_context")?;
        self.store.merge_context(id, patch, now).await
    }
}

#[async_trait]
impl RunQueries for Probe {
    async fn get(&self, id: RunId) -> Result<OperationRun, PortError> {
        self.enter("get")?;
        self.store.get(id).await
    }

    async fn list(&self, query: &RunListQuery) -> Result<RunPage, PortError> {
        self.enter("list")?;
        self.store.list(query).await
    }

    async fn count_by_status(
        &self,
        workspace: WorkspaceId,
        filter: &RunFilter,
        cap: u32,
    ) -> Result<StatusCounts, PortError> {
        self.enter("count_by_status")?;
        self.store.count_by_status(workspace, filter, cap).await
    }

    async fn find_stale(
        &self,
        heartbeat_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OperationRun>, PortError> {
        self.enter("find_stale")?;
        self.store.find_stale(heartbeat_before, limit).await
    }

    async fn latest_completed_with_identity(
        &self,
        workspace: WorkspaceId,
        identity_hash: &IdentityHash,
        outcomes: &[RunOutcome],
    ) -> Result<Option<OperationRun>, PortError> {
        self.enter("latest_completed_with_identity")?;
        let found = self
            .store
            .latest_completed_with_identity(workspace, identity_hash, outcomes)
            .await;
        let then = self.watch().after_latest_completed.take();
        if let Some(then) = then {
            then();
        }
        found
    }
}

#[async_trait]
impl ScheduleRunHistory for Probe {
    async fn schedule_history(&self, query: &ScheduleHistoryQuery) -> Result<RunPage, PortError> {
        self.enter("schedule_history")?;
        self.watch().history_pages.push((query.after, query.limit));
        self.store.schedule_history(query).await
    }

    async fn count_purgeable_schedule_history(
        &self,
        criteria: &HistoryPurgeCriteria,
    ) -> Result<u64, PortError> {
        self.enter("count_purgeable_schedule_history")?;
        self.store.count_purgeable_schedule_history(criteria).await
    }

    async fn purge_schedule_history(
        &self,
        criteria: &HistoryPurgeCriteria,
        batch_size: u32,
    ) -> Result<u64, PortError> {
        self.enter("purge_schedule_history")?;
        self.watch().purge_batches.push(batch_size);
        self.store
            .purge_schedule_history(criteria, batch_size)
            .await
    }
}

#[async_trait]
impl BackupRepository for Probe {
    async fn get_schedule(&self, id: BackupScheduleId) -> Result<BackupSchedule, PortError> {
        self.enter("get_schedule")?;
        self.store.get_schedule(id).await
    }

    async fn create_set(
        &self,
        schedule: BackupScheduleId,
        name: &str,
        item_count: u64,
        now: DateTime<Utc>,
    ) -> Result<BackupSet, PortError> {
        self.enter("create_set")?;
        self.store.create_set(schedule, name, item_count, now).await
    }

    async fn list_sets(
        &self,
        schedule: BackupScheduleId,
        include_deleted: bool,
    ) -> Result<Vec<BackupSet>, PortError> {
        self.enter("list_sets")?;
        self.store.list_sets(schedule, include_deleted).await
    }

    async fn soft_delete_sets(
        &self,
        schedule: BackupScheduleId,
        ids: &[BackupSetId],
        now: DateTime<Utc>,
    ) -> Result<u64, PortError> {
        self.enter("soft_delete_sets")?;
        self.store.soft_delete_sets(schedule, ids, now).await
    }

    async fn count_purgeable_sets(
        &self,
        schedule: BackupScheduleId,
        deleted_before: DateTime<Utc>,
    ) -> Result<u64, PortError> {
        self.enter("count_purgeable_sets")?;
        self.store
            .count_purgeable_sets(schedule, deleted_before)
            .await
    }

    async fn purge_sets(
        &self,
        schedule: BackupScheduleId,
        deleted_before: DateTime<Utc>,
    ) -> Result<u64, PortError> {
        self.enter("purge_sets")?;
        self.store.purge_sets(schedule, deleted_before).await
    }
}
