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
type Out<T> = Result<T, PortError>;

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

/// Implements ports for [`Probe`]: each method records its call, fails if told to, and else
/// runs its body (by default, the same call on the memory store).
macro_rules! watched {
    ($(impl $port:ident {
        $(fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty $(=> |$probe:ident| $body:block)?;)*
    })*) => {$(
        #[async_trait]
        impl $port for Probe {
            $(async fn $name(&self, $($arg: $ty),*) -> $ret {
                self.enter(stringify!($name))?;
                watched!(@body self, $name($($arg),*) $(, $probe $body)?)
            })*
        }
    )*};
    (@body $self:ident, $name:ident($($arg:ident),*)) => {
        $self.store.$name($($arg),*).await
    };
    (@body $self:ident, $name:ident($($arg:ident),*), $probe:ident $body:block) => {{
        let $probe = $self;
        $body
    }};
}

watched! {
    impl RunLifecycle {
        fn insert_or_get_active(new: &NewOperationRun) -> Result<StartedRun, StartError>;
        fn transition(id: RunId, expected: RunStatus, next: &RunState,
            now: DateTime<Utc>) -> Out<OperationRun>;
        fn complete_if_stale(id: RunId, expected: RunStatus, heartbeat_before: DateTime<Utc>,
            next: &RunState, now: DateTime<Utc>) -> Out<OperationRun>;
        fn transition_with_counts(id: RunId, expected: RunStatus, next: &RunState,
            delta: &SummaryCounts, now: DateTime<Utc>) -> Out<OperationRun>;
        fn increment_counts(id: RunId, run_types: &[RunType], delta: &SummaryCounts,
            now: DateTime<Utc>) -> Out<OperationRun>;
        fn merge_context(id: RunId, patch: &RunContext, now: DateTime<Utc>) -> Out<OperationRun>;
    }
    impl RunQueries {
        fn get(id: RunId) -> Out<OperationRun>;
        fn list(query: &RunListQuery) -> Out<RunPage>;
        fn count_by_status(workspace: WorkspaceId, filter: &RunFilter,
            cap: u32) -> Out<StatusCounts>;
        fn find_stale(heartbeat_before: DateTime<Utc>, limit: u32) -> Out<Vec<OperationRun>>;
        fn latest_completed_with_identity(workspace: WorkspaceId, identity_hash: &IdentityHash,
            outcomes: &[RunOutcome]) -> Out<Option<OperationRun>> => |probe| {
            let found = probe
                .store
                .latest_completed_with_identity(workspace, identity_hash, outcomes)
                .await;
            let then = probe.watch().after_latest_completed.take();
            if let Some(then) = then {
                then();
            }
            found
        };
    }
    impl ScheduleRunHistory {
        fn schedule_history(query: &ScheduleHistoryQuery) -> Out<RunPage> => |probe| {
            probe.watch().history_pages.push((query.after, query.limit));
            probe.store.schedule_history(query).await
        };
        fn count_purgeable_schedule_history(criteria: &HistoryPurgeCriteria) -> Out<u64>;
        fn purge_schedule_history(criteria: &HistoryPurgeCriteria,
            batch_size: u32) -> Out<u64> => |probe| {
            probe.watch().purge_batches.push(batch_size);
            probe.store.purge_schedule_history(criteria, batch_size).await
        };
    }
    impl BackupRepository {
        fn get_schedule(id: BackupScheduleId) -> Out<BackupSchedule>;
        fn create_set(schedule: BackupScheduleId, name: &str, item_count: u64,
            now: DateTime<Utc>) -> Out<BackupSet>;
        fn list_sets(schedule: BackupScheduleId, include_deleted: bool) -> Out<Vec<BackupSet>>;
        fn soft_delete_sets(schedule: BackupScheduleId, ids: &[BackupSetId],
            now: DateTime<Utc>) -> Out<u64>;
        fn count_purgeable_sets(schedule: BackupScheduleId,
            deleted_before: DateTime<Utc>) -> Out<u64>;
        fn purge_sets(schedule: BackupScheduleId, deleted_before: DateTime<Utc>) -> Out<u64>;
    }
}
