//! Stored text is escaped, every response carries the security headers, POSTs from another
//! origin are refused, query values are validated with a reason, anonymous browsers are sent to
//! sign in.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use axum::http::{Method, StatusCode};
use operation_runs_domain::RunContext;
use operation_runs_service::StartRequest;
use support::{Answer, Who, XSS, get, post_from, seeded, send};

fn assert_escaped(answer: &Answer, what: &str) {
    assert_eq!(answer.status, StatusCode::OK, "{what}: {}", answer.body);
    assert!(!answer.body.contains("<script>"), "{what}: raw script tag");
    assert!(
        answer
            .body
            .contains("&lt;script&gt;alert('owned')&lt;/script&gt; &amp; &quot;quoted&quot;")
            || answer.body.contains("&lt;script&gt;"),
        "{what}: the text is not shown escaped"
    );
}

#[tokio::test]
async fn stored_text_renders_as_text() {
    let world = seeded().await;
    // A run whose initiator and context carry markup too.
    let sneaky = world
        .service
        .start(
            StartRequest::new(world.ws, "inventory_sync", XSS)
                .tenant(world.tenant)
                .identity(serde_json::json!({"k": "sneaky"}))
                .context(RunContext::new().with("note", serde_json::json!(XSS))),
        )
        .await
        .unwrap()
        .into_run()
        .id();
    let ws = world.ws;
    for uri in [
        format!("/workspaces/{ws}/operations"),
        format!("/workspaces/{ws}/operations/{}", world.failed),
        format!("/workspaces/{ws}/operations/{sneaky}"),
    ] {
        assert_escaped(&world.viewer_gets(&uri).await, &uri);
    }
    // The failure message itself is shown whole, escaped, on the run's page.
    let page = world
        .viewer_gets(&format!("/workspaces/{ws}/operations/{}", world.failed))
        .await;
    assert!(
        page.body.contains(
            "<td>&lt;script&gt;alert('owned')&lt;/script&gt; &amp; &quot;quoted&quot;</td>"
        )
    );
    // JSON keeps the text as it is stored; nosniff keeps a browser from reading it as HTML.
    let api = world
        .viewer_gets(&format!("/api/workspaces/{ws}/operations/{}", world.failed))
        .await;
    assert_eq!(api.json()["failures"][0]["message"], XSS);
    assert_eq!(api.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let world = seeded().await;
    let ws = world.ws;
    let cases = [
        (format!("/workspaces/{ws}/operations"), Who::Viewer, 200),
        (format!("/api/workspaces/{ws}/operations"), Who::Viewer, 200),
        (
            format!("/api/workspaces/{ws}/operations"),
            Who::Anonymous,
            401,
        ),
        (format!("/workspaces/{ws}/operations"), Who::NoView, 403),
        (
            format!("/workspaces/{ws}/operations?limit=0"),
            Who::Viewer,
            400,
        ),
        ("/nowhere".to_owned(), Who::Anonymous, 404),
        ("/api/openapi.json".to_owned(), Who::Anonymous, 200),
    ];
    for (uri, who, status) in cases {
        let answer = get(&world.app, &uri, who).await;
        assert_eq!(answer.status.as_u16(), status, "{uri}");
        let csp = answer.header("content-security-policy").unwrap();
        assert!(csp.starts_with("default-src 'none'"), "{uri}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{uri}");
        assert!(!csp.contains("script-src"), "{uri}: no script may run");
        assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(answer.header("x-frame-options"), Some("DENY"));
        // `no-referrer` would make browsers send `Origin: null` with the pages' own forms.
        assert_eq!(answer.header("referrer-policy"), Some("same-origin"));
        assert_eq!(answer.header("cache-control"), Some("no-store"));
    }
}

#[tokio::test]
async fn a_post_from_another_origin_is_refused_and_changes_nothing() {
    let world = seeded().await;
    for prefix in ["", "/api"] {
        let uri = format!(
            "{prefix}/workspaces/{}/operations/{}/cancel",
            world.ws, world.running
        );
        let refused = post_from(&world.app, &uri, Who::Manager, "http://evil.example").await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{uri}");
        assert!(
            refused.body.to_lowercase().contains("cross-origin"),
            "{uri}"
        );
        let cross_site = support::send_with(
            &world.app,
            Method::POST,
            &uri,
            Who::Manager,
            &[("sec-fetch-site", "cross-site")],
        )
        .await;
        assert_eq!(cross_site.status, StatusCode::FORBIDDEN, "{uri}");
    }
    let manager = Who::Manager.user().unwrap();
    let run = world
        .service
        .show_run(manager, world.ws, world.running)
        .await
        .unwrap();
    assert!(
        run.status().readable().unwrap().is_active(),
        "nothing was cancelled"
    );
    // The same form from the server's own origin goes through.
    let uri = format!(
        "/workspaces/{}/operations/{}/cancel",
        world.ws, world.running
    );
    let accepted = post_from(&world.app, &uri, Who::Manager, "http://monitoring.test").await;
    assert_eq!(accepted.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn bad_query_values_are_refused_with_the_reason() {
    let world = seeded().await;
    let ws = world.ws;
    let cases = [
        ("limit=0", "`limit` must be a whole number from 1 to 500"),
        ("limit=501", "from 1 to 500, got `501`"),
        ("limit=ten", "got `ten`"),
        ("cursor=xyz", "`cursor` is not a cursor"),
        (
            "status=finished",
            "`status` must be one of queued, running, completed",
        ),
        ("outcome=won", "`outcome` must be one of pending"),
        (
            "type=inventory.sync",
            "`type` must be a registered run type",
        ),
        ("tenant=abc", "`tenant` must be a tenant id"),
        ("from=tomorrow", "`from` must be a time"),
        (
            "from=2026-02-02&before=2026-02-01",
            "`from` must be earlier than `before`",
        ),
        ("sort=asc", "unknown query parameter `sort`"),
    ];
    for (query, reason) in cases {
        let api = world
            .viewer_gets(&format!("/api/workspaces/{ws}/operations?{query}"))
            .await;
        assert_eq!(api.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(api.json()["error"], "bad_request", "{query}");
        let message = api.error_message();
        assert!(message.contains(reason), "{query}: {message}");
        let page = world
            .viewer_gets(&format!("/workspaces/{ws}/operations?{query}"))
            .await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(page.body.contains("Bad request"), "{query}");
    }
    let history = world
        .viewer_gets(&format!(
            "/api/workspaces/{ws}/backup-schedules/{}/history?type=inventory_sync",
            world.schedule
        ))
        .await;
    assert_eq!(history.status, StatusCode::BAD_REQUEST);
    assert!(history.error_message().contains("backup_schedule_run"));
    // A value echoed in a reason is escaped on the page.
    let page = world
        .viewer_gets(&format!("/workspaces/{ws}/operations?status=%3Cscript%3E"))
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(!page.body.contains("<script>") && page.body.contains("&lt;script&gt;"));
}

#[tokio::test]
async fn an_anonymous_browser_is_sent_to_sign_in_and_the_api_says_401() {
    let world = seeded().await;
    let app = world.monitoring.clone().sign_in_url("/sign-in").router();
    let page = get(
        &app,
        &format!("/workspaces/{}/operations?status=running", world.ws),
        Who::Anonymous,
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(
        page.header("location"),
        Some(
            format!(
                "/sign-in?next=%2Fworkspaces%2F{}%2Foperations%3Fstatus%3Drunning",
                world.ws
            )
            .as_str()
        )
    );
    let api = send(
        &app,
        Method::GET,
        &format!("/api/workspaces/{}/operations", world.ws),
        Who::Anonymous,
    )
    .await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED);
    assert!(api.header("location").is_none());
}
