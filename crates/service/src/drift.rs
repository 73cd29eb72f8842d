//! Inventory syncs mark the items they saw; drift compares two of them.

use crate::error::{DriftRefusal, ServiceError};
use crate::request::DriftChange;
use crate::service::OperationRunService;
use operation_runs_domain::{OperationRun, RunId, RunStatus, RunType, TransitionError};
use operation_runs_ports::{Finding, InventoryItem, NewFinding, PortError, SeenItem};

impl OperationRunService {
    /// Marks the items a running `inventory_sync` run saw (upserting them), so each item's
    /// `last_seen_operation_run_id` is this run. It does not touch the run's counts or heartbeat;
    /// use [`OperationRunService::record_progress`] for those.
    ///
    /// # Errors
    /// [`ServiceError::WrongRunType`] unless the run is an `inventory_sync` run;
    /// [`ServiceError::Transition`] unless it is running; [`ServiceError::TenantRequired`] if it
    /// names no tenant (all without writing); [`ServiceError::NotFound`],
    /// [`ServiceError::Port`] from the store.
    #[tracing::instrument(skip(self, items), fields(items = items.len()), err(level = "debug"))]
    pub async fn record_seen_items(
        &self,
        run: RunId,
        items: &[SeenItem],
    ) -> Result<Vec<InventoryItem>, ServiceError> {
        let current = self.ports.queries.get(run).await?;
        if !current.is_type(&RunType::INVENTORY_SYNC) {
            return Err(ServiceError::WrongRunType {
                run,
                expected: RunType::INVENTORY_SYNC.to_string(),
                found: current.run_type().to_owned(),
            });
        }
        match crate::service::status_of(&current)? {
            RunStatus::Running => {}
            RunStatus::Completed => return Err(TransitionError::AlreadyCompleted.into()),
            from @ RunStatus::Queued => {
                return Err(TransitionError::Illegal {
                    from,
                    transition: "record seen items of",
                }
                .into());
            }
        }
        let tenant = current
            .tenant_id()
            .ok_or_else(|| ServiceError::TenantRequired {
                run_type: current.run_type().to_owned(),
            })?;
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.ports.clock.now();
        Ok(self
            .ports
            .inventory
            .upsert_seen(current.workspace_id(), tenant, items, run, now)
            .await?)
    }

    /// Records drift findings between two successfully completed `inventory_sync` runs of the
    /// same tenant, the baseline created strictly before the current one (on equal creation
    /// times the lower id is older).
    ///
    /// # Errors
    /// [`ServiceError::Drift`] when the runs do not qualify (nothing written);
    /// [`ServiceError::NotFound`] if the store no longer knows a run while inserting;
    /// [`ServiceError::Port`] when the store fails.
    #[tracing::instrument(skip(self, changes), fields(changes = changes.len()), err(level = "debug"))]
    pub async fn record_drift_findings(
        &self,
        baseline: RunId,
        current: RunId,
        changes: &[DriftChange],
    ) -> Result<Vec<Finding>, ServiceError> {
        let baseline_run = self.drift_run(baseline).await?;
        let current_run = self.drift_run(current).await?;
        if baseline_run.workspace_id() != current_run.workspace_id() {
            return Err(DriftRefusal::DifferentWorkspace.into());
        }
        let tenant = match (baseline_run.tenant_id(), current_run.tenant_id()) {
            (Some(a), Some(b)) if a == b => a,
            (Some(_), Some(_)) => return Err(DriftRefusal::DifferentTenant.into()),
            (None, _) => return Err(DriftRefusal::NoTenant(baseline).into()),
            (_, None) => return Err(DriftRefusal::NoTenant(current).into()),
        };
        if (baseline_run.created_at(), baseline) >= (current_run.created_at(), current) {
            return Err(DriftRefusal::BaselineNotOlder.into());
        }
        if changes.is_empty() {
            return Ok(Vec::new());
        }
        let findings: Vec<NewFinding> = changes
            .iter()
            .map(|change| NewFinding {
                workspace_id: current_run.workspace_id(),
                tenant_id: tenant,
                baseline_operation_run_id: baseline,
                current_operation_run_id: current,
                subject_external_id: change.subject_external_id.clone(),
                change: change.change.clone(),
                details: change.details.clone(),
            })
            .collect();
        let now = self.ports.clock.now();
        Ok(self.ports.findings.insert_findings(&findings, now).await?)
    }

    /// A run that may take part in drift: a successfully completed `inventory_sync` run.
    async fn drift_run(&self, id: RunId) -> Result<OperationRun, ServiceError> {
        let run = match self.ports.queries.get(id).await {
            Ok(run) => run,
            Err(PortError::NotFound) => return Err(DriftRefusal::RunNotFound(id).into()),
            Err(error) => return Err(error.into()),
        };
        if !run.is_type(&RunType::INVENTORY_SYNC) {
            return Err(DriftRefusal::WrongType {
                run: id,
                found: run.run_type().to_owned(),
            }
            .into());
        }
        if run.status() != RunStatus::Completed {
            return Err(DriftRefusal::NotCompleted(id).into());
        }
        if !run.outcome().is_readable_and(|o| o.is_successful()) {
            return Err(DriftRefusal::NotSuccessful(id).into());
        }
        Ok(run)
    }
}
