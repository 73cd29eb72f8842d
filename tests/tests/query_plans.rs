//! The hot reads — the monitoring list, a backup schedule's history and the idempotency look-up
//! of a schedule operation — are served by their indexes on every backend, checked with `EXPLAIN` on the exact statements the adapter runs,
//! over a realistic volume of analysed data (no planner switches turned off).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use chrono::{Duration, TimeZone, Utc};
use operation_runs_domain::{
    BackupScheduleId, IdentityHash, RunId, RunOutcome, RunStatus, RunType, TenantId, WorkspaceId,
};
use operation_runs_ports::{
    Provisioning, RunCursor, RunFilter, RunListQuery, ScheduleHistoryQuery,
};
use operation_runs_sea_orm::SeaOrmStore;
use operation_runs_tests::{Backend, TestDb, on_every_backend};

/// Many workspaces with a modest history each, interleaved in time as a multi-tenant service
/// records them: a scan of the primary key would have to walk the whole table to fill a page.
const WORKSPACES: usize = 100;
const RUNS: usize = 5000;
/// A multiple of `WORKSPACES`, so each schedule's runs live in one workspace.
const SCHEDULES: usize = 200;

const TYPES: [&str; 6] = [
    "inventory_sync",
    "entra_group_sync",
    "backup_schedule_run",
    "backup_schedule_retention",
    "backup_schedule_purge",
    "drift_generate",
];

struct Data {
    store: SeaOrmStore,
    workspaces: Vec<WorkspaceId>,
    tenants: Vec<TenantId>,
}

/// Thousands of completed runs spread over workspaces, types and schedules, then `ANALYZE`.
async fn seed(db: &TestDb) -> Data {
    seed_into(db, WORKSPACES, |i| i % WORKSPACES).await
}

/// [`seed`], with run `i` in workspace `workspace_of(i)` of `count`.
async fn seed_into(db: &TestDb, count: usize, workspace_of: impl Fn(usize) -> usize) -> Data {
    let store = SeaOrmStore::from_connection(db.conn.clone());
    let mut workspaces = Vec::new();
    let mut tenants = Vec::new();
    for w in 0..count {
        let ws = store.create_workspace(&format!("ws {w}")).await.unwrap();
        tenants.push(store.create_tenant(ws, "tenant").await.unwrap());
        workspaces.push(ws);
    }
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let rows: Vec<String> = (0..RUNS)
        .map(|i| {
            let w = workspace_of(i);
            let run_type = TYPES[i % TYPES.len()];
            let context = if run_type.starts_with("backup_schedule") {
                format!(r#"{{"backup_schedule_id": {}}}"#, i % SCHEDULES + 1)
            } else {
                "{}".to_owned()
            };
            let outcome = if i % 7 == 0 { "failed" } else { "succeeded" };
            let at = (t0 + Duration::seconds(i as i64))
                .format("%Y-%m-%dT%H:%M:%S+00:00")
                .to_string();
            format!(
                "({ws}, {tenant}, 'scheduler', '{run_type}', 'completed', '{outcome}', '{hash:064x}', \
                 '{{}}', '[]', '{context}', '{at}', '{at}', '{at}', '{at}')",
                ws = workspaces[w],
                tenant = tenants[w],
                hash = i,
            )
        })
        .collect();
    for chunk in rows.chunks(250) {
        db.exec(&format!(
            "INSERT INTO operation_runs (workspace_id, tenant_id, initiator_name, type, status, \
             outcome, run_identity_hash, summary_counts, failure_summary, context, started_at, \
             completed_at, created_at, updated_at) VALUES {}",
            chunk.join(", ")
        ))
        .await;
    }
    db.exec(match db.backend {
        Backend::MariaDb => "ANALYZE TABLE operation_runs",
        _ => "ANALYZE",
    })
    .await;
    assert_eq!(
        db.scalar_i64("SELECT COUNT(*) FROM operation_runs").await,
        Some(RUNS as i64)
    );
    Data {
        store,
        workspaces,
        tenants,
    }
}

/// The plan never reads `operation_runs` by a full scan.
fn assert_no_full_scan(backend: Backend, plan: &str) {
    match backend {
        Backend::Postgres => assert!(!plan.contains("Seq Scan"), "sequential scan:\n{plan}"),
        Backend::Sqlite => assert!(
            !plan
                .lines()
                .any(|l| l.trim_start().starts_with("SCAN operation_runs")),
            "full scan:\n{plan}"
        ),
        Backend::MariaDb => assert!(
            !plan.contains("\"access_type\": \"ALL\""),
            "full scan:\n{plan}"
        ),
    }
}

/// The plan reads `operation_runs` through one of `indexes`, and never by a full scan.
fn assert_uses_index(backend: Backend, plan: &str, indexes: &[&str]) {
    let uses = |line: &str, index: &str| match backend {
        Backend::Postgres => {
            line.contains(&format!("using {index} on operation_runs"))
                || line.contains(&format!("Index Scan on {index}"))
        }
        Backend::Sqlite => {
            line.contains("SEARCH operation_runs") && line.contains(&format!("INDEX {index} "))
        }
        // `EXPLAIN FORMAT=JSON`: the table's access names the key it reads.
        Backend::MariaDb => line.contains(&format!("\"key\": \"{index}\"")),
    };
    assert_no_full_scan(backend, plan);
    assert!(
        plan.lines()
            .any(|line| indexes.iter().any(|index| uses(line, index))),
        "none of {indexes:?} used:\n{plan}"
    );
}

async fn monitoring_list_is_served_by_its_index(db: TestDb) {
    let data = seed(&db).await;
    let ws = data.workspaces[3];
    let first_page = RunListQuery {
        workspace_id: ws,
        filter: RunFilter::default(),
        after: None,
        newer_than: None,
        limit: 50,
    };
    let plan = data.store.explain_list(&first_page).await.unwrap();
    assert_uses_index(db.backend, &plan, &["operation_runs_workspace_id_id_idx"]);

    let filtered_later_page = RunListQuery {
        workspace_id: ws,
        filter: RunFilter {
            run_type: Some("inventory_sync".into()),
            status: Some(RunStatus::Completed),
            outcome: Some(RunOutcome::Succeeded),
            tenant_id: Some(data.tenants[3]),
            created_from: Some(Utc.with_ymd_and_hms(2026, 1, 1, 0, 10, 0).unwrap()),
            created_before: None,
        },
        after: Some(RunCursor(RunId::new(3000))),
        newer_than: None,
        limit: 50,
    };
    let plan = data.store.explain_list(&filtered_later_page).await.unwrap();
    // Filtering by tenant as well, the tenant index is an equally narrow way in.
    assert_uses_index(
        db.backend,
        &plan,
        &[
            "operation_runs_workspace_id_id_idx",
            "operation_runs_tenant_id_idx",
        ],
    );
}

/// A workspace holding most of the table: MariaDB, left to itself, reads a later page through
/// `ref` on the workspace alone, every newer run of the workspace first (see `list_select`).
async fn a_later_page_reads_only_below_its_cursor(db: TestDb) {
    let data = seed_into(&db, 2, |i| usize::from(i % 10 == 0)).await;
    let later_page = RunListQuery {
        workspace_id: data.workspaces[0],
        filter: RunFilter::default(),
        after: Some(RunCursor(RunId::new(1000))),
        newer_than: None,
        limit: 50,
    };
    let plan = data.store.explain_list(&later_page).await.unwrap();
    // PostgreSQL and SQLite walk the primary key down from the cursor here, as good a way.
    assert_no_full_scan(db.backend, &plan);
    if matches!(db.backend, Backend::MariaDb) {
        assert_uses_index(db.backend, &plan, &["operation_runs_workspace_id_id_idx"]);
        assert!(
            plan.contains("\"access_type\": \"range\""),
            "not a range read:\n{plan}"
        );
    }
}

async fn schedule_history_is_served_by_its_index(db: TestDb) {
    let data = seed(&db).await;
    // Schedule 8's runs all live in workspace 7 (i % 200 == 7 implies i % 100 == 7).
    let query = ScheduleHistoryQuery {
        workspace_id: data.workspaces[7],
        schedule_id: BackupScheduleId::new(8),
        run_types: RunType::BACKUP_SCHEDULE_TYPES.to_vec(),
        outcomes: vec![],
        after: None,
        limit: 25,
    };
    let plan = data.store.explain_schedule_history(&query).await.unwrap();
    assert_uses_index(db.backend, &plan, &["operation_runs_schedule_history_idx"]);

    let later = ScheduleHistoryQuery {
        run_types: vec![RunType::BACKUP_SCHEDULE_RUN],
        outcomes: vec![RunOutcome::Succeeded, RunOutcome::PartiallySucceeded],
        after: Some(RunCursor(RunId::new(2000))),
        ..query.clone()
    };
    let plan = data.store.explain_schedule_history(&later).await.unwrap();
    assert_uses_index(db.backend, &plan, &["operation_runs_schedule_history_idx"]);

    // The statement explained is the statement run: it finds the schedule's runs.
    use operation_runs_ports::ScheduleRunHistory;
    let page = data.store.schedule_history(&query).await.unwrap();
    assert!(!page.runs.is_empty());
    assert!(page.runs.iter().all(|r| {
        r.context().readable().unwrap().backup_schedule_id() == Some(BackupScheduleId::new(8))
            && r.workspace_id() == data.workspaces[7]
    }));
}

async fn latest_completed_of_an_identity_is_served_by_its_index(db: TestDb) {
    let data = seed(&db).await;
    // Run 1207 lives in workspace 7 and is the only run with this hash.
    let hash = IdentityHash::parse(&format!("{:064x}", 1207)).unwrap();
    let ws = data.workspaces[7];
    let successful = [RunOutcome::Succeeded, RunOutcome::PartiallySucceeded];
    for outcomes in [&successful[..], &[]] {
        let plan = data
            .store
            .explain_latest_completed_with_identity(ws, &hash, outcomes)
            .await
            .unwrap();
        assert_uses_index(
            db.backend,
            &plan,
            &["operation_runs_workspace_id_run_identity_hash_idx"],
        );
    }

    // The statement explained is the statement run: it finds that run.
    use operation_runs_ports::RunQueries;
    let found = data
        .store
        .latest_completed_with_identity(ws, &hash, &successful)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.identity_hash(), &hash);
    assert_eq!(found.workspace_id(), ws);
}

on_every_backend!(migrated =>
    monitoring_list_is_served_by_its_index,
    a_later_page_reads_only_below_its_cursor,
    schedule_history_is_served_by_its_index,
    latest_completed_of_an_identity_is_served_by_its_index,
);
