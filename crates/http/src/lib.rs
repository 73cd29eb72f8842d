#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod api;
mod auth;
mod dto;
mod error;
mod legacy;
mod load;
mod pages;
mod params;
mod security;
mod tokens;
mod views;

pub use api::ApiDoc;
pub use auth::{AuthError, Authenticate};
pub use dto::{
    BackupSetDto, CountDto, FailureDto, HistoryEntryDto, HistoryPageDto, RunDetailDto, RunPageDto,
    RunSummaryDto, StatusCountsDto,
};
pub use error::ErrorBody;
pub use legacy::LEGACY_RUN_PATHS;
pub use tokens::{
    SESSION_COOKIE, TokenAuthenticator, TokenHash, TokenStore, TokenStoreError, sign_in_router,
};

use axum::Router;
use axum::extract::{FromRequestParts, OriginalUri};
use axum::handler::Handler;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use error::Refusal;
use operation_runs_domain::UserId;
use operation_runs_schedule_history::ScheduleHistory;
use operation_runs_service::OperationRunService;
use std::fmt;
use std::sync::Arc;

/// The monitoring pages and JSON API over a service, ready to be turned into a router.
///
/// ```
/// # use operation_runs_http::{Authenticate, AuthError, Monitoring};
/// # use operation_runs_domain::UserId;
/// # fn wire(
/// #     service: operation_runs_service::OperationRunService,
/// #     history: operation_runs_schedule_history::ScheduleHistory,
/// #     auth: impl Authenticate,
/// # ) -> axum::Router {
/// let monitoring = Monitoring::new(service, history, auth).sign_in_url("/login");
/// axum::Router::new().nest("/monitoring", monitoring.router())
/// # }
/// ```
#[derive(Clone)]
pub struct Monitoring {
    service: OperationRunService,
    history: ScheduleHistory,
    auth: Arc<dyn Authenticate>,
    sign_in_url: Option<String>,
    allowed_origins: Vec<String>,
}

impl fmt::Debug for Monitoring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Monitoring")
            .field("sign_in_url", &self.sign_in_url)
            .field("allowed_origins", &self.allowed_origins)
            .finish_non_exhaustive()
    }
}

impl Monitoring {
    /// Pages and API over `service` and `history`; `auth` tells who is asking.
    #[must_use]
    pub fn new(
        service: OperationRunService,
        history: ScheduleHistory,
        auth: impl Authenticate,
    ) -> Self {
        Self {
            service,
            history,
            auth: Arc::new(auth),
            sign_in_url: None,
            allowed_origins: Vec::new(),
        }
    }

    /// Where pages send an anonymous browser: a `303 See Other` to this URL with
    /// `?next=<the page's path>`. Without it, an anonymous page request gets a 401 page.
    #[must_use]
    pub fn sign_in_url(mut self, url: impl Into<String>) -> Self {
        self.sign_in_url = Some(url.into());
        self
    }

    /// Accepts POSTs whose `Origin` is `origin` (e.g. `https://admin.example.com`) besides the
    /// request's own host, for a host served behind a proxy that rewrites `Host`.
    #[must_use]
    pub fn allow_origin(mut self, origin: impl Into<String>) -> Self {
        self.allowed_origins.push(origin.into());
        self
    }

    /// The router: pages under `/workspaces/…`, the API under `/api/…`, the legacy run URLs
    /// answering as an unknown URL does, security headers and request tracing on everything.
    /// Mount it with [`Router::nest`] under any prefix, or [`Router::merge`] at the root.
    pub fn router(self) -> Router {
        let state = AppState(Arc::new(self));
        let routes = Router::new().merge(pages::routes()).merge(api::routes());
        security::harden(legacy::routes(routes).fallback(legacy::not_found)).with_state(state)
    }
}

/// The endpoints the pages and the API both serve, at the same paths (the API's under `/api`)
/// and methods: one table, so that the two surfaces cannot drift apart.
pub(crate) fn endpoints<L: 'static, S: 'static, C: 'static, H: 'static>(
    prefix: &str,
    list: impl Handler<L, AppState>,
    show: impl Handler<S, AppState>,
    cancel: impl Handler<C, AppState>,
    history: impl Handler<H, AppState>,
) -> Router<AppState> {
    let at = |path: &str| format!("{prefix}{path}");
    Router::new()
        .route(&at("/workspaces/{workspace}/operations"), get(list))
        .route(&at("/workspaces/{workspace}/operations/{run}"), get(show))
        .route(
            &at("/workspaces/{workspace}/operations/{run}/cancel"),
            post(cancel),
        )
        .route(
            &at("/workspaces/{workspace}/backup-schedules/{schedule}/history"),
            get(history),
        )
}

/// What handlers share.
#[derive(Clone)]
pub(crate) struct AppState(Arc<Monitoring>);

impl AppState {
    pub(crate) fn service(&self) -> &OperationRunService {
        &self.0.service
    }

    pub(crate) fn history(&self) -> &ScheduleHistory {
        &self.0.history
    }

    pub(crate) fn allowed_origins(&self) -> &[String] {
        &self.0.allowed_origins
    }

    /// The user asking, recorded on the request's span.
    async fn viewer(&self, parts: &Parts) -> Result<Option<UserId>, Refusal> {
        match self.0.auth.authenticate(parts).await {
            Ok(user) => {
                if let Some(user) = user {
                    tracing::Span::current().record("user", user.get());
                }
                Ok(user)
            }
            Err(error) => {
                tracing::error!(%error, "the host's authentication failed");
                Err(Refusal::Internal)
            }
        }
    }
}

/// A signed-in user on the API; anonymous requests get 401.
pub(crate) struct ApiViewer(pub(crate) UserId);

impl FromRequestParts<AppState> for ApiViewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        state
            .viewer(parts)
            .await
            .and_then(|user| user.ok_or(Refusal::Unauthorized))
            .map(Self)
            .map_err(|refusal| refusal.json())
    }
}

/// A signed-in user on a page; anonymous browsers are sent to the sign-in URL.
pub(crate) struct PageViewer(pub(crate) UserId);

impl FromRequestParts<AppState> for PageViewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match state.viewer(parts).await {
            Ok(Some(user)) => Ok(Self(user)),
            Ok(None) => Err(match &state.0.sign_in_url {
                Some(url) => sign_in_redirect(url, parts),
                None => Refusal::Unauthorized.page(),
            }),
            Err(refusal) => Err(refusal.page()),
        }
    }
}

/// Sends an anonymous browser to `url`, with the page it asked for as `next`.
fn sign_in_redirect(url: &str, parts: &Parts) -> Response {
    let original = parts
        .extensions
        .get::<OriginalUri>()
        .map_or_else(|| parts.uri.clone(), |o| o.0.clone());
    let next = original.path_and_query().map_or("/", |p| p.as_str());
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("next", next)
        .finish();
    let separator = if url.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{url}{separator}{query}")).into_response()
}

/// A positive id from a path segment; anything else is a URL that does not exist.
pub(crate) fn path_id(segment: &str) -> Result<i64, Refusal> {
    segment
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or(Refusal::NotFound)
}
