//! `OperationRunRepository`: the canonical run store.

use crate::SeaOrmStore;
use crate::convert::{self, db_time};
use crate::entity::operation_runs::{self, Column, Entity};
use crate::entity::tenants;
use crate::error::{StoreError, map_db_err};
use crate::sql::{self, ACTIVE, Dialect};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use operation_runs_domain::{
    CountName, IdentityHash, MAX_COUNT, NewOperationRun, OperationRun, RunContext, RunId,
    RunOutcome, RunState, RunStatus, RunType, SummaryCounts, TenantId, WorkspaceId,
};
use operation_runs_ports::{
    HistoryPurgeCriteria, OperationRunRepository, PortError, RunCursor, RunListQuery, RunPage,
    ScheduleHistoryQuery, StartedRun,
};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query, SelectStatement};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, Select, Statement, TransactionTrait, UpdateMany,
};

/// How often a start retries when the active run it collided with completed before it could be
/// read; each retry means another run of the identity finished meanwhile, so this is never hit
/// in practice but bounds the loop.
const START_ATTEMPTS: usize = 8;

/// The three backup-schedule types, as stored.
fn schedule_types() -> Vec<String> {
    RunType::BACKUP_SCHEDULE_TYPES
        .iter()
        .map(|t| t.as_str().to_owned())
        .collect()
}

fn page_size(limit: u32) -> u64 {
    u64::from(Ord::max(limit, 1))
}

/// A page from `limit + 1` rows: the extra row only says that there is a next page.
fn page(models: Vec<operation_runs::Model>, limit: u32) -> Result<RunPage, PortError> {
    let limit = usize::try_from(Ord::max(limit, 1)).unwrap_or(usize::MAX);
    let more = models.len() > limit;
    let runs = convert::runs(models.into_iter().take(limit).collect())?;
    let next = if more {
        runs.last().map(|r| RunCursor(r.id()))
    } else {
        None
    };
    Ok(RunPage { runs, next })
}

/// The monitoring list's statement: `workspace_id = ? [AND filters] [AND id < cursor]
/// ORDER BY id DESC LIMIT n + 1`, served by `operation_runs_workspace_id_id_idx`.
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
    select
        .order_by_desc(Column::Id)
        .limit(page_size(query.limit) + 1)
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
        for fits in sql::counts_fit(dialect, delta) {
            update = update.filter(fits);
        }
    }
    update
}

/// The first count of `delta` that would exceed `MAX_COUNT` on top of the run's counts.
fn overflowing<'a>(run: &OperationRun, delta: &'a [(CountName, u64)]) -> Option<&'a CountName> {
    delta
        .iter()
        .find(|(name, value)| {
            run.summary_counts()
                .get(name)
                .checked_add(*value)
                .is_none_or(|sum| sum > MAX_COUNT)
        })
        .map(|(name, _)| name)
}

impl SeaOrmStore {
    async fn find_run(&self, id: RunId) -> Result<Option<OperationRun>, PortError> {
        Entity::find_by_id(id.get())
            .one(&self.conn)
            .await
            .map_err(map_db_err)?
            .map(convert::run)
            .transpose()
    }

    async fn active_run_of(
        &self,
        new: &NewOperationRun,
    ) -> Result<Option<OperationRun>, PortError> {
        Entity::find()
            .filter(Column::WorkspaceId.eq(new.workspace_id.get()))
            .filter(Column::RunIdentityHash.eq(new.identity_hash.as_str()))
            .filter(Expr::cust(ACTIVE))
            .order_by_desc(Column::Id)
            .one(&self.conn)
            .await
            .map_err(map_db_err)?
            .map(convert::run)
            .transpose()
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
        insert
            .on_conflict(OnConflict::new().do_nothing().to_owned())
            .returning_all();
        let stmt = self.conn.get_database_backend().build(&insert);
        Entity::find()
            .from_raw_sql(stmt)
            .one(&self.conn)
            .await
            .map_err(map_db_err)?
            .map(convert::run)
            .transpose()
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

    /// Diagnostics: the query plan of exactly the statement [`OperationRunRepository::list`]
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
    /// [`OperationRunRepository::schedule_history`] runs for `query`, like
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
    /// [`OperationRunRepository::latest_completed_with_identity`] runs, like
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

    /// Why a guarded update of run `id` changed nothing, from the row as it is now.
    async fn why_unchanged(&self, id: RunId, expected: &str) -> PortError {
        match self.find_run(id).await {
            Ok(None) => PortError::NotFound,
            Ok(Some(run)) => {
                PortError::Conflict(format!("run {id} is {}, expected {expected}", run.status()))
            }
            Err(err) => err,
        }
    }
}

#[async_trait]
impl OperationRunRepository for SeaOrmStore {
    #[tracing::instrument(
        level = "debug",
        skip_all,
        fields(workspace = %new.workspace_id, run_type = %new.run_type),
        err
    )]
    async fn insert_or_get_active(&self, new: &NewOperationRun) -> Result<StartedRun, PortError> {
        for _ in 0..START_ATTEMPTS {
            if let Some(run) = self.try_insert_run(new).await? {
                return Ok(StartedRun { run, reused: false });
            }
            // The insert lost against an active run of the identity; that run may complete
            // before it is read, and then the next attempt can insert.
            if let Some(run) = self.active_run_of(new).await? {
                return Ok(StartedRun { run, reused: true });
            }
            // Neither inserted nor found: either the tenant check refused the insert, or the
            // active run completed in between. Only this rare path pays for telling them apart.
            if let Some(tenant) = new.tenant_id
                && !self.tenant_in_workspace(tenant, new.workspace_id).await?
            {
                tracing::debug!(%tenant, "tenant not in the workspace, nothing inserted");
                return Err(PortError::NotFound);
            }
        }
        Err(StoreError::Contention(format!(
            "could not start a run of identity {} after {START_ATTEMPTS} attempts",
            new.identity_hash
        ))
        .into())
    }

    #[tracing::instrument(level = "debug", skip(self), err)]
    async fn get(&self, id: RunId) -> Result<OperationRun, PortError> {
        self.find_run(id).await?.ok_or(PortError::NotFound)
    }

    #[tracing::instrument(level = "debug", skip(self, next), fields(next = %next.status), err)]
    async fn transition(
        &self,
        id: RunId,
        expected: RunStatus,
        next: &RunState,
        now: DateTime<Utc>,
    ) -> Result<OperationRun, PortError> {
        let updated = state_set(Entity::update_many(), next, now)
            .filter(Column::Id.eq(id.get()))
            .filter(Column::Status.eq(expected.as_str()))
            .exec_with_returning(&self.conn)
            .await
            .map_err(map_db_err)?;
        match updated.into_iter().next() {
            Some(row) => convert::run(row),
            None => Err(self.why_unchanged(id, expected.as_str()).await),
        }
    }

    #[tracing::instrument(level = "debug", skip(self, next), fields(next = %next.status), err)]
    async fn complete_if_stale(
        &self,
        id: RunId,
        expected: RunStatus,
        heartbeat_before: DateTime<Utc>,
        next: &RunState,
        now: DateTime<Utc>,
    ) -> Result<OperationRun, PortError> {
        // The heartbeat is compared in the same UPDATE as the status: a progress update that
        // lands between the reaper's query and this statement makes it match no row.
        let updated = state_set(Entity::update_many(), next, now)
            .filter(Column::Id.eq(id.get()))
            .filter(Column::Status.eq(expected.as_str()))
            .filter(Column::UpdatedAt.lt(db_time(heartbeat_before)))
            .exec_with_returning(&self.conn)
            .await
            .map_err(map_db_err)?;
        if let Some(row) = updated.into_iter().next() {
            return convert::run(row);
        }
        match self.find_run(id).await? {
            None => Err(PortError::NotFound),
            Some(run) if run.status() != expected => Err(PortError::Conflict(format!(
                "run {id} is {}, expected {expected}",
                run.status()
            ))),
            Some(run) => Err(PortError::Conflict(format!(
                "run {id} has a heartbeat at {}, not before {}",
                run.updated_at().to_rfc3339(),
                heartbeat_before.to_rfc3339()
            ))),
        }
    }

    #[tracing::instrument(level = "debug", skip(self, next, delta), fields(next = %next.status), err)]
    async fn transition_with_counts(
        &self,
        id: RunId,
        expected: RunStatus,
        next: &RunState,
        delta: &SummaryCounts,
        now: DateTime<Utc>,
    ) -> Result<OperationRun, PortError> {
        let dialect = self.dialect()?;
        let delta: Vec<_> = delta.iter().map(|(n, v)| (n.clone(), v)).collect();
        // One UPDATE: the counts are added against the row being updated and the status is
        // compared in the same statement, so the completion and its counts land together or
        // not at all.
        let update = state_set(Entity::update_many(), next, now)
            .filter(Column::Id.eq(id.get()))
            .filter(Column::Status.eq(expected.as_str()));
        let updated = counts_set(dialect, update, &delta)
            .exec_with_returning(&self.conn)
            .await
            .map_err(map_db_err)?;
        if let Some(row) = updated.into_iter().next() {
            return convert::run(row);
        }
        let Some(run) = self.find_run(id).await? else {
            return Err(PortError::NotFound);
        };
        if run.status() != expected {
            return Err(PortError::Conflict(format!(
                "run {id} is {}, expected {expected}",
                run.status()
            )));
        }
        match overflowing(&run, &delta) {
            Some(name) => Err(PortError::CountOverflow(name.to_string())),
            None => Err(PortError::Conflict(format!(
                "run {id} changed while it was completed with counts"
            ))),
        }
    }

    #[tracing::instrument(level = "debug", skip(self, delta), err)]
    async fn increment_counts(
        &self,
        id: RunId,
        delta: &SummaryCounts,
        now: DateTime<Utc>,
    ) -> Result<OperationRun, PortError> {
        let dialect = self.dialect()?;
        let delta: Vec<_> = delta.iter().map(|(n, v)| (n.clone(), v)).collect();
        let update = Entity::update_many()
            .col_expr(Column::UpdatedAt, Expr::val(db_time(now)))
            .filter(Column::Id.eq(id.get()))
            .filter(Expr::cust(ACTIVE));
        let updated = counts_set(dialect, update, &delta)
            .exec_with_returning(&self.conn)
            .await
            .map_err(map_db_err)?;
        if let Some(row) = updated.into_iter().next() {
            return convert::run(row);
        }
        let Some(run) = self.find_run(id).await? else {
            return Err(PortError::NotFound);
        };
        if !run.status().is_active() {
            return Err(PortError::Conflict(format!("run {id} is completed")));
        }
        // Active, so the overflow guard refused; counts only grow, so re-checking on the row as
        // read now names the same count.
        match overflowing(&run, &delta) {
            Some(name) => Err(PortError::CountOverflow(name.to_string())),
            None => Err(PortError::Conflict(format!(
                "run {id} changed while its counts were updated"
            ))),
        }
    }

    #[tracing::instrument(level = "debug", skip(self, patch), err)]
    async fn merge_context(
        &self,
        id: RunId,
        patch: &RunContext,
        now: DateTime<Utc>,
    ) -> Result<OperationRun, PortError> {
        let dialect = self.dialect()?;
        let serde_json::Value::Object(patch) = patch.to_json() else {
            return Err(
                StoreError::OutOfRange("a run context must be a JSON object".into()).into(),
            );
        };
        let mut update = Entity::update_many()
            .col_expr(Column::UpdatedAt, Expr::val(db_time(now)))
            .filter(Column::Id.eq(id.get()))
            .filter(Expr::cust(ACTIVE));
        if !patch.is_empty() {
            let merged = sql::context_merged(dialect, &patch).ok_or_else(|| {
                StoreError::OutOfRange("context keys must not contain a double quote".into())
            })?;
            update = update.col_expr(Column::Context, merged);
        }
        let updated = update
            .exec_with_returning(&self.conn)
            .await
            .map_err(map_db_err)?;
        match updated.into_iter().next() {
            Some(row) => convert::run(row),
            None => Err(self.why_unchanged(id, "queued or running").await),
        }
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
            let gone = self
                .conn
                .query_all(&delete)
                .await
                .map_err(map_db_err)?
                .iter()
                .map(|row| row.try_get_by_index::<i64>(0))
                .collect::<Result<Vec<_>, _>>()
                .map_err(map_db_err)?;
            let done = gone.len() as u64;
            deleted += done;
            match gone.into_iter().max() {
                Some(last) if done >= batch => after = Some(last),
                _ => return Ok(deleted),
            }
        }
    }
}
