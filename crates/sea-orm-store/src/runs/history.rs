//! `ScheduleRunHistory`: one backup schedule's runs, read by keyset and purged in batches.

use super::{page, page_size};
use crate::SeaOrmStore;
use crate::convert::{self, db_time};
use crate::entity::operation_runs::{Column, Entity};
use crate::error::map_db_err;
use crate::sql::{self, Dialect};
use async_trait::async_trait;
use operation_runs_domain::{RunStatus, RunType};
use operation_runs_ports::{
    HistoryPurgeCriteria, PortError, RunPage, ScheduleHistoryQuery, ScheduleRunHistory,
};
use sea_orm::sea_query::{Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Select,
};

/// The three backup-schedule types, as stored.
fn schedule_types() -> Vec<String> {
    RunType::BACKUP_SCHEDULE_TYPES
        .iter()
        .map(|t| t.as_str().to_owned())
        .collect()
}

/// One schedule's history: `type IN (…) AND <indexed schedule expression> = ? AND
/// workspace_id = ? [AND outcome IN (…)] [AND id < cursor] ORDER BY id DESC LIMIT n + 1`,
/// served by `operation_runs_schedule_history_idx`.
pub(crate) fn schedule_history_select(
    dialect: Dialect,
    query: &ScheduleHistoryQuery,
) -> Select<Entity> {
    let types: Vec<&str> = query.run_types.iter().map(RunType::as_str).collect();
    let mut select = Entity::find()
        .filter(Column::RunType.is_in(types))
        .filter(sql::schedule_is(dialect, query.schedule_id))
        .filter(Column::WorkspaceId.eq(query.workspace_id.get()));
    if !query.outcomes.is_empty() {
        select = select.filter(Column::Outcome.is_in(query.outcomes.iter().map(|o| o.as_str())));
    }
    if let Some(cursor) = query.after {
        select = select.filter(Column::Id.lt(cursor.0.get()));
    }
    select
        .order_by_desc(Column::Id)
        .limit(page_size(query.limit) + 1)
}

/// A schedule's history runs (every backup-schedule type), in its workspace.
fn history_of(dialect: Dialect, criteria: &HistoryPurgeCriteria) -> Condition {
    Condition::all()
        .add(Column::RunType.is_in(schedule_types()))
        .add(sql::schedule_is(dialect, criteria.schedule_id))
        .add(Column::WorkspaceId.eq(criteria.workspace_id.get()))
}

/// The ids of the newest run of each type of the schedule's history, which purge keeps.
fn newest_of_each_type(dialect: Dialect, criteria: &HistoryPurgeCriteria) -> SelectStatement {
    Query::select()
        .expr(Expr::col(Column::Id).max())
        .from(Entity)
        .cond_where(history_of(dialect, criteria))
        .group_by_col(Column::RunType)
        .to_owned()
}

/// Completed history runs created before the cutoff: what purge may delete, but for the newest
/// run of each type.
fn old_completed(dialect: Dialect, criteria: &HistoryPurgeCriteria) -> Condition {
    history_of(dialect, criteria)
        .add(Column::Status.eq(RunStatus::Completed.as_str()))
        .add(Column::CreatedAt.lt(db_time(criteria.created_before)))
}

/// What purge may delete: completed history runs created before the cutoff, except the newest
/// run of each type.
fn purgeable(dialect: Dialect, criteria: &HistoryPurgeCriteria) -> Condition {
    old_completed(dialect, criteria)
        .add(Column::Id.not_in_subquery(newest_of_each_type(dialect, criteria)))
}

#[async_trait]
impl ScheduleRunHistory for SeaOrmStore {
    #[tracing::instrument(
        level = "debug",
        skip_all,
        fields(workspace = %query.workspace_id, schedule = %query.schedule_id),
        err
    )]
    async fn schedule_history(&self, query: &ScheduleHistoryQuery) -> Result<RunPage, PortError> {
        if query.run_types.is_empty() {
            return Ok(RunPage {
                runs: Vec::new(),
                next: None,
            });
        }
        let models = schedule_history_select(self.dialect()?, query)
            .all(&self.conn)
            .await
            .map_err(map_db_err)?;
        page(models, query.limit)
    }

    #[tracing::instrument(
        level = "debug",
        skip_all,
        fields(workspace = %criteria.workspace_id, schedule = %criteria.schedule_id),
        err
    )]
    async fn count_purgeable_schedule_history(
        &self,
        criteria: &HistoryPurgeCriteria,
    ) -> Result<u64, PortError> {
        let count = Query::select()
            .expr(Expr::col(Column::Id).count())
            .from(Entity)
            .cond_where(purgeable(self.dialect()?, criteria))
            .to_owned();
        let row = self.conn.query_one(&count).await.map_err(map_db_err)?;
        let n = match row {
            Some(row) => row.try_get_by_index::<i64>(0).map_err(map_db_err)?,
            None => 0,
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }

    #[tracing::instrument(
        level = "debug",
        skip_all,
        fields(workspace = %criteria.workspace_id, schedule = %criteria.schedule_id, batch_size),
        err
    )]
    async fn purge_schedule_history(
        &self,
        criteria: &HistoryPurgeCriteria,
        batch_size: u32,
    ) -> Result<u64, PortError> {
        let dialect = self.dialect()?;
        let batch = u64::from(Ord::max(batch_size, 1));
        // The newest run of each type is read once, not in every batch: as a subquery of each
        // batch it rescanned the schedule's whole history per batch, which made a large purge
        // quadratic. Runs started meanwhile are newer than the cutoff, so a set read once can
        // only keep more than needed, never less.
        let keep: Vec<i64> = self
            .conn
            .query_all(&newest_of_each_type(dialect, criteria))
            .await
            .map_err(map_db_err)?
            .iter()
            .map(|row| row.try_get_by_index::<Option<i64>>(0))
            .collect::<Result<Vec<_>, _>>()
            .map_err(map_db_err)?
            .into_iter()
            .flatten()
            .collect();
        if keep.is_empty() {
            return Ok(0);
        }
        // The last purgeable id, read once (a plain read, holding no row lock): without this
        // bound the final batch would walk the schedule's whole newer history, with the rows
        // it already deleted locked, looking for more to delete.
        let last = Query::select()
            .expr(Expr::col(Column::Id).max())
            .from(Entity)
            .cond_where(old_completed(dialect, criteria).add(Column::Id.is_not_in(keep.clone())))
            .to_owned();
        let last = match self.conn.query_one(&last).await.map_err(map_db_err)? {
            Some(row) => row.try_get_by_index::<Option<i64>>(0).map_err(map_db_err)?,
            None => None,
        };
        let Some(last) = last else {
            return Ok(0);
        };
        let mut deleted = 0u64;
        // Keyset over ids: each batch starts where the previous one ended instead of walking
        // past the index entries of rows already deleted.
        let mut after: Option<i64> = None;
        loop {
            // One statement per batch; each commits on its own so a long purge never holds
            // locks on the whole history.
            let mut candidates = old_completed(dialect, criteria)
                .add(Column::Id.is_not_in(keep.clone()))
                .add(Column::Id.lte(last));
            if let Some(after) = after {
                candidates = candidates.add(Column::Id.gt(after));
            }
            let gone = if dialect == Dialect::MySql {
                let delete = Query::delete()
                    .from_table(Entity)
                    .cond_where(candidates)
                    .order_by(Column::Id, sea_orm::sea_query::Order::Asc)
                    .limit(batch)
                    .to_owned();
                crate::mysql::runs::delete_batch(&self.conn, &delete).await?
            } else {
                self.delete_batch(candidates, batch).await?
            };
            let done = gone.len() as u64;
            deleted += done;
            match gone.into_iter().max() {
                Some(last) if done >= batch => after = Some(last),
                _ => return Ok(deleted),
            }
        }
    }
}

impl SeaOrmStore {
    /// One purge batch on PostgreSQL and SQLite: the first `batch` ids of `candidates` deleted,
    /// their ids returned.
    async fn delete_batch(&self, candidates: Condition, batch: u64) -> Result<Vec<i64>, PortError> {
        let ids = Query::select()
            .column(Column::Id)
            .from(Entity)
            .cond_where(candidates)
            .order_by(Column::Id, sea_orm::sea_query::Order::Asc)
            .limit(batch)
            .to_owned();
        let delete = Query::delete()
            .from_table(Entity)
            .and_where(Expr::col(Column::Id).in_subquery(ids))
            .returning_col(Column::Id)
            .to_owned();
        convert::ids(self.conn.query_all(&delete).await.map_err(map_db_err)?)
    }
}
