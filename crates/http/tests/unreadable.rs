//! Runs the legacy product stored without today's validation: listed and shown with each
//! unreadable field marked, its stored value redacted and escaped, never an error page.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use axum::http::StatusCode;
use chrono::Utc;
use operation_runs_domain::{RunColumns, RunId};
use serde_json::json;
use support::{World, seeded};

const LEGACY_FAILURES: &str = "legacy text <script>alert(1)</script> password=hunter2";

/// A completed legacy run of the world's workspace whose failure summary is a bare string and
/// whose counts are negative, plus a run counting what its type does not declare.
fn put_legacy_runs(world: &World) -> (RunId, RunId) {
    let row = |id: i64, counts: serde_json::Value, failures: serde_json::Value| RunColumns {
        id: RunId::new(id),
        workspace_id: world.ws,
        tenant_id: Some(world.tenant),
        user_id: None,
        initiator_name: "legacy".into(),
        run_type: "inventory_sync".into(),
        status: "completed".into(),
        outcome: "failed".into(),
        started_at: Some(Utc::now()),
        completed_at: Some(Utc::now()),
        run_identity_hash: format!("{id:064x}"),
        summary_counts: counts,
        failure_summary: failures,
        context: json!({}),
        created_at: Utc::now(),
        updated_at: Utc::now(),
    };
    let legacy =
        world
            .store
            .put_run_columns(row(500, json!({"total": -1}), json!(LEGACY_FAILURES)));
    let undeclared = world
        .store
        .put_run_columns(row(501, json!({"bogus_count": 3}), json!([])));
    (legacy.id(), undeclared.id())
}

#[tokio::test]
async fn the_list_and_the_run_page_mark_unreadable_fields() {
    let world = seeded().await;
    let (legacy, _) = put_legacy_runs(&world);
    let list = world.viewer_gets(&world.list_path()).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.links_to_run(legacy));
    assert!(list.body.contains("class=\"unreadable\""), "{}", list.body);

    let page = world.viewer_gets(&world.run_path(legacy)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Unreadable fields"), "{}", page.body);
    assert!(page.body.contains("<code>failure_summary</code>"));
    assert!(page.body.contains("<code>summary_counts</code>"));
    assert!(
        page.body.contains("legacy text &lt;script&gt;"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<script>alert"), "escaped");
    assert!(!page.body.contains("hunter2"), "redacted");
}

#[tokio::test]
async fn the_api_lists_unreadable_fields_and_undeclared_counts() {
    let world = seeded().await;
    let (legacy, undeclared) = put_legacy_runs(&world);
    let detail = world
        .viewer_gets(&format!("/api{}", world.run_path(legacy)))
        .await;
    assert_eq!(detail.status, StatusCode::OK);
    let run = detail.json();
    assert_eq!(run["summary_counts"], serde_json::Value::Null);
    assert_eq!(run["failures"], json!([]));
    assert_eq!(run["status"], "completed", "the rest stays readable");
    let fields: Vec<&str> = run["unreadable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["summary_counts", "failure_summary"]);
    let stored = run["unreadable"][1]["stored"].as_str().unwrap();
    assert!(
        stored.contains("legacy text") && !stored.contains("hunter2"),
        "{stored}"
    );

    let other = world
        .viewer_gets(&format!("/api{}", world.run_path(undeclared)))
        .await
        .json();
    let reason = other["unreadable"][0]["reason"].as_str().unwrap();
    assert_eq!(other["unreadable"][0]["field"], "summary_counts");
    assert!(reason.contains("not declared"), "{reason}");

    let list = world
        .viewer_gets(&format!("/api{}", world.list_path()))
        .await;
    assert_eq!(list.status, StatusCode::OK);
    let runs = list.json()["runs"].as_array().unwrap().clone();
    let listed = runs.iter().find(|r| r["id"] == legacy.get()).unwrap();
    assert_eq!(listed["failure_count"], serde_json::Value::Null);
    assert_eq!(listed["unreadable"].as_array().unwrap().len(), 2);
}
