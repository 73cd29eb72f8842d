//! What the schedule use cases refuse, and how a failed operation is reported.

use crate::source::BackupSourceError;
use operation_runs_domain::{Failure, OperationRun};
use operation_runs_ports::PortError;
use operation_runs_service::ServiceError;

/// Why a schedule query or operation failed.
///
/// The `Display` of every variant is safe to log; only [`ScheduleError::OperationFailed`]
/// carries the raw cause, and deliberately not as its `source()`, so error-chain printers do
/// not show an unsanitized message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleError {
    /// No such schedule (or run), a schedule of another workspace, or a viewer who is not a
    /// member of the workspace (HTTP 404). The only "not found": the conversions from
    /// [`ServiceError`] and [`PortError`] map theirs here.
    #[error("not found")]
    NotFound,
    /// The viewer is a member without the capability to view operations (HTTP 403).
    #[error("forbidden")]
    Forbidden,
    /// A history query names a type that is not one of the three backup-schedule types.
    #[error("invalid schedule history query: {0}")]
    InvalidQuery(String),
    /// A purge policy with a negative grace period or window.
    #[error("invalid purge policy: {0}")]
    InvalidPolicy(String),
    /// The run store broke the keyset contract (a next cursor that does not move on).
    #[error("the run store returned an inconsistent history page: {0}")]
    InconsistentHistory(String),
    /// The backup source failed.
    #[error("backup source failed: {0}")]
    Source(#[from] BackupSourceError),
    /// A use case of the run service refused or failed (never its `NotFound` or `Forbidden`,
    /// which become this enum's).
    #[error(transparent)]
    Service(ServiceError),
    /// A port failed (never its `NotFound`, which becomes this enum's).
    #[error(transparent)]
    Port(PortError),
    /// The operation's run was recorded, then something failed midway: the run was completed
    /// as `failed` with `failure` (sanitized), unless even that failed (then `run` is the last
    /// known state and the stale-run reaper completes it later).
    #[error("`{}` run {} failed: {}", .run.run_type(), .run.id(), .failure.message())]
    OperationFailed {
        /// The run, as completed (or last known).
        run: Box<OperationRun>,
        /// The failure stored on the run (sanitized).
        failure: Failure,
        /// What went wrong, unsanitized: for matching on, not for logging.
        // Deliberately not `#[source]`: the cause's text is unsanitized (a backup source's or a
        // database's message may carry a token or a password), and error reporters print the
        // whole `source()` chain, so exposing it would undo the sanitized `Display` above. Reach
        // it through `ScheduleError::root` or by matching instead.
        cause: Box<ScheduleError>,
    },
}

impl ScheduleError {
    /// The run of a failed operation, if a run was recorded.
    #[must_use]
    pub fn failed_run(&self) -> Option<&OperationRun> {
        match self {
            Self::OperationFailed { run, .. } => Some(run),
            _ => None,
        }
    }

    /// What went wrong at the root: the cause of an [`ScheduleError::OperationFailed`], or the
    /// error itself.
    #[must_use]
    pub fn root(&self) -> &Self {
        match self {
            Self::OperationFailed { cause, .. } => cause.root(),
            other => other,
        }
    }

    /// Whether the error means "not found" to a web layer (HTTP 404).
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound)
    }
}

impl From<ServiceError> for ScheduleError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::NotFound => Self::NotFound,
            ServiceError::Forbidden => Self::Forbidden,
            other => Self::Service(other),
        }
    }
}

impl From<PortError> for ScheduleError {
    fn from(error: PortError) -> Self {
        match error {
            PortError::NotFound => Self::NotFound,
            other => Self::Port(other),
        }
    }
}
