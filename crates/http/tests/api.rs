//! The JSON API: filters, keyset pages, cancel's compare-and-set, history, the OpenAPI document.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use axum::http::{Method, StatusCode};
use support::{Answer, Who, World, get, seeded, send};

/// The API's answer to a viewer listing `world.ws` with `query`.
async fn list_answer(world: &World, query: &str) -> Answer {
    world
        .viewer_gets(&format!("/api/workspaces/{}/operations?{query}", world.ws))
        .await
}

/// The API's list of `world.ws` with `query`, as a viewer; it must answer 200.
async fn list_as_viewer(world: &World, query: &str) -> serde_json::Value {
    let answer = list_answer(world, query).await;
    assert_eq!(answer.status, StatusCode::OK, "{query}: {}", answer.body);
    answer.json()
}

/// The ids of the runs [`list_as_viewer`] lists, in its order.
async fn ids(world: &World, query: &str) -> Vec<i64> {
    list_as_viewer(world, query).await["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|run| run["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn filters_narrow_the_list() {
    let world = seeded().await;
    let (running, failed, backup) = (world.running.get(), world.failed.get(), world.backup.get());
    assert_eq!(ids(&world, "").await, [backup, failed, running]);
    assert_eq!(ids(&world, "type=inventory_sync").await, [running]);
    assert_eq!(ids(&world, "status=completed").await, [backup, failed]);
    assert_eq!(ids(&world, "status=running").await, [running]);
    assert_eq!(ids(&world, "outcome=failed").await, [failed]);
    assert_eq!(ids(&world, "outcome=pending").await, [running]);
    assert_eq!(
        ids(&world, &format!("tenant={}", world.tenant)).await,
        [backup, failed, running]
    );
    assert!(ids(&world, "tenant=999").await.is_empty());
    assert!(ids(&world, "from=2999-01-01").await.is_empty());
    assert!(ids(&world, "before=2000-01-01T00:00:00Z").await.is_empty());
    assert_eq!(
        ids(
            &world,
            "from=2000-01-01&before=2999-01-01&type=entra_group_sync"
        )
        .await,
        [failed]
    );
}

#[tokio::test]
async fn counts_per_status_follow_the_filters_but_for_status() {
    let world = seeded().await;
    let counts = |query: &'static str| {
        let world = &world;
        async move { list_as_viewer(world, query).await["counts"].clone() }
    };
    let exact = |n: u64| serde_json::json!({"count": n, "more": false});
    // One running sync, a failed group sync and a succeeded backup.
    let all = counts("").await;
    assert_eq!(all["queued"], exact(0));
    assert_eq!(all["running"], exact(1));
    assert_eq!(all["completed"], exact(2));
    // A status filter narrows the page, not the other statuses' counts.
    assert_eq!(counts("status=running").await, all);
    let syncs = counts("type=inventory_sync").await;
    assert_eq!(
        (&syncs["running"], &syncs["completed"]),
        (&exact(1), &exact(0))
    );

    let page = world
        .viewer_gets(&format!("/workspaces/{}/operations", world.ws))
        .await;
    assert!(
        page.body.contains("Queued 0 · Running 1 · Completed 2"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn keyset_cursors_walk_every_run_once() {
    let world = seeded().await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let query = match &cursor {
            Some(c) => format!("limit=1&cursor={c}"),
            None => "limit=1".to_owned(),
        };
        let json = list_as_viewer(&world, &query).await;
        let runs = json["runs"].as_array().unwrap();
        assert!(runs.len() <= 1);
        seen.extend(runs.iter().map(|r| r["id"].as_i64().unwrap()));
        match json["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let expected = [world.backup.get(), world.failed.get(), world.running.get()];
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn newer_cursors_walk_back_to_the_newest_page() {
    let world = seeded().await;
    let page = |query: String| {
        let world = &world;
        async move { list_as_viewer(world, &format!("limit=1&{query}")).await }
    };
    let id = |json: &serde_json::Value| json["runs"][0]["id"].as_i64().unwrap();
    let first = page(String::new()).await;
    assert!(first["newer_cursor"].is_null(), "{first}");
    let second = page(format!("cursor={}", first["next_cursor"].as_str().unwrap())).await;
    let third = page(format!(
        "cursor={}",
        second["next_cursor"].as_str().unwrap()
    ))
    .await;
    assert_eq!(id(&third), world.running.get());

    // The pages link the same way: the second page's newer link is the first page.
    let html = world
        .viewer_gets(&format!(
            "/workspaces/{}/operations?limit=1&cursor={}",
            world.ws,
            first["next_cursor"].as_str().unwrap()
        ))
        .await;
    assert!(
        html.body.contains(&format!("newer=r{}", id(&second))) && html.body.contains("Newer"),
        "{}",
        html.body
    );

    // Back from the last page: the same pages, each pointing further back until the first.
    let back = page(format!("newer={}", third["newer_cursor"].as_str().unwrap())).await;
    assert_eq!(id(&back), id(&second));
    assert_eq!(back["next_cursor"], second["next_cursor"], "{back}");
    let back = page(format!("newer={}", back["newer_cursor"].as_str().unwrap())).await;
    assert_eq!(id(&back), id(&first));
    assert!(back["newer_cursor"].is_null(), "the newest page: {back}");

    let both = list_answer(&world, "cursor=r5&newer=r1").await;
    assert_eq!(both.status, StatusCode::BAD_REQUEST, "{}", both.body);
}

#[tokio::test]
async fn list_rows_are_summaries_with_the_first_failure() {
    let world = seeded().await;
    let answer = list_as_viewer(&world, "outcome=failed").await;
    let run = &answer["runs"][0];
    assert_eq!(run["first_failure"]["code"], "graph_unavailable");
    assert_eq!(run["failure_count"], 1);
    assert!(run.get("context").is_none() && run.get("failures").is_none());
}

#[tokio::test]
async fn cancelling_a_completed_run_is_a_conflict_and_changes_nothing() {
    let world = seeded().await;
    let uri = |run| format!("/api/workspaces/{}/operations/{run}/cancel", world.ws);
    let refused = send(&world.app, Method::POST, &uri(world.failed), Who::Manager).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(refused.json()["error"], "conflict");
    assert!(refused.error_message().contains("completed"));
    let failed = world
        .viewer_gets(&format!(
            "/api/workspaces/{}/operations/{}",
            world.ws, world.failed
        ))
        .await;
    assert_eq!(failed.json()["outcome"], "failed");

    // The first cancel of an active run wins; a second one finds it completed.
    let first = send(&world.app, Method::POST, &uri(world.running), Who::Manager).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.json()["outcome"], "cancelled");
    assert_eq!(first.json()["status"], "completed");
    assert!(first.json()["completed_at"].is_string());
    let second = send(&world.app, Method::POST, &uri(world.running), Who::Manager).await;
    assert_eq!(second.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_schedules_history_pages_and_filters() {
    let world = seeded().await;
    let uri = |query: &str| {
        format!(
            "/api/workspaces/{}/backup-schedules/{}/history?{query}",
            world.ws, world.schedule
        )
    };
    let all = world.viewer_gets(&uri("")).await.json();
    assert_eq!(all["runs"].as_array().unwrap().len(), 1);
    assert_eq!(all["runs"][0]["id"], world.backup.get());
    assert!(all["runs"][0]["backup_set_id"].is_i64());
    assert!(all["next_cursor"].is_null());
    let purges = world
        .viewer_gets(&uri("type=backup_schedule_purge"))
        .await
        .json();
    assert!(purges["runs"].as_array().unwrap().is_empty());
    let failed = world.viewer_gets(&uri("outcome=failed")).await.json();
    assert!(failed["runs"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn the_openapi_document_describes_the_api() {
    let world = seeded().await;
    let answer = get(&world.app, "/api/openapi.json", Who::Anonymous).await;
    assert_eq!(answer.status, StatusCode::OK);
    let doc = answer.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let documented: Vec<&str> = paths.keys().map(String::as_str).collect();
    assert_eq!(
        documented,
        [
            "/api/workspaces/{workspace}/backup-schedules/{schedule}/history",
            "/api/workspaces/{workspace}/operations",
            "/api/workspaces/{workspace}/operations/{run}",
            "/api/workspaces/{workspace}/operations/{run}/cancel",
        ],
        "every endpoint, and only those"
    );
    let cancel = &paths["/api/workspaces/{workspace}/operations/{run}/cancel"]["post"];
    assert!(cancel["responses"]["409"].is_object());
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for schema in ["RunPageDto", "RunDetailDto", "HistoryPageDto", "ErrorBody"] {
        assert!(schemas.contains_key(schema), "{schema} missing");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}
