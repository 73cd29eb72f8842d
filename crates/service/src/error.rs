//! What the use cases refuse, and how a web layer maps it.

use operation_runs_domain::{
    AccessDenied, ContextError, CountError, FailureError, IdentityError, OperationRun, RunId,
    Stored, TenantId, TransitionError, UnknownRunType, WorkspaceId,
};
use operation_runs_ports::{PortError, StartRefusal};

/// Why a use case refused or failed. Every refusal happens before anything is written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// A new run's type is unknown, dotted (the message names the canonical form) or not
    /// canonical.
    #[error(transparent)]
    UnknownRunType(#[from] UnknownRunType),
    /// A tenant-scoped type was started (or used) without a tenant.
    #[error("run type `{run_type}` is tenant-scoped and needs a tenant")]
    TenantRequired {
        /// The run type.
        run_type: String,
    },
    /// A workspace-scoped type was started with a tenant.
    #[error("run type `{run_type}` is workspace-scoped and must not name a tenant")]
    TenantNotAllowed {
        /// The run type.
        run_type: String,
    },
    /// A new run's workspace does not exist (HTTP 404).
    #[error("workspace {0} not found")]
    UnknownWorkspace(WorkspaceId),
    /// The tenant does not exist or belongs to another workspace.
    #[error("tenant {tenant} does not belong to workspace {workspace}")]
    TenantNotInWorkspace {
        /// The tenant named by the request.
        tenant: TenantId,
        /// The workspace named by the request.
        workspace: WorkspaceId,
    },
    /// The identity inputs are not a JSON object.
    #[error(transparent)]
    InvalidIdentity(#[from] IdentityError),
    /// The context breaks the rules of its well-known keys.
    #[error(transparent)]
    InvalidContext(#[from] ContextError),
    /// Undeclared count name, negative value or a sum that would overflow.
    #[error(transparent)]
    InvalidCounts(#[from] CountError),
    /// A failure code or failure summary is malformed.
    #[error(transparent)]
    InvalidFailure(#[from] FailureError),
    /// Progress on a stored run whose type is not on the allow-list, so its count names are
    /// unknown.
    #[error("run type `{0}` is not registered, so its counts cannot be checked")]
    UnregisteredRunType(String),
    /// An illegal lifecycle transition (including any change to a completed run).
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// No such run, or the viewer is not a member of its workspace (HTTP 404).
    #[error("not found")]
    NotFound,
    /// The viewer is a member without the needed capability (HTTP 403).
    #[error("forbidden")]
    Forbidden,
    /// Lost a compare-and-set race: another writer changed the run first; nothing was written.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The run is not of the type the use case works on.
    #[error("run {run} is a `{found}` run, expected `{expected}`")]
    WrongRunType {
        /// The run.
        run: RunId,
        /// The type the use case needs.
        expected: String,
        /// The run's stored type.
        found: String,
    },
    /// Drift findings were refused; see [`DriftRefusal`].
    #[error("drift findings refused: {0}")]
    Drift(DriftRefusal),
    /// The stale threshold of [`crate::OperationRunService::reap_stale`] is negative.
    #[error("stale threshold must not be negative, got {0}")]
    InvalidThreshold(chrono::Duration),
    /// A list was asked for a page size of 0 or above its maximum
    /// ([`crate::MAX_PAGE_SIZE`] for [`crate::OperationRunService::list_runs`]).
    #[error("page size must be between 1 and {max}, got {requested}")]
    InvalidPageSize {
        /// The page size asked for.
        requested: u32,
        /// The largest page size served.
        max: u32,
    },
    /// The use case needs a stored field of the run that breaks today's rules (a row the legacy
    /// product wrote); nothing was written. Reads show such a field as unreadable instead.
    #[error("run {run}'s stored {field} cannot be read ({reason})")]
    UnreadableField {
        /// The run.
        run: RunId,
        /// The column.
        field: &'static str,
        /// Why it cannot be read.
        reason: String,
    },
    /// The backend failed.
    #[error(transparent)]
    Port(PortError),
}

impl ServiceError {
    /// The value of `field` of `run`, or [`ServiceError::UnreadableField`].
    pub(crate) fn readable<'a, T>(
        run: &OperationRun,
        field: &'static str,
        stored: &'a Stored<T>,
    ) -> Result<&'a T, Self> {
        stored
            .readable()
            .map_err(|unreadable| Self::UnreadableField {
                run: run.id(),
                field,
                reason: unreadable.reason().to_owned(),
            })
    }
}

/// Why two runs cannot be the baseline and the current run of drift findings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DriftRefusal {
    /// A run does not exist.
    #[error("run {0} does not exist")]
    RunNotFound(RunId),
    /// A run is not an `inventory_sync` run.
    #[error("run {run} is a `{found}` run, drift compares `inventory_sync` runs")]
    WrongType {
        /// The run.
        run: RunId,
        /// Its stored type.
        found: String,
    },
    /// A run has not completed.
    #[error("run {0} has not completed")]
    NotCompleted(RunId),
    /// A run completed without success (failed or cancelled).
    #[error("run {0} did not succeed")]
    NotSuccessful(RunId),
    /// A run names no tenant.
    #[error("run {0} names no tenant")]
    NoTenant(RunId),
    /// The runs belong to different workspaces.
    #[error("the runs belong to different workspaces")]
    DifferentWorkspace,
    /// The runs are about different tenants.
    #[error("the runs are about different tenants")]
    DifferentTenant,
    /// The baseline was not created strictly before the current run.
    #[error("the baseline run must be older than the current run")]
    BaselineNotOlder,
}

impl From<DriftRefusal> for ServiceError {
    fn from(refusal: DriftRefusal) -> Self {
        Self::Drift(refusal)
    }
}

/// Port errors keep their meaning: a missing row is [`ServiceError::NotFound`], a lost
/// compare-and-set is [`ServiceError::Conflict`], an overflowing count is
/// [`ServiceError::InvalidCounts`]; only real backend failures stay [`ServiceError::Port`].
impl From<PortError> for ServiceError {
    fn from(error: PortError) -> Self {
        match error {
            PortError::NotFound => Self::NotFound,
            PortError::Conflict(reason) => Self::Conflict(reason),
            PortError::CountOverflow(name) => Self::InvalidCounts(CountError::Overflow(name)),
            other => Self::Port(other),
        }
    }
}

/// The store's reason for refusing a start, kept.
impl From<StartRefusal> for ServiceError {
    fn from(refusal: StartRefusal) -> Self {
        match refusal {
            StartRefusal::UnknownWorkspace(workspace) => Self::UnknownWorkspace(workspace),
            StartRefusal::TenantNotInWorkspace { tenant, workspace } => {
                Self::TenantNotInWorkspace { tenant, workspace }
            }
            // A reason this crate does not know yet still writes nothing; say so plainly.
            other => Self::Port(PortError::Conflict(other.to_string())),
        }
    }
}

/// Access refusals keep their HTTP meaning: not a member is 404, no capability is 403.
impl From<AccessDenied> for ServiceError {
    fn from(denied: AccessDenied) -> Self {
        match denied {
            AccessDenied::Forbidden => Self::Forbidden,
            // A denial this crate does not know yet must not reveal that the run exists.
            _ => Self::NotFound,
        }
    }
}

impl ServiceError {
    /// The HTTP status a web layer should answer with: 404 for [`ServiceError::NotFound`]
    /// (non-members included), 403 for [`ServiceError::Forbidden`], 409 for conflicts and
    /// lifecycle refusals, 500 for backend failures, 422 for every other refusal.
    #[must_use]
    pub fn http_status(&self) -> u16 {
        match self {
            Self::NotFound | Self::UnknownWorkspace(_) => 404,
            Self::Forbidden => 403,
            Self::Conflict(_) | Self::Transition(_) | Self::UnreadableField { .. } => 409,
            Self::Port(_) => 500,
            _ => 422,
        }
    }
}
