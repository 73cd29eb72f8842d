//! Every operation of the product end to end on the real adapter: each test drives the public
//! API the way a host service's job would (`OperationRunService` and `ScheduleOperations` wired
//! to `SeaOrmStore`, with a clock the test controls) and reads the results back from the
//! database. SQLite always, PostgreSQL when `OPRUN_TEST_POSTGRES_URL` is set.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use operation_runs_domain::{
    BackupScheduleId, Failure, FailureCode, FailureSummary, OperationRun, RunId, RunOutcome,
    RunStatus, RunTypeRegistry, TenantId, UserId, WorkspaceId,
};
use operation_runs_ports::{
    BackupRepository, Clock, FindingRepository, InventoryRepository, Provisioning, RunCursor,
    RunFilter, RunListQuery, RunQueries, SeenItem,
};
use operation_runs_schedule_history::{
    BackupContent, BackupSourceError, Execution, HistoryQuery, Mode, PurgePolicy, RunSet,
    ScheduleError, ScheduleOperations, SchedulePorts, ScheduleRequest, source_fn,
};
use operation_runs_sea_orm::SeaOrmStore;
use operation_runs_service::{
    DriftChange, DriftRefusal, OperationRunService, ServiceError, ServicePorts, StartRequest,
};
use operation_runs_tests::{TestDb, on_every_backend};
use sea_orm::{ConnectionTrait, QueryResult, Statement};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

// ---------------------------------------------------------------------------------------------
// Wiring, as a host service does it.

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
}

/// A clock the test moves by hand.
#[derive(Debug)]
struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    fn at(start: DateTime<Utc>) -> Arc<Self> {
        Arc::new(Self(Mutex::new(start)))
    }

    fn set(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        *self.0.lock().unwrap() = at;
        at
    }

    fn advance(&self, by: Duration) -> DateTime<Utc> {
        let mut now = self.0.lock().unwrap();
        *now += by;
        *now
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

struct World {
    db: TestDb,
    store: SeaOrmStore,
    clock: Arc<TestClock>,
    service: OperationRunService,
    ws: WorkspaceId,
    tenant: TenantId,
}

async fn world(db: TestDb) -> World {
    let store = SeaOrmStore::from_connection(db.conn.clone());
    let clock = TestClock::at(t0());
    let store_arc = Arc::new(store.clone());
    let service = OperationRunService::new(
        ServicePorts::from_store(store_arc).with_clock(clock.clone()),
        RunTypeRegistry::with_builtins(),
    );
    let ws = store.create_workspace("Contoso").await.unwrap();
    let tenant = store.create_tenant(ws, "contoso.example").await.unwrap();
    World {
        db,
        store,
        clock,
        service,
        ws,
        tenant,
    }
}

impl World {
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Starts a new run (asserting it is new), optionally begins it, optionally completes it.
    async fn run(
        &self,
        ws: WorkspaceId,
        tenant: TenantId,
        run_type: &str,
        identity: Value,
        fate: Fate,
    ) -> OperationRun {
        let request = StartRequest::new(ws, run_type, "scheduler")
            .tenant(tenant)
            .identity(identity);
        let started = self.service.start(request).await.unwrap();
        assert!(!started.is_reused(), "expected a new run");
        let mut run = started.into_run();
        match fate {
            Fate::Queued => {}
            Fate::QueuedThen(outcome) => {
                run = self
                    .service
                    .complete(run.id(), outcome, FailureSummary::new())
                    .await
                    .unwrap();
            }
            Fate::Running => run = self.service.begin(run.id()).await.unwrap(),
            Fate::Completed(outcome) => {
                self.service.begin(run.id()).await.unwrap();
                run = self
                    .service
                    .complete(run.id(), outcome, FailureSummary::new())
                    .await
                    .unwrap();
            }
        }
        run
    }

    async fn count(&self, sql: &str) -> i64 {
        self.db.scalar_i64(sql).await.unwrap()
    }

    async fn stored(&self, id: RunId) -> StoredRun {
        stored_run(&self.db, id).await
    }
}

#[derive(Debug, Clone, Copy)]
enum Fate {
    Queued,
    QueuedThen(RunOutcome),
    Running,
    Completed(RunOutcome),
}

fn secs(n: i64) -> Duration {
    Duration::seconds(n)
}

fn code(raw: &str) -> FailureCode {
    FailureCode::parse(raw).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Reading rows back with plain SQL, around the adapter.

async fn row(db: &TestDb, sql: &str) -> QueryResult {
    db.conn
        .query_one_raw(Statement::from_string(db.db_backend(), sql.to_owned()))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .unwrap_or_else(|| panic!("{sql}: no row"))
}

async fn rows(db: &TestDb, sql: &str) -> Vec<QueryResult> {
    db.conn
        .query_all_raw(Statement::from_string(db.db_backend(), sql.to_owned()))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// An `operation_runs` row as stored.
#[derive(Debug, Clone, PartialEq)]
struct StoredRun {
    run_type: String,
    status: String,
    outcome: String,
    tenant_id: Option<i64>,
    summary_counts: Value,
    /// `failure_summary` exactly as stored, as text.
    failure_text: String,
    failure_summary: Value,
    context: Value,
    started_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

async fn stored_run(db: &TestDb, id: RunId) -> StoredRun {
    let r = row(
        db,
        &format!(
            r#"SELECT "type", status, outcome, tenant_id, CAST(summary_counts AS TEXT),
                      CAST(failure_summary AS TEXT), CAST(context AS TEXT),
                      started_at, completed_at, created_at, updated_at
               FROM operation_runs WHERE id = {}"#,
            id.get()
        ),
    )
    .await;
    let text = |i: usize| r.try_get_by_index::<String>(i).unwrap();
    let json = |i: usize| serde_json::from_str::<Value>(&text(i)).unwrap();
    StoredRun {
        run_type: text(0),
        status: text(1),
        outcome: text(2),
        tenant_id: r.try_get_by_index(3).unwrap(),
        summary_counts: json(4),
        failure_text: text(5),
        failure_summary: json(5),
        context: json(6),
        started_at: r.try_get_by_index(7).unwrap(),
        completed_at: r.try_get_by_index(8).unwrap(),
        created_at: r.try_get_by_index(9).unwrap(),
        updated_at: r.try_get_by_index(10).unwrap(),
    }
}

async fn run_exists(db: &TestDb, id: RunId) -> bool {
    db.scalar_i64(&format!(
        "SELECT COUNT(*) FROM operation_runs WHERE id = {}",
        id.get()
    ))
    .await
        == Some(1)
}

// ---------------------------------------------------------------------------------------------
// 1. An inventory sync job.

fn seen(external_id: &str, kind: &str, name: &str) -> SeenItem {
    SeenItem {
        external_id: external_id.into(),
        kind: kind.into(),
        display_name: name.into(),
    }
}

/// `(external_id, last_seen_operation_run_id)` of a tenant's items, as stored.
async fn stored_items(db: &TestDb, tenant: TenantId) -> Vec<(String, Option<i64>)> {
    rows(
        db,
        &format!(
            "SELECT external_id, last_seen_operation_run_id FROM inventory_items \
             WHERE tenant_id = {} ORDER BY external_id",
            tenant.get()
        ),
    )
    .await
    .iter()
    .map(|r| {
        (
            r.try_get_by_index::<String>(0).unwrap(),
            r.try_get_by_index::<Option<i64>>(1).unwrap(),
        )
    })
    .collect()
}

async fn inventory_sync_job(db: TestDb) {
    let w = world(db).await;
    let request = StartRequest::new(w.ws, "inventory_sync", "scheduler")
        .tenant(w.tenant)
        .identity(json!({"selection": "all"}));

    // Start; a second start of the same identity while it is queued, then while it is
    // running, gets the same run back.
    let created_at = w.now();
    let started = w.service.start(request.clone()).await.unwrap();
    assert!(!started.is_reused());
    let run = started.run().id();
    assert_eq!(started.run().status(), RunStatus::Queued);
    w.clock.advance(secs(5));
    let again = w.service.start(request.clone()).await.unwrap();
    assert!(again.is_reused());
    assert_eq!(again.run().id(), run);

    let begun_at = w.clock.advance(secs(5));
    assert_eq!(
        w.service.begin(run).await.unwrap().status(),
        RunStatus::Running
    );
    w.clock.advance(secs(1));
    let while_running = w.service.start(request.clone()).await.unwrap();
    assert!(while_running.is_reused());
    assert_eq!(while_running.run().id(), run);
    assert_eq!(while_running.run().status(), RunStatus::Running);
    assert_eq!(w.count("SELECT COUNT(*) FROM operation_runs").await, 1);

    // The job sees the inventory in two batches and records its progress after each.
    let items = [
        seen("dev-1", "device", "Laptop 1"),
        seen("dev-2", "device", "Laptop 2"),
        seen("pol-1", "policy", "Baseline policy"),
    ];
    w.clock.advance(secs(10));
    let marked = w.service.record_seen_items(run, &items[..2]).await.unwrap();
    assert!(
        marked
            .iter()
            .all(|i| i.last_seen_operation_run_id == Some(run))
    );
    w.service
        .record_progress(run, &[("total", 3), ("items_seen", 2), ("processed", 2)])
        .await
        .unwrap();
    let heartbeat = w.clock.advance(secs(10));
    w.service.record_seen_items(run, &items[2..]).await.unwrap();
    let progressed = w
        .service
        .record_progress(
            run,
            &[("items_seen", 1), ("processed", 1), ("succeeded", 3)],
        )
        .await
        .unwrap();
    assert_eq!(progressed.updated_at(), heartbeat);

    let completed_at = w.clock.advance(secs(30));
    w.service
        .complete(run, RunOutcome::Succeeded, FailureSummary::new())
        .await
        .unwrap();

    // Read back from the database.
    let stored = w.stored(run).await;
    assert_eq!(stored.run_type, "inventory_sync");
    assert_eq!(stored.status, "completed");
    assert_eq!(stored.outcome, "succeeded");
    assert_eq!(stored.tenant_id, Some(w.tenant.get()));
    assert_eq!(
        stored.summary_counts,
        json!({"total": 3, "items_seen": 3, "processed": 3, "succeeded": 3})
    );
    assert_eq!(stored.failure_summary, json!([]));
    assert_eq!(stored.created_at, created_at);
    assert_eq!(stored.started_at, Some(begun_at));
    assert_eq!(stored.completed_at, Some(completed_at));
    assert_eq!(stored.updated_at, completed_at);
    let through_port = w.store.get(run).await.unwrap();
    assert_eq!(through_port.summary_counts().get_str("items_seen"), 3);
    assert_eq!(through_port.outcome(), RunOutcome::Succeeded);

    let expected = vec![
        ("dev-1".to_owned(), Some(run.get())),
        ("dev-2".to_owned(), Some(run.get())),
        ("pol-1".to_owned(), Some(run.get())),
    ];
    assert_eq!(stored_items(&w.db, w.tenant).await, expected);
    let listed = w.store.list_items(w.tenant).await.unwrap();
    assert_eq!(listed.len(), 3);
    assert!(
        listed
            .iter()
            .all(|i| i.last_seen_operation_run_id == Some(run))
    );

    // A completed run marks nothing any more.
    let late = w.service.record_seen_items(run, &items[..1]).await;
    assert!(matches!(late, Err(ServiceError::Transition(_))), "{late:?}");
    assert_eq!(stored_items(&w.db, w.tenant).await, expected);

    // Once completed, the same identity starts a new run; what it does not see keeps the
    // run that saw it last.
    w.clock.advance(Duration::hours(1));
    let next = w.service.start(request.clone()).await.unwrap();
    assert!(!next.is_reused());
    let next = next.run().id();
    assert_ne!(next, run);
    assert_eq!(w.stored(next).await.status, "queued");
    w.service.begin(next).await.unwrap();
    w.service
        .record_seen_items(next, &[items[0].clone(), items[2].clone()])
        .await
        .unwrap();
    w.service
        .record_progress(next, &[("items_seen", 2)])
        .await
        .unwrap();
    w.service
        .complete(next, RunOutcome::Succeeded, FailureSummary::new())
        .await
        .unwrap();
    assert_eq!(
        stored_items(&w.db, w.tenant).await,
        vec![
            ("dev-1".to_owned(), Some(next.get())),
            ("dev-2".to_owned(), Some(run.get())),
            ("pol-1".to_owned(), Some(next.get())),
        ]
    );
    assert_eq!(
        w.stored(next).await.summary_counts,
        json!({"items_seen": 2})
    );
    assert_eq!(w.stored(run).await, stored, "the first run is final");
    assert_eq!(w.count("SELECT COUNT(*) FROM operation_runs").await, 2);
}

// ---------------------------------------------------------------------------------------------
// 2. An Entra group sync with a partial failure.

const BEARER_TOKEN: &str = "sk-live-0123456789abcdefBEARER";
const CLIENT_SECRET: &str = "Qx7~client-secret-value-42";
const PASSWORD: &str = "hunter2-the-password";
const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlX3ZhbHVl";

async fn entra_group_sync_partial_failure(db: TestDb) {
    let w = world(db).await;
    let run = w
        .run(
            w.ws,
            w.tenant,
            "entra_group_sync",
            json!({"scope": "all_groups"}),
            Fate::Running,
        )
        .await
        .id();
    w.service
        .record_progress(
            run,
            &[
                ("total", 120),
                ("groups_seen", 120),
                ("members_seen", 3400),
                ("succeeded", 60),
                ("failed", 60),
            ],
        )
        .await
        .unwrap();

    // 60 groups failed; the first ones carry secrets the directory echoed back.
    let graph = code("graph_request_failed");
    let mut failures = FailureSummary::new();
    failures.push(Failure::new(
        graph.clone(),
        &format!("GET /groups/g-0 failed\nAuthorization: Bearer {BEARER_TOKEN}\tretry later"),
    ));
    failures.push(Failure::new(
        code("token_refresh_failed"),
        &format!("POST /token: client_secret={CLIENT_SECRET}&grant_type=client_credentials"),
    ));
    failures.push(Failure::new(
        graph.clone(),
        &format!("graph rejected the token {JWT} (expired)\u{0}\u{7}"),
    ));
    // A failure a remote worker reported as JSON.
    let reported: Failure = serde_json::from_value(json!({
        "code": "worker_failed",
        "message": format!("worker login with password={PASSWORD} failed"),
    }))
    .unwrap();
    failures.push(reported);
    for i in 4..60 {
        failures.push(Failure::new(
            graph.clone(),
            &format!("group g-{i} could not be read"),
        ));
    }
    assert_eq!((failures.failures().len(), failures.omitted()), (50, 10));

    let completed_at = w.clock.advance(secs(90));
    w.service
        .complete(run, RunOutcome::PartiallySucceeded, failures)
        .await
        .unwrap();

    let stored = w.stored(run).await;
    assert_eq!(stored.run_type, "entra_group_sync");
    assert_eq!(stored.status, "completed");
    assert_eq!(stored.outcome, "partially_succeeded");
    assert_eq!(stored.completed_at, Some(completed_at));
    assert_eq!(
        stored.summary_counts,
        json!({"total": 120, "groups_seen": 120, "members_seen": 3400, "succeeded": 60, "failed": 60})
    );

    // No secret reached the database.
    let mut secrets = vec![BEARER_TOKEN, CLIENT_SECRET, PASSWORD, JWT];
    secrets.extend(JWT.split('.'));
    for secret in secrets {
        assert!(
            !stored.failure_text.contains(secret),
            "`{secret}` is stored: {}",
            stored.failure_text
        );
    }
    let entries = stored.failure_summary.as_array().unwrap();
    let message = |i: usize| entries[i]["message"].as_str().unwrap();
    assert_eq!(
        message(0),
        "GET /groups/g-0 failed Authorization: Bearer [REDACTED] retry later"
    );
    assert_eq!(
        message(1),
        "POST /token: client_secret=[REDACTED]&grant_type=client_credentials"
    );
    assert_eq!(message(2), "graph rejected the token [REDACTED] (expired)");
    assert_eq!(message(3), "worker login with password=[REDACTED] failed");
    assert_eq!(entries[0]["code"], "graph_request_failed");
    assert_eq!(entries[1]["code"], "token_refresh_failed");
    assert_eq!(entries[3]["code"], "worker_failed");
    assert_eq!(message(49), "group g-49 could not be read");
    for entry in &entries[..50] {
        assert!(
            !entry["message"]
                .as_str()
                .unwrap()
                .chars()
                .any(char::is_control)
        );
    }

    // Bounded: 50 failures stored, the 10 others counted in a final marker.
    assert_eq!(entries.len(), 51);
    assert_eq!(entries[50]["code"], "failures_omitted");
    assert_eq!(entries[50]["count"], 10);

    let read = w.store.get(run).await.unwrap();
    assert_eq!(read.failure_summary().failures().len(), 50);
    assert_eq!(read.failure_summary().omitted(), 10);
    assert_eq!(read.outcome(), RunOutcome::PartiallySucceeded);
}

// ---------------------------------------------------------------------------------------------
// 3. Drift between two completed inventory syncs.

/// The host's drift job: records itself as a `drift_generate` run, writes the findings, and
/// completes `failed` (code `drift_refused`) when the runs cannot be compared.
async fn drift_job(
    w: &World,
    baseline: RunId,
    current: RunId,
    changes: &[DriftChange],
) -> (RunId, Result<usize, ServiceError>) {
    let run = w
        .run(
            w.ws,
            w.tenant,
            "drift_generate",
            json!({"baseline": baseline.get(), "current": current.get()}),
            Fate::Running,
        )
        .await
        .id();
    match w
        .service
        .record_drift_findings(baseline, current, changes)
        .await
    {
        Ok(findings) => {
            let n = i64::try_from(findings.len()).unwrap();
            w.service
                .record_progress(run, &[("findings_created", n)])
                .await
                .unwrap();
            w.service
                .complete(run, RunOutcome::Succeeded, FailureSummary::new())
                .await
                .unwrap();
            (run, Ok(findings.len()))
        }
        Err(refusal) => {
            let failure = Failure::new(code("drift_refused"), &refusal.to_string());
            w.service
                .complete(run, RunOutcome::Failed, FailureSummary::single(failure))
                .await
                .unwrap();
            (run, Err(refusal))
        }
    }
}

fn change(subject: &str, kind: &str) -> DriftChange {
    DriftChange {
        subject_external_id: subject.into(),
        change: kind.into(),
        details: json!({"field": "display_name"}),
    }
}

async fn drift_generation(db: TestDb) {
    let w = world(db).await;
    let other_tenant = w
        .store
        .create_tenant(w.ws, "fabrikam.example")
        .await
        .unwrap();
    let other_ws = w.store.create_workspace("Northwind").await.unwrap();
    let foreign_tenant = w
        .store
        .create_tenant(other_ws, "northwind.example")
        .await
        .unwrap();
    let done = Fate::Completed(RunOutcome::Succeeded);
    let sync = |n: i64| json!({"sync": n});

    let baseline = w
        .run(w.ws, w.tenant, "inventory_sync", sync(1), done)
        .await
        .id();
    w.clock.advance(Duration::hours(1));
    let current = w
        .run(w.ws, w.tenant, "inventory_sync", sync(2), done)
        .await
        .id();
    w.clock.advance(Duration::hours(1));
    let of_other_tenant = w
        .run(w.ws, other_tenant, "inventory_sync", sync(3), done)
        .await
        .id();
    let of_other_workspace = w
        .run(other_ws, foreign_tenant, "inventory_sync", sync(4), done)
        .await
        .id();
    let group_sync = w
        .run(w.ws, w.tenant, "entra_group_sync", sync(5), done)
        .await
        .id();
    let running = w
        .run(w.ws, w.tenant, "inventory_sync", sync(6), Fate::Running)
        .await
        .id();
    let queued = w
        .run(w.ws, w.tenant, "inventory_sync", sync(7), Fate::Queued)
        .await
        .id();
    let failed = w
        .run(
            w.ws,
            w.tenant,
            "inventory_sync",
            sync(8),
            Fate::Completed(RunOutcome::Failed),
        )
        .await
        .id();
    w.clock.advance(Duration::minutes(5));

    // The drift job between the two completed syncs.
    let changes = [
        change("dev-1", "changed"),
        change("dev-2", "removed"),
        change("dev-3", "added"),
    ];
    assert_eq!(w.count("SELECT COUNT(*) FROM findings").await, 0);
    let (drift_run, result) = drift_job(&w, baseline, current, &changes).await;
    assert_eq!(result.unwrap(), 3);

    let findings = w.store.list_findings(w.tenant).await.unwrap();
    assert_eq!(findings.len(), 3);
    for (finding, expected) in findings.iter().zip(&changes) {
        assert_eq!(finding.baseline_operation_run_id, Some(baseline));
        assert_eq!(finding.current_operation_run_id, Some(current));
        assert_eq!(finding.workspace_id, w.ws);
        assert_eq!(finding.subject_external_id, expected.subject_external_id);
        assert_eq!(finding.change, expected.change);
        assert_eq!(finding.details, expected.details);
    }
    let stored_refs: Vec<(i64, i64)> = rows(
        &w.db,
        "SELECT baseline_operation_run_id, current_operation_run_id FROM findings ORDER BY id",
    )
    .await
    .iter()
    .map(|r| {
        (
            r.try_get_by_index(0).unwrap(),
            r.try_get_by_index(1).unwrap(),
        )
    })
    .collect();
    assert_eq!(stored_refs, vec![(baseline.get(), current.get()); 3]);

    let drift = w.stored(drift_run).await;
    assert_eq!(drift.run_type, "drift_generate");
    assert_eq!(
        (drift.status.as_str(), drift.outcome.as_str()),
        ("completed", "succeeded")
    );
    assert_eq!(drift.tenant_id, Some(w.tenant.get()));
    assert_eq!(drift.summary_counts, json!({"findings_created": 3}));

    // Refused, with a typed reason and nothing written, for runs that cannot be compared.
    let refused = [
        (baseline, of_other_tenant, DriftRefusal::DifferentTenant),
        (
            baseline,
            of_other_workspace,
            DriftRefusal::DifferentWorkspace,
        ),
        (
            baseline,
            group_sync,
            DriftRefusal::WrongType {
                run: group_sync,
                found: "entra_group_sync".into(),
            },
        ),
        (
            group_sync,
            current,
            DriftRefusal::WrongType {
                run: group_sync,
                found: "entra_group_sync".into(),
            },
        ),
        (baseline, running, DriftRefusal::NotCompleted(running)),
        (queued, current, DriftRefusal::NotCompleted(queued)),
        (baseline, failed, DriftRefusal::NotSuccessful(failed)),
        (current, baseline, DriftRefusal::BaselineNotOlder),
    ];
    for (a, b, expected) in refused {
        let findings_before = w.count("SELECT COUNT(*) FROM findings").await;
        let (job_run, result) = drift_job(&w, a, b, &changes).await;
        match result {
            Err(ServiceError::Drift(refusal)) => assert_eq!(refusal, expected),
            other => panic!("drift of {a} → {b}: expected {expected:?}, got {other:?}"),
        }
        assert_eq!(
            w.count("SELECT COUNT(*) FROM findings").await,
            findings_before,
            "drift of {a} → {b} wrote findings"
        );
        let job = w.stored(job_run).await;
        assert_eq!(
            (job.status.as_str(), job.outcome.as_str()),
            ("completed", "failed")
        );
        assert_eq!(job.failure_summary[0]["code"], "drift_refused");
        assert_eq!(job.summary_counts, json!({}));
    }
    assert_eq!(w.count("SELECT COUNT(*) FROM findings").await, 3);
    assert!(
        w.store
            .list_findings(other_tenant)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        w.store
            .list_findings(foreign_tenant)
            .await
            .unwrap()
            .is_empty()
    );
}

// ---------------------------------------------------------------------------------------------
// 4. A schedule's life: backups, retention, purge, history.

fn day(n: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, n, 2, 0, 0).unwrap()
}

/// `(id, type)` of a schedule's whole history, newest first, read page by page.
async fn history_of(
    ops: &ScheduleOperations,
    ws: WorkspaceId,
    schedule: BackupScheduleId,
) -> Vec<(RunId, String)> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = ops
            .history()
            .page(&HistoryQuery::new(ws, schedule).after(after).limit(2))
            .await
            .unwrap();
        out.extend(page.runs.iter().map(|r| (r.id(), r.run_type().to_owned())));
        match page.next {
            Some(next) => after = Some(next),
            None => return out,
        }
    }
}

/// `(set id, soft-deleted?)` of a schedule's sets, as stored.
async fn stored_sets(db: &TestDb, schedule: BackupScheduleId) -> Vec<(i64, bool)> {
    rows(
        db,
        &format!(
            "SELECT id, deleted_at IS NOT NULL FROM backup_sets \
             WHERE backup_schedule_id = {} ORDER BY id",
            schedule.get()
        ),
    )
    .await
    .iter()
    .map(|r| {
        (
            r.try_get_by_index::<i64>(0).unwrap(),
            r.try_get_by_index::<bool>(1).unwrap(),
        )
    })
    .collect()
}

fn performed<R: std::fmt::Debug>(execution: Execution<R>) -> (OperationRun, R) {
    match execution {
        Execution::Performed { run, report } => (run, report),
        other => panic!("expected the operation to be performed, got {other:?}"),
    }
}

async fn schedule_life(db: TestDb) {
    let w = world(db).await;
    let schedule = w
        .store
        .create_backup_schedule(w.ws, w.tenant, "Nightly", 2)
        .await
        .unwrap();
    let ops = ScheduleOperations::new(
        w.service.clone(),
        SchedulePorts::from_store(Arc::new(w.store.clone())),
    );
    let request = |at: DateTime<Utc>| ScheduleRequest::new(w.ws, schedule.id, at);
    let ok = source_fn(|_, _| Ok(BackupContent::items(40)));
    let partial = source_fn(|_, _| {
        Ok(BackupContent::items(39).with_failure(Failure::new(
            code("item_unreadable"),
            "policy p-7 could not be exported",
        )))
    });
    let failing = source_fn(|_, _| {
        Err(BackupSourceError::new(
            "tenant unreachable: login with password=hunter2 refused",
        ))
    });

    // Day 1 and 2: two good backups; then a purge that finds nothing to do yet.
    w.clock.set(day(1) + Duration::minutes(1));
    let (b1, r) = performed(ops.run_backup(&request(day(1)), &ok).await.unwrap());
    let s1 = r.set.id;
    w.clock.set(day(2) + Duration::minutes(1));
    let (b2, r) = performed(ops.run_backup(&request(day(2)), &ok).await.unwrap());
    let s2 = r.set.id;
    let policy = PurgePolicy::new(Duration::days(7), Duration::days(2));
    w.clock.set(day(2) + Duration::hours(1));
    let (p0, report) = performed(
        ops.purge(&request(day(2)), policy, Mode::Apply)
            .await
            .unwrap(),
    );
    assert_eq!((report.sets_purged, report.runs_purged), (0, 0));

    // Day 3: the backup fails (the source cannot reach the tenant): no set.
    w.clock.set(day(3) + Duration::minutes(1));
    let error = ops
        .run_backup(&request(day(3)), &failing)
        .await
        .unwrap_err();
    let b3 = match &error {
        ScheduleError::OperationFailed { run, failure, .. } => {
            assert_eq!(failure.code().as_str(), "backup_failed");
            run.id()
        }
        other => panic!("expected the backup to fail, got {other:?}"),
    };
    let stored_b3 = w.stored(b3).await;
    assert_eq!(
        (stored_b3.status.as_str(), stored_b3.outcome.as_str()),
        ("completed", "failed")
    );
    assert!(stored_b3.context.get("backup_set_id").is_none());
    assert_eq!(stored_b3.context["backup_schedule_id"], schedule.id.get());
    assert_eq!(stored_b3.failure_summary[0]["code"], "backup_failed");
    assert!(!stored_b3.failure_text.contains("hunter2"));

    // Retention with exactly keep-last successful runs deletes nothing.
    w.clock.set(day(3) + Duration::hours(1));
    let (r1, report) = performed(
        ops.apply_retention(&request(day(3)), Mode::Apply)
            .await
            .unwrap(),
    );
    assert_eq!(report.sets_soft_deleted, 0);
    assert_eq!(
        report.plan.kept,
        vec![
            RunSet {
                set: s2,
                run: b2.id()
            },
            RunSet {
                set: s1,
                run: b1.id()
            }
        ]
    );

    // Day 4 and 5: a good backup and a partial one.
    w.clock.set(day(4) + Duration::minutes(1));
    let (b4, r) = performed(ops.run_backup(&request(day(4)), &ok).await.unwrap());
    let s4 = r.set.id;
    w.clock.set(day(5) + Duration::minutes(1));
    let (b5, r) = performed(ops.run_backup(&request(day(5)), &partial).await.unwrap());
    let s5 = r.set.id;
    assert_eq!(b5.outcome(), RunOutcome::PartiallySucceeded);
    assert_eq!(
        w.stored(b5.id()).await.context["backup_set_id"],
        s5.get(),
        "the run records its set"
    );
    assert_eq!(
        w.stored(b4.id()).await.summary_counts,
        json!({"sets_created": 1, "items_backed_up": 40})
    );
    // The scheduler firing day 4 again redoes nothing.
    let sets_before = stored_sets(&w.db, schedule.id).await;
    match ops.run_backup(&request(day(4)), &ok).await.unwrap() {
        Execution::AlreadyCompleted(run) => assert_eq!(run.id(), b4.id()),
        other => panic!("expected the day-4 backup to be done already, got {other:?}"),
    }
    assert_eq!(stored_sets(&w.db, schedule.id).await, sets_before);

    // Retention keeps the sets of the newest 2 successful runs (b5, b4) and soft-deletes the
    // older ones (b2, b1); the failed b3 has no set and is simply not counted. The plan is shown
    // first (dry run: nothing recorded, nothing changed).
    w.clock.set(day(5) + Duration::hours(1));
    let runs_before = w.count("SELECT COUNT(*) FROM operation_runs").await;
    let dry = match ops
        .apply_retention(&request(day(5)), Mode::DryRun)
        .await
        .unwrap()
    {
        Execution::DryRun(dry) => dry,
        other => panic!("expected a dry run, got {other:?}"),
    };
    assert_eq!(
        w.count("SELECT COUNT(*) FROM operation_runs").await,
        runs_before
    );
    assert!(
        stored_sets(&w.db, schedule.id)
            .await
            .iter()
            .all(|(_, deleted)| !deleted)
    );
    let printed = dry.plan.to_string();
    assert!(printed.contains("soft-delete 2 sets"), "{printed}");

    let (r2, report) = performed(
        ops.apply_retention(&request(day(5)), Mode::Apply)
            .await
            .unwrap(),
    );
    assert_eq!(report.plan, dry.plan);
    assert_eq!(report.plan.successful_runs, 4);
    assert_eq!(
        report.plan.kept,
        vec![
            RunSet {
                set: s5,
                run: b5.id()
            },
            RunSet {
                set: s4,
                run: b4.id()
            }
        ]
    );
    assert_eq!(
        report.plan.to_soft_delete,
        vec![
            RunSet {
                set: s2,
                run: b2.id()
            },
            RunSet {
                set: s1,
                run: b1.id()
            }
        ]
    );
    assert!(report.plan.left.is_empty());
    assert_eq!(report.sets_soft_deleted, 2);
    assert_eq!(
        stored_sets(&w.db, schedule.id).await,
        vec![
            (s1.get(), true),
            (s2.get(), true),
            (s4.get(), false),
            (s5.get(), false)
        ]
    );
    assert_eq!(
        w.stored(r2.id()).await.summary_counts,
        json!({"sets_kept": 2, "sets_soft_deleted": 2})
    );

    // Before the grace period has passed, a purge would remove no set.
    w.clock.set(day(5) + Duration::days(6));
    let early = match ops
        .purge(&request(day(11)), policy, Mode::DryRun)
        .await
        .unwrap()
    {
        Execution::DryRun(early) => early,
        other => panic!("expected a dry run, got {other:?}"),
    };
    assert_eq!(early.sets_purged, 0);

    // After the grace period: the soft-deleted sets go for good, and the history older than
    // the oldest run whose set still exists (b4), except the newest run of each type.
    w.clock.set(day(5) + Duration::days(7) + Duration::hours(2));
    let (p1, report) = performed(
        ops.purge(&request(day(12)), policy, Mode::Apply)
            .await
            .unwrap(),
    );
    assert_eq!(report.sets_purged, 2);
    assert_eq!(report.runs_purged, 5, "{}", report.plan);
    assert_eq!(
        report.plan.held_back_by,
        Some(RunSet {
            set: s4,
            run: b4.id()
        })
    );
    assert_eq!(
        stored_sets(&w.db, schedule.id).await,
        vec![(s4.get(), false), (s5.get(), false)]
    );
    let stored_p1 = w.stored(p1.id()).await;
    assert_eq!(
        (stored_p1.status.as_str(), stored_p1.outcome.as_str()),
        ("completed", "succeeded")
    );
    assert_eq!(
        stored_p1.summary_counts,
        json!({"sets_purged": 2, "runs_purged": 5})
    );
    for gone in [b1.id(), b2.id(), p0.id(), b3, r1.id()] {
        assert!(!run_exists(&w.db, gone).await, "run {gone} was not purged");
    }

    // The history now: exactly these runs, newest first.
    let history = history_of(&ops, w.ws, schedule.id).await;
    assert_eq!(
        history,
        vec![
            (p1.id(), "backup_schedule_purge".to_owned()),
            (r2.id(), "backup_schedule_retention".to_owned()),
            (b5.id(), "backup_schedule_run".to_owned()),
            (b4.id(), "backup_schedule_run".to_owned()),
        ]
    );
    let latest = ops.history().latest(w.ws, schedule.id).await.unwrap();
    assert_eq!(latest.backup.map(|r| r.id()), Some(b5.id()));
    assert_eq!(latest.retention.map(|r| r.id()), Some(r2.id()));
    assert_eq!(latest.purge.map(|r| r.id()), Some(p1.id()));
    assert_eq!(latest.successful_backup.map(|r| r.id()), Some(b5.id()));

    // The tenant is offboarded: the host deletes the remaining sets. Once they are past the
    // grace period, a purge removes them and every run older than the window — except the
    // newest run of each type, which survives although it is older than the window and its
    // set is gone.
    w.clock.set(day(13));
    assert_eq!(
        w.store
            .soft_delete_sets(schedule.id, &[s4, s5], day(13))
            .await
            .unwrap(),
        2
    );
    w.clock.set(day(20) + Duration::hours(1));
    let (p2, report) = performed(
        ops.purge(&request(day(20)), policy, Mode::Apply)
            .await
            .unwrap(),
    );
    assert_eq!(report.plan.held_back_by, None);
    assert_eq!(report.sets_purged, 2);
    assert_eq!(report.runs_purged, 2, "{}", report.plan);
    assert!(stored_sets(&w.db, schedule.id).await.is_empty());
    for gone in [b4.id(), p1.id()] {
        assert!(!run_exists(&w.db, gone).await, "run {gone} was not purged");
    }
    assert!(b5.created_at() < report.plan.window_cutoff);
    assert!(r2.created_at() < report.plan.window_cutoff);
    assert_eq!(
        history_of(&ops, w.ws, schedule.id).await,
        vec![
            (p2.id(), "backup_schedule_purge".to_owned()),
            (r2.id(), "backup_schedule_retention".to_owned()),
            (b5.id(), "backup_schedule_run".to_owned()),
        ]
    );
    let b5_now = w.stored(b5.id()).await;
    assert_eq!(b5_now.outcome, "partially_succeeded");
    assert_eq!(b5_now.context["backup_set_id"], s5.get());
}

// ---------------------------------------------------------------------------------------------
// 5. Monitoring.

#[derive(Debug, Clone)]
struct Expected {
    id: RunId,
    ws: WorkspaceId,
    run_type: &'static str,
    status: RunStatus,
    outcome: RunOutcome,
    tenant: TenantId,
    created_at: DateTime<Utc>,
}

/// Every page of a list for a viewer; checks the page contract on the way.
async fn walk(
    w: &World,
    viewer: UserId,
    ws: WorkspaceId,
    filter: &RunFilter,
    limit: u32,
) -> Vec<RunId> {
    let mut ids = Vec::new();
    let mut after: Option<RunCursor> = None;
    loop {
        let query = RunListQuery {
            workspace_id: ws,
            filter: filter.clone(),
            after,
            limit,
        };
        let page = w.service.list_runs(viewer, &query).await.unwrap();
        assert!(page.runs.len() <= limit as usize);
        ids.extend(page.runs.iter().map(OperationRun::id));
        match page.next {
            Some(next) => {
                assert_eq!(
                    page.runs.len(),
                    limit as usize,
                    "only the last page is short"
                );
                assert_eq!(Some(next.0), page.runs.last().map(OperationRun::id));
                // Clients get the cursor as text.
                after = Some(RunCursor::decode(&next.encode()).unwrap());
            }
            None => return ids,
        }
    }
}

/// What a filter selects, by the product's rules (`created_from` inclusive, `created_before`
/// exclusive).
fn selects(filter: &RunFilter, e: &Expected) -> bool {
    filter.run_type.as_deref().is_none_or(|t| t == e.run_type)
        && filter.status.is_none_or(|s| s == e.status)
        && filter.outcome.is_none_or(|o| o == e.outcome)
        && filter.tenant_id.is_none_or(|t| t == e.tenant)
        && filter.created_from.is_none_or(|from| e.created_at >= from)
        && filter
            .created_before
            .is_none_or(|before| e.created_at < before)
}

fn newest_first(model: &[Expected], keep: impl Fn(&Expected) -> bool) -> Vec<RunId> {
    let mut ids: Vec<RunId> = model.iter().filter(|e| keep(e)).map(|e| e.id).collect();
    ids.sort_by(|a, b| b.cmp(a));
    ids
}

async fn monitoring(db: TestDb) {
    let w = world(db).await;
    let ws_a = w.ws;
    let t1 = w.tenant;
    let t2 = w
        .store
        .create_tenant(ws_a, "fabrikam.example")
        .await
        .unwrap();
    let ws_b = w.store.create_workspace("Northwind").await.unwrap();
    let tb = w
        .store
        .create_tenant(ws_b, "northwind.example")
        .await
        .unwrap();
    let viewer = UserId::new(100);
    let no_view = UserId::new(200);
    let stranger = UserId::new(300);
    w.store.add_member(ws_a, viewer, true, false).await.unwrap();
    w.store.add_member(ws_b, viewer, true, false).await.unwrap();
    w.store
        .add_member(ws_a, no_view, false, true)
        .await
        .unwrap();
    w.store
        .add_member(ws_b, stranger, true, true)
        .await
        .unwrap();

    // 21 runs in workspace A of every type, status, outcome and tenant, an hour apart, with
    // workspace B's runs interleaved.
    let types = ["inventory_sync", "entra_group_sync", "drift_generate"];
    let fates = [
        Fate::Queued,
        Fate::Running,
        Fate::Completed(RunOutcome::Succeeded),
        Fate::Completed(RunOutcome::Failed),
        Fate::Completed(RunOutcome::PartiallySucceeded),
        Fate::QueuedThen(RunOutcome::Cancelled),
    ];
    let mut model: Vec<Expected> = Vec::new();
    for i in 0..21_usize {
        w.clock.advance(Duration::hours(1));
        let tenant = if i % 4 == 3 { t2 } else { t1 };
        let run = w
            .run(
                ws_a,
                tenant,
                types[i % 3],
                json!({"n": i}),
                fates[(i + i / 3) % 6],
            )
            .await;
        model.push(Expected {
            id: run.id(),
            ws: ws_a,
            run_type: types[i % 3],
            status: run.status(),
            outcome: run.outcome(),
            tenant,
            created_at: run.created_at(),
        });
        if i % 5 == 0 {
            let run = w
                .run(
                    ws_b,
                    tb,
                    types[i % 3],
                    json!({"n": i}),
                    fates[(i + i / 3) % 6],
                )
                .await;
            model.push(Expected {
                id: run.id(),
                ws: ws_b,
                run_type: types[i % 3],
                status: run.status(),
                outcome: run.outcome(),
                tenant: tb,
                created_at: run.created_at(),
            });
        }
    }
    let in_a: Vec<Expected> = model.iter().filter(|e| e.ws == ws_a).cloned().collect();
    assert_eq!(in_a.len(), 21);

    // Each filter, every page of 3, against the model.
    let from = in_a[5].created_at;
    let before = in_a[12].created_at;
    let filters = [
        RunFilter::default(),
        RunFilter {
            run_type: Some("entra_group_sync".into()),
            ..RunFilter::default()
        },
        RunFilter {
            status: Some(RunStatus::Running),
            ..RunFilter::default()
        },
        RunFilter {
            status: Some(RunStatus::Queued),
            ..RunFilter::default()
        },
        RunFilter {
            outcome: Some(RunOutcome::Failed),
            ..RunFilter::default()
        },
        RunFilter {
            outcome: Some(RunOutcome::Cancelled),
            ..RunFilter::default()
        },
        RunFilter {
            tenant_id: Some(t2),
            ..RunFilter::default()
        },
        RunFilter {
            created_from: Some(from),
            created_before: Some(before),
            ..RunFilter::default()
        },
        RunFilter {
            run_type: Some("inventory_sync".into()),
            status: Some(RunStatus::Completed),
            tenant_id: Some(t1),
            ..RunFilter::default()
        },
    ];
    for filter in &filters {
        let expected = newest_first(&model, |e| e.ws == ws_a && selects(filter, e));
        assert!(!expected.is_empty(), "{filter:?} selects nothing");
        if filter != &RunFilter::default() {
            assert!(expected.len() < in_a.len(), "{filter:?} filters nothing");
        }
        assert_eq!(
            walk(&w, viewer, ws_a, filter, 3).await,
            expected,
            "{filter:?}"
        );
    }
    assert_eq!(
        walk(&w, viewer, ws_a, &filters[7], 3).await,
        in_a[5..12].iter().rev().map(|e| e.id).collect::<Vec<_>>(),
        "created_from is inclusive, created_before exclusive"
    );
    assert_eq!(
        walk(&w, viewer, ws_b, &RunFilter::default(), 3).await,
        newest_first(&model, |e| e.ws == ws_b)
    );

    // Walking while new runs are inserted between page fetches: no duplicates, no gaps, and
    // the new runs neither appear nor shift the pages.
    for filter in &filters[..2] {
        let expected = newest_first(&model, |e| e.ws == ws_a && selects(filter, e));
        let mut seen: Vec<RunId> = Vec::new();
        let mut after = None;
        let mut inserted = Vec::new();
        loop {
            let query = RunListQuery {
                workspace_id: ws_a,
                filter: filter.clone(),
                after,
                limit: 3,
            };
            let page = w.service.list_runs(viewer, &query).await.unwrap();
            let offset = seen.len();
            let ids: Vec<RunId> = page.runs.iter().map(OperationRun::id).collect();
            assert_eq!(
                ids,
                expected[offset..(offset + 3).min(expected.len())].to_vec(),
                "page at {offset} of {filter:?}"
            );
            seen.extend(ids);
            // A run that matches the filter, newer than everything listed so far.
            w.clock.advance(secs(1));
            let new = w
                .run(
                    ws_a,
                    t1,
                    "entra_group_sync",
                    json!({"inserted": model.len()}),
                    Fate::Queued,
                )
                .await;
            inserted.push(new.id());
            model.push(Expected {
                id: new.id(),
                ws: ws_a,
                run_type: "entra_group_sync",
                status: new.status(),
                outcome: new.outcome(),
                tenant: t1,
                created_at: new.created_at(),
            });
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, expected);
        let unique: BTreeSet<RunId> = seen.iter().copied().collect();
        assert_eq!(unique.len(), seen.len(), "duplicates in {seen:?}");
        assert!(inserted.len() > 2);
        assert!(inserted.iter().all(|id| !seen.contains(id)));
        // A fresh walk sees them.
        let fresh = walk(&w, viewer, ws_a, filter, 3).await;
        assert_eq!(
            fresh,
            newest_first(&model, |e| e.ws == ws_a && selects(filter, e))
        );
    }

    // A single run for a member with the view capability.
    let run_a = in_a[4].id;
    let shown = w.service.show_run(viewer, ws_a, run_a).await.unwrap();
    assert_eq!(shown.id(), run_a);
    assert_eq!(shown.workspace_id(), ws_a);

    let query_a = RunListQuery {
        workspace_id: ws_a,
        filter: RunFilter::default(),
        after: None,
        limit: 3,
    };
    // A non-member: not found, for the list and for a single run.
    let list = w.service.list_runs(stranger, &query_a).await;
    assert!(matches!(list, Err(ServiceError::NotFound)), "{list:?}");
    let show = w.service.show_run(stranger, ws_a, run_a).await;
    assert!(matches!(show, Err(ServiceError::NotFound)), "{show:?}");
    assert_eq!(show.unwrap_err().http_status(), 404);
    // A member without the view capability: forbidden.
    let list = w.service.list_runs(no_view, &query_a).await;
    assert!(matches!(list, Err(ServiceError::Forbidden)), "{list:?}");
    let show = w.service.show_run(no_view, ws_a, run_a).await;
    assert!(matches!(show, Err(ServiceError::Forbidden)), "{show:?}");
    assert_eq!(show.unwrap_err().http_status(), 403);
    // A run of workspace A asked for under workspace B, even by a viewer of both: not found.
    let show = w.service.show_run(viewer, ws_b, run_a).await;
    assert!(matches!(show, Err(ServiceError::NotFound)), "{show:?}");
    let show = w.service.show_run(stranger, ws_b, run_a).await;
    assert!(matches!(show, Err(ServiceError::NotFound)), "{show:?}");
    // A run that does not exist looks the same.
    let missing = RunId::new(in_a.iter().map(|e| e.id.get()).max().unwrap() + 10_000);
    let show = w.service.show_run(viewer, ws_a, missing).await;
    assert!(matches!(show, Err(ServiceError::NotFound)), "{show:?}");
}

// ---------------------------------------------------------------------------------------------
// 6. The stale-run reaper.

async fn stale_runs_are_reaped(db: TestDb) {
    let w = world(db).await;
    let threshold = Duration::minutes(30);
    let identity = |n: i64| json!({"n": n});
    let done = Fate::Completed(RunOutcome::Succeeded);

    // At t0: a run left running, one left queued, one that keeps its heartbeat, and a
    // completed one.
    let stale = w
        .run(w.ws, w.tenant, "inventory_sync", identity(1), Fate::Running)
        .await
        .id();
    let stale_queued = w
        .run(w.ws, w.tenant, "inventory_sync", identity(2), Fate::Queued)
        .await
        .id();
    let beating = w
        .run(w.ws, w.tenant, "inventory_sync", identity(3), Fate::Running)
        .await
        .id();
    let completed = w
        .run(w.ws, w.tenant, "inventory_sync", identity(4), done)
        .await
        .id();

    w.clock.advance(Duration::minutes(20));
    w.service
        .record_progress(beating, &[("items_seen", 5)])
        .await
        .unwrap();
    w.clock.advance(Duration::minutes(5));
    let fresh = w
        .run(
            w.ws,
            w.tenant,
            "entra_group_sync",
            identity(5),
            Fate::Running,
        )
        .await
        .id();

    // Nothing is stale yet at the threshold itself.
    w.clock.set(t0() + threshold);
    let report = w.service.reap_stale(threshold, 100).await.unwrap();
    assert!(report.reaped.is_empty(), "{report:?}");

    let untouched_before = [
        w.stored(beating).await,
        w.stored(fresh).await,
        w.stored(completed).await,
    ];
    let reaped_at = w.clock.set(t0() + threshold + Duration::minutes(1));
    let report = w.service.reap_stale(threshold, 100).await.unwrap();
    let reaped: BTreeSet<RunId> = report.reaped.iter().copied().collect();
    assert_eq!(reaped, BTreeSet::from([stale, stale_queued]));
    assert!(report.lost_races.is_empty());

    for id in [stale, stale_queued] {
        let run = w.stored(id).await;
        assert_eq!(run.status, "completed");
        assert_eq!(run.outcome, "failed");
        assert_eq!(run.completed_at, Some(reaped_at));
        let failures = run.failure_summary.as_array().unwrap();
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0]["code"], "run_stale");
    }
    assert_eq!(w.stored(stale).await.started_at, Some(t0()));
    assert_eq!(w.stored(stale_queued).await.started_at, None);

    let untouched_after = [
        w.stored(beating).await,
        w.stored(fresh).await,
        w.stored(completed).await,
    ];
    assert_eq!(untouched_after, untouched_before);
    assert_eq!(untouched_after[0].status, "running");
    assert_eq!(untouched_after[1].status, "running");
    assert_eq!(untouched_after[2].outcome, "succeeded");

    // A reaped run is final: its worker's late writes are refused and change nothing.
    let late = w
        .service
        .complete(stale, RunOutcome::Succeeded, FailureSummary::new())
        .await;
    assert!(late.is_err(), "{late:?}");
    assert_eq!(w.stored(stale).await.outcome, "failed");

    // Reaping again finds nothing new.
    let again = w.service.reap_stale(threshold, 100).await.unwrap();
    assert!(again.reaped.is_empty(), "{again:?}");
}

on_every_backend!(migrated =>
    inventory_sync_job,
    entra_group_sync_partial_failure,
    drift_generation,
    schedule_life,
    monitoring,
    stale_runs_are_reaped,
);
