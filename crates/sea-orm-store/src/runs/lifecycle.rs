//! `RunLifecycle`: starting runs and every later change, each a guarded statement.

use super::{Guarded, START_ATTEMPTS, counts_refused, counts_set, not_in_status, state_set};
use crate::SeaOrmStore;
use crate::convert::db_time;
use crate::entity::operation_runs::{Column, Entity};
use crate::error::StoreError;
use crate::sql::{self, ACTIVE};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use operation_runs_domain::{
    NewOperationRun, OperationRun, RunContext, RunId, RunState, RunStatus, RunType, SummaryCounts,
};
use operation_runs_ports::{PortError, RunLifecycle, StartError, StartRefusal, StartedRun};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

#[async_trait]
impl RunLifecycle for SeaOrmStore {
    #[tracing::instrument(
        level = "debug",
        skip_all,
        fields(workspace = %new.workspace_id, run_type = %new.run_type),
        err
    )]
    async fn insert_or_get_active(&self, new: &NewOperationRun) -> Result<StartedRun, StartError> {
        for _ in 0..START_ATTEMPTS {
            match self.try_insert_run(new).await {
                Ok(Some(run)) => return Ok(StartedRun { run, reused: false }),
                Ok(None) => {}
                // Without a tenant the only foreign key the insert can break is the workspace's.
                Err(PortError::NotFound) if new.tenant_id.is_none() => {
                    return Err(StartRefusal::UnknownWorkspace(new.workspace_id).into());
                }
                Err(error) => return Err(error.into()),
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
                return Err(StartRefusal::TenantNotInWorkspace {
                    tenant,
                    workspace: new.workspace_id,
                }
                .into());
            }
        }
        Err(PortError::from(StoreError::Contention(format!(
            "could not start a run of identity {} after {START_ATTEMPTS} attempts",
            new.identity_hash
        )))
        .into())
    }

    #[tracing::instrument(level = "debug", skip(self, next), fields(next = %next.status), err)]
    async fn transition(
        &self,
        id: RunId,
        expected: RunStatus,
        next: &RunState,
        now: DateTime<Utc>,
    ) -> Result<OperationRun, PortError> {
        let update = state_set(Entity::update_many(), next, now)
            .filter(Column::Id.eq(id.get()))
            .filter(Column::Status.eq(expected.as_str()));
        match self.guarded(update, id).await? {
            Guarded::Changed(run) => Ok(run),
            Guarded::Refused(run) => Err(not_in_status(&run, expected.as_str())),
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
        let update = state_set(Entity::update_many(), next, now)
            .filter(Column::Id.eq(id.get()))
            .filter(Column::Status.eq(expected.as_str()))
            .filter(Column::UpdatedAt.lt(db_time(heartbeat_before)));
        match self.guarded(update, id).await? {
            Guarded::Changed(run) => Ok(run),
            Guarded::Refused(run) if run.status() != expected => {
                Err(not_in_status(&run, expected.as_str()))
            }
            Guarded::Refused(run) => Err(PortError::Conflict(format!(
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
        match self
            .guarded(counts_set(dialect, update, &delta), id)
            .await?
        {
            Guarded::Changed(run) => Ok(run),
            Guarded::Refused(run) if run.status() != expected => {
                Err(not_in_status(&run, expected.as_str()))
            }
            Guarded::Refused(run) => {
                Err(counts_refused(&run, &delta, "it was completed with counts"))
            }
        }
    }

    #[tracing::instrument(level = "debug", skip(self, run_types, delta), err)]
    async fn increment_counts(
        &self,
        id: RunId,
        run_types: &[RunType],
        delta: &SummaryCounts,
        now: DateTime<Utc>,
    ) -> Result<OperationRun, PortError> {
        let dialect = self.dialect()?;
        let delta: Vec<_> = delta.iter().map(|(n, v)| (n.clone(), v)).collect();
        // One statement: the status, the type and (in `counts_set`) the overflow are checked in
        // its WHERE, so a progress update costs one round trip; only a refusal reads the run.
        let update = Entity::update_many()
            .col_expr(Column::UpdatedAt, Expr::val(db_time(now)))
            .filter(Column::Id.eq(id.get()))
            .filter(Expr::cust(ACTIVE))
            .filter(Column::RunType.is_in(run_types.iter().map(RunType::as_str)));
        let run = match self
            .guarded(counts_set(dialect, update, &delta), id)
            .await?
        {
            Guarded::Changed(run) => return Ok(run),
            Guarded::Refused(run) => run,
        };
        if run.is_active() != Some(true) {
            return Err(PortError::Conflict(format!("run {id} is completed")));
        }
        if !run_types.iter().any(|t| t.as_str() == run.run_type()) {
            return Err(PortError::Conflict(format!(
                "run {id} is of type {}, not one of the types given for these counts",
                run.run_type()
            )));
        }
        Err(counts_refused(&run, &delta, "its counts were updated"))
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
        match self.guarded(update, id).await? {
            Guarded::Changed(run) => Ok(run),
            Guarded::Refused(run) => Err(not_in_status(&run, "queued or running")),
        }
    }
}
