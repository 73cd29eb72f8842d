//! `RunQueries`: reads of runs.

use super::{latest_completed_select, list_select, page};
use crate::SeaOrmStore;
use crate::convert::{self, db_time};
use crate::entity::operation_runs::{Column, Entity};
use crate::error::map_db_err;
use crate::sql::ACTIVE;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use operation_runs_domain::{IdentityHash, OperationRun, RunId, RunOutcome, WorkspaceId};
use operation_runs_ports::{PortError, RunListQuery, RunPage, RunQueries};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

#[async_trait]
impl RunQueries for SeaOrmStore {
    #[tracing::instrument(level = "debug", skip(self), err)]
    async fn get(&self, id: RunId) -> Result<OperationRun, PortError> {
        self.find_run(id).await?.ok_or(PortError::NotFound)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(workspace = %query.workspace_id), err)]
    async fn list(&self, query: &RunListQuery) -> Result<RunPage, PortError> {
        let models = list_select(query)
            .all(&self.conn)
            .await
            .map_err(map_db_err)?;
        page(models, query.limit)
    }

    #[tracing::instrument(level = "debug", skip(self), err)]
    async fn find_stale(
        &self,
        heartbeat_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OperationRun>, PortError> {
        let models = Entity::find()
            .filter(Expr::cust(ACTIVE))
            .filter(Column::UpdatedAt.lt(db_time(heartbeat_before)))
            .order_by_asc(Column::UpdatedAt)
            .order_by_asc(Column::Id)
            .limit(u64::from(limit))
            .all(&self.conn)
            .await
            .map_err(map_db_err)?;
        convert::runs(models)
    }

    #[tracing::instrument(level = "debug", skip(self), err)]
    async fn latest_completed_with_identity(
        &self,
        workspace: WorkspaceId,
        identity_hash: &IdentityHash,
        outcomes: &[RunOutcome],
    ) -> Result<Option<OperationRun>, PortError> {
        latest_completed_select(workspace, identity_hash, outcomes)
            .one(&self.conn)
            .await
            .map_err(map_db_err)?
            .map(convert::run)
            .transpose()
    }
}
