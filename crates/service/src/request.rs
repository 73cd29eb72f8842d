//! The values the use cases take and return.

use operation_runs_domain::{OperationRun, RunContext, RunId, TenantId, UserId, WorkspaceId};

/// A request to start (or reuse) a run; build it with [`StartRequest::new`] and the
/// builder methods.
#[derive(Debug, Clone, PartialEq)]
pub struct StartRequest {
    /// Owning workspace.
    pub workspace_id: WorkspaceId,
    /// Tenant, required exactly for tenant-scoped types.
    pub tenant_id: Option<TenantId>,
    /// The person who starts it, if a person does.
    pub user_id: Option<UserId>,
    /// Display name of the initiator (a person, `scheduler`, `system`).
    pub initiator_name: String,
    /// The run type as the caller spells it; must be canonical and registered.
    pub run_type: String,
    /// What makes two starts "the same operation"; must be a JSON object (key order is
    /// irrelevant). Workspace, tenant and type are always part of the identity.
    pub identity: serde_json::Value,
    /// Type-specific data.
    pub context: RunContext,
}

impl StartRequest {
    /// A workspace-level request with an empty identity and context.
    #[must_use]
    pub fn new(
        workspace_id: WorkspaceId,
        run_type: impl Into<String>,
        initiator_name: impl Into<String>,
    ) -> Self {
        Self {
            workspace_id,
            tenant_id: None,
            user_id: None,
            initiator_name: initiator_name.into(),
            run_type: run_type.into(),
            identity: serde_json::Value::Object(serde_json::Map::new()),
            context: RunContext::new(),
        }
    }

    /// Names the tenant.
    #[must_use]
    pub fn tenant(mut self, tenant: TenantId) -> Self {
        self.tenant_id = Some(tenant);
        self
    }

    /// Names the person who starts the run.
    #[must_use]
    pub fn user(mut self, user: UserId) -> Self {
        self.user_id = Some(user);
        self
    }

    /// Sets the identity inputs (a JSON object).
    #[must_use]
    pub fn identity(mut self, identity: serde_json::Value) -> Self {
        self.identity = identity;
        self
    }

    /// Sets the context.
    #[must_use]
    pub fn context(mut self, context: RunContext) -> Self {
        self.context = context;
        self
    }
}

/// The result of a start: a new run, or the active run of the same identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started {
    /// A new queued run was recorded.
    New(OperationRun),
    /// A run of the same identity was already active; nothing was written.
    Reused(OperationRun),
}

impl Started {
    /// The run, new or reused.
    #[must_use]
    pub fn run(&self) -> &OperationRun {
        match self {
            Self::New(run) | Self::Reused(run) => run,
        }
    }

    /// The run, new or reused.
    #[must_use]
    pub fn into_run(self) -> OperationRun {
        match self {
            Self::New(run) | Self::Reused(run) => run,
        }
    }

    /// Whether an already active run was returned.
    #[must_use]
    pub fn is_reused(&self) -> bool {
        matches!(self, Self::Reused(_))
    }
}

/// What [`crate::OperationRunService::reap_stale`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReapReport {
    /// Runs completed as `failed` with failure code `run_stale`.
    pub reaped: Vec<RunId>,
    /// Runs another writer changed first (completed or started meanwhile); left untouched.
    pub lost_races: Vec<RunId>,
}

/// One drifted item between a baseline and a current inventory sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriftChange {
    /// The item's id in the tenant's directory.
    pub subject_external_id: String,
    /// `added`, `removed`, `changed`, …
    pub change: String,
    /// Details of the change.
    pub details: serde_json::Value,
}
