//! `RunQueries`: reads of runs.

use super::{latest_completed_select, list_select, newer_page, page};
use crate::SeaOrmStore;
use crate::convert::{self, db_time};
use crate::entity::operation_runs::{Column, Entity};
use crate::error::map_db_err;
use crate::sql::ACTIVE;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use operation_runs_domain::{
    IdentityHash, OperationRun, RunId, RunOutcome, RunStatus, WorkspaceId,
};
use operation_runs_ports::{
    CappedCount, PortError, RunFilter, RunListQuery, RunPage, RunQueries, StatusCounts,
};
use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};

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
        match query.newer_than {
            Some(_) => newer_page(models, query.limit),
            None => page(models, query.limit),
        }
    }

    #[tracing::instrument(level = "debug", skip(self, filter), err)]
    async fn count_by_status(
        &self,
        workspace: WorkspaceId,
        filter: &RunFilter,
        cap: u32,
    ) -> Result<StatusCounts, PortError> {
        let count = |status: RunStatus| async move {
            // The list's own statement for that status, `cap + 1` ids at most, counted.
            let query = RunListQuery {
                workspace_id: workspace,
                filter: RunFilter {
                    status: Some(status),
                    ..filter.clone()
                },
                after: None,
                newer_than: None,
                limit: cap,
            };
            let ids = list_select(&query)
                .select_only()
                .column(Column::Id)
                .into_query();
            let stmt = Query::select()
                .expr(Expr::cust("COUNT(*)"))
                .from_subquery(ids, Alias::new("capped"))
                .to_owned();
            let row = self.conn.query_one(&stmt).await.map_err(map_db_err)?;
            let counted = match row {
                Some(row) => row.try_get_by_index::<i64>(0).map_err(map_db_err)?,
                None => 0,
            };
            Ok::<_, PortError>(CappedCount::of(u64::try_from(counted).unwrap_or(0), cap))
        };
        Ok(StatusCounts {
            queued: count(RunStatus::Queued).await?,
            running: count(RunStatus::Running).await?,
            completed: count(RunStatus::Completed).await?,
        })
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
        Ok(convert::runs(models))
    }

    #[tracing::instrument(level = "debug", skip(self), err)]
    async fn latest_completed_with_identity(
        &self,
        workspace: WorkspaceId,
        identity_hash: &IdentityHash,
        outcomes: &[RunOutcome],
    ) -> Result<Option<OperationRun>, PortError> {
        let row = latest_completed_select(workspace, identity_hash, outcomes)
            .one(&self.conn)
            .await
            .map_err(map_db_err)?;
        Ok(row.map(convert::run))
    }
}
