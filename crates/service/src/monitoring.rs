//! Reads for a viewer, under the product's 404/403 rules.

use crate::error::ServiceError;
use crate::service::{MAX_PAGE_SIZE, OperationRunService};
use operation_runs_domain::{Capability, OperationRun, RunId, UserId, WorkspaceId, authorize};
use operation_runs_ports::{RunFilter, RunListQuery, RunPage, StatusCounts};

impl OperationRunService {
    /// Checks that `viewer` may use `capability` in `workspace`: the rule every read and
    /// write for a viewer applies first (for crates that build further use cases, such as a
    /// backup schedule's history).
    ///
    /// # Errors
    /// [`ServiceError::NotFound`] for a viewer who is not a member (or an unknown workspace);
    /// [`ServiceError::Forbidden`] for a member without the capability;
    /// [`ServiceError::Port`] when the directory fails.
    pub async fn authorize(
        &self,
        viewer: UserId,
        workspace: WorkspaceId,
        capability: Capability,
    ) -> Result<(), ServiceError> {
        let membership = self.ports.directory.membership(workspace, viewer).await?;
        Ok(authorize(membership, capability)?)
    }

    /// Whether the viewer may cancel runs of `workspace` (the view and the manage capability),
    /// so a screen offers cancelling only to those whose cancel would be accepted; `false` for a
    /// non-member.
    ///
    /// # Errors
    /// [`ServiceError::Port`] when the directory fails.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn may_manage(
        &self,
        viewer: UserId,
        workspace: WorkspaceId,
    ) -> Result<bool, ServiceError> {
        match self
            .authorize(viewer, workspace, Capability::ManageOperations)
            .await
        {
            Ok(()) => Ok(true),
            Err(ServiceError::NotFound | ServiceError::Forbidden) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// One run of a workspace, for a viewer.
    ///
    /// # Errors
    /// [`ServiceError::NotFound`] if the run does not exist, belongs to another workspace than
    /// `workspace`, or the viewer is not a member; [`ServiceError::Forbidden`] for a member
    /// without the view capability; [`ServiceError::Port`] when the store fails.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn show_run(
        &self,
        viewer: UserId,
        workspace: WorkspaceId,
        run: RunId,
    ) -> Result<OperationRun, ServiceError> {
        let found = self.ports.queries.get(run).await?;
        if found.workspace_id() != workspace {
            return Err(ServiceError::NotFound);
        }
        self.authorize(viewer, workspace, Capability::ViewOperations)
            .await?;
        Ok(found.with_declared_counts(&self.registry))
    }

    /// A page of a workspace's runs, newest first, for a viewer; `query.limit` runs at most,
    /// 1 to [`MAX_PAGE_SIZE`]. Runs are read tolerantly ([`operation_runs_domain::Stored`]):
    /// besides what the store finds unreadable, counts a registered type does not declare are
    /// shown as unreadable.
    ///
    /// # Errors
    /// [`ServiceError::InvalidPageSize`] for a limit of 0 or above [`MAX_PAGE_SIZE`] (checked
    /// before anything is read); [`ServiceError::NotFound`] if the viewer is not a member of the
    /// workspace;
    /// [`ServiceError::Forbidden`] for a member without the view capability;
    /// [`ServiceError::Port`] when the store fails.
    #[tracing::instrument(skip(self, query), fields(workspace = %query.workspace_id), err(level = "debug"))]
    pub async fn list_runs(
        &self,
        viewer: UserId,
        query: &RunListQuery,
    ) -> Result<RunPage, ServiceError> {
        if !(1..=MAX_PAGE_SIZE).contains(&query.limit) {
            return Err(ServiceError::InvalidPageSize {
                requested: query.limit,
                max: MAX_PAGE_SIZE,
            });
        }
        self.authorize(viewer, query.workspace_id, Capability::ViewOperations)
            .await?;
        let mut page = self.ports.queries.list(query).await?;
        page.runs = page
            .runs
            .into_iter()
            .map(|run| run.with_declared_counts(&self.registry))
            .collect();
        Ok(page)
    }

    /// For each status, how many of a workspace's runs match `filter` (its own status ignored),
    /// each counted up to [`STATUS_COUNT_CAP`] so a huge history never makes a list slow: the
    /// counts a monitoring list shows beside its pages.
    ///
    /// # Errors
    /// [`ServiceError::NotFound`] if the viewer is not a member of the workspace;
    /// [`ServiceError::Forbidden`] for a member without the view capability;
    /// [`ServiceError::Port`] when the store fails.
    #[tracing::instrument(skip(self, filter), err(level = "debug"))]
    pub async fn count_runs(
        &self,
        viewer: UserId,
        workspace: WorkspaceId,
        filter: &RunFilter,
    ) -> Result<StatusCounts, ServiceError> {
        self.authorize(viewer, workspace, Capability::ViewOperations)
            .await?;
        Ok(self
            .ports
            .queries
            .count_by_status(workspace, filter, STATUS_COUNT_CAP)
            .await?)
    }
}

/// The bound of each count of [`OperationRunService::count_runs`]: beyond it a list says
/// "10,000+" rather than reading further.
pub const STATUS_COUNT_CAP: u32 = 10_000;
