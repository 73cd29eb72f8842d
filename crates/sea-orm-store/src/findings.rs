//! `FindingRepository`: drift findings referencing canonical runs.

use crate::SeaOrmStore;
use crate::convert::{self, db_time};
use crate::entity::findings::{self, Column, Entity};
use crate::error::map_db_err;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use operation_runs_domain::TenantId;
use operation_runs_ports::{Finding, FindingRepository, NewFinding, PortError};
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, Set, TransactionTrait,
};

/// Rows per statement: keeps the bound parameters well under every backend's limit.
const ROWS_PER_STATEMENT: usize = 1000;

#[async_trait]
impl FindingRepository for SeaOrmStore {
    #[tracing::instrument(level = "debug", skip_all, fields(findings = findings.len()), err)]
    async fn insert_findings(
        &self,
        findings: &[NewFinding],
        now: DateTime<Utc>,
    ) -> Result<Vec<Finding>, PortError> {
        if findings.is_empty() {
            return Ok(Vec::new());
        }
        let now = db_time(now);
        let txn = self.conn.begin().await.map_err(map_db_err)?;
        let mut out = Vec::with_capacity(findings.len());
        for chunk in findings.chunks(ROWS_PER_STATEMENT) {
            let rows = chunk.iter().map(|f| findings::ActiveModel {
                id: NotSet,
                workspace_id: Set(f.workspace_id.get()),
                tenant_id: Set(f.tenant_id.get()),
                subject_external_id: Set(f.subject_external_id.clone()),
                change: Set(f.change.clone()),
                details: Set(f.details.clone()),
                baseline_operation_run_id: Set(Some(f.baseline_operation_run_id.get())),
                current_operation_run_id: Set(Some(f.current_operation_run_id.get())),
                created_at: Set(now),
            });
            let insert = Entity::insert_many(rows);
            let mut models = if txn.get_database_backend() == DbBackend::MySql {
                crate::mysql::insert_returning::<Entity, _>(&insert, &txn).await
            } else {
                insert.exec_with_returning(&txn).await
            }
            .map_err(map_db_err)?;
            // RETURNING order is unspecified; ids follow the VALUES order on both backends.
            models.sort_by_key(|m| m.id);
            out.extend(models.into_iter().map(convert::finding));
        }
        txn.commit().await.map_err(map_db_err)?;
        Ok(out)
    }

    #[tracing::instrument(level = "debug", skip(self), err)]
    async fn list_findings(&self, tenant: TenantId) -> Result<Vec<Finding>, PortError> {
        let models = Entity::find()
            .filter(Column::TenantId.eq(tenant.get()))
            .order_by_asc(Column::Id)
            .all(&self.conn)
            .await
            .map_err(map_db_err)?;
        Ok(models.into_iter().map(convert::finding).collect())
    }
}
