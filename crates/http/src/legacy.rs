//! The per-feature run URLs of the product before canonical runs, kept in one table so that
//! they stay gone: each answers exactly what an unknown URL answers (the same status, body and
//! headers, no redirect), whoever asks. The regression guards know this file: it is the only
//! source file allowed to spell these paths.

use crate::AppState;
use crate::error::Refusal;
use axum::Router;
use axum::http::Uri;
use axum::response::Response;
use axum::routing::any;

/// Every legacy run URL (axum path syntax), pages and API alike. The API twins are the same
/// paths under `/api`.
pub const LEGACY_RUN_PATHS: [&str; 12] = [
    "/admin/t/{tenant}/inventory-sync-runs",
    "/admin/t/{tenant}/inventory-sync-runs/{run}",
    "/admin/t/{tenant}/entra-group-sync-runs",
    "/admin/t/{tenant}/entra-group-sync-runs/{run}",
    "/admin/t/{tenant}/backup-schedules/{schedule}/runs",
    "/admin/t/{tenant}/backup-schedules/{schedule}/runs/{run}",
    "/api/admin/t/{tenant}/inventory-sync-runs",
    "/api/admin/t/{tenant}/inventory-sync-runs/{run}",
    "/api/admin/t/{tenant}/entra-group-sync-runs",
    "/api/admin/t/{tenant}/entra-group-sync-runs/{run}",
    "/api/admin/t/{tenant}/backup-schedules/{schedule}/runs",
    "/api/admin/t/{tenant}/backup-schedules/{schedule}/runs/{run}",
];

/// Routes every legacy URL, for every method, to [`not_found`], so no later route (nor a
/// host's catch-all inside this router) can ever answer them differently.
pub(crate) fn routes(router: Router<AppState>) -> Router<AppState> {
    LEGACY_RUN_PATHS
        .iter()
        .fold(router, |router, path| router.route(path, any(not_found)))
}

/// What an unknown URL answers: JSON under `/api`, a page elsewhere; never the path itself.
pub(crate) async fn not_found(uri: Uri) -> Response {
    // Inside a nested router `uri` has the mount prefix stripped, which is what the API/page
    // split needs.
    if uri.path() == "/api" || uri.path().starts_with("/api/") {
        Refusal::NotFound.json()
    } else {
        Refusal::NotFound.page()
    }
}
