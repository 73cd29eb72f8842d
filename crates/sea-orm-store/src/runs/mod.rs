//! The canonical run store (`operation_runs`): one module per role trait, and what they share.

mod history;
mod lifecycle;
mod queries;

pub(crate) use history::schedule_history_select;

use crate::SeaOrmStore;
use crate::convert::{self, db_time};
use crate::entity::operation_runs::{self, Column, Entity};
use crate::entity::tenants;
use crate::error::map_db_err;
use crate::mysql::UpdateReturning;
use crate::sql::{self, ACTIVE, Dialect};
use chrono::{DateTime, Utc};
use operation_runs_domain::{
    CountName, IdentityHash, MAX_COUNT, NewOperationRun, OperationRun, RunId, RunOutcome, RunState,
    RunStatus, Stored, TenantId, WorkspaceId,
};
use operation_runs_ports::{PortError, RunCursor, RunListQuery, RunPage, ScheduleHistoryQuery};
use sea_orm::sea_query::extension::mysql::{IndexHintScope, MySqlSelectStatementExt};
use sea_orm::sea_query::{Alias, Expr, OnConflict, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, Select, Statement, TransactionTrait, UpdateMany,
};

/// How often a start retries when the active run it collided with completed before it could be
/// read; each retry means another run of the identity finished meanwhile, so this is never hit
/// in practice but bounds the loop.
const START_ATTEMPTS: usize = 8;

pub(crate) fn page_size(limit: u32) -> u64 {
    u64::from(Ord::max(limit, 1))
}

/// A page from `limit + 1` rows: the extra row only says that there is a next page.
pub(crate) fn page(models: Vec<operation_runs::Model>, limit: u32) -> Result<RunPage, PortError> {
    let limit = usize::try_from(Ord::max(limit, 1)).unwrap_or(usize::MAX);
    let more = models.len() > limit;
    let runs = convert::runs(models.into_iter().take(limit).collect());
    let next = if more {
        runs.last().map(|r| RunCursor(r.id()))
    } else {
        None
    };
    Ok(RunPage { runs, next })
}

/// The monitoring list's statement: `workspace_id = ? [AND filters] [AND id < cursor]
/// ORDER BY id DESC LIMIT n + 1`, served by `operation_runs_workspace_id_id_idx`; walking back
/// (`newer_than`), `AND id > cursor ORDER BY id ASC` on the same index.
pub(crate) fn list_select(query: &RunListQuery) -> Select<Entity> {
    let f = &query.filter;
    let mut select = Entity::find().filter(Column::WorkspaceId.eq(query.workspace_id.get()));
    if let Some(t) = &f.run_type {
        select = select.filter(Column::RunType.eq(t.as_str()));
    }
    if let Some(s) = f.status {
        select = select.filter(Column::Status.eq(s.as_str()));
    }
    if let Some(o) = f.outcome {
        select = select.filter(Column::Outcome.eq(o.as_str()));
    }
    if let Some(t) = f.tenant_id {
        select = select.filter(Column::TenantId.eq(t.get()));
    }
    if let Some(from) = f.created_from {
        select = select.filter(Column::CreatedAt.gte(db_time(from)));
    }
    if let Some(before) = f.created_before {
        select = select.filter(Column::CreatedAt.lt(db_time(before)));
    }
    if let Some(cursor) = query.after {
        select = select.filter(Column::Id.lt(cursor.0.get()));
    }
    let mut select = match query.newer_than {
        Some(cursor) => select
            .filter(Column::Id.gt(cursor.0.get()))
            .order_by_asc(Column::Id),
        None => select.order_by_desc(Column::Id),
    };
    // MariaDB plans a cursor page as `ref` on `workspace_id` alone and filters `id` row by row:
    // page 2,000 of a 900,000-run workspace read 100,001 rows (368 ms) where the range on both
    // columns reads 51 (0.3 ms). The hint forces that range. Status and tenant filters have
    // indexes of their own, better for rare values, so the planner keeps its choice there. Only
    // the MariaDB query builder writes index hints; the other backends never see one.
    let cursor = query.after.is_some() || query.newer_than.is_some();
    if cursor && f.status.is_none() && f.tenant_id.is_none() {
        QuerySelect::query(&mut select).force_index(Alias::new(LIST_INDEX), IndexHintScope::All);
    }
    select.limit(page_size(query.limit) + 1)
}

/// The index of the monitoring list, created by the migrations on every backend.
const LIST_INDEX: &str = "operation_runs_workspace_id_id_idx";

/// A page walking back from `limit + 1` rows oldest first: the `limit` runs just newer than
/// the cursor, newest first, and the cursor of still newer runs if the extra row exists.
fn newer_page(models: Vec<operation_runs::Model>, limit: u32) -> Result<RunPage, PortError> {
    let limit = usize::try_from(Ord::max(limit, 1)).unwrap_or(usize::MAX);
    let more = models.len() > limit;
    let mut runs = convert::runs(models.into_iter().take(limit).collect());
    runs.reverse();
    let next = if more {
        runs.first().map(|r| RunCursor(r.id()))
    } else {
        None
    };
    Ok(RunPage { runs, next })
}

/// The newest completed run of one identity: `workspace_id = ? AND run_identity_hash = ? AND
/// status = 'completed' [AND outcome IN (…)] ORDER BY id DESC LIMIT 1`, served by
/// `operation_runs_workspace_id_run_identity_hash_idx` (the rows of one identity only).
pub(crate) fn latest_completed_select(
    workspace: WorkspaceId,
    identity_hash: &IdentityHash,
    outcomes: &[RunOutcome],
) -> Select<Entity> {
    let mut select = Entity::find()
        .filter(Column::WorkspaceId.eq(workspace.get()))
        .filter(Column::RunIdentityHash.eq(identity_hash.as_str()))
        .filter(Column::Status.eq(RunStatus::Completed.as_str()));
    if !outcomes.is_empty() {
        select = select.filter(Column::Outcome.is_in(outcomes.iter().map(|o| o.as_str())));
    }
    select.order_by_desc(Column::Id).limit(1)
}

/// The columns a transition writes: the next state and the heartbeat.
fn state_set(
    update: UpdateMany<Entity>,
    next: &RunState,
    now: DateTime<Utc>,
) -> UpdateMany<Entity> {
    update
        .col_expr(Column::Status, Expr::val(next.status.as_str()))
        .col_expr(Column::Outcome, Expr::val(next.outcome.as_str()))
        .col_expr(Column::StartedAt, Expr::val(next.started_at.map(db_time)))
        .col_expr(
            Column::CompletedAt,
            Expr::val(next.completed_at.map(db_time)),
        )
        .col_expr(
            Column::FailureSummary,
            Expr::val(next.failure_summary.to_json()),
        )
        .col_expr(Column::UpdatedAt, Expr::val(db_time(now)))
}

/// Adds `delta` to the stored counts, guarded so that no sum exceeds `MAX_COUNT` (a row that
/// would overflow is not updated at all). An empty delta leaves the counts alone.
fn counts_set(
    dialect: Dialect,
    mut update: UpdateMany<Entity>,
    delta: &[(CountName, u64)],
) -> UpdateMany<Entity> {
    if !delta.is_empty() {
        update = update.col_expr(Column::SummaryCounts, sql::counts_added(dialect, delta));
        for guard in sql::counts_addable(dialect, delta) {
            update = update.filter(guard);
        }
    }
    update
}

/// Why a guarded write of `delta` to `run` (found in the state and of the type the write
/// required) matched nothing: counts that cannot be read, or a sum past `MAX_COUNT`; else the
/// run changed in between (`during` names the write). Counts only grow, so re-checking on the
/// row as read now names the same count.
fn counts_refused(run: &OperationRun, delta: &[(CountName, u64)], during: &str) -> PortError {
    let id = run.id();
    let counts = match run.summary_counts() {
        Stored::Readable(counts) => counts,
        Stored::Unreadable(unreadable) => {
            return PortError::Conflict(format!(
                "run {id}'s stored counts cannot be read: {}",
                unreadable.reason()
            ));
        }
    };
    let overflowing = delta.iter().find(|(name, value)| {
        counts
            .get(name)
            .checked_add(*value)
            .is_none_or(|sum| sum > MAX_COUNT)
    });
    match overflowing {
        Some((name, _)) => PortError::CountOverflow(name.to_string()),
        None => PortError::Conflict(format!("run {id} changed while {during}")),
    }
}

impl SeaOrmStore {
    async fn find_run(&self, id: RunId) -> Result<Option<OperationRun>, PortError> {
        let row = Entity::find_by_id(id.get())
            .one(&self.conn)
            .await
            .map_err(map_db_err)?;
        Ok(row.map(convert::run))
    }

    async fn active_run_of(
        &self,
        new: &NewOperationRun,
    ) -> Result<Option<OperationRun>, PortError> {
        let row = Entity::find()
            .filter(Column::WorkspaceId.eq(new.workspace_id.get()))
            .filter(Column::RunIdentityHash.eq(new.identity_hash.as_str()))
            .filter(Expr::cust(ACTIVE))
            .order_by_desc(Column::Id)
            .one(&self.conn)
            .await
            .map_err(map_db_err)?;
        Ok(row.map(convert::run))
    }

    /// `INSERT … ON CONFLICT DO NOTHING RETURNING *`: the partial unique index
    /// `operation_runs_active_identity_key` (the table's only unique constraint besides the key)
    /// decides, atomically, whether this start inserts. A run with a tenant is inserted as
    /// `INSERT … SELECT … WHERE EXISTS (SELECT 1 FROM tenants WHERE id = ? AND workspace_id = ?)`,
    /// so the rule that its tenant belongs to its workspace costs no round trip of its own; the
    /// `WHERE` also keeps SQLite's parser from mistaking the upsert's `ON` for a join's.
    ///
    /// The conflict has no target on purpose: SQLite resolves a target when it prepares the
    /// statement, against the schema that pooled connection last loaded, so a connection opened
    /// before the migrations created the index would refuse a targeted upsert ("ON CONFLICT
    /// clause does not match any … UNIQUE constraint"). Without a target the statement is
    /// re-prepared against the current schema like any other.
    ///
    /// `None` when nothing was inserted: the identity has an active run, or the tenant is not
    /// one of the workspace's.
    async fn try_insert_run(
        &self,
        new: &NewOperationRun,
    ) -> Result<Option<OperationRun>, PortError> {
        let created = db_time(new.created_at);
        let queued = RunState::queued();
        let row: [(Column, sea_orm::Value); 13] = [
            (Column::WorkspaceId, new.workspace_id.get().into()),
            (Column::TenantId, new.tenant_id.map(|t| t.get()).into()),
            (Column::UserId, new.user_id.map(|u| u.get()).into()),
            (Column::InitiatorName, new.initiator_name.clone().into()),
            (Column::RunType, new.run_type.as_str().to_owned().into()),
            (Column::Status, queued.status.as_str().to_owned().into()),
            (Column::Outcome, queued.outcome.as_str().to_owned().into()),
            (
                Column::RunIdentityHash,
                new.identity_hash.as_str().to_owned().into(),
            ),
            (Column::SummaryCounts, new.summary_counts.to_json().into()),
            (
                Column::FailureSummary,
                queued.failure_summary.to_json().into(),
            ),
            (Column::Context, new.context.to_json().into()),
            (Column::CreatedAt, created.into()),
            (Column::UpdatedAt, created.into()),
        ];
        let (columns, values): (Vec<Column>, Vec<Expr>) =
            row.into_iter().map(|(c, v)| (c, Expr::val(v))).unzip();
        let mut insert = Query::insert();
        insert.into_table(Entity).columns(columns);
        match new.tenant_id {
            None => insert.values(values),
            Some(tenant) => {
                let tenant_in_workspace = Query::select()
                    .expr(Expr::val(1))
                    .from(tenants::Entity)
                    .and_where(tenants::Column::Id.eq(tenant.get()))
                    .and_where(tenants::Column::WorkspaceId.eq(new.workspace_id.get()))
                    .to_owned();
                insert.select_from(
                    Query::select()
                        .exprs(values)
                        .and_where(Expr::exists(tenant_in_workspace))
                        .to_owned(),
                )
            }
        }
        .map_err(PortError::backend)?;
        if self.conn.get_database_backend() == DbBackend::MySql {
            return crate::mysql::runs::insert_run(&self.conn, &insert).await;
        }
        insert
            .on_conflict(OnConflict::new().do_nothing().to_owned())
            .returning_all();
        let stmt = self.conn.get_database_backend().build(&insert);
        let row = Entity::find()
            .from_raw_sql(stmt)
            .one(&self.conn)
            .await
            .map_err(map_db_err)?;
        Ok(row.map(convert::run))
    }

    /// Whether `tenant` exists and belongs to `workspace`.
    async fn tenant_in_workspace(
        &self,
        tenant: TenantId,
        workspace: WorkspaceId,
    ) -> Result<bool, PortError> {
        let row = tenants::Entity::find_by_id(tenant.get())
            .one(&self.conn)
            .await
            .map_err(map_db_err)?;
        Ok(row.is_some_and(|t| t.workspace_id == workspace.get()))
    }

    /// Runs `EXPLAIN` (PostgreSQL) or `EXPLAIN QUERY PLAN` (SQLite) on a statement.
    async fn explain(&self, stmt: Statement) -> Result<String, PortError> {
        let dialect = self.dialect()?;
        let (prefix, column) = sql::explain_prefix(dialect);
        let stmt = Statement {
            sql: format!("{prefix}{}", stmt.sql),
            ..stmt
        };
        // SQLite plans against the schema the connection last loaded, and explaining never
        // checks whether it is current; a read in the same transaction (one connection) does,
        // so the plan sees every index that exists.
        let txn = self.conn.begin().await.map_err(map_db_err)?;
        if dialect == Dialect::Sqlite {
            txn.execute_unprepared("SELECT count(*) FROM sqlite_schema")
                .await
                .map_err(map_db_err)?;
        }
        let rows = txn.query_all_raw(stmt).await.map_err(map_db_err)?;
        txn.rollback().await.map_err(map_db_err)?;
        let lines = rows
            .iter()
            .map(|row| row.try_get_by_index::<String>(column))
            .collect::<Result<Vec<_>, _>>()
            .map_err(map_db_err)?;
        Ok(lines.join("\n"))
    }

    /// Diagnostics: the query plan of exactly the statement [`RunQueries::list`](operation_runs_ports::RunQueries::list)
    /// runs for `query` (`EXPLAIN` on PostgreSQL, `EXPLAIN QUERY PLAN` on SQLite), one line per
    /// plan row. Used to check that the monitoring list is served by an index.
    ///
    /// # Errors
    /// [`PortError::Backend`] when the store fails.
    pub async fn explain_list(&self, query: &RunListQuery) -> Result<String, PortError> {
        let stmt = list_select(query).build(self.conn.get_database_backend());
        self.explain(stmt).await
    }

    /// Diagnostics: the query plan of exactly the statement
    /// [`ScheduleRunHistory::schedule_history`](operation_runs_ports::ScheduleRunHistory::schedule_history) runs for `query`, like
    /// [`SeaOrmStore::explain_list`].
    ///
    /// # Errors
    /// [`PortError::Backend`] when the store fails.
    pub async fn explain_schedule_history(
        &self,
        query: &ScheduleHistoryQuery,
    ) -> Result<String, PortError> {
        let stmt =
            schedule_history_select(self.dialect()?, query).build(self.conn.get_database_backend());
        self.explain(stmt).await
    }

    /// Diagnostics: the query plan of exactly the statement
    /// [`RunQueries::latest_completed_with_identity`](operation_runs_ports::RunQueries::latest_completed_with_identity) runs, like
    /// [`SeaOrmStore::explain_list`].
    ///
    /// # Errors
    /// [`PortError::Backend`] when the store fails.
    pub async fn explain_latest_completed_with_identity(
        &self,
        workspace: WorkspaceId,
        identity_hash: &IdentityHash,
        outcomes: &[RunOutcome],
    ) -> Result<String, PortError> {
        let stmt = latest_completed_select(workspace, identity_hash, outcomes)
            .build(self.conn.get_database_backend());
        self.explain(stmt).await
    }

    /// Runs `update`, guarded in its `WHERE`, on run `id`: the run as it left it, or, when the
    /// guards matched no row, the run as it is now for the caller to say why (`NotFound` when
    /// there is none).
    async fn guarded(&self, update: UpdateMany<Entity>, id: RunId) -> Result<Guarded, PortError> {
        let updated = update
            .exec_returning(&self.conn, id.get())
            .await
            .map_err(map_db_err)?;
        if let Some(row) = updated.into_iter().next() {
            return Ok(Guarded::Changed(convert::run(row)));
        }
        match self.find_run(id).await? {
            Some(run) => Ok(Guarded::Refused(run)),
            None => Err(PortError::NotFound),
        }
    }
}

/// What a guarded update of one run did (see [`SeaOrmStore::guarded`]).
enum Guarded {
    Changed(OperationRun),
    Refused(OperationRun),
}

/// The refusal of a write to `run` that expected it to be `expected`.
fn not_in_status(run: &OperationRun, expected: &str) -> PortError {
    PortError::Conflict(format!(
        "run {} is {}, expected {expected}",
        run.id(),
        run.status()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use operation_runs_ports::RunFilter;

    /// The hint goes only into MariaDB's SQL, only on a cursor page, and never with a status or
    /// tenant filter (see `list_select`).
    #[test]
    fn the_list_index_is_forced_only_on_unfiltered_mariadb_cursor_pages() {
        let sql = |query: &RunListQuery, backend| list_select(query).build(backend).sql;
        let first = RunListQuery {
            workspace_id: WorkspaceId::new(1),
            filter: RunFilter::default(),
            after: None,
            newer_than: None,
            limit: 50,
        };
        let hinted = format!("FORCE INDEX (`{LIST_INDEX}`)");
        let older = RunListQuery {
            after: Some(RunCursor(RunId::new(900))),
            ..first.clone()
        };
        let newer = RunListQuery {
            newer_than: Some(RunCursor(RunId::new(900))),
            ..first.clone()
        };
        for cursor_page in [&older, &newer] {
            assert!(sql(cursor_page, DbBackend::MySql).contains(&hinted));
            for other in [DbBackend::Postgres, DbBackend::Sqlite] {
                assert!(!sql(cursor_page, other).contains("INDEX"));
            }
        }
        assert!(!sql(&first, DbBackend::MySql).contains("FORCE"));
        for filter in [
            RunFilter {
                status: Some(RunStatus::Queued),
                ..RunFilter::default()
            },
            RunFilter {
                tenant_id: Some(TenantId::new(3)),
                ..RunFilter::default()
            },
        ] {
            let filtered = RunListQuery {
                filter,
                ..older.clone()
            };
            assert!(!sql(&filtered, DbBackend::MySql).contains("FORCE"));
        }
        let by_type = RunListQuery {
            filter: RunFilter {
                run_type: Some("inventory_sync".into()),
                ..RunFilter::default()
            },
            ..older.clone()
        };
        assert!(sql(&by_type, DbBackend::MySql).contains(&hinted));
    }
}
