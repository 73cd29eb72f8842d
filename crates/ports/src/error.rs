use operation_runs_domain::{TenantId, WorkspaceId};
use std::error::Error;

/// What a port reports; adapters map their store's errors here and keep the cause as a source.
/// It never names a database library, so services and their mocks stay independent of one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PortError {
    /// The addressed row does not exist.
    #[error("not found")]
    NotFound,
    /// The row exists but is not in the expected state (a lost compare-and-set, a completed run).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A count would exceed its maximum; nothing was written.
    #[error("count `{0}` would overflow")]
    CountOverflow(String),
    /// The store failed.
    #[error("storage backend failed: {0}")]
    Backend(#[source] Box<dyn Error + Send + Sync>),
}

impl PortError {
    /// Wraps a store's error.
    pub fn backend(source: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        Self::Backend(source.into())
    }
}

/// Why [`crate::RunLifecycle::insert_or_get_active`] refused to insert a run; nothing was
/// written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StartRefusal {
    /// The run's workspace does not exist.
    #[error("workspace {0} does not exist")]
    UnknownWorkspace(WorkspaceId),
    /// The run's tenant does not exist, or belongs to another workspace than the run's.
    #[error("tenant {tenant} does not belong to workspace {workspace}")]
    TenantNotInWorkspace {
        /// The tenant named by the run.
        tenant: TenantId,
        /// The workspace named by the run.
        workspace: WorkspaceId,
    },
}

/// What [`crate::RunLifecycle::insert_or_get_active`] reports: a refusal with its reason, or a
/// store failure.
///
/// Not `#[non_exhaustive]`: a start either is refused for a reason or fails; new reasons go to
/// [`StartRefusal`].
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store refused the run; see [`StartRefusal`].
    #[error(transparent)]
    Refused(#[from] StartRefusal),
    /// The store failed.
    #[error(transparent)]
    Port(#[from] PortError),
}
