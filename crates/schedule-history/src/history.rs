//! Reading a schedule's history out of `operation_runs`.

use crate::error::ScheduleError;
use operation_runs_domain::{
    BackupScheduleId, Capability, OperationRun, RunOutcome, RunType, UserId, WorkspaceId,
};
use operation_runs_ports::{
    BackupRepository, BackupSchedule, PortError, RunCursor, RunPage, RunStore,
    ScheduleHistoryQuery, ScheduleRunHistory,
};
use operation_runs_service::OperationRunService;
use std::fmt;
use std::sync::Arc;

/// Page size of a [`HistoryQuery`] unless set.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Largest page a [`HistoryQuery`] asks for; larger limits are lowered to it.
pub const MAX_PAGE_SIZE: u32 = 500;
/// Page size used when walking a whole history (retention and purge planning).
const WALK_PAGE_SIZE: u32 = 200;

/// A page request of one schedule's history. Build it with [`HistoryQuery::new`] and the
/// builder methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryQuery {
    /// The workspace the caller is in; a schedule of another workspace is not found.
    pub workspace_id: WorkspaceId,
    /// The schedule.
    pub schedule_id: BackupScheduleId,
    /// Backup-schedule types to include; empty means all three.
    pub run_types: Vec<RunType>,
    /// Outcomes to include (`pending` for active runs); empty means any.
    pub outcomes: Vec<RunOutcome>,
    /// Runs strictly older than this cursor (from the previous page's `next`).
    pub after: Option<RunCursor>,
    /// Page size, 1 to [`MAX_PAGE_SIZE`] (0 is read as 1, more as the maximum).
    pub limit: u32,
}

impl HistoryQuery {
    /// The first page of the whole history, [`DEFAULT_PAGE_SIZE`] runs.
    #[must_use]
    pub fn new(workspace_id: WorkspaceId, schedule_id: BackupScheduleId) -> Self {
        Self {
            workspace_id,
            schedule_id,
            run_types: Vec::new(),
            outcomes: Vec::new(),
            after: None,
            limit: DEFAULT_PAGE_SIZE,
        }
    }

    /// Includes a type (call again for more).
    #[must_use]
    pub fn run_type(mut self, run_type: RunType) -> Self {
        self.run_types.push(run_type);
        self
    }

    /// Includes an outcome (call again for more).
    #[must_use]
    pub fn outcome(mut self, outcome: RunOutcome) -> Self {
        self.outcomes.push(outcome);
        self
    }

    /// Continues after a cursor.
    #[must_use]
    pub fn after(mut self, cursor: Option<RunCursor>) -> Self {
        self.after = cursor;
        self
    }

    /// Sets the page size.
    #[must_use]
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }

    fn to_port(&self) -> Result<ScheduleHistoryQuery, ScheduleError> {
        let mut run_types = Vec::new();
        for run_type in &self.run_types {
            if !RunType::BACKUP_SCHEDULE_TYPES.contains(run_type) {
                return Err(ScheduleError::InvalidQuery(format!(
                    "`{run_type}` is not a backup-schedule run type"
                )));
            }
            if !run_types.contains(run_type) {
                run_types.push(run_type.clone());
            }
        }
        if run_types.is_empty() {
            run_types = RunType::BACKUP_SCHEDULE_TYPES.to_vec();
        }
        let mut outcomes = self.outcomes.clone();
        outcomes.sort_by_key(|o| o.as_str());
        outcomes.dedup();
        Ok(ScheduleHistoryQuery {
            workspace_id: self.workspace_id,
            schedule_id: self.schedule_id,
            run_types,
            outcomes,
            after: self.after,
            limit: self.limit.clamp(1, MAX_PAGE_SIZE),
        })
    }
}

/// The newest run of each backup-schedule type, and the newest successful backup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LatestRuns {
    /// Newest `backup_schedule_run`, whatever its state.
    pub backup: Option<OperationRun>,
    /// Newest `backup_schedule_retention`.
    pub retention: Option<OperationRun>,
    /// Newest `backup_schedule_purge`.
    pub purge: Option<OperationRun>,
    /// Newest `backup_schedule_run` that completed `succeeded` or `partially_succeeded`.
    pub successful_backup: Option<OperationRun>,
}

/// The ports of the schedule use cases, besides the run service's; a host fills them from one
/// store with [`SchedulePorts::from_store`].
#[derive(Clone)]
pub struct SchedulePorts {
    /// The schedules' run history.
    pub history: Arc<dyn ScheduleRunHistory>,
    /// Schedules and backup sets.
    pub backups: Arc<dyn BackupRepository>,
}

impl SchedulePorts {
    /// Both ports from one store.
    #[must_use]
    pub fn from_store<S: RunStore + 'static>(store: Arc<S>) -> Self {
        Self {
            history: store.clone(),
            backups: store,
        }
    }
}

/// Read side: a schedule's history, newest first, scoped to the schedule's workspace.
#[derive(Clone)]
pub struct ScheduleHistory {
    service: OperationRunService,
    pub(crate) ports: SchedulePorts,
    walk_page_size: u32,
}

impl fmt::Debug for ScheduleHistory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScheduleHistory")
            .field("walk_page_size", &self.walk_page_size)
            .finish_non_exhaustive()
    }
}

impl ScheduleHistory {
    /// Reads over the schedule ports; access is checked by `service`'s rules.
    #[must_use]
    pub fn new(service: OperationRunService, ports: SchedulePorts) -> Self {
        Self {
            service,
            ports,
            walk_page_size: WALK_PAGE_SIZE,
        }
    }

    /// Sets the page size used when a whole history is read (default 200); at least 1.
    #[must_use]
    pub fn with_walk_page_size(mut self, size: u32) -> Self {
        self.walk_page_size = size.max(1);
        self
    }

    /// The schedule, if it belongs to `workspace`.
    ///
    /// # Errors
    /// [`ScheduleError::NotFound`] if there is no such schedule or it belongs to another
    /// workspace; [`ScheduleError::Port`] when the store fails.
    pub async fn schedule(
        &self,
        workspace: WorkspaceId,
        schedule: BackupScheduleId,
    ) -> Result<BackupSchedule, ScheduleError> {
        match self.ports.backups.get_schedule(schedule).await {
            Ok(found) if found.workspace_id == workspace => Ok(found),
            Ok(_) | Err(PortError::NotFound) => Err(ScheduleError::NotFound),
            Err(other) => Err(other.into()),
        }
    }

    /// Checks that a viewer may see `workspace`'s operations (the product's 404/403 rules).
    ///
    /// # Errors
    /// [`ScheduleError::NotFound`] for a non-member, [`ScheduleError::Forbidden`] for a member
    /// without the view capability, [`ScheduleError::Port`] when the directory fails.
    pub async fn authorize_viewer(
        &self,
        viewer: UserId,
        workspace: WorkspaceId,
    ) -> Result<(), ScheduleError> {
        Ok(self
            .service
            .authorize(viewer, workspace, Capability::ViewOperations)
            .await?)
    }

    /// One page of a schedule's history, newest first.
    ///
    /// # Errors
    /// [`ScheduleError::InvalidQuery`] for a type outside the three backup-schedule types;
    /// [`ScheduleError::NotFound`] if the schedule does not exist in the query's workspace;
    /// [`ScheduleError::Port`] when a store fails.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn page(&self, query: &HistoryQuery) -> Result<RunPage, ScheduleError> {
        let port_query = query.to_port()?;
        self.schedule(query.workspace_id, query.schedule_id).await?;
        Ok(self.ports.history.schedule_history(&port_query).await?)
    }

    /// [`ScheduleHistory::page`] for a viewer: membership is checked first, so a non-member
    /// cannot learn whether the schedule exists.
    ///
    /// # Errors
    /// As [`ScheduleHistory::authorize_viewer`] and [`ScheduleHistory::page`].
    #[tracing::instrument(
        skip(self, query),
        fields(workspace = %query.workspace_id, schedule = %query.schedule_id),
        err(level = "debug")
    )]
    pub async fn page_for_viewer(
        &self,
        viewer: UserId,
        query: &HistoryQuery,
    ) -> Result<RunPage, ScheduleError> {
        self.authorize_viewer(viewer, query.workspace_id).await?;
        self.page(query).await
    }

    /// Every run of the history matching the query from `query.after` on, newest first,
    /// read page by page (`query.limit` is ignored; see [`ScheduleHistory::with_walk_page_size`]).
    ///
    /// # Errors
    /// As [`ScheduleHistory::page`]; [`ScheduleError::InconsistentHistory`] if the store hands
    /// out a cursor that does not move on.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn all(&self, query: &HistoryQuery) -> Result<Vec<OperationRun>, ScheduleError> {
        let port_query = query.to_port()?;
        self.schedule(query.workspace_id, query.schedule_id).await?;
        self.walk(port_query).await
    }

    /// The newest run of each type and the newest successful backup.
    ///
    /// # Errors
    /// [`ScheduleError::NotFound`] if the schedule does not exist in `workspace`;
    /// [`ScheduleError::Port`] when a store fails.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn latest(
        &self,
        workspace: WorkspaceId,
        schedule: BackupScheduleId,
    ) -> Result<LatestRuns, ScheduleError> {
        self.schedule(workspace, schedule).await?;
        let newest = |run_type: RunType, outcomes: Vec<RunOutcome>| {
            let query = ScheduleHistoryQuery {
                workspace_id: workspace,
                schedule_id: schedule,
                run_types: vec![run_type],
                outcomes,
                after: None,
                limit: 1,
            };
            async move {
                let page = self.ports.history.schedule_history(&query).await?;
                Ok::<_, ScheduleError>(page.runs.into_iter().next())
            }
        };
        Ok(LatestRuns {
            backup: newest(RunType::BACKUP_SCHEDULE_RUN, Vec::new()).await?,
            retention: newest(RunType::BACKUP_SCHEDULE_RETENTION, Vec::new()).await?,
            purge: newest(RunType::BACKUP_SCHEDULE_PURGE, Vec::new()).await?,
            successful_backup: newest(
                RunType::BACKUP_SCHEDULE_RUN,
                vec![RunOutcome::Succeeded, RunOutcome::PartiallySucceeded],
            )
            .await?,
        })
    }

    /// [`ScheduleHistory::latest`] for a viewer.
    ///
    /// # Errors
    /// As [`ScheduleHistory::authorize_viewer`] and [`ScheduleHistory::latest`].
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn latest_for_viewer(
        &self,
        viewer: UserId,
        workspace: WorkspaceId,
        schedule: BackupScheduleId,
    ) -> Result<LatestRuns, ScheduleError> {
        self.authorize_viewer(viewer, workspace).await?;
        self.latest(workspace, schedule).await
    }

    /// Every run of a (looked-up) schedule of the given types and outcomes, newest first.
    pub(crate) async fn walk_schedule(
        &self,
        schedule: &BackupSchedule,
        run_types: &[RunType],
        outcomes: &[RunOutcome],
    ) -> Result<Vec<OperationRun>, ScheduleError> {
        self.walk(ScheduleHistoryQuery {
            workspace_id: schedule.workspace_id,
            schedule_id: schedule.id,
            run_types: run_types.to_vec(),
            outcomes: outcomes.to_vec(),
            after: None,
            limit: self.walk_page_size,
        })
        .await
    }

    async fn walk(
        &self,
        mut query: ScheduleHistoryQuery,
    ) -> Result<Vec<OperationRun>, ScheduleError> {
        query.limit = self.walk_page_size;
        let mut all = Vec::new();
        loop {
            let page = self.ports.history.schedule_history(&query).await?;
            let empty = page.runs.is_empty();
            all.extend(page.runs);
            match page.next {
                None => break,
                Some(_) if empty => break,
                Some(next) => {
                    // Pages go newest first, so each cursor must be strictly older than the
                    // last; anything else would loop forever.
                    if query.after.is_some_and(|previous| next >= previous) {
                        return Err(ScheduleError::InconsistentHistory(format!(
                            "cursor {} does not move past {:?}",
                            next.encode(),
                            query.after.map(RunCursor::encode)
                        )));
                    }
                    query.after = Some(next);
                }
            }
        }
        Ok(all)
    }
}
