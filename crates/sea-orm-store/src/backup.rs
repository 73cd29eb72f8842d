//! `BackupRepository`: schedules and their (soft-deletable) backup sets.

use crate::SeaOrmStore;
use crate::convert::{self, db_time};
use crate::entity::backup_schedules;
use crate::entity::backup_sets::{self, Column, Entity};
use crate::error::map_db_err;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use operation_runs_domain::{BackupScheduleId, BackupSetId};
use operation_runs_ports::{BackupRepository, BackupSchedule, BackupSet, PortError};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};

#[async_trait]
impl BackupRepository for SeaOrmStore {
    #[tracing::instrument(level = "debug", skip(self), err)]
    async fn get_schedule(&self, id: BackupScheduleId) -> Result<BackupSchedule, PortError> {
        let row = backup_schedules::Entity::find_by_id(id.get())
            .one(&self.conn)
            .await
            .map_err(map_db_err)?
            .ok_or(PortError::NotFound)?;
        convert::schedule(row)
    }

    #[tracing::instrument(level = "debug", skip(self), err)]
    async fn create_set(
        &self,
        schedule: BackupScheduleId,
        name: &str,
        item_count: u64,
        now: DateTime<Utc>,
    ) -> Result<BackupSet, PortError> {
        let item_count =
            i64::try_from(item_count).map_err(|_| PortError::CountOverflow("item_count".into()))?;
        let owner = backup_schedules::Entity::find_by_id(schedule.get())
            .one(&self.conn)
            .await
            .map_err(map_db_err)?
            .ok_or(PortError::NotFound)?;
        // A schedule deleted between the read and the insert fails the foreign key: NotFound.
        let row = backup_sets::ActiveModel {
            id: NotSet,
            workspace_id: Set(owner.workspace_id),
            tenant_id: Set(owner.tenant_id),
            backup_schedule_id: Set(Some(schedule.get())),
            name: Set(name.to_owned()),
            item_count: Set(item_count),
            created_at: Set(db_time(now)),
            deleted_at: Set(None),
        }
        .insert(&self.conn)
        .await
        .map_err(map_db_err)?;
        convert::backup_set(row)
    }

    #[tracing::instrument(level = "debug", skip(self), err)]
    async fn list_sets(
        &self,
        schedule: BackupScheduleId,
        include_deleted: bool,
    ) -> Result<Vec<BackupSet>, PortError> {
        let mut select = Entity::find().filter(Column::BackupScheduleId.eq(schedule.get()));
        if !include_deleted {
            select = select.filter(Column::DeletedAt.is_null());
        }
        select
            .order_by_desc(Column::CreatedAt)
            .order_by_desc(Column::Id)
            .all(&self.conn)
            .await
            .map_err(map_db_err)?
            .into_iter()
            .map(convert::backup_set)
            .collect()
    }

    #[tracing::instrument(level = "debug", skip(self, ids), fields(ids = ids.len()), err)]
    async fn soft_delete_sets(
        &self,
        schedule: BackupScheduleId,
        ids: &[BackupSetId],
        now: DateTime<Utc>,
    ) -> Result<u64, PortError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let result = Entity::update_many()
            .col_expr(Column::DeletedAt, Expr::val(db_time(now)))
            .filter(Column::BackupScheduleId.eq(schedule.get()))
            .filter(Column::Id.is_in(ids.iter().map(|id| id.get())))
            .filter(Column::DeletedAt.is_null())
            .exec(&self.conn)
            .await
            .map_err(map_db_err)?;
        Ok(result.rows_affected)
    }

    #[tracing::instrument(level = "debug", skip(self), err)]
    async fn count_purgeable_sets(
        &self,
        schedule: BackupScheduleId,
        deleted_before: DateTime<Utc>,
    ) -> Result<u64, PortError> {
        Entity::find()
            .filter(Column::BackupScheduleId.eq(schedule.get()))
            .filter(Column::DeletedAt.lt(db_time(deleted_before)))
            .count(&self.conn)
            .await
            .map_err(map_db_err)
    }

    #[tracing::instrument(level = "debug", skip(self), err)]
    async fn purge_sets(
        &self,
        schedule: BackupScheduleId,
        deleted_before: DateTime<Utc>,
    ) -> Result<u64, PortError> {
        let result = Entity::delete_many()
            .filter(Column::BackupScheduleId.eq(schedule.get()))
            .filter(Column::DeletedAt.lt(db_time(deleted_before)))
            .exec(&self.conn)
            .await
            .map_err(map_db_err)?;
        Ok(result.rows_affected)
    }
}
