//! The port contracts, checked against the SeaORM adapter on every backend (SQLite always,
//! PostgreSQL when `OPRUN_TEST_POSTGRES_URL` is set).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use operation_runs_domain::{
    BackupScheduleId, BackupSetId, CountName, Failure, FailureCode, FailureSummary, IdentityHash,
    MAX_COUNT, Membership, NewOperationRun, OperationRun, RunContext, RunId, RunOutcome, RunStatus,
    RunType, SummaryCounts, TenantId, Transition, UserId, WorkspaceId,
};
use operation_runs_ports::{
    BackupRepository, FindingRepository, HistoryPurgeCriteria, InventoryRepository, NewFinding,
    PortError, Provisioning, RunCursor, RunFilter, RunLifecycle, RunListQuery, RunQueries,
    ScheduleHistoryQuery, ScheduleRunHistory, SeenItem, StartError, StartRefusal,
    WorkspaceDirectory,
};
use operation_runs_sea_orm::SeaOrmStore;
use operation_runs_tests::{Backend, Migrator, TestDb, on_every_backend};
use sea_orm::ConnectionTrait;
use sea_orm_migration::MigratorTrait;
use serde_json::json;
use std::collections::BTreeSet;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 2, 12, 10, 0, 0).unwrap()
}

struct Fixture {
    db: TestDb,
    store: SeaOrmStore,
    ws: WorkspaceId,
    tenant: TenantId,
}

async fn fixture(db: TestDb) -> Fixture {
    let store = SeaOrmStore::from_connection(db.conn.clone());
    let ws = store.create_workspace("Contoso").await.unwrap();
    let tenant = store.create_tenant(ws, "contoso.example").await.unwrap();
    Fixture {
        db,
        store,
        ws,
        tenant,
    }
}

fn new_run(
    ws: WorkspaceId,
    tenant: Option<TenantId>,
    run_type: RunType,
    identity: serde_json::Value,
    created_at: DateTime<Utc>,
) -> NewOperationRun {
    NewOperationRun {
        workspace_id: ws,
        tenant_id: tenant,
        user_id: Some(UserId::new(7)),
        initiator_name: "Ada".into(),
        identity_hash: IdentityHash::compute(ws, tenant, &run_type, &identity).unwrap(),
        run_type,
        summary_counts: SummaryCounts::new(),
        context: RunContext::new(),
        created_at,
    }
}

fn counts(pairs: &[(&str, u64)]) -> SummaryCounts {
    let mut c = SummaryCounts::new();
    for (name, value) in pairs {
        c.add(CountName::parse(name).unwrap(), *value).unwrap();
    }
    c
}

impl Fixture {
    async fn start(&self, new: &NewOperationRun) -> OperationRun {
        self.store.insert_or_get_active(new).await.unwrap().run
    }

    /// A fresh queued inventory sync of the fixture's tenant, unique by `n`.
    async fn queued(&self, n: i64, created_at: DateTime<Utc>) -> OperationRun {
        self.start(&new_run(
            self.ws,
            Some(self.tenant),
            RunType::INVENTORY_SYNC,
            json!({ "n": n }),
            created_at,
        ))
        .await
    }

    async fn begin(&self, run: &OperationRun, now: DateTime<Utc>) -> OperationRun {
        let next = run.next_state(Transition::Begin, now).unwrap();
        self.store
            .transition(run.id(), run.status(), &next, now)
            .await
            .unwrap()
    }

    async fn complete(
        &self,
        run: &OperationRun,
        outcome: RunOutcome,
        now: DateTime<Utc>,
    ) -> OperationRun {
        let run = if run.status() == RunStatus::Queued && outcome.is_successful() {
            self.begin(run, now).await
        } else {
            run.clone()
        };
        let next = run.next_state(Transition::Complete(outcome), now).unwrap();
        self.store
            .transition(run.id(), run.status(), &next, now)
            .await
            .unwrap()
    }

    async fn list_all(&self, filter: RunFilter) -> Vec<RunId> {
        let page = self
            .store
            .list(&RunListQuery {
                workspace_id: self.ws,
                filter,
                after: None,
                limit: 1000,
            })
            .await
            .unwrap();
        assert!(page.next.is_none());
        page.runs.iter().map(OperationRun::id).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Start, get, reuse

async fn start_inserts_then_reuses_until_completed(db: TestDb) {
    let f = fixture(db).await;
    let context = RunContext::new().with_trigger("manual");
    let mut new = new_run(
        f.ws,
        Some(f.tenant),
        RunType::INVENTORY_SYNC,
        json!({"selection": "all"}),
        t0(),
    );
    new.context = context.clone();
    new.summary_counts = counts(&[("total", 4)]);

    let first = f.store.insert_or_get_active(&new).await.unwrap();
    assert!(!first.reused);
    let run = &first.run;
    assert_eq!(run.workspace_id(), f.ws);
    assert_eq!(run.tenant_id(), Some(f.tenant));
    assert_eq!(run.user_id(), Some(UserId::new(7)));
    assert_eq!(run.initiator_name(), "Ada");
    assert_eq!(run.run_type(), "inventory_sync");
    assert_eq!(run.status(), RunStatus::Queued);
    assert_eq!(run.outcome(), RunOutcome::Pending);
    assert_eq!(run.identity_hash(), &new.identity_hash);
    assert_eq!(run.summary_counts(), &counts(&[("total", 4)]));
    assert_eq!(run.context(), &context);
    assert!(run.failure_summary().is_empty());
    assert_eq!((run.started_at(), run.completed_at()), (None, None));
    assert_eq!((run.created_at(), run.updated_at()), (t0(), t0()));
    assert_eq!(f.store.get(run.id()).await.unwrap(), *run);

    let again = f.store.insert_or_get_active(&new).await.unwrap();
    assert!(again.reused);
    assert_eq!(again.run, *run);

    // Still the same run once it is running.
    let running = f.begin(run, t0() + Duration::seconds(1)).await;
    let again = f.store.insert_or_get_active(&new).await.unwrap();
    assert!(again.reused);
    assert_eq!(again.run, running);

    // Completed: the identity may start again, as a new run.
    f.complete(&running, RunOutcome::Succeeded, t0() + Duration::seconds(2))
        .await;
    let next = f.store.insert_or_get_active(&new).await.unwrap();
    assert!(!next.reused);
    assert!(next.run.id() > run.id());
    assert_eq!(next.run.status(), RunStatus::Queued);

    // Another identity, or the same inputs in another workspace, is another run.
    let other = f
        .start(&new_run(
            f.ws,
            Some(f.tenant),
            RunType::INVENTORY_SYNC,
            json!({"selection": "some"}),
            t0(),
        ))
        .await;
    assert_ne!(other.id(), next.run.id());
    let ws2 = f.store.create_workspace("Fabrikam").await.unwrap();
    let mut elsewhere = new.clone();
    elsewhere.workspace_id = ws2;
    elsewhere.tenant_id = None;
    let elsewhere = f.store.insert_or_get_active(&elsewhere).await.unwrap();
    assert!(!elsewhere.reused);
    assert_eq!(elsewhere.run.workspace_id(), ws2);
    assert_eq!(
        f.db.scalar_i64("SELECT COUNT(*) FROM operation_runs").await,
        Some(4)
    );
}

/// A service may open its pool before the migrations finish (or run them through that pool).
/// SQLite connections keep the schema they last loaded, so starting a run must not depend on a
/// connection having seen the active-identity index being created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_opened_before_the_cutover_can_start_runs() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(db) = TestDb::new(backend).await else {
            continue;
        };
        Migrator::up(&db.conn, Some(1)).await.unwrap();
        let early = db.connect_again().await;
        early
            .execute_unprepared("SELECT count(*) FROM operation_runs")
            .await
            .unwrap();
        Migrator::up(&db.conn, None).await.unwrap();

        let admin = SeaOrmStore::from_connection(db.conn.clone());
        let ws = admin.create_workspace("Contoso").await.unwrap();
        let early = SeaOrmStore::from_connection(early);
        let new = new_run(ws, None, RunType::DRIFT_GENERATE, json!({}), t0());
        let first = early.insert_or_get_active(&new).await;
        assert!(
            matches!(&first, Ok(s) if !s.reused),
            "{backend:?}: {first:?}"
        );
        let second = early.insert_or_get_active(&new).await.unwrap();
        assert!(second.reused, "{backend:?}");
        // A tenant's run goes through the insert that checks the tenant in the same statement.
        let tenant = admin.create_tenant(ws, "contoso.example").await.unwrap();
        let new = new_run(ws, Some(tenant), RunType::INVENTORY_SYNC, json!({}), t0());
        let first = early.insert_or_get_active(&new).await;
        assert!(
            matches!(&first, Ok(s) if !s.reused && s.run.tenant_id() == Some(tenant)),
            "{backend:?}: {first:?}"
        );
        let second = early.insert_or_get_active(&new).await.unwrap();
        assert!(second.reused, "{backend:?}");
        early.connection().clone().close().await.unwrap();
    }
}

async fn start_with_a_missing_workspace_or_tenant_is_refused_with_the_reason(db: TestDb) {
    let f = fixture(db).await;
    let missing_ws = new_run(
        WorkspaceId::new(999_999),
        None,
        RunType::INVENTORY_SYNC,
        json!({}),
        t0(),
    );
    let r = f.store.insert_or_get_active(&missing_ws).await;
    assert!(
        matches!(r, Err(StartError::Refused(StartRefusal::UnknownWorkspace(ws))) if ws == WorkspaceId::new(999_999)),
        "{r:?}"
    );
    let missing_tenant = new_run(
        f.ws,
        Some(TenantId::new(999_999)),
        RunType::INVENTORY_SYNC,
        json!({}),
        t0(),
    );
    let r = f.store.insert_or_get_active(&missing_tenant).await;
    assert!(
        matches!(r, Err(StartError::Refused(StartRefusal::TenantNotInWorkspace { tenant, workspace }))
            if tenant == TenantId::new(999_999) && workspace == f.ws),
        "{r:?}"
    );
    assert_eq!(
        f.db.scalar_i64("SELECT COUNT(*) FROM operation_runs").await,
        Some(0)
    );
}

/// The store, not its caller, enforces that a run's tenant belongs to its workspace: a start
/// naming another workspace's tenant is refused, saying so, and writes nothing, also once that tenant
/// has runs of its own, which stay as they are.
async fn start_with_a_tenant_of_another_workspace_is_refused(db: TestDb) {
    let f = fixture(db).await;
    let ws2 = f.store.create_workspace("Fabrikam").await.unwrap();
    let tenant2 = f
        .store
        .create_tenant(ws2, "fabrikam.example")
        .await
        .unwrap();
    let count = || f.db.scalar_i64("SELECT COUNT(*) FROM operation_runs");

    // Workspace 1 with workspace 2's tenant, on an empty table and then again.
    let foreign = new_run(
        f.ws,
        Some(tenant2),
        RunType::INVENTORY_SYNC,
        json!({"selection": "all"}),
        t0(),
    );
    for _ in 0..2 {
        let r = f.store.insert_or_get_active(&foreign).await;
        assert!(
            matches!(r, Err(StartError::Refused(StartRefusal::TenantNotInWorkspace { tenant, workspace }))
                if tenant == tenant2 && workspace == f.ws),
            "{r:?}"
        );
    }
    assert_eq!(count().await, Some(0));

    // The tenant's own start succeeds; the foreign start is still refused, and does not reuse
    // that run (other workspace, other identity).
    let own = new_run(
        ws2,
        Some(tenant2),
        RunType::INVENTORY_SYNC,
        json!({"selection": "all"}),
        t0(),
    );
    let started = f.store.insert_or_get_active(&own).await.unwrap();
    assert!(!started.reused);
    assert_eq!(
        (started.run.workspace_id(), started.run.tenant_id()),
        (ws2, Some(tenant2))
    );
    let r = f.store.insert_or_get_active(&foreign).await;
    assert!(
        matches!(
            r,
            Err(StartError::Refused(
                StartRefusal::TenantNotInWorkspace { .. }
            ))
        ),
        "{r:?}"
    );

    assert_eq!(count().await, Some(1));
    assert_eq!(
        f.db.scalar_i64(&format!(
            "SELECT COUNT(*) FROM operation_runs WHERE workspace_id = {}",
            f.ws.get()
        ))
        .await,
        Some(0)
    );
    assert_eq!(f.store.get(started.run.id()).await.unwrap(), started.run);

    // The happy path is unchanged: the workspace's own tenant starts, then reuses.
    let first = f
        .store
        .insert_or_get_active(&new_run(
            f.ws,
            Some(f.tenant),
            RunType::INVENTORY_SYNC,
            json!({"selection": "all"}),
            t0(),
        ))
        .await
        .unwrap();
    assert!(!first.reused);
    assert_eq!(first.run.tenant_id(), Some(f.tenant));
    let again = f
        .store
        .insert_or_get_active(&new_run(
            f.ws,
            Some(f.tenant),
            RunType::INVENTORY_SYNC,
            json!({"selection": "all"}),
            t0(),
        ))
        .await
        .unwrap();
    assert!(again.reused);
    assert_eq!(again.run.id(), first.run.id());
    assert_eq!(count().await, Some(2));
}

async fn get_of_a_missing_run_is_not_found(db: TestDb) {
    let f = fixture(db).await;
    assert!(matches!(
        f.store.get(RunId::new(424_242)).await,
        Err(PortError::NotFound)
    ));
}

// ---------------------------------------------------------------------------------------------
// Transitions

async fn transitions_are_compare_and_set(db: TestDb) {
    let f = fixture(db).await;
    let run = f.queued(1, t0()).await;
    let t1 = t0() + Duration::milliseconds(1500);
    let begin = run.next_state(Transition::Begin, t1).unwrap();
    let running = f
        .store
        .transition(run.id(), RunStatus::Queued, &begin, t1)
        .await
        .unwrap();
    assert_eq!(running.status(), RunStatus::Running);
    assert_eq!(running.started_at(), Some(t1));
    assert_eq!(running.updated_at(), t1);
    assert_eq!(f.store.get(run.id()).await.unwrap(), running);

    // The same CAS again: the run is no longer queued, nothing is written.
    let late = t0() + Duration::seconds(9);
    let again = f
        .store
        .transition(run.id(), RunStatus::Queued, &begin, late)
        .await;
    assert!(matches!(again, Err(PortError::Conflict(_))), "{again:?}");
    assert_eq!(f.store.get(run.id()).await.unwrap(), running);

    let t2 = t0() + Duration::seconds(3);
    let mut done = running
        .next_state(Transition::Complete(RunOutcome::Failed), t2)
        .unwrap();
    done.failure_summary = FailureSummary::single(Failure::new(
        FailureCode::parse("graph_error").unwrap(),
        "Graph said no",
    ));
    let completed = f
        .store
        .transition(run.id(), RunStatus::Running, &done, t2)
        .await
        .unwrap();
    assert_eq!(completed.status(), RunStatus::Completed);
    assert_eq!(completed.outcome(), RunOutcome::Failed);
    assert_eq!(completed.completed_at(), Some(t2));
    assert_eq!(completed.started_at(), Some(t1));
    assert_eq!(completed.failure_summary(), &done.failure_summary);
    assert_eq!(f.store.get(run.id()).await.unwrap(), completed);

    // A late writer (a reaper) cannot overwrite the completed run.
    let reap = running
        .next_state(Transition::Complete(RunOutcome::Cancelled), late)
        .unwrap();
    for expected in [RunStatus::Running, RunStatus::Queued] {
        let r = f.store.transition(run.id(), expected, &reap, late).await;
        assert!(matches!(r, Err(PortError::Conflict(_))), "{r:?}");
    }
    assert_eq!(f.store.get(run.id()).await.unwrap(), completed);

    assert!(matches!(
        f.store
            .transition(RunId::new(424_242), RunStatus::Queued, &begin, t1)
            .await,
        Err(PortError::NotFound)
    ));
}

// ---------------------------------------------------------------------------------------------
// Counts and context

async fn counts_add_up_and_bump_the_heartbeat_only_while_active(db: TestDb) {
    let f = fixture(db).await;
    let run = f.queued(1, t0()).await;
    let t1 = t0() + Duration::seconds(1);
    let r = f
        .store
        .increment_counts(run.id(), &counts(&[("total", 3), ("processed", 1)]), t1)
        .await
        .unwrap();
    assert_eq!(
        r.summary_counts(),
        &counts(&[("total", 3), ("processed", 1)])
    );
    assert_eq!(r.updated_at(), t1);
    let running = f.begin(&r, t1).await;
    let t2 = t0() + Duration::seconds(2);
    let r = f
        .store
        .increment_counts(run.id(), &counts(&[("total", 2), ("failed", 4)]), t2)
        .await
        .unwrap();
    assert_eq!(
        r.summary_counts(),
        &counts(&[("total", 5), ("processed", 1), ("failed", 4)])
    );
    assert_eq!(r.status(), RunStatus::Running);
    assert_eq!(r.started_at(), running.started_at());
    assert_eq!(f.store.get(run.id()).await.unwrap(), r);

    // An empty delta is a pure heartbeat.
    let t3 = t0() + Duration::seconds(3);
    let beat = f
        .store
        .increment_counts(run.id(), &SummaryCounts::new(), t3)
        .await
        .unwrap();
    assert_eq!(beat.updated_at(), t3);
    assert_eq!(beat.summary_counts(), r.summary_counts());

    let done = f.complete(&beat, RunOutcome::Succeeded, t3).await;
    let late = f
        .store
        .increment_counts(
            run.id(),
            &counts(&[("total", 1)]),
            t3 + Duration::seconds(1),
        )
        .await;
    assert!(matches!(late, Err(PortError::Conflict(_))), "{late:?}");
    assert_eq!(f.store.get(run.id()).await.unwrap(), done);

    assert!(matches!(
        f.store
            .increment_counts(RunId::new(424_242), &counts(&[("total", 1)]), t3)
            .await,
        Err(PortError::NotFound)
    ));
}

async fn count_overflow_writes_nothing(db: TestDb) {
    let f = fixture(db).await;
    let run = f.queued(1, t0()).await;
    let t1 = t0() + Duration::seconds(1);
    f.store
        .increment_counts(run.id(), &counts(&[("total", MAX_COUNT - 1)]), t1)
        .await
        .unwrap();
    let at_max = f
        .store
        .increment_counts(run.id(), &counts(&[("total", 1)]), t1)
        .await
        .unwrap();
    assert_eq!(at_max.summary_counts().get_str("total"), MAX_COUNT);

    let t2 = t0() + Duration::seconds(2);
    let over = f
        .store
        .increment_counts(run.id(), &counts(&[("total", 1)]), t2)
        .await;
    assert!(
        matches!(&over, Err(PortError::CountOverflow(name)) if name == "total"),
        "{over:?}"
    );
    // Several counts at once: all or nothing.
    let over = f
        .store
        .increment_counts(run.id(), &counts(&[("processed", 5), ("total", 1)]), t2)
        .await;
    assert!(
        matches!(&over, Err(PortError::CountOverflow(name)) if name == "total"),
        "{over:?}"
    );
    let stored = f.store.get(run.id()).await.unwrap();
    assert_eq!(stored, at_max, "nothing written, not even the heartbeat");

    // A big delta on a fresh count is fine up to the maximum.
    let r = f
        .store
        .increment_counts(run.id(), &counts(&[("processed", MAX_COUNT)]), t2)
        .await
        .unwrap();
    assert_eq!(r.summary_counts().get_str("processed"), MAX_COUNT);
}

async fn completion_with_counts_is_all_or_nothing(db: TestDb) {
    let f = fixture(db).await;
    let run = f.queued(1, t0()).await;
    let t1 = t0() + Duration::seconds(1);
    let running = f.begin(&run, t1).await;
    f.store
        .increment_counts(run.id(), &counts(&[("total", 3)]), t1)
        .await
        .unwrap();

    let t2 = t0() + Duration::seconds(2);
    let mut done = running
        .next_state(Transition::Complete(RunOutcome::PartiallySucceeded), t2)
        .unwrap();
    done.failure_summary = FailureSummary::single(Failure::new(
        FailureCode::parse("device_unreachable").unwrap(),
        "device 12 did not answer",
    ));

    // A wrong expected status writes neither the state nor the counts.
    let stale = f.store.get(run.id()).await.unwrap();
    let wrong = f
        .store
        .transition_with_counts(
            run.id(),
            RunStatus::Queued,
            &done,
            &counts(&[("total", 1)]),
            t2,
        )
        .await;
    assert!(matches!(wrong, Err(PortError::Conflict(_))), "{wrong:?}");
    assert_eq!(f.store.get(run.id()).await.unwrap(), stale);

    // An overflowing count writes neither either: the run stays running.
    f.store
        .increment_counts(run.id(), &counts(&[("failed", MAX_COUNT)]), t1)
        .await
        .unwrap();
    let before = f.store.get(run.id()).await.unwrap();
    let over = f
        .store
        .transition_with_counts(
            run.id(),
            RunStatus::Running,
            &done,
            &counts(&[("total", 1), ("failed", 1)]),
            t2,
        )
        .await;
    assert!(
        matches!(&over, Err(PortError::CountOverflow(name)) if name == "failed"),
        "{over:?}"
    );
    assert_eq!(f.store.get(run.id()).await.unwrap(), before);
    assert_eq!(before.status(), RunStatus::Running);

    // Both at once.
    let completed = f
        .store
        .transition_with_counts(
            run.id(),
            RunStatus::Running,
            &done,
            &counts(&[("total", 2), ("processed", 5)]),
            t2,
        )
        .await
        .unwrap();
    assert_eq!(completed.status(), RunStatus::Completed);
    assert_eq!(completed.outcome(), RunOutcome::PartiallySucceeded);
    assert_eq!(completed.completed_at(), Some(t2));
    assert_eq!(completed.started_at(), Some(t1));
    assert_eq!(completed.updated_at(), t2);
    assert_eq!(completed.failure_summary(), &done.failure_summary);
    assert_eq!(
        completed.summary_counts(),
        &counts(&[("total", 5), ("processed", 5), ("failed", MAX_COUNT)])
    );
    assert_eq!(f.store.get(run.id()).await.unwrap(), completed);

    // Completed is final, counts included.
    let late = f
        .store
        .transition_with_counts(
            run.id(),
            RunStatus::Running,
            &done,
            &counts(&[("total", 1)]),
            t2 + Duration::seconds(1),
        )
        .await;
    assert!(matches!(late, Err(PortError::Conflict(_))), "{late:?}");
    assert_eq!(f.store.get(run.id()).await.unwrap(), completed);

    // An empty delta is a plain transition, here of a queued run to cancelled.
    let queued = f.queued(2, t0()).await;
    let cancel = queued
        .next_state(Transition::Complete(RunOutcome::Cancelled), t2)
        .unwrap();
    let cancelled = f
        .store
        .transition_with_counts(
            queued.id(),
            RunStatus::Queued,
            &cancel,
            &SummaryCounts::new(),
            t2,
        )
        .await
        .unwrap();
    assert_eq!(cancelled.outcome(), RunOutcome::Cancelled);
    assert!(cancelled.summary_counts().is_empty());

    assert!(matches!(
        f.store
            .transition_with_counts(
                RunId::new(424_242),
                RunStatus::Running,
                &done,
                &counts(&[("total", 1)]),
                t2
            )
            .await,
        Err(PortError::NotFound)
    ));
}

async fn context_merges_top_level_keys_while_active(db: TestDb) {
    let f = fixture(db).await;
    let mut new = new_run(
        f.ws,
        Some(f.tenant),
        RunType::BACKUP_SCHEDULE_RUN,
        json!({}),
        t0(),
    );
    new.context = RunContext::from_json(json!({
        "backup_schedule_id": 5, "trigger": "schedule", "nested": {"a": 1, "b": 2}
    }))
    .unwrap();
    let run = f.start(&new).await;
    let f_counts = f
        .store
        .increment_counts(run.id(), &counts(&[("total", 2)]), t0())
        .await
        .unwrap();
    let t1 = t0() + Duration::seconds(1);
    let patch = RunContext::from_json(json!({
        "backup_set_id": 42, "nested": {"c": 3}, "note": null, "weird key.with dots": "ok"
    }))
    .unwrap();
    let merged = f.store.merge_context(run.id(), &patch, t1).await.unwrap();
    assert_eq!(
        merged.context().to_json(),
        json!({
            "backup_schedule_id": 5, "trigger": "schedule", "backup_set_id": 42,
            "nested": {"c": 3}, "note": null, "weird key.with dots": "ok"
        })
    );
    assert_eq!(merged.context().backup_set_id(), Some(BackupSetId::new(42)));
    assert_eq!(merged.updated_at(), t1);
    assert_eq!(merged.summary_counts(), f_counts.summary_counts());
    assert_eq!(f.store.get(run.id()).await.unwrap(), merged);

    // The schedule id is still found by the history query after a merge.
    let history = f
        .store
        .schedule_history(&ScheduleHistoryQuery {
            workspace_id: f.ws,
            schedule_id: BackupScheduleId::new(5),
            run_types: RunType::BACKUP_SCHEDULE_TYPES.to_vec(),
            outcomes: vec![],
            after: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(history.runs, vec![merged.clone()]);

    let done = f.complete(&merged, RunOutcome::Cancelled, t1).await;
    let late = f.store.merge_context(run.id(), &patch, t1).await;
    assert!(matches!(late, Err(PortError::Conflict(_))), "{late:?}");
    assert_eq!(f.store.get(run.id()).await.unwrap(), done);
    assert!(matches!(
        f.store.merge_context(RunId::new(424_242), &patch, t1).await,
        Err(PortError::NotFound)
    ));
}

async fn latest_completed_run_of_an_identity(db: TestDb) {
    let f = fixture(db).await;
    let identity = |n: i64| {
        new_run(
            f.ws,
            Some(f.tenant),
            RunType::INVENTORY_SYNC,
            json!({ "n": n }),
            t0(),
        )
    };
    let hash = identity(1).identity_hash;
    let latest = |outcomes: &'static [RunOutcome]| {
        let (store, ws, hash) = (f.store.clone(), f.ws, hash.clone());
        async move {
            store
                .latest_completed_with_identity(ws, &hash, outcomes)
                .await
                .unwrap()
        }
    };
    const SUCCESSFUL: &[RunOutcome] = &[RunOutcome::Succeeded, RunOutcome::PartiallySucceeded];
    assert_eq!(latest(&[]).await, None);

    // Active runs never count.
    let first = f.start(&identity(1)).await;
    assert_eq!(latest(&[]).await, None);
    let first = f
        .complete(&first, RunOutcome::Succeeded, t0() + Duration::seconds(1))
        .await;
    assert_eq!(latest(SUCCESSFUL).await, Some(first.clone()));

    // A newer failure is the newest completed run, but not the newest successful one.
    let second = f.start(&identity(1)).await;
    let second = f
        .complete(&second, RunOutcome::Failed, t0() + Duration::seconds(2))
        .await;
    assert_eq!(latest(&[]).await, Some(second.clone()));
    assert_eq!(latest(SUCCESSFUL).await, Some(first.clone()));
    assert_eq!(latest(&[RunOutcome::Failed]).await, Some(second));
    let active = f.start(&identity(1)).await;
    assert_eq!(latest(SUCCESSFUL).await, Some(first.clone()));
    let third = f
        .complete(
            &active,
            RunOutcome::PartiallySucceeded,
            t0() + Duration::seconds(3),
        )
        .await;
    assert_eq!(latest(SUCCESSFUL).await, Some(third));

    // Other identities, and the same identity hash in another workspace, are other operations.
    let other = f.start(&identity(2)).await;
    f.complete(&other, RunOutcome::Succeeded, t0()).await;
    let ws2 = f.store.create_workspace("Fabrikam").await.unwrap();
    assert_eq!(
        f.store
            .latest_completed_with_identity(ws2, &hash, &[])
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        f.store
            .latest_completed_with_identity(f.ws, &identity(3).identity_hash, &[])
            .await
            .unwrap(),
        None
    );
}

// ---------------------------------------------------------------------------------------------
// Monitoring list

async fn list_filters_and_workspace_scope(db: TestDb) {
    let f = fixture(db).await;
    let tenant2 = f.store.create_tenant(f.ws, "second").await.unwrap();
    let sync_a = f.queued(1, t0()).await;
    let sync_b = f.queued(2, t0() + Duration::hours(1)).await;
    let sync_b = f
        .complete(&sync_b, RunOutcome::Succeeded, t0() + Duration::hours(2))
        .await;
    let groups = f
        .start(&new_run(
            f.ws,
            Some(tenant2),
            RunType::ENTRA_GROUP_SYNC,
            json!({}),
            t0() + Duration::hours(3),
        ))
        .await;
    let groups = f
        .complete(&groups, RunOutcome::Failed, t0() + Duration::hours(4))
        .await;
    let running = f.queued(3, t0() + Duration::days(1)).await;
    let running = f.begin(&running, t0() + Duration::days(1)).await;
    // Another workspace's run is never listed.
    let ws2 = f.store.create_workspace("Fabrikam").await.unwrap();
    f.start(&new_run(
        ws2,
        None,
        RunType::DRIFT_GENERATE,
        json!({}),
        t0(),
    ))
    .await;

    let all = f.list_all(RunFilter::default()).await;
    assert_eq!(
        all,
        vec![running.id(), groups.id(), sync_b.id(), sync_a.id()]
    );
    let by = |filter: RunFilter| f.list_all(filter);
    assert_eq!(
        by(RunFilter {
            run_type: Some("inventory_sync".into()),
            ..Default::default()
        })
        .await,
        vec![running.id(), sync_b.id(), sync_a.id()]
    );
    assert_eq!(
        by(RunFilter {
            status: Some(RunStatus::Completed),
            ..Default::default()
        })
        .await,
        vec![groups.id(), sync_b.id()]
    );
    assert_eq!(
        by(RunFilter {
            outcome: Some(RunOutcome::Failed),
            ..Default::default()
        })
        .await,
        vec![groups.id()]
    );
    assert_eq!(
        by(RunFilter {
            tenant_id: Some(tenant2),
            ..Default::default()
        })
        .await,
        vec![groups.id()]
    );
    // created_from is inclusive, created_before exclusive.
    assert_eq!(
        by(RunFilter {
            created_from: Some(t0() + Duration::hours(1)),
            created_before: Some(t0() + Duration::days(1)),
            ..Default::default()
        })
        .await,
        vec![groups.id(), sync_b.id()]
    );
    assert_eq!(
        by(RunFilter {
            run_type: Some("inventory_sync".into()),
            status: Some(RunStatus::Queued),
            ..Default::default()
        })
        .await,
        vec![sync_a.id()]
    );
    assert!(
        by(RunFilter {
            run_type: Some("nothing_like_this".into()),
            ..Default::default()
        })
        .await
        .is_empty()
    );
    let empty = f
        .store
        .list(&RunListQuery {
            workspace_id: WorkspaceId::new(999_999),
            filter: RunFilter::default(),
            after: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert!(empty.runs.is_empty() && empty.next.is_none());
}

/// Times on SQLite are text: comparisons must still order as times, across fractional seconds,
/// midnight, months and years.
async fn time_filters_compare_as_times(db: TestDb) {
    let f = fixture(db).await;
    let base = Utc.with_ymd_and_hms(2025, 12, 31, 23, 59, 59).unwrap();
    let times = [
        base,
        base + Duration::milliseconds(5),
        base + Duration::milliseconds(500),
        base + Duration::microseconds(500_001),
        base + Duration::seconds(1), // 2026-01-01T00:00:00
        base + Duration::seconds(1) + Duration::microseconds(1),
        base + Duration::days(40),
    ];
    let mut ids = Vec::new();
    for (i, at) in times.iter().enumerate() {
        ids.push(f.queued(i as i64, *at).await.id());
    }
    for (i, at) in times.iter().enumerate() {
        let from = f
            .list_all(RunFilter {
                created_from: Some(*at),
                ..Default::default()
            })
            .await;
        let expected: Vec<RunId> = ids[i..].iter().rev().copied().collect();
        assert_eq!(from, expected, "created_from {at}");
        let before = f
            .list_all(RunFilter {
                created_before: Some(*at),
                ..Default::default()
            })
            .await;
        let expected: Vec<RunId> = ids[..i].iter().rev().copied().collect();
        assert_eq!(before, expected, "created_before {at}");
    }
    // Read back exactly as written (microsecond precision on every backend).
    for (id, at) in ids.iter().zip(times) {
        assert_eq!(f.store.get(*id).await.unwrap().created_at(), at);
    }
}

async fn list_pages_walk_everything_once_even_with_inserts_in_between(db: TestDb) {
    let f = fixture(db).await;
    let mut existing = Vec::new();
    for n in 0..23 {
        existing.push(f.queued(n, t0() + Duration::seconds(n)).await.id());
    }
    let expected: Vec<RunId> = existing.iter().rev().copied().collect();
    let mut seen = Vec::new();
    let mut after = None;
    let mut pages = 0;
    let mut inserted = Vec::new();
    loop {
        let page = f
            .store
            .list(&RunListQuery {
                workspace_id: f.ws,
                filter: RunFilter::default(),
                after,
                limit: 5,
            })
            .await
            .unwrap();
        pages += 1;
        assert!(page.runs.len() <= 5);
        seen.extend(page.runs.iter().map(OperationRun::id));
        // Newer runs arriving meanwhile never shift the pages.
        inserted.push(f.queued(1000 + pages, t0() + Duration::days(1)).await.id());
        match page.next {
            Some(next) => {
                assert_eq!(page.runs.len(), 5);
                assert_eq!(next, RunCursor(page.runs.last().unwrap().id()));
                after = Some(next);
            }
            None => break,
        }
    }
    assert_eq!(pages, 5);
    assert_eq!(seen, expected, "every run once, newest first");

    // An exact multiple of the page size: the last full page says there is no next page.
    let all = f.list_all(RunFilter::default()).await;
    assert_eq!(all.len(), 23 + inserted.len());
    let mut after = None;
    let mut count = 0;
    let mut seen = BTreeSet::new();
    loop {
        let page = f
            .store
            .list(&RunListQuery {
                workspace_id: f.ws,
                filter: RunFilter::default(),
                after,
                limit: 4,
            })
            .await
            .unwrap();
        count += 1;
        for run in &page.runs {
            assert!(seen.insert(run.id()));
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), 28);
    assert_eq!(count, 7, "28 runs in pages of 4 is 7 pages, no empty 8th");
    // Cursors survive their text form.
    let cursor = RunCursor(all[3]);
    assert_eq!(RunCursor::decode(&cursor.encode()), Some(cursor));
}

// ---------------------------------------------------------------------------------------------
// Backup-schedule history

struct HistoryRun {
    id: RunId,
    run_type: RunType,
    outcome: RunOutcome,
}

async fn history_run(
    f: &Fixture,
    (ws, tenant): (WorkspaceId, Option<TenantId>),
    schedule: i64,
    run_type: RunType,
    n: i64,
    created_at: DateTime<Utc>,
    outcome: Option<RunOutcome>,
) -> HistoryRun {
    let mut new = new_run(ws, tenant, run_type.clone(), json!({ "n": n }), created_at);
    new.context = RunContext::new().with_backup_schedule_id(BackupScheduleId::new(schedule));
    let run = f.start(&new).await;
    let run = match outcome {
        Some(o) => f.complete(&run, o, created_at).await,
        None => run,
    };
    HistoryRun {
        id: run.id(),
        run_type,
        outcome: run.outcome(),
    }
}

async fn schedule_history_is_scoped_by_workspace_schedule_type_and_outcome(db: TestDb) {
    let f = fixture(db).await;
    let s1 = f
        .store
        .create_backup_schedule(f.ws, f.tenant, "nightly", 3)
        .await
        .unwrap();
    let s1_id = s1.id.get();
    let types = RunType::BACKUP_SCHEDULE_TYPES;
    let mut mine = Vec::new();
    for n in 0..9 {
        let outcome = match n % 3 {
            0 => Some(RunOutcome::Succeeded),
            1 => Some(RunOutcome::Failed),
            _ => None,
        };
        let at = t0() + Duration::minutes(n);
        mine.push(
            history_run(
                &f,
                (f.ws, Some(f.tenant)),
                s1_id,
                types[(n % 3) as usize].clone(),
                n,
                at,
                outcome,
            )
            .await,
        );
        // Noise: another schedule, another workspace with the same schedule id, and a
        // non-schedule type carrying the same schedule id.
        history_run(
            &f,
            (f.ws, Some(f.tenant)),
            s1_id + 1,
            RunType::BACKUP_SCHEDULE_RUN,
            n,
            at,
            None,
        )
        .await;
        history_run(
            &f,
            (f.ws, Some(f.tenant)),
            s1_id,
            RunType::INVENTORY_SYNC,
            n,
            at,
            None,
        )
        .await;
    }
    let ws2 = f.store.create_workspace("Fabrikam").await.unwrap();
    history_run(
        &f,
        (ws2, None),
        s1_id,
        RunType::BACKUP_SCHEDULE_RUN,
        0,
        t0(),
        None,
    )
    .await;
    let query =
        |run_types: Vec<RunType>, outcomes: Vec<RunOutcome>, after, limit| ScheduleHistoryQuery {
            workspace_id: f.ws,
            schedule_id: s1.id,
            run_types,
            outcomes,
            after,
            limit,
        };
    let ids = |runs: &[&HistoryRun]| runs.iter().rev().map(|r| r.id).collect::<Vec<_>>();

    let page = f
        .store
        .schedule_history(&query(types.to_vec(), vec![], None, 100))
        .await
        .unwrap();
    assert!(page.next.is_none());
    let got: Vec<RunId> = page.runs.iter().map(OperationRun::id).collect();
    assert_eq!(got, ids(&mine.iter().collect::<Vec<_>>()));

    let only_runs: Vec<&HistoryRun> = mine
        .iter()
        .filter(|r| r.run_type == RunType::BACKUP_SCHEDULE_RUN)
        .collect();
    let page = f
        .store
        .schedule_history(&query(
            vec![RunType::BACKUP_SCHEDULE_RUN],
            vec![],
            None,
            100,
        ))
        .await
        .unwrap();
    let got: Vec<RunId> = page.runs.iter().map(OperationRun::id).collect();
    assert_eq!(got, ids(&only_runs));

    let failed_or_pending: Vec<&HistoryRun> = mine
        .iter()
        .filter(|r| matches!(r.outcome, RunOutcome::Failed | RunOutcome::Pending))
        .collect();
    let page = f
        .store
        .schedule_history(&query(
            types.to_vec(),
            vec![RunOutcome::Failed, RunOutcome::Pending],
            None,
            100,
        ))
        .await
        .unwrap();
    let got: Vec<RunId> = page.runs.iter().map(OperationRun::id).collect();
    assert_eq!(got, ids(&failed_or_pending));

    // Keyset pages of 4: 9 runs, then 5, then 1 — with nothing lost or repeated.
    let any_listed = vec![
        RunOutcome::Succeeded,
        RunOutcome::Failed,
        RunOutcome::Pending,
    ];
    let mut after = None;
    let mut walked = Vec::new();
    let mut pages = 0;
    loop {
        let page = f
            .store
            .schedule_history(&query(types.to_vec(), any_listed.clone(), after, 4))
            .await
            .unwrap();
        pages += 1;
        walked.extend(page.runs.iter().map(OperationRun::id));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(walked, ids(&mine.iter().collect::<Vec<_>>()));

    // The other workspace sees only its own run under the same schedule id.
    let other = f
        .store
        .schedule_history(&ScheduleHistoryQuery {
            workspace_id: ws2,
            ..query(types.to_vec(), vec![], None, 100)
        })
        .await
        .unwrap();
    assert_eq!(other.runs.len(), 1);
    assert_eq!(other.runs[0].workspace_id(), ws2);
}

async fn purge_keeps_active_recent_and_newest_of_each_type(db: TestDb) {
    let f = fixture(db).await;
    let schedule = f
        .store
        .create_backup_schedule(f.ws, f.tenant, "nightly", 3)
        .await
        .unwrap();
    let sid = schedule.id.get();
    let cutoff = t0() + Duration::days(10);
    let old = |d: i64| t0() + Duration::days(d);
    let [run, retention, purge] = RunType::BACKUP_SCHEDULE_TYPES;
    let mut expect_deleted = BTreeSet::new();
    let mut expect_kept = BTreeSet::new();
    let mut n = 0;
    let mut make = async |run_type: &RunType, at, outcome| {
        n += 1;
        history_run(
            &f,
            (f.ws, Some(f.tenant)),
            sid,
            run_type.clone(),
            n,
            at,
            outcome,
        )
        .await
        .id
    };
    // Old completed runs of every type: purgeable ...
    for d in 0..4 {
        expect_deleted.insert(make(&run, old(d), Some(RunOutcome::Succeeded)).await);
    }
    expect_deleted.insert(make(&retention, old(1), Some(RunOutcome::Succeeded)).await);
    // ... but an old active run is not,
    expect_kept.insert(make(&run, old(4), None).await);
    // nor is the newest run of a type, even when old and completed,
    expect_kept.insert(make(&retention, old(2), Some(RunOutcome::Failed)).await);
    expect_kept.insert(make(&purge, old(3), Some(RunOutcome::Succeeded)).await);
    // nor anything created at or after the cutoff.
    expect_kept.insert(make(&run, cutoff, Some(RunOutcome::Succeeded)).await);
    expect_kept.insert(make(&run, cutoff + Duration::days(1), Some(RunOutcome::Failed)).await);
    // Other schedules, workspaces and types are never touched.
    let mut untouched = BTreeSet::new();
    untouched.insert(
        history_run(
            &f,
            (f.ws, Some(f.tenant)),
            sid + 1,
            run.clone(),
            100,
            old(0),
            Some(RunOutcome::Succeeded),
        )
        .await
        .id,
    );
    untouched.insert(
        history_run(
            &f,
            (f.ws, Some(f.tenant)),
            sid,
            RunType::INVENTORY_SYNC,
            101,
            old(0),
            Some(RunOutcome::Succeeded),
        )
        .await
        .id,
    );
    let ws2 = f.store.create_workspace("Fabrikam").await.unwrap();
    untouched.insert(
        history_run(
            &f,
            (ws2, None),
            sid,
            run.clone(),
            102,
            old(0),
            Some(RunOutcome::Succeeded),
        )
        .await
        .id,
    );

    let criteria = HistoryPurgeCriteria {
        workspace_id: f.ws,
        schedule_id: schedule.id,
        created_before: cutoff,
    };
    assert_eq!(
        f.store
            .count_purgeable_schedule_history(&criteria)
            .await
            .unwrap(),
        expect_deleted.len() as u64
    );
    assert_eq!(
        f.store.purge_schedule_history(&criteria, 2).await.unwrap(),
        expect_deleted.len() as u64
    );
    for id in &expect_deleted {
        assert!(
            matches!(f.store.get(*id).await, Err(PortError::NotFound)),
            "{id} deleted"
        );
    }
    for id in expect_kept.iter().chain(&untouched) {
        assert!(f.store.get(*id).await.is_ok(), "{id} kept");
    }
    assert_eq!(
        f.store
            .count_purgeable_schedule_history(&criteria)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        f.store.purge_schedule_history(&criteria, 2).await.unwrap(),
        0
    );
}

// ---------------------------------------------------------------------------------------------
// Stale runs

async fn stale_runs_are_active_ones_with_an_old_heartbeat_oldest_first(db: TestDb) {
    let f = fixture(db).await;
    let cutoff = t0() + Duration::hours(1);
    let a = f.queued(1, t0() + Duration::minutes(30)).await;
    let b = f.queued(2, t0()).await;
    let b = f.begin(&b, t0() + Duration::minutes(10)).await;
    let c = f
        .queued(
            3,
            t0() + Duration::minutes(59) + Duration::microseconds(999_999),
        )
        .await;
    // Exactly at the cutoff is not stale; after it neither; completed never.
    f.queued(4, cutoff).await;
    let fresh = f.queued(5, t0()).await;
    f.store
        .increment_counts(
            fresh.id(),
            &SummaryCounts::new(),
            cutoff + Duration::minutes(1),
        )
        .await
        .unwrap();
    let done = f.queued(6, t0()).await;
    f.complete(&done, RunOutcome::Cancelled, t0()).await;

    let stale = f.store.find_stale(cutoff, 10).await.unwrap();
    let ids: Vec<RunId> = stale.iter().map(OperationRun::id).collect();
    assert_eq!(ids, vec![b.id(), a.id(), c.id()]);
    let stale = f.store.find_stale(cutoff, 2).await.unwrap();
    assert_eq!(
        stale.iter().map(OperationRun::id).collect::<Vec<_>>(),
        vec![b.id(), a.id()]
    );
    assert!(f.store.find_stale(t0(), 10).await.unwrap().is_empty());
}

/// What the reaper writes for `run` at `now`.
fn reaped_state(run: &OperationRun, now: DateTime<Utc>) -> operation_runs_domain::RunState {
    let mut next = run
        .next_state(Transition::Complete(RunOutcome::Failed), now)
        .unwrap();
    next.failure_summary = FailureSummary::single(Failure::new(
        FailureCode::parse(FailureCode::RUN_STALE).unwrap(),
        "no heartbeat",
    ));
    next
}

async fn stale_completion_needs_the_status_and_an_old_heartbeat(db: TestDb) {
    let f = fixture(db).await;
    let cutoff = t0() + Duration::hours(1);
    let now = t0() + Duration::hours(2);

    // Found stale, then a heartbeat arrives: the reaper's write is refused, nothing written.
    let alive = f.queued(1, t0()).await;
    let alive = f.begin(&alive, t0()).await;
    let next = reaped_state(&alive, now);
    let beat = f
        .store
        .increment_counts(
            alive.id(),
            &counts(&[("processed", 1)]),
            cutoff + Duration::minutes(1),
        )
        .await
        .unwrap();
    let refused = f
        .store
        .complete_if_stale(alive.id(), RunStatus::Running, cutoff, &next, now)
        .await;
    assert!(
        matches!(&refused, Err(PortError::Conflict(_))),
        "{refused:?}"
    );
    assert_eq!(f.store.get(alive.id()).await.unwrap(), beat);

    // A context merge is a heartbeat too.
    let merged = f.queued(2, t0()).await;
    let merged = f
        .store
        .merge_context(
            merged.id(),
            &RunContext::new().with_trigger("manual"),
            cutoff + Duration::seconds(1),
        )
        .await
        .unwrap();
    let refused = f
        .store
        .complete_if_stale(
            merged.id(),
            RunStatus::Queued,
            cutoff,
            &reaped_state(&merged, now),
            now,
        )
        .await;
    assert!(
        matches!(&refused, Err(PortError::Conflict(_))),
        "{refused:?}"
    );
    assert_eq!(f.store.get(merged.id()).await.unwrap(), merged);

    // A heartbeat exactly at the cutoff is not older than it (as for `find_stale`).
    let edge = f.queued(3, cutoff).await;
    let refused = f
        .store
        .complete_if_stale(
            edge.id(),
            RunStatus::Queued,
            cutoff,
            &reaped_state(&edge, now),
            now,
        )
        .await;
    assert!(
        matches!(&refused, Err(PortError::Conflict(_))),
        "{refused:?}"
    );
    assert_eq!(f.store.get(edge.id()).await.unwrap(), edge);

    // The status is compared too: a run that started meanwhile is not completed as queued.
    let started = f.queued(4, t0()).await;
    let next = reaped_state(&started, now);
    let started = f.begin(&started, t0()).await;
    let refused = f
        .store
        .complete_if_stale(started.id(), RunStatus::Queued, cutoff, &next, now)
        .await;
    assert!(
        matches!(&refused, Err(PortError::Conflict(_))),
        "{refused:?}"
    );
    assert_eq!(f.store.get(started.id()).await.unwrap(), started);

    // Really stale: completed, heartbeat bumped to `now`.
    let stale = f.queued(5, t0()).await;
    let next = reaped_state(&stale, now);
    let reaped = f
        .store
        .complete_if_stale(stale.id(), RunStatus::Queued, cutoff, &next, now)
        .await
        .unwrap();
    assert_eq!(reaped.status(), RunStatus::Completed);
    assert_eq!(reaped.outcome(), RunOutcome::Failed);
    assert_eq!(reaped.completed_at(), Some(now));
    assert_eq!(reaped.updated_at(), now);
    assert_eq!(reaped.failure_summary(), &next.failure_summary);
    assert_eq!(f.store.get(stale.id()).await.unwrap(), reaped);

    // Completed is final, also for the reaper.
    let again = f
        .store
        .complete_if_stale(
            stale.id(),
            RunStatus::Queued,
            now + Duration::hours(1),
            &next,
            now,
        )
        .await;
    assert!(matches!(&again, Err(PortError::Conflict(_))), "{again:?}");
    assert_eq!(f.store.get(stale.id()).await.unwrap(), reaped);

    assert!(matches!(
        f.store
            .complete_if_stale(RunId::new(424_242), RunStatus::Queued, cutoff, &next, now)
            .await,
        Err(PortError::NotFound)
    ));
}

// ---------------------------------------------------------------------------------------------
// Inventory and findings

fn seen(external_id: &str, name: &str) -> SeenItem {
    SeenItem {
        external_id: external_id.into(),
        kind: "device".into(),
        display_name: name.into(),
    }
}

async fn inventory_upsert_marks_items_with_their_run(db: TestDb) {
    let f = fixture(db).await;
    let run1 = f.queued(1, t0()).await.id();
    let run2 = f.queued(2, t0()).await.id();
    let first = f
        .store
        .upsert_seen(
            f.ws,
            f.tenant,
            &[seen("c", "Charlie"), seen("a", "Alpha"), seen("b", "Bravo")],
            run1,
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(
        first
            .iter()
            .map(|i| i.external_id.as_str())
            .collect::<Vec<_>>(),
        vec!["c", "a", "b"],
        "in the order given"
    );
    assert!(
        first
            .iter()
            .all(|i| i.last_seen_operation_run_id == Some(run1))
    );
    assert!(first.iter().all(|i| i.tenant_id == f.tenant));

    let mut renamed = seen("a", "Alpha 2");
    renamed.kind = "policy".into();
    let second = f
        .store
        .upsert_seen(
            f.ws,
            f.tenant,
            &[
                renamed.clone(),
                seen("d", "Delta"),
                seen("d", "Delta again"),
            ],
            run2,
            t0() + Duration::hours(1),
        )
        .await
        .unwrap();
    assert_eq!(second.len(), 3);
    assert_eq!(second[0].id, first[1].id, "existing item keeps its id");
    assert_eq!(second[0].display_name, "Alpha 2");
    assert_eq!(second[0].kind, "policy");
    assert_eq!(
        second[1], second[2],
        "a repeated item is one row, the last sighting wins"
    );
    assert_eq!(second[1].display_name, "Delta again");

    let items = f.store.list_items(f.tenant).await.unwrap();
    let view: Vec<(&str, Option<RunId>)> = items
        .iter()
        .map(|i| (i.external_id.as_str(), i.last_seen_operation_run_id))
        .collect();
    assert_eq!(
        view,
        vec![
            ("a", Some(run2)),
            ("b", Some(run1)),
            ("c", Some(run1)),
            ("d", Some(run2))
        ]
    );

    // A missing run or tenant: NotFound, and nothing written.
    let missing_run = f
        .store
        .upsert_seen(
            f.ws,
            f.tenant,
            &[seen("e", "Echo")],
            RunId::new(424_242),
            t0(),
        )
        .await;
    assert!(
        matches!(missing_run, Err(PortError::NotFound)),
        "{missing_run:?}"
    );
    let missing_tenant = f
        .store
        .upsert_seen(
            f.ws,
            TenantId::new(424_242),
            &[seen("e", "Echo")],
            run1,
            t0(),
        )
        .await;
    assert!(
        matches!(missing_tenant, Err(PortError::NotFound)),
        "{missing_tenant:?}"
    );
    assert_eq!(f.store.list_items(f.tenant).await.unwrap(), items);
    assert!(
        f.store
            .upsert_seen(f.ws, f.tenant, &[], run1, t0())
            .await
            .unwrap()
            .is_empty()
    );

    // Large syncs span several statements, still in one transaction.
    let many: Vec<SeenItem> = (0..2500)
        .map(|i| seen(&format!("bulk-{i:05}"), "Bulk"))
        .collect();
    let stored = f
        .store
        .upsert_seen(f.ws, f.tenant, &many, run2, t0())
        .await
        .unwrap();
    assert_eq!(stored.len(), 2500);
    assert!(
        stored
            .iter()
            .zip(&many)
            .all(|(s, m)| s.external_id == m.external_id)
    );
    assert_eq!(f.store.list_items(f.tenant).await.unwrap().len(), 2504);
}

async fn findings_are_inserted_all_or_nothing(db: TestDb) {
    let f = fixture(db).await;
    let baseline = f.queued(1, t0()).await;
    f.complete(&baseline, RunOutcome::Succeeded, t0()).await;
    let current = f.queued(2, t0()).await;
    f.complete(&current, RunOutcome::Succeeded, t0()).await;
    let finding = |subject: &str, current_id: RunId| NewFinding {
        workspace_id: f.ws,
        tenant_id: f.tenant,
        baseline_operation_run_id: baseline.id(),
        current_operation_run_id: current_id,
        subject_external_id: subject.into(),
        change: "changed".into(),
        details: json!({"field": "name", "from": "a", "to": subject}),
    };
    let stored = f
        .store
        .insert_findings(
            &[finding("x", current.id()), finding("y", current.id())],
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(stored.len(), 2);
    assert!(stored[0].id < stored[1].id);
    assert_eq!(stored[0].subject_external_id, "x");
    assert_eq!(
        stored[1].details,
        json!({"field": "name", "from": "a", "to": "y"})
    );
    assert_eq!(stored[0].baseline_operation_run_id, Some(baseline.id()));
    assert_eq!(stored[0].current_operation_run_id, Some(current.id()));
    assert_eq!(stored[0].workspace_id, f.ws);
    assert_eq!(f.store.list_findings(f.tenant).await.unwrap(), stored);

    let broken = f
        .store
        .insert_findings(
            &[
                finding("z", current.id()),
                finding("w", RunId::new(424_242)),
            ],
            t0(),
        )
        .await;
    assert!(matches!(broken, Err(PortError::NotFound)), "{broken:?}");
    assert_eq!(
        f.store.list_findings(f.tenant).await.unwrap(),
        stored,
        "nothing written"
    );
    assert!(f.store.insert_findings(&[], t0()).await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Backup sets

async fn backup_sets_soft_delete_and_purge(db: TestDb) {
    let f = fixture(db).await;
    let schedule = f
        .store
        .create_backup_schedule(f.ws, f.tenant, "nightly", 2)
        .await
        .unwrap();
    assert_eq!(schedule.keep_last, 2);
    assert_eq!(schedule.workspace_id, f.ws);
    assert_eq!(schedule.tenant_id, f.tenant);
    assert_eq!(f.store.get_schedule(schedule.id).await.unwrap(), schedule);
    let other = f
        .store
        .create_backup_schedule(f.ws, f.tenant, "weekly", 0)
        .await
        .unwrap();

    let mut sets = Vec::new();
    for d in 0..4 {
        sets.push(
            f.store
                .create_set(
                    schedule.id,
                    &format!("set {d}"),
                    10 + d as u64,
                    t0() + Duration::days(d),
                )
                .await
                .unwrap(),
        );
    }
    let foreign = f
        .store
        .create_set(other.id, "other", 1, t0())
        .await
        .unwrap();
    assert_eq!(sets[1].item_count, 11);
    assert_eq!(sets[1].schedule_id, schedule.id);
    assert_eq!(sets[1].created_at, t0() + Duration::days(1));
    assert_eq!(sets[1].deleted_at, None);

    let listed = f.store.list_sets(schedule.id, false).await.unwrap();
    assert_eq!(
        listed,
        sets.iter().rev().cloned().collect::<Vec<_>>(),
        "newest first"
    );

    // Only the schedule's own, not yet deleted sets change.
    let deleted_at = t0() + Duration::days(5);
    let n = f
        .store
        .soft_delete_sets(
            schedule.id,
            &[sets[0].id, sets[1].id, foreign.id],
            deleted_at,
        )
        .await
        .unwrap();
    assert_eq!(n, 2);
    let n = f
        .store
        .soft_delete_sets(
            schedule.id,
            &[sets[1].id, sets[2].id],
            deleted_at + Duration::days(3),
        )
        .await
        .unwrap();
    assert_eq!(n, 1, "an already deleted set keeps its deletion time");
    assert_eq!(
        f.store
            .soft_delete_sets(schedule.id, &[], deleted_at)
            .await
            .unwrap(),
        0
    );
    let live = f.store.list_sets(schedule.id, false).await.unwrap();
    assert_eq!(
        live.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![sets[3].id]
    );
    let with_deleted = f.store.list_sets(schedule.id, true).await.unwrap();
    assert_eq!(with_deleted.len(), 4);
    assert_eq!(with_deleted[2].deleted_at, Some(deleted_at));
    assert_eq!(
        f.store.list_sets(other.id, false).await.unwrap(),
        vec![foreign.clone()]
    );

    // Purge: deleted strictly before the cutoff.
    assert_eq!(
        f.store
            .count_purgeable_sets(schedule.id, deleted_at)
            .await
            .unwrap(),
        0
    );
    let cutoff = deleted_at + Duration::days(1);
    assert_eq!(
        f.store
            .count_purgeable_sets(schedule.id, cutoff)
            .await
            .unwrap(),
        2
    );
    assert_eq!(f.store.purge_sets(schedule.id, cutoff).await.unwrap(), 2);
    let left = f.store.list_sets(schedule.id, true).await.unwrap();
    assert_eq!(
        left.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![sets[3].id, sets[2].id]
    );
    assert_eq!(
        f.store
            .count_purgeable_sets(schedule.id, cutoff)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        f.store.list_sets(other.id, true).await.unwrap(),
        vec![foreign]
    );

    let missing = BackupScheduleId::new(424_242);
    assert!(matches!(
        f.store.get_schedule(missing).await,
        Err(PortError::NotFound)
    ));
    assert!(matches!(
        f.store.create_set(missing, "x", 1, t0()).await,
        Err(PortError::NotFound)
    ));
    assert!(matches!(
        f.store.create_set(schedule.id, "x", u64::MAX, t0()).await,
        Err(PortError::CountOverflow(_))
    ));
}

// ---------------------------------------------------------------------------------------------
// Directory

async fn memberships_and_tenant_lookups(db: TestDb) {
    let f = fixture(db).await;
    let viewer = UserId::new(1);
    let manager = UserId::new(2);
    f.store.add_member(f.ws, viewer, true, false).await.unwrap();
    f.store.add_member(f.ws, manager, true, true).await.unwrap();
    assert_eq!(
        f.store.membership(f.ws, viewer).await.unwrap(),
        Some(Membership {
            can_view_operations: true,
            can_manage_operations: false
        })
    );
    assert_eq!(
        f.store.membership(f.ws, manager).await.unwrap(),
        Some(Membership {
            can_view_operations: true,
            can_manage_operations: true
        })
    );
    // Updating a member's capabilities.
    f.store
        .add_member(f.ws, viewer, false, false)
        .await
        .unwrap();
    assert_eq!(
        f.store.membership(f.ws, viewer).await.unwrap(),
        Some(Membership {
            can_view_operations: false,
            can_manage_operations: false
        })
    );
    let ws2 = f.store.create_workspace("Fabrikam").await.unwrap();
    assert_eq!(f.store.membership(ws2, manager).await.unwrap(), None);
    assert_eq!(
        f.store.membership(f.ws, UserId::new(3)).await.unwrap(),
        None
    );
    assert_eq!(
        f.store
            .membership(WorkspaceId::new(424_242), viewer)
            .await
            .unwrap(),
        None
    );
    assert!(matches!(
        f.store
            .add_member(WorkspaceId::new(424_242), viewer, true, true)
            .await,
        Err(PortError::NotFound)
    ));

    assert_eq!(
        f.store.tenant_workspace(f.tenant).await.unwrap(),
        Some(f.ws)
    );
    let t2 = f
        .store
        .create_tenant(ws2, "fabrikam.example")
        .await
        .unwrap();
    assert_eq!(f.store.tenant_workspace(t2).await.unwrap(), Some(ws2));
    assert_eq!(
        f.store
            .tenant_workspace(TenantId::new(424_242))
            .await
            .unwrap(),
        None
    );
    assert!(matches!(
        f.store.create_tenant(WorkspaceId::new(424_242), "x").await,
        Err(PortError::NotFound)
    ));
}

async fn connecting_by_url_reaches_the_same_database(db: TestDb) {
    let f = fixture(db).await;
    let other = SeaOrmStore::connect(&f.db.url).await.unwrap();
    let ws = other.create_workspace("Fabrikam").await.unwrap();
    let tenant = other.create_tenant(ws, "fabrikam.example").await.unwrap();
    assert_eq!(f.store.tenant_workspace(tenant).await.unwrap(), Some(ws));
    assert_eq!(other.tenant_workspace(f.tenant).await.unwrap(), Some(f.ws));
    other.connection().clone().close().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Reading what other writers stored

async fn unknown_stored_types_are_readable_and_corrupt_rows_are_errors(db: TestDb) {
    let f = fixture(db).await;
    let run = f.queued(1, t0()).await;
    f.db.exec(&format!(
        "UPDATE operation_runs SET type = 'legacy.thing_sync' WHERE id = {}",
        run.id()
    ))
    .await;
    let read = f.store.get(run.id()).await.unwrap();
    assert_eq!(read.run_type(), "legacy.thing_sync");
    assert_eq!(
        f.list_all(RunFilter {
            run_type: Some("legacy.thing_sync".into()),
            ..Default::default()
        })
        .await,
        vec![run.id()]
    );

    let broken = f.queued(2, t0()).await;
    f.db.exec(&format!(
        "UPDATE operation_runs SET status = 'done' WHERE id = {}",
        broken.id()
    ))
    .await;
    let err = f.store.get(broken.id()).await.unwrap_err();
    let PortError::Backend(source) = &err else {
        panic!("expected a backend error, got {err:?}");
    };
    let message = source.to_string();
    assert!(
        message.contains("operation_runs") && message.contains(&broken.id().to_string()),
        "{message}"
    );
    assert!(message.contains("done"), "{message}");
    // A list that meets the row fails the same way instead of hiding it.
    let listed = f
        .store
        .list(&RunListQuery {
            workspace_id: f.ws,
            filter: RunFilter::default(),
            after: None,
            limit: 10,
        })
        .await;
    assert!(matches!(listed, Err(PortError::Backend(_))));
}

on_every_backend!(migrated =>
    start_inserts_then_reuses_until_completed,
    start_with_a_missing_workspace_or_tenant_is_refused_with_the_reason,
    start_with_a_tenant_of_another_workspace_is_refused,
    get_of_a_missing_run_is_not_found,
    transitions_are_compare_and_set,
    counts_add_up_and_bump_the_heartbeat_only_while_active,
    count_overflow_writes_nothing,
    completion_with_counts_is_all_or_nothing,
    context_merges_top_level_keys_while_active,
    latest_completed_run_of_an_identity,
    list_filters_and_workspace_scope,
    time_filters_compare_as_times,
    list_pages_walk_everything_once_even_with_inserts_in_between,
    schedule_history_is_scoped_by_workspace_schedule_type_and_outcome,
    purge_keeps_active_recent_and_newest_of_each_type,
    stale_runs_are_active_ones_with_an_old_heartbeat_oldest_first,
    stale_completion_needs_the_status_and_an_old_heartbeat,
    inventory_upsert_marks_items_with_their_run,
    findings_are_inserted_all_or_nothing,
    backup_sets_soft_delete_and_purge,
    memberships_and_tenant_lookups,
    connecting_by_url_reaches_the_same_database,
    unknown_stored_types_are_readable_and_corrupt_rows_are_errors,
);
