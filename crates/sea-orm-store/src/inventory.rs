//! `InventoryRepository`: items marked with the canonical run that saw them.

use crate::SeaOrmStore;
use crate::convert::{self, db_time};
use crate::entity::inventory_items::{self, Column, Entity};
use crate::error::map_db_err;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use operation_runs_domain::{RunId, TenantId, WorkspaceId};
use operation_runs_ports::{InventoryItem, InventoryRepository, PortError, SeenItem};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, Set, TransactionTrait,
};
use std::collections::HashMap;

/// Rows per statement: keeps the bound parameters well under every backend's limit.
const ROWS_PER_STATEMENT: usize = 1000;

#[async_trait]
impl InventoryRepository for SeaOrmStore {
    #[tracing::instrument(level = "debug", skip(self, items), fields(items = items.len()), err)]
    async fn upsert_seen(
        &self,
        workspace: WorkspaceId,
        tenant: TenantId,
        items: &[SeenItem],
        run: RunId,
        now: DateTime<Utc>,
    ) -> Result<Vec<InventoryItem>, PortError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        // One row per external id (the last sighting wins): an upsert may not touch a row twice.
        let mut position: HashMap<&str, usize> = HashMap::new();
        let mut unique: Vec<&SeenItem> = Vec::new();
        for item in items {
            match position.get(item.external_id.as_str()) {
                Some(&i) => unique[i] = item,
                None => {
                    position.insert(&item.external_id, unique.len());
                    unique.push(item);
                }
            }
        }
        let now = db_time(now);
        let txn = self.conn.begin().await.map_err(map_db_err)?;
        let mut stored: HashMap<String, inventory_items::Model> = HashMap::new();
        for chunk in unique.chunks(ROWS_PER_STATEMENT) {
            let rows = chunk.iter().map(|item| inventory_items::ActiveModel {
                id: NotSet,
                workspace_id: Set(workspace.get()),
                tenant_id: Set(tenant.get()),
                external_id: Set(item.external_id.clone()),
                kind: Set(item.kind.clone()),
                display_name: Set(item.display_name.clone()),
                last_seen_operation_run_id: Set(Some(run.get())),
                created_at: Set(now),
                updated_at: Set(now),
            });
            let insert = Entity::insert_many(rows).on_conflict(
                OnConflict::columns([Column::TenantId, Column::ExternalId])
                    .update_columns([
                        Column::LastSeenOperationRunId,
                        Column::DisplayName,
                        Column::Kind,
                        Column::UpdatedAt,
                    ])
                    .to_owned(),
            );
            let models = if txn.get_database_backend() == DbBackend::MySql {
                // `INSERT … ON DUPLICATE KEY UPDATE` cannot return the rows it updated: they
                // are read back in the same transaction, which holds their locks.
                insert
                    .exec_without_returning(&txn)
                    .await
                    .map_err(map_db_err)?;
                Entity::find()
                    .filter(Column::TenantId.eq(tenant.get()))
                    .filter(Column::ExternalId.is_in(chunk.iter().map(|i| i.external_id.clone())))
                    .all(&txn)
                    .await
            } else {
                insert.exec_with_returning(&txn).await
            }
            .map_err(map_db_err)?;
            stored.extend(models.into_iter().map(|m| (m.external_id.clone(), m)));
        }
        txn.commit().await.map_err(map_db_err)?;
        items
            .iter()
            .map(|item| {
                stored
                    .get(&item.external_id)
                    .cloned()
                    .map(convert::inventory_item)
                    .ok_or_else(|| {
                        PortError::Conflict(format!(
                            "inventory item `{}` was not returned by the upsert",
                            item.external_id
                        ))
                    })
            })
            .collect()
    }

    #[tracing::instrument(level = "debug", skip(self), err)]
    async fn list_items(&self, tenant: TenantId) -> Result<Vec<InventoryItem>, PortError> {
        let models = Entity::find()
            .filter(Column::TenantId.eq(tenant.get()))
            .order_by_asc(Column::ExternalId)
            .all(&self.conn)
            .await
            .map_err(map_db_err)?;
        Ok(models.into_iter().map(convert::inventory_item).collect())
    }
}
