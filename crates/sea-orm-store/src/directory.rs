//! `WorkspaceDirectory`: memberships and tenants, for the access rules.

use crate::SeaOrmStore;
use crate::entity::{tenants, workspace_memberships};
use crate::error::map_db_err;
use async_trait::async_trait;
use operation_runs_domain::{Membership, TenantId, UserId, WorkspaceId};
use operation_runs_ports::{PortError, WorkspaceDirectory};
use sea_orm::EntityTrait;

#[async_trait]
impl WorkspaceDirectory for SeaOrmStore {
    #[tracing::instrument(level = "debug", skip(self), err)]
    async fn membership(
        &self,
        workspace: WorkspaceId,
        user: UserId,
    ) -> Result<Option<Membership>, PortError> {
        let row = workspace_memberships::Entity::find_by_id((workspace.get(), user.get()))
            .one(&self.conn)
            .await
            .map_err(map_db_err)?;
        Ok(row.map(|m| Membership {
            can_view_operations: m.can_view_operations,
            can_manage_operations: m.can_manage_operations,
        }))
    }

    #[tracing::instrument(level = "debug", skip(self), err)]
    async fn tenant_workspace(&self, tenant: TenantId) -> Result<Option<WorkspaceId>, PortError> {
        let row = tenants::Entity::find_by_id(tenant.get())
            .one(&self.conn)
            .await
            .map_err(map_db_err)?;
        Ok(row.map(|t| WorkspaceId::new(t.workspace_id)))
    }
}
