//! `http_list`: the monitoring list endpoint, as JSON (`/api/…`) and as the HTML page, against
//! the use cases it calls made directly (`list_runs` and `count_runs`, the same work), at page 1
//! and at page 2,000 of the keyset walk (50 runs a page). In process, without a socket: the
//! figure is what the adapter adds (routing, authentication, access rules, rendering).

use super::monitoring::{PAGE, seed_watched};
use super::{samples, service};
use crate::env::Env;
use crate::progress;
use crate::report::{Figure, Samples, Target, timed};
use anyhow::{Context, Result, bail};
use async_trait::async_trait;
use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::request::Parts;
use axum::http::{Request, StatusCode};
use operation_runs_domain::{RunId, UserId};
use operation_runs_http::{AuthError, Authenticate, Monitoring};
use operation_runs_ports::{RunCursor, RunListQuery};
use operation_runs_schedule_history::{ScheduleHistory, SchedulePorts};
use operation_runs_service::OperationRunService;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

/// Every request is the workspace's viewer's: the host's authentication is not measured.
struct Viewer(UserId);

#[async_trait]
impl Authenticate for Viewer {
    async fn authenticate(&self, _: &Parts) -> Result<Option<UserId>, AuthError> {
        Ok(Some(self.0))
    }
}

/// One `GET`, answered whole: the body, and how long it took.
async fn get(app: &Router, uri: &str) -> Result<(Vec<u8>, Duration)> {
    let request = Request::get(uri).body(Body::empty())?;
    let (response, took) = timed(async {
        let response = app.clone().oneshot(request).await?;
        let status = response.status();
        let body = to_bytes(response.into_body(), usize::MAX).await?;
        Ok::<_, anyhow::Error>((status, body))
    })
    .await;
    let (status, body) = response?;
    if status != StatusCode::OK {
        bail!("GET {uri} answered {status}");
    }
    Ok((body.to_vec(), took))
}

/// The page the service gives, the way the endpoint asks for it: the ids, and how long the two
/// use cases took.
async fn direct(
    service: &OperationRunService,
    viewer: UserId,
    query: &RunListQuery,
) -> Result<(Vec<i64>, Duration)> {
    let (page, took) = timed(async {
        let page = service.list_runs(viewer, query).await?;
        service
            .count_runs(viewer, query.workspace_id, &query.filter)
            .await?;
        Ok::<_, anyhow::Error>(page)
    })
    .await;
    Ok((page?.runs.iter().map(|r| r.id().get()).collect(), took))
}

pub async fn run(env: &Env) -> Result<()> {
    let b = env.backend;
    let w = seed_watched(env, "http_list").await?;
    let (store, ws, viewer, far, cursor) = (&w.store, w.ws, w.viewer, w.far, w.cursor);
    let service = service(store);
    let history = ScheduleHistory::new(
        service.clone(),
        SchedulePorts::from_store(Arc::new(store.clone())),
    );
    let app = Monitoring::new(service.clone(), history, Viewer(viewer)).router();
    let uri = |api: &str, after: Option<i64>| {
        let cursor = after.map_or_else(String::new, |id| {
            format!("&cursor={}", RunCursor(RunId::new(id)).encode())
        });
        format!(
            "{api}/workspaces/{}/operations?limit={PAGE}{cursor}",
            ws.get()
        )
    };
    let n = samples(env.rows);
    progress!(
        "http_list: page 1 and page {far} of {}, {n} requests per side",
        w.last_page
    );
    // [page][direct, json, html]
    let mut s: [[Samples; 3]; 2] = Default::default();
    let mut html_bytes = 0;
    for i in 0..n + 10 {
        let warm = i < 10;
        for (k, after) in [(0, None), (1, Some(cursor))] {
            // Alternate which side goes first, so neither always finds the caches warmer.
            let (ids, direct_took, json_body, json_took, html_body, html_took) = if i % 2 == 0 {
                let (ids, d) = direct(&service, viewer, &w.page_query(after)).await?;
                let (jb, jt) = get(&app, &uri("/api", after)).await?;
                let (hb, ht) = get(&app, &uri("", after)).await?;
                (ids, d, jb, jt, hb, ht)
            } else {
                let (hb, ht) = get(&app, &uri("", after)).await?;
                let (jb, jt) = get(&app, &uri("/api", after)).await?;
                let (ids, d) = direct(&service, viewer, &w.page_query(after)).await?;
                (ids, d, jb, jt, hb, ht)
            };
            check_same_page(&ids, &json_body, &html_body)?;
            if k == 0 {
                html_bytes = html_body.len();
            }
            if !warm {
                s[k][0].push(direct_took);
                s[k][1].push(json_took);
                s[k][2].push(html_took);
            }
        }
    }
    let note = "ours = GET of the endpoint through the router in process (routing, auth, access, \
                rendering); baseline = OperationRunService::list_runs + count_runs, the calls it makes";
    for (k, page) in [(0, "page_1".to_owned()), (1, format!("page_{far}"))] {
        for (side, format) in [(1, "json"), (2, "html")] {
            let mut figure = Figure::new("http_list", b, env.rows, &format!("{format}_{page}"))
                .compare(&s[k][side], &s[k][0])
                .target(Target::at_most(1.3, "ratio <= 1.3 at p50"))
                .note(note);
            if (k, side) == (0, 2) {
                figure = figure.extra("html_bytes_for_50_runs", json!(html_bytes));
            }
            env.emit(&figure);
        }
    }
    env.emit(
        &Figure::new(
            "http_list",
            b,
            env.rows,
            &format!("json_page_{far}_vs_page_1"),
        )
        .compare(&s[1][1], &s[0][1])
        .target(Target::at_most(1.5, "ratio <= 1.5 (page N / page 1)"))
        .extra("page", json!(far))
        .note("both sides are the JSON endpoint; baseline column = page 1"),
    );
    env.drop_db(w.db).await
}

/// The JSON page lists exactly the service's runs, in order, and the HTML page links each.
fn check_same_page(ids: &[i64], json_body: &[u8], html_body: &[u8]) -> Result<()> {
    let page: Value = serde_json::from_slice(json_body).context("the API answered no JSON")?;
    let listed: Vec<i64> = page["runs"]
        .as_array()
        .context("the API page has no runs")?
        .iter()
        .filter_map(|r| r["id"].as_i64())
        .collect();
    if listed != ids {
        bail!("the API lists {listed:?}, the service {ids:?}");
    }
    let html = String::from_utf8_lossy(html_body);
    if let Some(missing) = ids
        .iter()
        .find(|id| !html.contains(&format!("href=\"operations/{id}\"")))
    {
        bail!("the HTML page does not link run {missing}");
    }
    Ok(())
}
