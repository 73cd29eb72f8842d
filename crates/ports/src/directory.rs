//! Workspaces, tenants and memberships: read by the access rules, written by provisioning.

use crate::error::PortError;
use crate::model::BackupSchedule;
use async_trait::async_trait;
use operation_runs_domain::{Membership, TenantId, UserId, WorkspaceId};

/// Workspaces, their tenants and members, as the access rules need them.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait WorkspaceDirectory: Send + Sync {
    /// The user's membership in the workspace; `None` if not a member (or no such workspace).
    ///
    /// # Errors
    /// [`PortError::Backend`] when the store fails.
    async fn membership(
        &self,
        workspace: WorkspaceId,
        user: UserId,
    ) -> Result<Option<Membership>, PortError>;

    /// The workspace a tenant belongs to; `None` if there is no such tenant.
    ///
    /// # Errors
    /// [`PortError::Backend`] when the store fails.
    async fn tenant_workspace(&self, tenant: TenantId) -> Result<Option<WorkspaceId>, PortError>;
}

/// Creates and finds workspaces, tenants, memberships and schedules: what a host's
/// administration (or a demo, or a test) does before runs exist. Not used by the use cases,
/// which only read these.
///
/// Names are not unique: the `find_*` methods answer the oldest (lowest id) match, so a caller
/// that creates what it does not find keeps finding the same row.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Provisioning: Send + Sync {
    /// Creates a workspace.
    ///
    /// # Errors
    /// [`PortError::Backend`] when the store fails.
    async fn create_workspace(&self, name: &str) -> Result<WorkspaceId, PortError>;

    /// Creates a tenant in a workspace.
    ///
    /// # Errors
    /// [`PortError::NotFound`] if the workspace does not exist; [`PortError::Backend`] when the
    /// store fails.
    async fn create_tenant(
        &self,
        workspace: WorkspaceId,
        name: &str,
    ) -> Result<TenantId, PortError>;

    /// Makes `user` a member of `workspace` with the given capabilities, or updates the
    /// capabilities of an existing member.
    ///
    /// # Errors
    /// [`PortError::NotFound`] if the workspace does not exist; [`PortError::Backend`] when the
    /// store fails.
    async fn add_member(
        &self,
        workspace: WorkspaceId,
        user: UserId,
        can_view_operations: bool,
        can_manage_operations: bool,
    ) -> Result<Membership, PortError>;

    /// Creates an enabled daily backup schedule of a tenant keeping the sets of its
    /// `keep_last` newest successful runs.
    ///
    /// # Errors
    /// [`PortError::NotFound`] if the workspace or tenant does not exist;
    /// [`PortError::Backend`] when the store fails or `keep_last` does not fit the store.
    async fn create_backup_schedule(
        &self,
        workspace: WorkspaceId,
        tenant: TenantId,
        name: &str,
        keep_last: u32,
    ) -> Result<BackupSchedule, PortError>;

    /// The oldest workspace named `name` (exact, case-sensitive match); `None` if there is none.
    ///
    /// # Errors
    /// [`PortError::Backend`] when the store fails.
    async fn find_workspace(&self, name: &str) -> Result<Option<WorkspaceId>, PortError>;

    /// The oldest tenant of `workspace` named `name`; `None` if the workspace has none (or
    /// does not exist). A tenant of another workspace is never returned.
    ///
    /// # Errors
    /// [`PortError::Backend`] when the store fails.
    async fn find_tenant(
        &self,
        workspace: WorkspaceId,
        name: &str,
    ) -> Result<Option<TenantId>, PortError>;

    /// The oldest backup schedule of `tenant` in `workspace` named `name`; `None` if there is
    /// none. A schedule of another tenant or workspace is never returned.
    ///
    /// # Errors
    /// [`PortError::Backend`] when the store fails (or a stored schedule cannot be read).
    async fn find_backup_schedule(
        &self,
        workspace: WorkspaceId,
        tenant: TenantId,
        name: &str,
    ) -> Result<Option<BackupSchedule>, PortError>;
}
