//! Per-user API tokens: an [`Authenticate`] for a server without its own sign-in (`oprun
//! serve`), reading `Authorization: Bearer` or a session cookie set by a small sign-in form.
//! Only a token's SHA-256 is ever stored; the store behind it is the host's ([`TokenStore`]).

use crate::auth::{AuthError, Authenticate};
use crate::security::{check_origin, harden};
use crate::views;
use async_trait::async_trait;
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use operation_runs_domain::UserId;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::fmt;
use std::sync::Arc;

/// The session cookie the sign-in form sets (`HttpOnly`, `SameSite=Strict`); it holds the token.
pub const SESSION_COOKIE: &str = "oprun_session";

/// What every token starts with, so a leaked one is recognisable.
const TOKEN_PREFIX: &str = "oprun_";

/// The SHA-256 of a token: the only form in which a token is stored or compared.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({})", self.to_hex())
    }
}

impl TokenHash {
    /// The hash of a presented token.
    #[must_use]
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    /// 64 lowercase hex characters, as stored.
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// A new random token (shown once to its owner) and its hash (stored).
    ///
    /// # Errors
    /// [`AuthError`] if the operating system has no randomness to give.
    pub fn generate() -> Result<(String, Self), AuthError> {
        let mut bytes = [0_u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| AuthError::new(e.to_string()))?;
        let token = format!("{TOKEN_PREFIX}{}", hex::encode(bytes));
        let hash = Self::of(&token);
        Ok((token, hash))
    }
}

/// A store failure while looking a token up.
pub type TokenStoreError = AuthError;

/// Where token hashes live (the host's database).
///
/// # Errors
/// [`TokenStoreError`] when the store fails; an unknown or revoked hash is `Ok(None)`.
#[async_trait]
pub trait TokenStore: Send + Sync + 'static {
    /// The user of the unrevoked token with this hash.
    async fn user_for_token(&self, hash: &TokenHash) -> Result<Option<UserId>, TokenStoreError>;
}

/// [`Authenticate`] by API token: `Authorization: Bearer <token>`, else the session cookie.
#[derive(Clone)]
pub struct TokenAuthenticator<S>(Arc<S>);

impl<S> fmt::Debug for TokenAuthenticator<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenAuthenticator")
    }
}

impl<S: TokenStore> TokenAuthenticator<S> {
    /// Authenticates against `store`.
    #[must_use]
    pub fn new(store: Arc<S>) -> Self {
        Self(store)
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == SESSION_COOKIE).then_some(value)
        })
}

#[async_trait]
impl<S: TokenStore> Authenticate for TokenAuthenticator<S> {
    async fn authenticate(&self, request: &Parts) -> Result<Option<UserId>, AuthError> {
        let Some(token) = bearer(&request.headers).or_else(|| session_cookie(&request.headers))
        else {
            return Ok(None);
        };
        if !token.starts_with(TOKEN_PREFIX) || token.len() > 128 {
            return Ok(None);
        }
        self.0.user_for_token(&TokenHash::of(token)).await
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SignIn {
    token: String,
    next: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Next {
    next: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Open {
    workspace: String,
}

/// Where to go after signing in: a path of this server, never another site.
fn safe_next(next: &str) -> &str {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control);
    if local { next } else { "/" }
}

/// The front door of a server that has no sign-in of its own: `GET /` (open a workspace's
/// operations), `GET /open?workspace=N`, `GET`/`POST /sign-in` (a token form that sets the
/// session cookie) and `POST /sign-out`. Mount it at the root beside
/// [`crate::Monitoring::router`] with `sign_in_url("/sign-in")`.
pub fn sign_in_router<S: TokenStore>(store: Arc<S>) -> Router {
    let routes = Router::new()
        .route("/", get(home))
        .route("/open", get(open))
        .route("/sign-in", get(sign_in_form).post(sign_in))
        .route("/sign-out", axum::routing::post(sign_out));
    harden(routes).with_state(store as Arc<dyn TokenStore>)
}

async fn home() -> maud::Markup {
    views::home_page()
}

async fn open(Query(open): Query<Open>) -> Response {
    match crate::path_id(open.workspace.trim()) {
        Ok(id) => Redirect::to(&format!("/workspaces/{id}/operations")).into_response(),
        Err(refusal) => refusal.page(),
    }
}

async fn sign_in_form(Query(next): Query<Next>) -> maud::Markup {
    views::sign_in_page(safe_next(&next.next), None)
}

async fn sign_in(
    State(store): State<Arc<dyn TokenStore>>,
    headers: HeaderMap,
    Form(form): Form<SignIn>,
) -> Response {
    if let Err(refusal) = check_origin(&headers, &[]) {
        return refusal.page();
    }
    let next = safe_next(&form.next);
    let token = form.token.trim();
    let user = if token.starts_with(TOKEN_PREFIX) && token.len() <= 128 {
        store.user_for_token(&TokenHash::of(token)).await
    } else {
        Ok(None)
    };
    match user {
        Ok(Some(user)) => {
            tracing::info!(user = user.get(), "signed in");
            let cookie = format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict");
            let mut response = Redirect::to(next).into_response();
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        Ok(None) => (
            StatusCode::UNAUTHORIZED,
            views::sign_in_page(next, Some("That token is not valid (or was revoked).")),
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "token look-up failed");
            crate::error::Refusal::Internal.page()
        }
    }
}

async fn sign_out(headers: HeaderMap) -> Response {
    if let Err(refusal) = check_origin(&headers, &[]) {
        return refusal.page();
    }
    let mut response = Redirect::to("/sign-in").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("oprun_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_stored_only_as_their_hash() {
        let (a, hash_a) = TokenHash::generate().unwrap();
        let (b, _) = TokenHash::generate().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("oprun_") && a.len() == 6 + 64);
        assert_eq!(hash_a, TokenHash::of(&a));
        assert_eq!(hash_a.to_hex().len(), 64);
        assert!(!hash_a.to_hex().contains(&a[6..]));
    }

    #[test]
    fn the_next_page_is_always_on_this_server() {
        assert_eq!(
            safe_next("/workspaces/1/operations?x=1"),
            "/workspaces/1/operations?x=1"
        );
        for outside in ["https://evil.example", "//evil.example", "/\\evil", "", "x"] {
            assert_eq!(safe_next(outside), "/", "{outside}");
        }
    }

    #[test]
    fn credentials_come_from_bearer_or_the_session_cookie() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; oprun_session=oprun_x"),
        );
        assert_eq!(session_cookie(&headers), Some("oprun_x"));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer oprun_y"),
        );
        assert_eq!(bearer(&headers), Some("oprun_y"));
    }
}
