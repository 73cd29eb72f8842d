//! Inventory items and drift findings, which reference runs.

use crate::error::PortError;
use crate::model::{Finding, InventoryItem, NewFinding, SeenItem};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use operation_runs_domain::{RunId, TenantId, WorkspaceId};

/// Inventory items, as inventory syncs see them.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait InventoryRepository: Send + Sync {
    /// Upserts the items by `(tenant_id, external_id)` and sets their
    /// `last_seen_operation_run_id` to `run`, all or nothing: set-based (never a statement per
    /// item), in one transaction; an adapter may split a large batch into several statements
    /// within that transaction to stay under its backend's parameter limit. An external id given
    /// twice is upserted once (its last occurrence wins). Returns the stored item of each given
    /// item, in the order given.
    ///
    /// # Errors
    /// [`PortError::NotFound`] if the tenant or run does not exist; [`PortError::Backend`] when the
    /// store fails (nothing is written then).
    async fn upsert_seen(
        &self,
        workspace: WorkspaceId,
        tenant: TenantId,
        items: &[SeenItem],
        run: RunId,
        now: DateTime<Utc>,
    ) -> Result<Vec<InventoryItem>, PortError>;

    /// A tenant's items, ordered by external id.
    ///
    /// # Errors
    /// [`PortError::Backend`] when the store fails.
    async fn list_items(&self, tenant: TenantId) -> Result<Vec<InventoryItem>, PortError>;
}

/// Drift findings.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait FindingRepository: Send + Sync {
    /// Inserts findings, all or nothing. Returns them with their ids.
    ///
    /// # Errors
    /// [`PortError::NotFound`] if a referenced run, tenant or workspace does not exist;
    /// [`PortError::Backend`] when the store fails (nothing is written then).
    async fn insert_findings(
        &self,
        findings: &[NewFinding],
        now: DateTime<Utc>,
    ) -> Result<Vec<Finding>, PortError>;

    /// A tenant's findings, ordered by id.
    ///
    /// # Errors
    /// [`PortError::Backend`] when the store fails.
    async fn list_findings(&self, tenant: TenantId) -> Result<Vec<Finding>, PortError>;
}
