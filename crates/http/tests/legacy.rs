//! The legacy per-feature run URLs answer exactly what an unknown URL answers — status, headers
//! and body — to everyone, for every method, with no redirect and without echoing the path.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use axum::Router;
use axum::http::{Method, StatusCode};
use operation_runs_http::LEGACY_RUN_PATHS;
use support::{Answer, Who, seeded, send};

/// A legacy path with ids of the seeded world filled in (a tenant, schedule and run that exist).
fn concrete(path: &str, tenant: i64, schedule: i64, run: i64) -> String {
    path.replace("{tenant}", &tenant.to_string())
        .replace("{schedule}", &schedule.to_string())
        .replace("{run}", &run.to_string())
}

fn unknown_twin(path: &str) -> &'static str {
    if path.starts_with("/api/") {
        "/api/admin/t/1/no-such-resource"
    } else {
        "/admin/t/1/no-such-resource"
    }
}

fn assert_identical(legacy: &Answer, unknown: &Answer, what: &str) {
    assert_eq!(legacy.status, StatusCode::NOT_FOUND, "{what}");
    assert_eq!(legacy.status, unknown.status, "{what}");
    assert_eq!(legacy.headers, unknown.headers, "{what}");
    assert_eq!(legacy.body, unknown.body, "{what}");
    assert!(legacy.header("location").is_none(), "{what}: no redirect");
    for piece in ["sync-runs", "/runs", "admin", "/t/"] {
        assert!(
            !legacy.body.contains(piece),
            "{what}: the body echoes `{piece}`"
        );
    }
}

async fn check_all(app: &Router, prefix: &str, ids: (i64, i64, i64)) {
    let methods = [Method::GET, Method::POST, Method::HEAD, Method::DELETE];
    for path in LEGACY_RUN_PATHS {
        let legacy_uri = format!("{prefix}{}", concrete(path, ids.0, ids.1, ids.2));
        let unknown_uri = format!("{prefix}{}", unknown_twin(path));
        for who in Who::ALL {
            for method in &methods {
                let legacy = send(app, method.clone(), &legacy_uri, who).await;
                let unknown = send(app, method.clone(), &unknown_uri, who).await;
                assert_identical(&legacy, &unknown, &format!("{who:?} {method} {legacy_uri}"));
            }
        }
    }
}

#[tokio::test]
async fn every_legacy_url_answers_as_an_unknown_url_does() {
    let world = seeded().await;
    assert_eq!(
        LEGACY_RUN_PATHS.len(),
        12,
        "six page URLs and their API twins"
    );
    let ids = (1, world.schedule.get(), world.running.get());
    check_all(&world.app, "", ids).await;
}

#[tokio::test]
async fn under_a_mount_prefix_too() {
    let world = seeded().await;
    let app = Router::new().nest("/monitoring", world.app.clone());
    let ids = (1, world.schedule.get(), world.running.get());
    check_all(&app, "/monitoring", ids).await;
    // The canonical routes still work under the prefix.
    let uri = format!(
        "/monitoring/api/workspaces/{}/operations/{}",
        world.ws, world.running
    );
    assert_eq!(
        send(&app, Method::GET, &uri, Who::Viewer).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_api_and_the_pages_each_have_one_not_found_answer() {
    let world = seeded().await;
    let api = send(&world.app, Method::GET, "/api/nothing", Who::Anonymous).await;
    assert_eq!(
        api.json(),
        serde_json::json!({"error": "not_found", "message": "not found"})
    );
    assert_eq!(api.header("content-type"), Some("application/json"));
    let page = send(&world.app, Method::GET, "/nothing", Who::Anonymous).await;
    assert!(page.body.contains("<h1>Not found</h1>"));
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
}
