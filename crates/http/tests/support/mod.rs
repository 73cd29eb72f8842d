//! A seeded app for the router tests. The store is built in [`seeded`] only, so another store
//! (an in-memory one) replaces it in one place.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use operation_runs_domain::{
    BackupScheduleId, Failure, FailureCode, FailureSummary, RunContext, RunId, RunOutcome,
    RunTypeRegistry, TenantId, UserId, WorkspaceId,
};
use operation_runs_http::{AuthError, Authenticate, Monitoring};
use operation_runs_memory::MemoryStore;
use operation_runs_ports::{BackupRepository, Provisioning};
use operation_runs_schedule_history::{ScheduleHistory, SchedulePorts};
use operation_runs_service::{OperationRunService, ServicePorts, StartRequest};
use std::sync::Arc;
use tower::ServiceExt;

/// The header the test host authenticates by (a host's own scheme, as far as the router knows).
pub const USER_HEADER: &str = "x-test-user";

/// A message that would run as script if a page did not escape it.
pub const XSS: &str = "<script>alert('owned')</script> & \"quoted\"";

/// Who asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// Nobody signed in.
    Anonymous,
    /// Signed in, not a member of the workspace.
    NonMember,
    /// A member with the manage but without the view capability.
    NoView,
    /// A member who may view.
    Viewer,
    /// A member who may view and manage.
    Manager,
}

impl Who {
    pub const ALL: [Self; 5] = [
        Self::Anonymous,
        Self::NonMember,
        Self::NoView,
        Self::Viewer,
        Self::Manager,
    ];

    pub fn user(self) -> Option<UserId> {
        match self {
            Self::Anonymous => None,
            Self::NonMember => Some(UserId::new(1)),
            Self::NoView => Some(UserId::new(2)),
            Self::Viewer => Some(UserId::new(3)),
            Self::Manager => Some(UserId::new(4)),
        }
    }
}

/// The host's authentication in these tests: a user id in a header.
#[derive(Debug, Clone, Copy)]
pub struct HeaderAuth;

#[async_trait]
impl Authenticate for HeaderAuth {
    async fn authenticate(&self, request: &Parts) -> Result<Option<UserId>, AuthError> {
        Ok(request
            .headers
            .get(USER_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .map(UserId::new))
    }
}

/// What [`seeded`] made.
pub struct World {
    pub app: Router,
    /// The store behind `app`, for rows written past the service (legacy rows).
    pub store: Arc<MemoryStore>,
    /// What `app` was made of, to build a differently configured router.
    pub monitoring: Monitoring,
    pub service: OperationRunService,
    pub history: ScheduleHistory,
    pub ws: WorkspaceId,
    pub other_ws: WorkspaceId,
    /// A running `inventory_sync` run of `ws`.
    pub running: RunId,
    /// A failed run of `ws` whose failure message is [`XSS`].
    pub failed: RunId,
    /// A running run of `other_ws`.
    pub foreign: RunId,
    /// A succeeded backup run of `schedule` (the newest run of `ws`).
    pub backup: RunId,
    /// A schedule of `ws` with one backup run that made a set.
    pub schedule: BackupScheduleId,
    /// A schedule of `other_ws`.
    pub foreign_schedule: BackupScheduleId,
    /// A run id no run has.
    pub missing: RunId,
    /// The tenant of `ws`'s runs.
    pub tenant: TenantId,
}

/// A migrated in-memory store with two workspaces, their members, runs and schedules, and the
/// monitoring router over it (under no prefix).
pub async fn seeded() -> World {
    let store = MemoryStore::new();
    let ws = store.create_workspace("Contoso").await.unwrap();
    let other_ws = store.create_workspace("Fabrikam").await.unwrap();
    let tenant = store.create_tenant(ws, "contoso.example").await.unwrap();
    let other_tenant = store
        .create_tenant(other_ws, "fabrikam.example")
        .await
        .unwrap();
    // (workspace, who, may view, may manage). The non-member of `ws` manages the other
    // workspace: membership elsewhere must not help.
    for (workspace, who, view, manage) in [
        (ws, Who::NoView, false, true),
        (ws, Who::Viewer, true, false),
        (ws, Who::Manager, true, true),
        (other_ws, Who::NonMember, true, true),
    ] {
        store
            .add_member(workspace, who.user().unwrap(), view, manage)
            .await
            .unwrap();
    }
    let schedule = store
        .create_backup_schedule(ws, tenant, "Nightly", 3)
        .await
        .unwrap();
    let foreign_schedule = store
        .create_backup_schedule(other_ws, other_tenant, "Other nightly", 3)
        .await
        .unwrap();

    let shared = Arc::new(store);
    let service = OperationRunService::new(
        ServicePorts::from_store(shared.clone()),
        RunTypeRegistry::with_builtins(),
    );
    let history = ScheduleHistory::new(service.clone(), SchedulePorts::from_store(shared.clone()));

    let start = |ws, tenant, run_type: &str, key: &str| {
        StartRequest::new(ws, run_type, "scheduler")
            .tenant(tenant)
            .identity(serde_json::json!({ "key": key }))
    };
    let running = start_and_begin(&service, start(ws, tenant, "inventory_sync", "running")).await;
    service
        .record_progress(running, &[("processed", 12), ("failed", 1)])
        .await
        .unwrap();

    let failed = start_and_begin(&service, start(ws, tenant, "entra_group_sync", "failed")).await;
    let failure = Failure::new(FailureCode::parse("graph_unavailable").unwrap(), XSS);
    service
        .complete(failed, RunOutcome::Failed, FailureSummary::single(failure))
        .await
        .unwrap();

    let foreign = start_and_begin(
        &service,
        start(other_ws, other_tenant, "inventory_sync", "foreign"),
    )
    .await;

    let set = shared
        .create_set(schedule.id, "nightly-set-1", 42, chrono::Utc::now())
        .await
        .unwrap();
    let backup = start_and_begin(
        &service,
        start(ws, tenant, "backup_schedule_run", "backup").context(
            RunContext::new()
                .with_backup_schedule_id(schedule.id)
                .with_backup_set_id(set.id),
        ),
    )
    .await;
    service
        .complete(backup, RunOutcome::Succeeded, FailureSummary::new())
        .await
        .unwrap();

    let monitoring = Monitoring::new(service.clone(), history.clone(), HeaderAuth);
    World {
        app: monitoring.clone().router(),
        store: shared,
        monitoring,
        service,
        history,
        ws,
        other_ws,
        running,
        failed,
        foreign,
        backup,
        schedule: schedule.id,
        foreign_schedule: foreign_schedule.id,
        missing: RunId::new(999_999),
        tenant,
    }
}

/// Starts the run `request` asks for and moves it to running.
async fn start_and_begin(service: &OperationRunService, request: StartRequest) -> RunId {
    let id = service.start(request).await.unwrap().into_run().id();
    service.begin(id).await.unwrap();
    id
}

impl World {
    /// The path of `ws`'s list page; the API answers at the same path under `/api`.
    pub fn list_path(&self) -> String {
        format!("/workspaces/{}/operations", self.ws)
    }

    /// The path of `run`'s page in `ws`.
    pub fn run_path(&self, run: RunId) -> String {
        format!("{}/{run}", self.list_path())
    }

    /// The path of `schedule`'s history page.
    pub fn history_path(&self) -> String {
        format!(
            "/workspaces/{}/backup-schedules/{}/history",
            self.ws, self.schedule
        )
    }

    /// What a viewer (of `ws`) is answered at `uri`.
    pub async fn viewer_gets(&self, uri: &str) -> Answer {
        get(&self.app, uri, Who::Viewer).await
    }
}

/// A response, read whole.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `message` of a JSON error answer.
    pub fn error_message(&self) -> String {
        self.json()["message"].as_str().unwrap().to_owned()
    }

    /// Whether this list page links to the run `id`.
    pub fn links_to_run(&self, id: impl std::fmt::Display) -> bool {
        self.body.contains(&format!("href=\"operations/{id}\""))
    }
}

/// Sends a request through the router (no network).
pub async fn send(app: &Router, method: Method, uri: &str, who: Who) -> Answer {
    send_with(app, method, uri, who, &[]).await
}

/// Sends a request with extra headers.
pub async fn send_with(
    app: &Router,
    method: Method,
    uri: &str,
    who: Who,
    headers: &[(&str, &str)],
) -> Answer {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "monitoring.test");
    if let Some(user) = who.user() {
        request = request.header(USER_HEADER, user.get().to_string());
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

/// POST from a browser on `origin`.
pub async fn post_from(app: &Router, uri: &str, who: Who, origin: &str) -> Answer {
    send_with(app, Method::POST, uri, who, &[("origin", origin)]).await
}

/// GET.
pub async fn get(app: &Router, uri: &str, who: Who) -> Answer {
    send(app, Method::GET, uri, who).await
}
