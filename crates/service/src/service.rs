//! The use cases.

use crate::error::ServiceError;
use crate::request::{StartRequest, Started};
use chrono::{DateTime, Utc};
use operation_runs_domain::{
    Capability, FailureSummary, IdentityHash, NewOperationRun, OperationRun, RunContext, RunId,
    RunOutcome, RunScope, RunStatus, RunTypeRegistry, SummaryCounts, Transition, TransitionError,
    UserId, WorkspaceId,
};
use operation_runs_ports::{
    Clock, FindingRepository, InventoryRepository, PortError, RunLifecycle, RunQueries, RunStore,
    StartError, SystemClock, WorkspaceDirectory,
};
use std::fmt;
use std::sync::Arc;

/// Largest page [`OperationRunService::list_runs`] serves; a larger request is refused with
/// [`ServiceError::InvalidPageSize`] rather than lowered, so a client never mistakes a short
/// page for the last one it asked for. Same bound as a backup schedule's history.
pub const MAX_PAGE_SIZE: u32 = 500;

/// The ports the service runs on; a host fills them from one store with
/// [`ServicePorts::from_store`], or one by one (with mocks in tests).
#[derive(Clone)]
pub struct ServicePorts {
    /// Run writes (start, transitions, counts, context).
    pub lifecycle: Arc<dyn RunLifecycle>,
    /// Run reads.
    pub queries: Arc<dyn RunQueries>,
    /// Memberships and tenants.
    pub directory: Arc<dyn WorkspaceDirectory>,
    /// Inventory items.
    pub inventory: Arc<dyn InventoryRepository>,
    /// Drift findings.
    pub findings: Arc<dyn FindingRepository>,
    /// The time.
    pub clock: Arc<dyn Clock>,
}

impl ServicePorts {
    /// Every port from one store, with the system clock.
    #[must_use]
    pub fn from_store<S: RunStore + 'static>(store: Arc<S>) -> Self {
        Self {
            lifecycle: store.clone(),
            queries: store.clone(),
            directory: store.clone(),
            inventory: store.clone(),
            findings: store,
            clock: Arc::new(SystemClock),
        }
    }

    /// The same ports with another clock (tests fix the time).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}

/// The use cases of operation runs; cheap to clone and share between tasks.
///
/// See the crate documentation for an example.
#[derive(Clone)]
pub struct OperationRunService {
    pub(crate) ports: ServicePorts,
    pub(crate) registry: Arc<RunTypeRegistry>,
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

    /// The current time, from the service's clock: for use cases built on this service that
    /// must agree with the times it writes.
    #[must_use]
    pub fn now(&self) -> DateTime<Utc> {
        self.ports.clock.now()
    }

    /// Records a new queued run, or returns the active run of the same identity.
    ///
    /// Everything is validated before the single write: the type must be canonical and
    /// registered, the tenant must be given exactly for tenant-scoped types, the identity must
    /// be a JSON object and the context well-formed. That the workspace exists and the tenant
    /// belongs to it is checked by the write itself
    /// ([`RunLifecycle::insert_or_get_active`]), so a start is one statement.
    ///
    /// # Errors
    /// [`ServiceError::UnknownRunType`], [`ServiceError::TenantRequired`],
    /// [`ServiceError::TenantNotAllowed`], [`ServiceError::InvalidIdentity`],
    /// [`ServiceError::InvalidContext`] (nothing written); [`ServiceError::UnknownWorkspace`] and
    /// [`ServiceError::TenantNotInWorkspace`] (also for a tenant that does not exist) when the
    /// store refuses (nothing written); [`ServiceError::Port`] when the store fails.
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
        let started = match self.ports.lifecycle.insert_or_get_active(&new).await {
            Ok(started) => started,
            Err(StartError::Refused(refusal)) => return Err(refusal.into()),
            Err(StartError::Port(error)) => return Err(error.into()),
        };
        tracing::debug!(run = %started.run.id(), reused = started.reused, "run started");
        Ok(if started.reused {
            Started::Reused(started.run)
        } else {
            Started::New(started.run)
        })
    }

    /// Moves a queued run to `running`.
    ///
    /// # Errors
    /// [`ServiceError::Transition`] unless the run is queued (nothing written);
    /// [`ServiceError::NotFound`] for an unknown run; [`ServiceError::Conflict`] if another
    /// writer changed it first; [`ServiceError::Port`] when the store fails.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn begin(&self, run: RunId) -> Result<OperationRun, ServiceError> {
        let current = self.ports.queries.get(run).await?;
        let now = self.ports.clock.now();
        let next = current.next_state(Transition::Begin, now)?;
        Ok(self
            .ports
            .lifecycle
            .transition(run, status_of(&current)?, &next, now)
            .await?)
    }

    /// Adds to an active run's counts and bumps its heartbeat (an empty `counts` is a pure
    /// heartbeat).
    ///
    /// `counts` are `(name, value)` pairs; names must be declared by the run's type, values
    /// non-negative; a name may repeat (its values add up).
    ///
    /// One write, without reading the run first: the store's update is guarded by the status,
    /// the registered types that declare these counts and the overflow, and only a refused
    /// update reads the run to say why.
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
        // The registered types whose declared counts accept these: the store's write is guarded
        // by them (and by the status and the overflow), so a progress update is one statement
        // and the run is read only when that write is refused, to say why.
        let mut run_types = Vec::new();
        let mut delta = None;
        for descriptor in self.registry.iter() {
            if let Ok(accepted) = descriptor.counts(counts.iter().copied()) {
                run_types.push(descriptor.id().clone());
                delta.get_or_insert(accepted);
            }
        }
        let Some(delta) = delta else {
            return Err(self.progress_refused(run, counts, None).await);
        };
        let now = self.ports.clock.now();
        match self
            .ports
            .lifecycle
            .increment_counts(run, &run_types, &delta, now)
            .await
        {
            Ok(updated) => Ok(updated),
            Err(error @ PortError::Backend(_)) => Err(error.into()),
            Err(refused) => Err(self.progress_refused(run, counts, Some(refused)).await),
        }
    }

    /// Why progress on `run` was refused, in the order of the checks the write stands for: an
    /// unknown run, an unregistered stored type, counts its type does not take (undeclared,
    /// negative, overflowing in the request), a completed run, a sum overflowing what is
    /// stored; else the store's own refusal (`refused`), e.g. the run completed in between.
    async fn progress_refused(
        &self,
        run: RunId,
        counts: &[(&str, i64)],
        refused: Option<PortError>,
    ) -> ServiceError {
        let current = match self.ports.queries.get(run).await {
            Ok(current) => current,
            Err(error) => return error.into(),
        };
        let Some(descriptor) = self.registry.get(current.run_type()) else {
            return ServiceError::UnregisteredRunType(current.run_type().to_owned());
        };
        let delta = match descriptor.counts(counts.iter().copied()) {
            Ok(delta) => delta,
            Err(error) => return error.into(),
        };
        if current.status() == RunStatus::Completed {
            return TransitionError::AlreadyCompleted.into();
        }
        let stored =
            match ServiceError::readable(&current, "summary_counts", current.summary_counts()) {
                Ok(stored) => stored,
                Err(error) => return error,
            };
        if let Err(error) = stored.clone().merge(&delta) {
            return error.into();
        }
        match refused {
            Some(error) => error.into(),
            None => ServiceError::Conflict(format!("run {run} refused the counts")),
        }
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
        let current = self.ports.queries.get(run).await?;
        let now = self.ports.clock.now();
        let mut next = current.next_state(Transition::Complete(outcome), now)?;
        next.failure_summary = failures;
        Ok(self
            .ports
            .lifecycle
            .transition(run, status_of(&current)?, &next, now)
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
        let current = self.ports.queries.get(run).await?;
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
            descriptor.counts(counts.iter().copied())?
        };
        // The store refuses overflow itself; checking against what we read saves a write that
        // is bound to fail.
        ServiceError::readable(&current, "summary_counts", current.summary_counts())?
            .clone()
            .merge(&delta)?;
        Ok(self
            .ports
            .lifecycle
            .transition_with_counts(run, status_of(&current)?, &next, &delta, now)
            .await?)
    }

    /// Cancels an active run on behalf of a viewer who may view and manage the run's workspace.
    ///
    /// # Errors
    /// [`ServiceError::NotFound`] for an unknown run or a viewer who is not a member of its
    /// workspace; [`ServiceError::Forbidden`] for a member without the manage capability;
    /// [`ServiceError::Transition`] for a completed run (all without writing);
    /// [`ServiceError::Conflict`] if another writer changed it first; [`ServiceError::Port`]
    /// when the store fails.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn cancel(&self, viewer: UserId, run: RunId) -> Result<OperationRun, ServiceError> {
        let current = self.ports.queries.get(run).await?;
        self.authorize(viewer, current.workspace_id(), Capability::ManageOperations)
            .await?;
        let now = self.ports.clock.now();
        let next = current.next_state(Transition::Complete(RunOutcome::Cancelled), now)?;
        Ok(self
            .ports
            .lifecycle
            .transition(run, status_of(&current)?, &next, now)
            .await?)
    }

    /// Records what an active run produced while it runs: each top-level key of `patch`
    /// replaces that key of the run's context (e.g. the `backup_set_id` of a scheduled backup,
    /// known only once the set exists), and the heartbeat is bumped.
    ///
    /// # Errors
    /// [`ServiceError::InvalidContext`] if `patch` breaks the rules of a well-known key
    /// (nothing written); [`ServiceError::NotFound`] for an unknown run;
    /// [`ServiceError::Conflict`] if the run is completed (nothing written);
    /// [`ServiceError::Port`] when the store fails.
    #[tracing::instrument(skip(self, patch), err(level = "debug"))]
    pub async fn record_output(
        &self,
        run: RunId,
        patch: &RunContext,
    ) -> Result<OperationRun, ServiceError> {
        let patch = RunContext::from_json(patch.to_json())?;
        let now = self.ports.clock.now();
        Ok(self.ports.lifecycle.merge_context(run, &patch, now).await?)
    }

    /// The newest completed run of an identity whose outcome is one of `outcomes` (any final
    /// outcome when empty): "has this operation already been done?", beyond the active run
    /// that [`OperationRunService::start`] reuses.
    ///
    /// # Errors
    /// [`ServiceError::Port`] when the store fails.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn latest_completed(
        &self,
        workspace: WorkspaceId,
        identity: &IdentityHash,
        outcomes: &[RunOutcome],
    ) -> Result<Option<OperationRun>, ServiceError> {
        Ok(self
            .ports
            .queries
            .latest_completed_with_identity(workspace, identity, outcomes)
            .await?)
    }
}

/// The status a compare-and-set expects: the run's, as read.
pub(crate) fn status_of(run: &OperationRun) -> Result<RunStatus, TransitionError> {
    run.status()
        .ok()
        .copied()
        .ok_or(TransitionError::UnreadableStatus)
}
