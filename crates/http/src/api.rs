//! The JSON API and its OpenAPI document.

use crate::dto::{
    BackupSetDto, CountDto, FailureDto, HistoryEntryDto, HistoryPageDto, RunDetailDto, RunPageDto,
    RunSummaryDto, StatusCountsDto,
};
use crate::error::{ApiRefusal, ErrorBody};
use crate::{ApiViewer, AppState, endpoints, load};
use axum::Json;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::routing::get;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The OpenAPI document of the JSON API, generated from the handlers and types; served at
/// `/api/openapi.json`.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Operation runs",
        description = "A workspace's operation runs: list, show, cancel, backup schedule history."
    ),
    paths(list, show, cancel, history),
    components(schemas(
        RunPageDto,
        StatusCountsDto,
        CountDto,
        RunSummaryDto,
        RunDetailDto,
        FailureDto,
        HistoryPageDto,
        HistoryEntryDto,
        BackupSetDto,
        ErrorBody
    )),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub(crate) fn routes() -> Router<AppState> {
    endpoints("/api", list, show, cancel, history).route("/api/openapi.json", get(openapi))
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// A workspace's runs, newest first.
#[utoipa::path(
    get,
    path = "/api/workspaces/{workspace}/operations",
    params(
        ("workspace" = i64, Path, description = "Workspace id"),
        ("type" = Option<String>, Query, description = "A registered run type"),
        ("status" = Option<String>, Query, description = "queued, running or completed"),
        ("outcome" = Option<String>, Query, description = "pending, succeeded, partially_succeeded, failed or cancelled"),
        ("tenant" = Option<i64>, Query, description = "Tenant id"),
        ("from" = Option<String>, Query, description = "Created at or after (RFC 3339 or a date)"),
        ("before" = Option<String>, Query, description = "Created strictly before (RFC 3339 or a date)"),
        ("cursor" = Option<String>, Query, description = "The previous page's next_cursor"),
        ("newer" = Option<String>, Query, description = "The next page's newer_cursor: walk back towards the newest runs"),
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 500 (default 50)"),
    ),
    responses(
        (status = 200, description = "A page of runs", body = RunPageDto),
        (status = 400, description = "An invalid query value", body = ErrorBody),
        (status = 401, description = "Nobody signed in", body = ErrorBody),
        (status = 403, description = "A member without the view capability", body = ErrorBody),
        (status = 404, description = "Not a member, or no such workspace", body = ErrorBody),
    )
)]
async fn list(
    State(state): State<AppState>,
    ApiViewer(viewer): ApiViewer,
    Path(workspace): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<RunPageDto>, ApiRefusal> {
    let list = load::list(&state, viewer, &workspace, query.as_deref()).await?;
    Ok(Json(RunPageDto::new(
        &list.page,
        list.older(),
        list.newer(),
        &list.counts,
    )))
}

/// One run, every field.
#[utoipa::path(
    get,
    path = "/api/workspaces/{workspace}/operations/{run}",
    params(
        ("workspace" = i64, Path, description = "Workspace id"),
        ("run" = i64, Path, description = "Run id"),
    ),
    responses(
        (status = 200, description = "The run", body = RunDetailDto),
        (status = 401, description = "Nobody signed in", body = ErrorBody),
        (status = 403, description = "A member without the view capability", body = ErrorBody),
        (status = 404, description = "No such run in this workspace, or not a member", body = ErrorBody),
    )
)]
async fn show(
    State(state): State<AppState>,
    ApiViewer(viewer): ApiViewer,
    Path((workspace, run)): Path<(String, String)>,
) -> Result<Json<RunDetailDto>, ApiRefusal> {
    let shown = load::run(&state, viewer, &workspace, &run).await?;
    Ok(Json(RunDetailDto::new(
        &shown.run,
        shown.registered,
        shown.cancellable,
    )))
}

/// Cancels an active run (view and manage capabilities needed).
#[utoipa::path(
    post,
    path = "/api/workspaces/{workspace}/operations/{run}/cancel",
    params(
        ("workspace" = i64, Path, description = "Workspace id"),
        ("run" = i64, Path, description = "Run id"),
    ),
    responses(
        (status = 200, description = "The cancelled run", body = RunDetailDto),
        (status = 401, description = "Nobody signed in", body = ErrorBody),
        (status = 403, description = "Without the view or manage capability, or cross-origin", body = ErrorBody),
        (status = 404, description = "No such run in this workspace, or not a member", body = ErrorBody),
        (status = 409, description = "The run has completed (or changed meanwhile)", body = ErrorBody),
    )
)]
async fn cancel(
    State(state): State<AppState>,
    ApiViewer(viewer): ApiViewer,
    Path((workspace, run)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<RunDetailDto>, ApiRefusal> {
    let cancelled = load::cancel(&state, viewer, &workspace, &run, &headers).await?;
    let registered = state
        .service()
        .registry()
        .is_registered(cancelled.run_type());
    Ok(Json(RunDetailDto::new(&cancelled, registered, false)))
}

/// A backup schedule's history, newest first, with the backup sets its runs made.
#[utoipa::path(
    get,
    path = "/api/workspaces/{workspace}/backup-schedules/{schedule}/history",
    params(
        ("workspace" = i64, Path, description = "Workspace id"),
        ("schedule" = i64, Path, description = "Backup schedule id"),
        ("type" = Option<String>, Query, description = "backup_schedule_run, backup_schedule_retention or backup_schedule_purge"),
        ("outcome" = Option<String>, Query, description = "An outcome"),
        ("cursor" = Option<String>, Query, description = "The previous page's next_cursor"),
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 500 (default 50)"),
    ),
    responses(
        (status = 200, description = "A page of the history", body = HistoryPageDto),
        (status = 400, description = "An invalid query value", body = ErrorBody),
        (status = 401, description = "Nobody signed in", body = ErrorBody),
        (status = 403, description = "A member without the view capability", body = ErrorBody),
        (status = 404, description = "No such schedule in this workspace, or not a member", body = ErrorBody),
    )
)]
async fn history(
    State(state): State<AppState>,
    ApiViewer(viewer): ApiViewer,
    Path((workspace, schedule)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Json<HistoryPageDto>, ApiRefusal> {
    let loaded = load::history(&state, viewer, &workspace, &schedule, query.as_deref()).await?;
    let runs = loaded
        .page
        .runs
        .iter()
        .map(|run| {
            let set_id = run.context().ok().and_then(|c| c.backup_set_id());
            HistoryEntryDto {
                run: RunSummaryDto::from(run),
                backup_set_id: set_id.map(|id| id.get()),
                backup_set: set_id
                    .and_then(|id| loaded.sets.iter().find(|s| s.id == id))
                    .map(BackupSetDto::from),
            }
        })
        .collect();
    Ok(Json(HistoryPageDto {
        schedule_id: loaded.schedule.id.get(),
        schedule_name: loaded.schedule.name.clone(),
        runs,
        next_cursor: loaded.page.next.map(|c| c.encode()),
    }))
}
