//! The HTML pages.

use crate::error::PageRefusal;
use crate::{AppState, PageViewer, endpoints, load, views};
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use maud::Markup;

pub(crate) fn routes() -> Router<AppState> {
    endpoints("", list, show, cancel, history)
}

async fn list(
    State(state): State<AppState>,
    PageViewer(viewer): PageViewer,
    Path(workspace): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Markup, PageRefusal> {
    let list = load::list(&state, viewer, &workspace, query.as_deref()).await?;
    Ok(views::list_page(&list, state.service().registry()))
}

async fn show(
    State(state): State<AppState>,
    PageViewer(viewer): PageViewer,
    Path((workspace, run)): Path<(String, String)>,
) -> Result<Markup, PageRefusal> {
    let shown = load::run(&state, viewer, &workspace, &run).await?;
    Ok(views::run_page(
        &shown.run,
        shown.registered,
        shown.cancellable,
    ))
}

/// Cancels, then shows the run again (Post/Redirect/Get, relative to the form's URL).
async fn cancel(
    State(state): State<AppState>,
    PageViewer(viewer): PageViewer,
    Path((workspace, run)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, PageRefusal> {
    let cancelled = load::cancel(&state, viewer, &workspace, &run, &headers).await?;
    Ok(Redirect::to(&format!("../{}", cancelled.id())).into_response())
}

async fn history(
    State(state): State<AppState>,
    PageViewer(viewer): PageViewer,
    Path((workspace, schedule)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Markup, PageRefusal> {
    let loaded = load::history(&state, viewer, &workspace, &schedule, query.as_deref()).await?;
    Ok(views::history_page(
        &loaded.schedule,
        &loaded.params,
        &loaded.page,
        &loaded.sets,
    ))
}
