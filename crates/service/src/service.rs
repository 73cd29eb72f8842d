//! The use cases.

use crate::error::{DriftRefusal, ServiceError};
use crate::request::{DriftChange, ReapReport, StartRequest, Started};
use chrono::{DateTime, Utc};
use operation_runs_domain::{
    Capability, Failure, FailureCode, FailureSummary, IdentityHash, NewOperationRun, OperationRun,
    RunContext, RunId, RunOutcome, RunScope, RunStatus, RunType, RunTypeRegistry, SummaryCounts,
    Transition, TransitionError, UserId, WorkspaceId, authorize,
};
use operation_runs_ports::{
    Clock, Finding, FindingRepository, InventoryItem, InventoryRepository, NewFinding,
    OperationRunRepository, PortError, RunListQuery, RunPage, SeenItem, WorkspaceDirectory,
};
use std::fmt;
use std::sync::Arc;

/// Largest page [`OperationRunService::list_runs`] serves; a larger request is refused with
/// [`ServiceError::InvalidPageSize`] rather than lowered, so a client never mistakes a short
/// page for the last one it asked for. Same bound as a backup schedule's history.
pub const MAX_PAGE_SIZE: u32 = 500;

/// The ports the service runs on; a host fills them with adapters (or mocks in tests).
#[derive(Clone)]
pub struct ServicePorts {
    /// The canonical run store.
    pub runs: Arc<dyn OperationRunRepository>,
    /// Memberships and tenants.
    pub directory: Arc<dyn WorkspaceDirectory>,
    /// Inventory items.
    pub inventory: Arc<dyn InventoryRepository>,
    /// Drift findings.
    pub findings: Arc<dyn FindingRepository>,
    /// The time.
    pub clock: Arc<dyn Clock>,
}

/// The use cases of operation runs; cheap to clone and share between tasks.
///
/// See the crate documentation for an example.
#[derive(Clone)]
pub struct OperationRunService {
    ports: ServicePorts,
    registry: Arc<RunTypeRegistry>,
}

impl fmt::Debug for OperationRunService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OperationRunService")
            .field(
                "run_types",
                &self
                    .registry
                    .iter()
                    .map(|d| d.id().as_str())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl OperationRunService {
    /// A service over the given ports, allowing the types of `registry` for new runs.
    #[must_use]
    pub fn new(ports: ServicePorts, registry: RunTypeRegistry) -> Self {
        Self {
            ports,
            registry: Arc::new(registry),
        }
    }

    /// The allow-list of run types.
    #[must_use]
    pub fn registry(&self) -> &RunTypeRegistry {
        &self.registry
    }

    /// The run store, for crates that build further use cases on this service.
    #[must_use]
    pub fn runs(&self) -> &Arc<dyn OperationRunRepository> {
        &self.ports.runs
    }

    /// The clock.
    #[must_use]
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.ports.clock
    }

    /// Memberships and tenants.
    #[must_use]
    pub fn directory(&self) -> &Arc<dyn WorkspaceDirectory> {
        &self.ports.directory
    }

    /// Inventory items.
    #[must_use]
    pub fn inventory(&self) -> &Arc<dyn InventoryRepository> {
        &self.ports.inventory
    }

    /// Drift findings.
    #[must_use]
    pub fn findings(&self) -> &Arc<dyn FindingRepository> {
        &self.ports.findings
    }

    /// Records a new queued run, or returns the active run of the same identity.
    ///
    /// Everything is validated before the single write: the type must be canonical and
    /// registered, the tenant must be given exactly for tenant-scoped types, the identity must
    /// be a JSON object and the context well-formed. That the tenant belongs to the workspace is
    /// checked by the write itself ([`OperationRunRepository::insert_or_get_active`] refuses a
    /// foreign tenant without writing), so a start is one statement; only a refused start looks
    /// the tenant up, to say why.
    ///
    /// # Errors
    /// [`ServiceError::UnknownRunType`], [`ServiceError::TenantRequired`],
    /// [`ServiceError::TenantNotAllowed`], [`ServiceError::TenantNotInWorkspace`] (also for a
    /// tenant that does not exist), [`ServiceError::InvalidIdentity`],
    /// [`ServiceError::InvalidContext`] (nothing written); [`ServiceError::NotFound`] if the
    /// store does not know the workspace; [`ServiceError::Port`] when the store fails.
    #[tracing::instrument(
        skip(self, request),
        fields(workspace = %request.workspace_id, run_type = %request.run_type),
        err(level = "debug")
    )]
    pub async fn start(&self, request: StartRequest) -> Result<Started, ServiceError> {
        let descriptor = self.registry.resolve_new(&request.run_type)?;
        match (descriptor.scope(), request.tenant_id) {
            (RunScope::Tenant, None) => {
                return Err(ServiceError::TenantRequired {
                    run_type: request.run_type,
                });
            }
            (RunScope::Workspace, Some(_)) => {
                return Err(ServiceError::TenantNotAllowed {
                    run_type: request.run_type,
                });
            }
            _ => {}
        }
        let run_type = descriptor.id().clone();
        let identity_hash = IdentityHash::compute(
            request.workspace_id,
            request.tenant_id,
            &run_type,
            &request.identity,
        )?;
        // `RunContext::with` does not validate, so a context can reach us with e.g. a string id.
        let context = RunContext::from_json(request.context.to_json())?;
        let new = NewOperationRun {
            workspace_id: request.workspace_id,
            tenant_id: request.tenant_id,
            user_id: request.user_id,
            initiator_name: request.initiator_name,
            run_type,
            identity_hash,
            summary_counts: SummaryCounts::new(),
            context,
            created_at: self.ports.clock.now(),
        };
        let started = match self.ports.runs.insert_or_get_active(&new).await {
            Ok(started) => started,
            Err(PortError::NotFound) => return Err(self.why_not_started(&new).await),
            Err(error) => return Err(error.into()),
        };
        tracing::debug!(run = %started.run.id(), reused = started.reused, "run started");
        Ok(if started.reused {
            Started::Reused(started.run)
        } else {
            Started::New(started.run)
        })
    }

    /// Why the store refused to start `new` as not found: its tenant is missing or belongs to
    /// another workspace, or else the workspace is unknown.
    async fn why_not_started(&self, new: &NewOperationRun) -> ServiceError {
        let Some(tenant) = new.tenant_id else {
            return ServiceError::NotFound;
        };
        match self.ports.directory.tenant_workspace(tenant).await {
            Ok(owner) if owner != Some(new.workspace_id) => ServiceError::TenantNotInWorkspace {
                tenant,
                workspace: new.workspace_id,
            },
            Ok(_) => ServiceError::NotFound,
            Err(error) => error.into(),
        }
    }

    /// Moves a queued run to `running`.
    ///
    /// # Errors
    /// [`ServiceError::Transition`] unless the run is queued (nothing written);
    /// [`ServiceError::NotFound`] for an unknown run; [`ServiceError::Conflict`] if another
    /// writer changed it first; [`ServiceError::Port`] when the store fails.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn begin(&self, run: RunId) -> Result<OperationRun, ServiceError> {
        let current = self.ports.runs.get(run).await?;
        let now = self.ports.clock.now();
        let next = current.next_state(Transition::Begin, now)?;
        Ok(self
            .ports
            .runs
            .transition(run, current.status(), &next, now)
            .await?)
    }

    /// Adds to an active run's counts and bumps its heartbeat (an empty `counts` is a pure
    /// heartbeat).
    ///
    /// `counts` are `(name, value)` pairs; names must be declared by the run's type, values
    /// non-negative; a name may repeat (its values add up).
    ///
    /// # Errors
    /// [`ServiceError::UnregisteredRunType`] if the stored type is not registered;
    /// [`ServiceError::InvalidCounts`] for an undeclared name, a negative value or a sum that
    /// would overflow; [`ServiceError::Transition`] for a completed run (all without writing);
    /// [`ServiceError::NotFound`], [`ServiceError::Conflict`] (completed meanwhile),
    /// [`ServiceError::Port`] from the store.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn record_progress(
        &self,
        run: RunId,
        counts: &[(&str, i64)],
    ) -> Result<OperationRun, ServiceError> {
        let current = self.ports.runs.get(run).await?;
        let descriptor = self
            .registry
            .get(current.run_type())
            .ok_or_else(|| ServiceError::UnregisteredRunType(current.run_type().to_owned()))?;
        let delta = SummaryCounts::for_type(descriptor, counts.iter().copied())?;
        if current.status() == RunStatus::Completed {
            return Err(TransitionError::AlreadyCompleted.into());
        }
        // The store adds atomically and refuses overflow itself; checking against what we read
        // saves a write that is bound to fail.
        current.summary_counts().clone().merge(&delta)?;
        let now = self.ports.clock.now();
        Ok(self.ports.runs.increment_counts(run, &delta, now).await?)
    }

    /// Completes a run with a final outcome and its failures (replacing any stored ones).
    ///
    /// A queued run may only complete as `failed` or `cancelled`; a completed run never changes.
    ///
    /// # Errors
    /// [`ServiceError::Transition`] for an illegal transition (nothing written);
    /// [`ServiceError::NotFound`] for an unknown run; [`ServiceError::Conflict`] if another
    /// writer changed it first; [`ServiceError::Port`] when the store fails.
    #[tracing::instrument(skip(self, failures), fields(failures = failures.failures().len()), err(level = "debug"))]
    pub async fn complete(
        &self,
        run: RunId,
        outcome: RunOutcome,
        failures: FailureSummary,
    ) -> Result<OperationRun, ServiceError> {
        let current = self.ports.runs.get(run).await?;
        let now = self.ports.clock.now();
        let mut next = current.next_state(Transition::Complete(outcome), now)?;
        next.failure_summary = failures;
        Ok(self
            .ports
            .runs
            .transition(run, current.status(), &next, now)
            .await?)
    }

    /// Completes a run with a final outcome, its failures (replacing any stored ones) and its
    /// last counts, in one atomic write: readers see either the active run without these counts
    /// or the completed run with them, never one without the other.
    ///
    /// `counts` are `(name, value)` pairs added to the stored counts like
    /// [`OperationRunService::record_progress`]'s (declared by the run's type, non-negative,
    /// repeatable); an empty `counts` makes this [`OperationRunService::complete`]. The
    /// transition and the counts are both checked before anything is written.
    ///
    /// # Errors
    /// [`ServiceError::Transition`] for an illegal transition;
    /// [`ServiceError::UnregisteredRunType`] if counts are given and the stored type is not
    /// registered; [`ServiceError::InvalidCounts`] for an undeclared name, a negative value or
    /// a sum that would overflow (all without writing); [`ServiceError::NotFound`] for an
    /// unknown run; [`ServiceError::Conflict`] if another writer changed it first (nothing
    /// written); [`ServiceError::Port`] when the store fails.
    #[tracing::instrument(
        skip(self, failures),
        fields(failures = failures.failures().len()),
        err(level = "debug")
    )]
    pub async fn complete_with_counts(
        &self,
        run: RunId,
        outcome: RunOutcome,
        failures: FailureSummary,
        counts: &[(&str, i64)],
    ) -> Result<OperationRun, ServiceError> {
        let current = self.ports.runs.get(run).await?;
        let now = self.ports.clock.now();
        let mut next = current.next_state(Transition::Complete(outcome), now)?;
        next.failure_summary = failures;
        let delta = if counts.is_empty() {
            SummaryCounts::new()
        } else {
            let descriptor = self
                .registry
                .get(current.run_type())
                .ok_or_else(|| ServiceError::UnregisteredRunType(current.run_type().to_owned()))?;
            SummaryCounts::for_type(descriptor, counts.iter().copied())?
        };
        // The store refuses overflow itself; checking against what we read saves a write that
        // is bound to fail.
        current.summary_counts().clone().merge(&delta)?;
        Ok(self
            .ports
            .runs
            .transition_with_counts(run, current.status(), &next, &delta, now)
            .await?)
    }

    /// Cancels an active run on behalf of a viewer who may view and manage the run's workspace.
    ///
    /// # Errors
    /// [`ServiceError::NotFound`] for an unknown run or a viewer who is not a member of its
    /// workspace; [`ServiceError::Forbidden`] for a member without the view or the manage
    /// capability;
    /// [`ServiceError::Transition`] for a completed run (all without writing);
    /// [`ServiceError::Conflict`] if another writer changed it first; [`ServiceError::Port`]
    /// when the store fails.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn cancel(&self, viewer: UserId, run: RunId) -> Result<OperationRun, ServiceError> {
        let current = self.ports.runs.get(run).await?;
        let membership = self
            .ports
            .directory
            .membership(current.workspace_id(), viewer)
            .await?;
        authorize(membership, Capability::ManageOperations)?;
        let now = self.ports.clock.now();
        let next = current.next_state(Transition::Complete(RunOutcome::Cancelled), now)?;
        Ok(self
            .ports
            .runs
            .transition(run, current.status(), &next, now)
            .await?)
    }

    /// Completes as `failed` (failure code `run_stale`) up to `limit` active runs whose
    /// heartbeat is older than `older_than`, oldest first.
    ///
    /// Each completion is a compare-and-set on the status the run had when it was found AND on
    /// its heartbeat still being older than the threshold
    /// ([`OperationRunRepository::complete_if_stale`]), so a run that completed, started or sent
    /// a heartbeat (progress, context) meanwhile is left alone and listed in
    /// [`ReapReport::lost_races`].
    ///
    /// # Errors
    /// [`ServiceError::InvalidThreshold`] for a negative `older_than`; [`ServiceError::Port`]
    /// when the store fails (runs reaped before the failure stay reaped).
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn reap_stale(
        &self,
        older_than: chrono::Duration,
        limit: u32,
    ) -> Result<ReapReport, ServiceError> {
        if older_than < chrono::Duration::zero() {
            return Err(ServiceError::InvalidThreshold(older_than));
        }
        let mut report = ReapReport::default();
        if limit == 0 {
            return Ok(report);
        }
        let code = FailureCode::parse(FailureCode::RUN_STALE)?;
        let now = self.ports.clock.now();
        let cutoff = now
            .checked_sub_signed(older_than)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        for run in self.ports.runs.find_stale(cutoff, limit).await? {
            let Ok(mut next) = run.next_state(Transition::Complete(RunOutcome::Failed), now) else {
                // Completed between the query and now: someone else won.
                report.lost_races.push(run.id());
                continue;
            };
            next.failure_summary.push(Failure::new(
                code.clone(),
                &format!(
                    "no heartbeat since {}; completed by the stale-run reaper",
                    run.updated_at().to_rfc3339()
                ),
            ));
            match self
                .ports
                .runs
                .complete_if_stale(run.id(), run.status(), cutoff, &next, now)
                .await
            {
                Ok(_) => report.reaped.push(run.id()),
                Err(PortError::Conflict(_) | PortError::NotFound) => {
                    tracing::debug!(
                        run = %run.id(),
                        "stale run changed or sent a heartbeat meanwhile; left alone"
                    );
                    report.lost_races.push(run.id());
                }
                Err(error) => {
                    tracing::warn!(reaped = ?report.reaped, "reaping stopped by a store failure");
                    return Err(error.into());
                }
            }
        }
        tracing::info!(
            reaped = report.reaped.len(),
            lost_races = report.lost_races.len(),
            "stale runs reaped"
        );
        Ok(report)
    }

    /// One run of a workspace, for a viewer.
    ///
    /// # Errors
    /// [`ServiceError::NotFound`] if the run does not exist, belongs to another workspace than
    /// `workspace`, or the viewer is not a member; [`ServiceError::Forbidden`] for a member
    /// without the view capability; [`ServiceError::Port`] when the store fails.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn show_run(
        &self,
        viewer: UserId,
        workspace: WorkspaceId,
        run: RunId,
    ) -> Result<OperationRun, ServiceError> {
        let found = self.ports.runs.get(run).await?;
        if found.workspace_id() != workspace {
            return Err(ServiceError::NotFound);
        }
        let membership = self.ports.directory.membership(workspace, viewer).await?;
        authorize(membership, Capability::ViewOperations)?;
        Ok(found)
    }

    /// Whether the viewer may cancel runs of `workspace` (the view and the manage capability),
    /// so a screen offers cancelling only to those whose cancel would be accepted; `false` for a
    /// non-member.
    ///
    /// # Errors
    /// [`ServiceError::Port`] when the directory fails.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn may_manage(
        &self,
        viewer: UserId,
        workspace: WorkspaceId,
    ) -> Result<bool, ServiceError> {
        let membership = self.ports.directory.membership(workspace, viewer).await?;
        Ok(authorize(membership, Capability::ManageOperations).is_ok())
    }

    /// A page of a workspace's runs, newest first, for a viewer; `query.limit` runs at most,
    /// 1 to [`MAX_PAGE_SIZE`].
    ///
    /// # Errors
    /// [`ServiceError::InvalidPageSize`] for a limit of 0 or above [`MAX_PAGE_SIZE`] (checked
    /// before anything is read); [`ServiceError::NotFound`] if the viewer is not a member of the
    /// workspace;
    /// [`ServiceError::Forbidden`] for a member without the view capability;
    /// [`ServiceError::Port`] when the store fails.
    #[tracing::instrument(skip(self, query), fields(workspace = %query.workspace_id), err(level = "debug"))]
    pub async fn list_runs(
        &self,
        viewer: UserId,
        query: &RunListQuery,
    ) -> Result<RunPage, ServiceError> {
        if !(1..=MAX_PAGE_SIZE).contains(&query.limit) {
            return Err(ServiceError::InvalidPageSize {
                requested: query.limit,
                max: MAX_PAGE_SIZE,
            });
        }
        let membership = self
            .ports
            .directory
            .membership(query.workspace_id, viewer)
            .await?;
        authorize(membership, Capability::ViewOperations)?;
        Ok(self.ports.runs.list(query).await?)
    }

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
        let current = self.ports.runs.get(run).await?;
        if !current.is_type(&RunType::INVENTORY_SYNC) {
            return Err(ServiceError::WrongRunType {
                run,
                expected: RunType::INVENTORY_SYNC.to_string(),
                found: current.run_type().to_owned(),
            });
        }
        match current.status() {
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
        let run = match self.ports.runs.get(id).await {
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
        if !run.outcome().is_successful() {
            return Err(DriftRefusal::NotSuccessful(id).into());
        }
        Ok(run)
    }
}
