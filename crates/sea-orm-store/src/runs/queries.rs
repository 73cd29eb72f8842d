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
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, Statement,
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
        let backend = self.conn.get_database_backend();
        let count = |status: RunStatus| async move {
            let stmt = capped_count(backend, workspace, filter, status, cap);
            let row = self.conn.query_one_raw(stmt).await.map_err(map_db_err)?;
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

/// How many runs of `status` the list would show, `cap + 1` at most: the list's own statement
/// for that status, its ids counted.
fn capped_count(
    backend: DbBackend,
    workspace: WorkspaceId,
    filter: &RunFilter,
    status: RunStatus,
    cap: u32,
) -> Statement {
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
    let mut ids = list_select(&query).select_only().column(Column::Id);
    let active = matches!(status, RunStatus::Queued | RunStatus::Running);
    let sqlite_active = backend == DbBackend::Sqlite && active;
    if sqlite_active {
        // SQLite does not see on its own that the partial index of active runs serves one
        // active status, and walks the whole workspace instead: a monitoring page of a
        // 90,000-run workspace took 183 ms, almost all of it two counts of zero (9.7 ms at
        // 900,000 runs with the index named). Its predicate is repeated word for word.
        ids = ids.filter(Expr::cust(ACTIVE));
    }
    let stmt = Query::select()
        .expr(Expr::cust("COUNT(*)"))
        .from_subquery(ids.into_query(), Alias::new("capped"))
        .to_owned();
    let mut built = backend.build(&stmt);
    if sqlite_active {
        built.sql = built.sql.replacen(
            "FROM \"operation_runs\"",
            &format!("FROM \"operation_runs\" INDEXED BY \"{ACTIVE_RUNS_INDEX}\""),
            1,
        );
    }
    built
}

/// The unique index of active runs, `(workspace_id, run_identity_hash) WHERE` [`ACTIVE`].
const ACTIVE_RUNS_INDEX: &str = "operation_runs_active_identity_key";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_counts_active_runs_through_the_partial_index() {
        let filter = RunFilter::default();
        let ws = WorkspaceId::new(7);
        for status in [RunStatus::Queued, RunStatus::Running] {
            let sql = capped_count(DbBackend::Sqlite, ws, &filter, status, 100).sql;
            assert!(
                sql.contains(&format!("INDEXED BY \"{ACTIVE_RUNS_INDEX}\"")),
                "{sql}"
            );
            assert!(sql.contains(ACTIVE), "the index's own predicate: {sql}");
        }
        let completed = capped_count(DbBackend::Sqlite, ws, &filter, RunStatus::Completed, 100);
        assert!(!completed.sql.contains("INDEXED BY"), "{}", completed.sql);
        for backend in [DbBackend::Postgres, DbBackend::MySql] {
            let sql = capped_count(backend, ws, &filter, RunStatus::Running, 100).sql;
            assert!(
                !sql.contains("INDEXED BY") && !sql.contains(ACTIVE),
                "{sql}"
            );
        }
    }
}
