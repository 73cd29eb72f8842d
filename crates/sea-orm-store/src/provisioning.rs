//! `Provisioning`: workspaces, tenants, memberships and schedules, for hosts' administration,
//! demos and tests. Look-ups take the lowest id, as the port's contract says.

use crate::SeaOrmStore;
use crate::convert::{self, db_time};
use crate::entity::{backup_schedules, tenants, workspace_memberships, workspaces};
use crate::error::{StoreError, map_db_err};
use async_trait::async_trait;
use chrono::Utc;
use operation_runs_domain::{Membership, TenantId, UserId, WorkspaceId};
use operation_runs_ports::{BackupSchedule, PortError, Provisioning};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
    Select, Set,
};

impl SeaOrmStore {
    /// The row with the lowest `id` among those `query` selects.
    async fn oldest<E: EntityTrait>(
        &self,
        query: Select<E>,
        id: E::Column,
    ) -> Result<Option<E::Model>, PortError> {
        query
            .order_by_asc(id)
            .one(&self.conn)
            .await
            .map_err(map_db_err)
    }
}

#[async_trait]
impl Provisioning for SeaOrmStore {
    #[tracing::instrument(level = "debug", skip(self), err)]
    async fn create_workspace(&self, name: &str) -> Result<WorkspaceId, PortError> {
        let row = workspaces::ActiveModel {
            id: NotSet,
            name: Set(name.to_owned()),
            created_at: Set(db_time(Utc::now())),
        }
        .insert(&self.conn)
        .await
        .map_err(map_db_err)?;
        Ok(WorkspaceId::new(row.id))
    }

    #[tracing::instrument(level = "debug", skip(self), err)]
    async fn create_tenant(
        &self,
        workspace: WorkspaceId,
        name: &str,
    ) -> Result<TenantId, PortError> {
        let row = tenants::ActiveModel {
            id: NotSet,
            workspace_id: Set(workspace.get()),
            name: Set(name.to_owned()),
            created_at: Set(db_time(Utc::now())),
        }
        .insert(&self.conn)
        .await
        .map_err(map_db_err)?;
        Ok(TenantId::new(row.id))
    }

    #[tracing::instrument(level = "debug", skip(self), err)]
    async fn add_member(
        &self,
        workspace: WorkspaceId,
        user: UserId,
        can_view_operations: bool,
        can_manage_operations: bool,
    ) -> Result<Membership, PortError> {
        use workspace_memberships::Column;
        let row = workspace_memberships::ActiveModel {
            workspace_id: Set(workspace.get()),
            user_id: Set(user.get()),
            can_view_operations: Set(can_view_operations),
            can_manage_operations: Set(can_manage_operations),
            created_at: Set(db_time(Utc::now())),
        };
        workspace_memberships::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([Column::WorkspaceId, Column::UserId])
                    .update_columns([Column::CanViewOperations, Column::CanManageOperations])
                    .to_owned(),
            )
            .exec_without_returning(&self.conn)
            .await
            .map_err(map_db_err)?;
        Ok(Membership {
            can_view_operations,
            can_manage_operations,
        })
    }

    #[tracing::instrument(level = "debug", skip(self), err)]
    async fn create_backup_schedule(
        &self,
        workspace: WorkspaceId,
        tenant: TenantId,
        name: &str,
        keep_last: u32,
    ) -> Result<BackupSchedule, PortError> {
        let keep = i32::try_from(keep_last)
            .map_err(|_| StoreError::OutOfRange(format!("keep_last {keep_last} is too large")))?;
        let now = db_time(Utc::now());
        let row = backup_schedules::ActiveModel {
            id: NotSet,
            workspace_id: Set(workspace.get()),
            tenant_id: Set(tenant.get()),
            name: Set(name.to_owned()),
            frequency: Set("daily".to_owned()),
            keep_last: Set(keep),
            is_enabled: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&self.conn)
        .await
        .map_err(map_db_err)?;
        convert::schedule(row)
    }

    #[tracing::instrument(level = "debug", skip(self), err)]
    async fn find_workspace(&self, name: &str) -> Result<Option<WorkspaceId>, PortError> {
        use workspaces::Column;
        let named = workspaces::Entity::find().filter(Column::Name.eq(name));
        let row = self.oldest(named, Column::Id).await?;
        Ok(row.map(|w| WorkspaceId::new(w.id)))
    }

    #[tracing::instrument(level = "debug", skip(self), err)]
    async fn find_tenant(
        &self,
        workspace: WorkspaceId,
        name: &str,
    ) -> Result<Option<TenantId>, PortError> {
        use tenants::Column;
        let named = tenants::Entity::find()
            .filter(Column::WorkspaceId.eq(workspace.get()))
            .filter(Column::Name.eq(name));
        let row = self.oldest(named, Column::Id).await?;
        Ok(row.map(|t| TenantId::new(t.id)))
    }

    #[tracing::instrument(level = "debug", skip(self), err)]
    async fn find_backup_schedule(
        &self,
        workspace: WorkspaceId,
        tenant: TenantId,
        name: &str,
    ) -> Result<Option<BackupSchedule>, PortError> {
        use backup_schedules::Column;
        let named = backup_schedules::Entity::find()
            .filter(Column::WorkspaceId.eq(workspace.get()))
            .filter(Column::TenantId.eq(tenant.get()))
            .filter(Column::Name.eq(name));
        let row = self.oldest(named, Column::Id).await?;
        row.map(convert::schedule).transpose()
    }
}
