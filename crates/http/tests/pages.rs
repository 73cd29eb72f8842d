//! The pages: filters, older/newest links, the run's timeline, cancelling by form.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use axum::http::StatusCode;
use support::{Who, get, post_from, seeded};

/// The `href` of the link with `rel`, unescaped.
fn link(body: &str, rel: &str) -> Option<String> {
    let end = body.find(&format!("rel=\"{rel}\""))?;
    let start = body[..end].rfind("href=\"")? + 6;
    let href = &body[start..];
    Some(href[..href.find('"')?].replace("&amp;", "&"))
}

#[tokio::test]
async fn a_filter_narrows_the_list() {
    let world = seeded().await;
    let base = world.list_path();
    let page = world.viewer_gets(&format!("{base}?status=running")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.links_to_run(world.running));
    assert!(!page.links_to_run(world.failed));
    // The form shows the filter in force.
    assert!(
        page.body
            .contains("<option value=\"running\" selected>running</option>")
    );
    let none = world.viewer_gets(&format!("{base}?tenant=999")).await;
    assert!(none.body.contains("No operations match."));
}

#[tokio::test]
async fn older_and_newest_links_walk_the_list() {
    let world = seeded().await;
    let base = world.list_path();
    let first = world.viewer_gets(&format!("{base}?limit=2&type=")).await;
    assert!(first.links_to_run(world.backup));
    assert!(
        link(&first.body, "first").is_none(),
        "the first page has no newest link"
    );
    let older = link(&first.body, "next").unwrap();
    assert!(
        older.starts_with("?cursor=") && older.ends_with("&limit=2"),
        "{older}"
    );
    let second = world.viewer_gets(&format!("{base}{older}")).await;
    assert!(second.links_to_run(world.running));
    assert!(!second.links_to_run(world.backup));
    assert!(
        link(&second.body, "next").is_none(),
        "the last page has no older link"
    );
    assert_eq!(link(&second.body, "first").unwrap(), "?limit=2");
}

#[tokio::test]
async fn a_run_page_shows_fields_counts_and_timeline() {
    let world = seeded().await;
    let running = world.viewer_gets(&world.run_path(world.running)).await;
    let body = &running.body;
    assert!(body.contains("<tr><td>processed</td><td>12</td></tr>"));
    assert!(body.contains("<li>queued at "));
    assert!(body.contains(" in the queue</li>"));
    assert!(body.contains(" at the last heartbeat</li>"));
    assert!(body.contains("No failures."));
    let failed = get(&world.app, &world.run_path(world.failed), Who::Manager).await;
    assert!(failed.body.contains("<li>completed (failed) at "));
    assert!(failed.body.contains(" running</li>"));
    assert!(
        !failed.body.contains("Cancel this run"),
        "a completed run cannot be cancelled"
    );
}

#[tokio::test]
async fn a_manager_cancels_by_form_and_sees_the_run_again() {
    let world = seeded().await;
    let page = world.run_path(world.running);
    let shown = get(&world.app, &page, Who::Manager).await;
    assert!(shown.body.contains(&format!(
        "<form method=\"post\" action=\"{}/cancel\">",
        world.running
    )));
    let cancel_uri = format!("{page}/cancel");
    let cancel = || {
        post_from(
            &world.app,
            &cancel_uri,
            Who::Manager,
            "http://monitoring.test",
        )
    };
    let posted = cancel().await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER);
    assert_eq!(
        posted.header("location"),
        Some(format!("../{}", world.running).as_str())
    );
    let after = get(&world.app, &page, Who::Manager).await;
    assert!(
        after
            .body
            .contains("<span class=\"cancelled\">cancelled</span>")
    );
    assert!(!after.body.contains("Cancel this run"));
    // Cancelling again is a conflict page.
    let again = cancel().await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.body.contains("<h1>Conflict</h1>"));
}

#[tokio::test]
async fn the_history_page_links_runs_and_shows_their_sets() {
    let world = seeded().await;
    let page = world.viewer_gets(&world.history_path()).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains(&format!("href=\"../../operations/{}\"", world.backup))
    );
    assert!(page.body.contains("nightly-set-1 (42 items)"));
    let filtered = world
        .viewer_gets(&format!(
            "{}?type=backup_schedule_retention",
            world.history_path()
        ))
        .await;
    assert!(filtered.body.contains("No runs."));
}
