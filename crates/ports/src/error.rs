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
