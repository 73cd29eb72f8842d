//! What pages and API share: parsing the request, asking the use cases, the access rules' order.

use crate::error::Refusal;
use crate::params::{HistoryParams, ListParams};
use crate::security::{check_origin, record_workspace};
use crate::{AppState, path_id};
use axum::http::HeaderMap;
use operation_runs_domain::{BackupScheduleId, OperationRun, RunId, UserId, WorkspaceId};
use operation_runs_ports::{
    BackupSchedule, BackupSet, RunCursor, RunListQuery, RunPage, StatusCounts,
};
use operation_runs_schedule_history::HistoryQuery;

fn workspace(segment: &str) -> Result<WorkspaceId, Refusal> {
    let id = path_id(segment)?;
    record_workspace(id);
    Ok(WorkspaceId::new(id))
}

/// A page of a workspace's runs, and how many match per status.
pub(crate) struct ListPage {
    pub(crate) workspace: WorkspaceId,
    pub(crate) params: ListParams,
    pub(crate) page: RunPage,
    pub(crate) counts: StatusCounts,
}

impl ListPage {
    /// The cursor of the page of older runs, if there are any.
    pub(crate) fn older(&self) -> Option<RunCursor> {
        match self.params.newer {
            // Walking back, the runs older than this page are the pages already seen.
            Some(_) => self.page.runs.last().map(|r| RunCursor(r.id())),
            None => self.page.next,
        }
    }

    /// The cursor of the page of newer runs, if there are any.
    pub(crate) fn newer(&self) -> Option<RunCursor> {
        match (self.params.newer, self.params.cursor) {
            (Some(_), _) => self.page.next,
            // A page reached by walking forward has newer runs: those before its cursor.
            (None, Some(_)) => self.page.runs.first().map(|r| RunCursor(r.id())),
            (None, None) => None,
        }
    }
}

/// A page of a workspace's runs.
pub(crate) async fn list(
    state: &AppState,
    viewer: UserId,
    workspace_segment: &str,
    raw_query: Option<&str>,
) -> Result<ListPage, Refusal> {
    let workspace = workspace(workspace_segment)?;
    let params = ListParams::parse(raw_query, state.service().registry())?;
    let query = RunListQuery {
        workspace_id: workspace,
        filter: params.filter.clone(),
        after: params.cursor,
        newer_than: params.newer,
        limit: params.limit,
    };
    let page = state.service().list_runs(viewer, &query).await?;
    let counts = state
        .service()
        .count_runs(viewer, workspace, &params.filter)
        .await?;
    Ok(ListPage {
        workspace,
        params,
        page,
        counts,
    })
}

/// A run, with whether its type is registered here and whether the viewer may cancel it.
pub(crate) struct ShownRun {
    pub(crate) run: OperationRun,
    pub(crate) registered: bool,
    pub(crate) cancellable: bool,
}

/// One run of a workspace.
pub(crate) async fn run(
    state: &AppState,
    viewer: UserId,
    workspace_segment: &str,
    run_segment: &str,
) -> Result<ShownRun, Refusal> {
    let workspace = workspace(workspace_segment)?;
    let id = RunId::new(path_id(run_segment)?);
    let service = state.service();
    let run = service.show_run(viewer, workspace, id).await?;
    let cancellable =
        run.is_active() == Some(true) && service.may_manage(viewer, workspace).await?;
    Ok(ShownRun {
        registered: service.registry().is_registered(run.run_type()),
        run,
        cancellable,
    })
}

/// Cancels a run of a workspace: same origin, then the view rules (so a non-member still
/// learns nothing), then the manage capability and the compare-and-set.
pub(crate) async fn cancel(
    state: &AppState,
    viewer: UserId,
    workspace_segment: &str,
    run_segment: &str,
    headers: &HeaderMap,
) -> Result<OperationRun, Refusal> {
    check_origin(headers, state.allowed_origins())?;
    let workspace = workspace(workspace_segment)?;
    let id = RunId::new(path_id(run_segment)?);
    let service = state.service();
    service.show_run(viewer, workspace, id).await?;
    let cancelled = service
        .cancel(viewer, id)
        .await
        .map_err(|error| match error {
            operation_runs_service::ServiceError::Forbidden => {
                Refusal::Forbidden("cancelling needs the capability to manage operations")
            }
            other => other.into(),
        })?;
    tracing::info!(run = %id, user = %viewer, "run cancelled");
    Ok(cancelled)
}

/// A page of a backup schedule's history with the schedule and its backup sets.
pub(crate) struct SchedulePage {
    pub(crate) schedule: BackupSchedule,
    pub(crate) params: HistoryParams,
    pub(crate) page: RunPage,
    pub(crate) sets: Vec<BackupSet>,
}

/// A page of a schedule's history.
pub(crate) async fn history(
    state: &AppState,
    viewer: UserId,
    workspace_segment: &str,
    schedule_segment: &str,
    raw_query: Option<&str>,
) -> Result<SchedulePage, Refusal> {
    let workspace = workspace(workspace_segment)?;
    let schedule_id = BackupScheduleId::new(path_id(schedule_segment)?);
    let params = HistoryParams::parse(raw_query)?;
    let mut query = HistoryQuery::new(workspace, schedule_id)
        .after(params.cursor)
        .limit(params.limit);
    if let Some(run_type) = &params.run_type {
        query = query.run_type(run_type.clone());
    }
    if let Some(outcome) = params.outcome {
        query = query.outcome(outcome);
    }
    let history = state.history();
    let page = history.page_for_viewer(viewer, &query).await?;
    let schedule = history.schedule(workspace, schedule_id).await?;
    let sets = if page
        .runs
        .iter()
        .any(|r| r.context().is_readable_and(|c| c.backup_set_id().is_some()))
    {
        history.sets(workspace, schedule_id).await?
    } else {
        Vec::new()
    };
    Ok(SchedulePage {
        schedule,
        params,
        page,
        sets,
    })
}
