//! Who is asking: the host's answer, behind a small trait.

use async_trait::async_trait;
use axum::http::request::Parts;
use operation_runs_domain::UserId;
use std::error::Error;

/// Why the host could not tell who is asking (its user store failed). Presented credentials
/// that are simply wrong are not an error: the request is anonymous.
#[derive(Debug, thiserror::Error)]
#[error("authentication failed: {0}")]
pub struct AuthError(#[source] Box<dyn Error + Send + Sync>);

impl AuthError {
    /// Wraps the host's error.
    pub fn new(source: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        Self(source.into())
    }
}

/// The host's authentication: from a request's parts (headers, cookies, extensions a host
/// middleware set) to the user asking, or `None` for an anonymous request.
///
/// The router never sees passwords or sessions itself; a host keeps its own sign-in and only
/// answers this question. An implementation for tests can be a closure-like struct returning a
/// fixed user from a header.
///
/// # Errors
/// [`AuthError`] when the host cannot decide (its store failed); the router answers 500 then.
/// Wrong or expired credentials are `Ok(None)`.
#[async_trait]
pub trait Authenticate: Send + Sync + 'static {
    /// The user asking, or `None` if anonymous.
    async fn authenticate(&self, request: &Parts) -> Result<Option<UserId>, AuthError>;
}
