//! The token authenticator and the sign-in front door, over a token store in a map.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use operation_runs_domain::UserId;
use operation_runs_http::{
    AuthError, Monitoring, TokenAuthenticator, TokenHash, TokenStore, sign_in_router,
};
use std::collections::HashMap;
use std::sync::Arc;
use support::{Who, seeded};
use tower::ServiceExt;

struct MapTokens(HashMap<TokenHash, UserId>);

#[async_trait]
impl TokenStore for MapTokens {
    async fn user_for_token(&self, hash: &TokenHash) -> Result<Option<UserId>, AuthError> {
        Ok(self.0.get(hash).copied())
    }
}

async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "ops.test");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::from(body.to_owned())).unwrap())
        .await
        .unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8(bytes.to_vec()).unwrap())
}

#[tokio::test]
async fn bearer_tokens_and_the_session_cookie_sign_people_in() {
    let world = seeded().await;
    let (token, hash) = TokenHash::generate().unwrap();
    let viewer = Who::Viewer.user().unwrap();
    let store = Arc::new(MapTokens(HashMap::from([(hash, viewer)])));
    let app = Monitoring::new(
        world.service.clone(),
        world.history.clone(),
        TokenAuthenticator::new(store.clone()),
    )
    .sign_in_url("/sign-in")
    .router()
    .merge(sign_in_router(store));
    let api = format!("/api/workspaces/{}/operations", world.ws);
    let bearer = format!("Bearer {token}");

    let (status, _, _) = call(&app, "GET", &api, &[("authorization", &bearer)], "").await;
    assert_eq!(status, StatusCode::OK);
    for wrong in ["Bearer oprun_0000", "Basic abc", "Bearer ", "bearer"] {
        let (status, _, _) = call(&app, "GET", &api, &[("authorization", wrong)], "").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{wrong}");
    }

    // The form: a wrong token is a 401 page and no cookie; the right one a cookie and a redirect.
    let form = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("origin", "http://ops.test"),
    ];
    let (status, headers, body) = call(
        &app,
        "POST",
        "/sign-in",
        &form,
        "token=oprun_wrong&next=%2Fx",
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(headers.get("set-cookie").is_none());
    assert!(body.contains("That token is not valid"));
    let next = format!("/workspaces/{}/operations", world.ws);
    let body = format!("token={token}&next={}", next.replace('/', "%2F"));
    let (status, headers, _) = call(&app, "POST", "/sign-in", &form, &body).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], next.as_str());
    let cookie = headers["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    let session = cookie.split(';').next().unwrap();
    let (status, _, page) = call(&app, "GET", &next, &[("cookie", session)], "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Operations of workspace"));

    // Another site cannot sign a browser in; `next` never leaves this server.
    let cross = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("origin", "http://evil.example"),
    ];
    let (status, headers, _) = call(&app, "POST", "/sign-in", &cross, &body).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(headers.get("set-cookie").is_none());
    let away = format!("token={token}&next=https%3A%2F%2Fevil.example");
    let (_, headers, _) = call(&app, "POST", "/sign-in", &form, &away).await;
    assert_eq!(headers["location"], "/");

    // The front door opens a workspace by id.
    let (status, headers, _) = call(&app, "GET", "/open?workspace=7", &[], "").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/workspaces/7/operations");
    let (status, headers, _) = call(&app, "POST", "/sign-out", &form[1..], "").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
}
