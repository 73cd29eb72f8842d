//! `oprun demo`: the product end to end on a demo workspace, narrated.

use crate::cli::GlobalArgs;
use crate::commands::migrate;
use crate::commands::schedules::{describe_purge, describe_retention, operations};
use crate::db::{self, App, Purpose, SchemaState};
use crate::error::{CliError, CliResult};
use crate::output::{Table, first_failure, history_table, runs_table};
use chrono::{DateTime, Duration, SecondsFormat, SubsecRound, Utc};
use operation_runs_domain::{
    BackupScheduleId, Failure, FailureCode, FailureSummary, OperationRun, RunId, RunOutcome,
    RunType, TenantId, UserId, WorkspaceId,
};
use operation_runs_migration::DataLoss;
use operation_runs_ports::{
    BackupSchedule, FindingRepository, InventoryRepository, Provisioning, RunFilter, RunListQuery,
    SeenItem,
};
use operation_runs_schedule_history::{
    BackupContent, BackupSourceError, Execution, HistoryQuery, Mode, PurgePolicy,
    ScheduleOperations, ScheduleRequest, source_fn,
};
use operation_runs_service::{DriftChange, ServiceError, StartRequest};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::json;
use std::fmt::Display;

const WORKSPACE: &str = "Demo workspace";
const TENANT: &str = "contoso";
const SCHEDULE: &str = "Nightly backup";
const KEEP_LAST: u32 = 2;
/// May view and manage operations.
const ALICE: UserId = UserId::new(1);
/// A member without the capability to view operations.
const BOB: UserId = UserId::new(2);
/// Not a member of the demo workspace.
const MALLORY: UserId = UserId::new(3);

/// A failure of the demo itself (not of a step it shows failing on purpose).
fn demo_error(step: &str, error: impl Display) -> CliError {
    CliError::error(format!("demo: {step} failed: {error}"))
}

fn heading(n: u32, title: &str) {
    println!();
    println!("{n}. {title}");
}

/// Runs the demo.
pub async fn run(global: &GlobalArgs) -> CliResult {
    let migrating = db::connect(&global.database_url, Purpose::Migrate).await?;
    refuse_a_real_database(&db::schema_state(&migrating).await?, &global.database_url)?;
    println!(
        "Operation Runs demo on {}",
        db::redact_url(&global.database_url)
    );
    let applied = migrate::up(&migrating, None, DataLoss::Refuse).await?;
    // Closing is best effort: the pool is dropped either way.
    let _ = migrating.close().await;
    let conn = db::connect(&global.database_url, Purpose::Use).await?;
    if applied.is_empty() {
        println!("database: migrations up to date");
    } else {
        println!("database: applied {} migration(s)", applied.len());
    }
    let app = App::new(db::store(conn).await?);
    let seed = seed(&app).await?;
    let ops = operations(&app);

    let first = inventory_sync(
        &app,
        &seed,
        1,
        &["device-001", "device-002", "device-003", "laptop-004"],
    )
    .await?;
    entra_group_sync(&app, &seed).await?;
    drift(&app, &seed, first).await?;
    let last_backup = scheduled_backups(&ops, &seed).await?;
    retention_and_purge(&ops, &seed, last_backup).await?;
    monitoring(&app, &seed).await?;
    tables(&app, &ops, &seed).await?;
    println!();
    println!(
        "Try: oprun runs list --as-user {ALICE} --workspace {}   (see oprun --help)",
        seed.workspace
    );
    Ok(())
}

/// The demo applies every pending migration and seeds rows, so on a database part-way through
/// its history (a real one before the cutover) it would drop legacy run history and mix demo
/// rows into real data. It runs only on an empty database or a fully migrated one.
fn refuse_a_real_database(state: &SchemaState, url: &str) -> CliResult {
    let shown = db::redact_url(url);
    let why = if state.is_part_way() {
        format!(
            "the database `{shown}` is part-way through its migrations ({} applied, {} pending, \
             next: {})",
            state.applied.len(),
            state.pending.len(),
            state.pending.first().map_or("?", String::as_str)
        )
    } else if state.is_untracked() {
        format!("the database `{shown}` holds operation run tables but no record of its migrations")
    } else {
        return Ok(());
    };
    Err(CliError::error(format!(
        "demo refused: {why}; it looks like a real database awaiting the cutover, and the demo \
         would apply the cutover (which drops legacy run history) and add demo rows next to its \
         data. To upgrade it, check it with `oprun preflight`, then run `oprun migrate up`; to \
         see the demo, point it at a new database (--database-url 'sqlite://demo.db?mode=rwc')"
    )))
}

struct Seed {
    workspace: WorkspaceId,
    tenant: TenantId,
    schedule: BackupSchedule,
}

/// The id of the first row the query finds.
async fn find_id(conn: &DatabaseConnection, query: &SelectStatement) -> CliResult<Option<i64>> {
    let row = conn
        .query_one(query)
        .await
        .map_err(|e| demo_error("reading the seed", e))?;
    row.map(|row| row.try_get::<i64>("", "id"))
        .transpose()
        .map_err(|e| demo_error("reading the seed", e))
}

fn select_id(table: &str, filters: &[(&str, sea_orm::Value)]) -> SelectStatement {
    let mut query = Query::select();
    query
        .column(Alias::new("id"))
        .from(Alias::new(table))
        .order_by(Alias::new("id"), sea_orm::Order::Asc)
        .limit(1);
    for (column, value) in filters {
        query.and_where(Expr::col(Alias::new(*column)).eq(value.clone()));
    }
    query
}

/// Finds the seed rows of an earlier demo, or creates them.
async fn seed(app: &App) -> CliResult<Seed> {
    let store = &app.store;
    let conn = store.connection();
    let failed = |e| demo_error("seeding", e);
    let (workspace, reused) = match find_id(
        conn,
        &select_id("workspaces", &[("name", WORKSPACE.into())]),
    )
    .await?
    {
        Some(id) => (WorkspaceId::new(id), true),
        None => (
            store.create_workspace(WORKSPACE).await.map_err(failed)?,
            false,
        ),
    };
    let tenant = match find_id(
        conn,
        &select_id(
            "tenants",
            &[
                ("workspace_id", workspace.get().into()),
                ("name", TENANT.into()),
            ],
        ),
    )
    .await?
    {
        Some(id) => TenantId::new(id),
        None => store
            .create_tenant(workspace, TENANT)
            .await
            .map_err(failed)?,
    };
    store
        .add_member(workspace, ALICE, true, true)
        .await
        .map_err(failed)?;
    store
        .add_member(workspace, BOB, false, false)
        .await
        .map_err(failed)?;
    let schedule = match find_id(
        conn,
        &select_id(
            "backup_schedules",
            &[
                ("tenant_id", tenant.get().into()),
                ("name", SCHEDULE.into()),
            ],
        ),
    )
    .await?
    {
        Some(id) => {
            use operation_runs_ports::BackupRepository as _;
            store
                .get_schedule(BackupScheduleId::new(id))
                .await
                .map_err(failed)?
        }
        None => store
            .create_backup_schedule(workspace, tenant, SCHEDULE, KEEP_LAST)
            .await
            .map_err(failed)?,
    };
    println!(
        "seed ({}): workspace {workspace} \"{WORKSPACE}\", tenant {tenant} \"{TENANT}\", backup schedule {} \"{}\" (keep last {})",
        if reused {
            "reused from an earlier run"
        } else {
            "created"
        },
        schedule.id,
        schedule.name,
        schedule.keep_last
    );
    println!(
        "      members: user {ALICE} may view and manage operations; user {BOB} is a member without the view capability; user {MALLORY} is not a member"
    );
    Ok(Seed {
        workspace,
        tenant,
        schedule,
    })
}

/// A unique identity part, so a demo never reuses a run an interrupted earlier demo left active.
fn nonce() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true)
}

fn service_error(step: &str) -> impl Fn(ServiceError) -> CliError + '_ {
    move |e| demo_error(step, e)
}

/// One inventory sync that sees `items`; returns its completed run.
async fn inventory_sync(
    app: &App,
    seed: &Seed,
    pass: u32,
    items: &[&str],
) -> CliResult<OperationRun> {
    let service = &app.service;
    let step = "the inventory sync";
    if pass == 1 {
        heading(1, "An inventory sync");
    }
    let request = StartRequest::new(
        seed.workspace,
        RunType::INVENTORY_SYNC.as_str(),
        "inventory-worker",
    )
    .tenant(seed.tenant)
    .identity(json!({ "selection": "all", "pass": pass, "demo": nonce() }));
    let started = service
        .start(request.clone())
        .await
        .map_err(service_error(step))?;
    let id = started.run().id();
    println!(
        "   start                         -> run {id} ({})",
        new_or_reused(started.is_reused())
    );
    if pass == 1 {
        let again = service.start(request).await.map_err(service_error(step))?;
        println!(
            "   start again, same identity    -> run {} ({}: one active run per identity)",
            again.run().id(),
            new_or_reused(again.is_reused())
        );
    }
    service.begin(id).await.map_err(service_error(step))?;
    println!("   begin                         -> running");
    let seen = items
        .iter()
        .map(|external_id| SeenItem {
            external_id: (*external_id).to_owned(),
            kind: if external_id.starts_with("laptop") {
                "laptop"
            } else {
                "device"
            }
            .to_owned(),
            display_name: format!("{external_id} (pass {pass})"),
        })
        .collect::<Vec<_>>();
    let marked = service
        .record_seen_items(id, &seen)
        .await
        .map_err(service_error(step))?;
    println!(
        "   mark seen items               -> {} item(s) now have last_seen_operation_run_id = {id}: {}",
        marked.len(),
        marked
            .iter()
            .map(|i| i.external_id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let n = i64::try_from(items.len()).unwrap_or(i64::MAX);
    let progressed = service
        .record_progress(id, &[("items_seen", n), ("processed", n)])
        .await
        .map_err(service_error(step))?;
    println!(
        "   progress                      -> {}",
        crate::output::counts(&progressed)
    );
    let done = service
        .complete(id, RunOutcome::Succeeded, FailureSummary::new())
        .await
        .map_err(service_error(step))?;
    println!(
        "   complete                      -> {} {}",
        done.status(),
        done.outcome()
    );
    let items = app
        .store
        .list_items(seed.tenant)
        .await
        .map_err(|e| demo_error(step, e))?;
    let by_this_run = items
        .iter()
        .filter(|i| i.last_seen_operation_run_id == Some(id))
        .count();
    println!(
        "   the tenant's {} inventory item(s): {by_this_run} last seen by run {id}",
        items.len()
    );
    Ok(done)
}

fn new_or_reused(reused: bool) -> &'static str {
    if reused { "reused" } else { "new" }
}

async fn entra_group_sync(app: &App, seed: &Seed) -> CliResult {
    heading(2, "An Entra group sync with a partial failure");
    let service = &app.service;
    let step = "the Entra group sync";
    let started = service
        .start(
            StartRequest::new(
                seed.workspace,
                RunType::ENTRA_GROUP_SYNC.as_str(),
                "directory-worker",
            )
            .tenant(seed.tenant)
            .identity(json!({ "groups": "all", "demo": nonce() })),
        )
        .await
        .map_err(service_error(step))?;
    let id = started.run().id();
    service.begin(id).await.map_err(service_error(step))?;
    service
        .record_progress(
            id,
            &[
                ("groups_seen", 12),
                ("members_seen", 148),
                ("succeeded", 11),
                ("failed", 1),
            ],
        )
        .await
        .map_err(service_error(step))?;
    let reported = "GET https://graph.microsoft.com/v1.0/groups/7f3c/members failed with 401 \
                    (Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJkZW1vLXVzZXIifQ.c2lnbmF0dXJlLW9mLWRlbW8)";
    let code = FailureCode::parse("group_members_unavailable").map_err(|e| demo_error(step, e))?;
    let done = service
        .complete(
            id,
            RunOutcome::PartiallySucceeded,
            FailureSummary::single(Failure::new(code, reported)),
        )
        .await
        .map_err(service_error(step))?;
    println!(
        "   run {id}: {} {}, counts {}",
        done.status(),
        done.outcome(),
        crate::output::counts(&done)
    );
    println!("   the worker reported: {reported}");
    println!("   stored (sanitized):  {}", first_failure(&done));
    Ok(())
}

async fn drift(app: &App, seed: &Seed, baseline: OperationRun) -> CliResult {
    heading(3, "Drift between two completed inventory syncs");
    println!("   a second inventory sync: device-003 is gone, laptop-004 renamed, laptop-005 new");
    let current = inventory_sync(
        app,
        seed,
        2,
        &["device-001", "device-002", "laptop-004", "laptop-005"],
    )
    .await?;
    let service = &app.service;
    let step = "drift generation";
    let (b, c) = (baseline.id(), current.id());
    let started = service
        .start(
            StartRequest::new(
                seed.workspace,
                RunType::DRIFT_GENERATE.as_str(),
                "drift-worker",
            )
            .tenant(seed.tenant)
            .identity(json!({ "baseline": b.get(), "current": c.get() })),
        )
        .await
        .map_err(service_error(step))?;
    let id = started.run().id();
    service.begin(id).await.map_err(service_error(step))?;
    let changes = vec![
        DriftChange {
            subject_external_id: "device-003".to_owned(),
            change: "removed".to_owned(),
            details: json!({ "kind": "device" }),
        },
        DriftChange {
            subject_external_id: "laptop-004".to_owned(),
            change: "changed".to_owned(),
            details: json!({ "display_name": { "from": "laptop-004 (pass 1)", "to": "laptop-004 (pass 2)" } }),
        },
        DriftChange {
            subject_external_id: "laptop-005".to_owned(),
            change: "added".to_owned(),
            details: json!({ "kind": "laptop" }),
        },
    ];
    let findings = service
        .record_drift_findings(b, c, &changes)
        .await
        .map_err(service_error(step))?;
    let n = i64::try_from(findings.len()).unwrap_or(i64::MAX);
    service
        .record_progress(id, &[("findings_created", n)])
        .await
        .map_err(service_error(step))?;
    let done = service
        .complete(id, RunOutcome::Succeeded, FailureSummary::new())
        .await
        .map_err(service_error(step))?;
    println!(
        "   drift_generate run {id}: {} {}, {} finding(s) between baseline run {b} and current run {c}",
        done.status(),
        done.outcome(),
        findings.len()
    );
    let mut table = Table::new([
        "FINDING",
        "SUBJECT",
        "CHANGE",
        "BASELINE RUN",
        "CURRENT RUN",
    ]);
    let show = |id: Option<RunId>| id.map_or_else(|| "-".to_owned(), |r| r.to_string());
    for finding in &findings {
        table.row([
            finding.id.to_string(),
            finding.subject_external_id.clone(),
            finding.change.clone(),
            show(finding.baseline_operation_run_id),
            show(finding.current_operation_run_id),
        ]);
    }
    indent(&table.render());
    let all = app
        .store
        .list_findings(seed.tenant)
        .await
        .map_err(|e| demo_error(step, e))?;
    println!("   the tenant has {} finding(s) in all", all.len());
    Ok(())
}

fn indent(text: &str) {
    for line in text.lines() {
        println!("   {line}");
    }
}

/// Scheduled times after every earlier demo's, so each demo records new backups.
async fn first_slot(ops: &ScheduleOperations, seed: &Seed) -> CliResult<DateTime<Utc>> {
    let latest = ops
        .history()
        .latest(seed.workspace, seed.schedule.id)
        .await
        .map_err(|e| demo_error("reading the schedule's history", e))?;
    let earlier = latest
        .backup
        .and_then(|run| run.context().scheduled_for())
        .map(|at| at + Duration::hours(1));
    let default = Utc::now().trunc_subsecs(0) - Duration::hours(4);
    Ok(earlier.map_or(default, |e| Ord::max(e, default)))
}

/// Records four scheduled backups; returns the last scheduled time.
async fn scheduled_backups(ops: &ScheduleOperations, seed: &Seed) -> CliResult<DateTime<Utc>> {
    heading(4, "Scheduled backups (one of them fails)");
    let first = first_slot(ops, seed).await?;
    let mut last = first;
    for slot in 0..4 {
        let scheduled_for = first + Duration::hours(slot);
        last = scheduled_for;
        let request = ScheduleRequest::new(seed.workspace, seed.schedule.id, scheduled_for);
        let fails = slot == 2;
        let source = source_fn(move |_schedule: &BackupSchedule, _at: DateTime<Utc>| {
            if fails {
                Err(BackupSourceError::new(
                    "backup API timed out after 30s; retry with client_secret=s3cr3t-demo-value",
                ))
            } else {
                Ok(BackupContent::items(
                    100 + 10 * u64::try_from(slot).unwrap_or(0),
                ))
            }
        });
        let at = scheduled_for.to_rfc3339_opts(SecondsFormat::Secs, true);
        match ops.run_backup(&request, &source).await {
            Ok(Execution::Performed { run, report }) => println!(
                "   {at}  backup_schedule_run {}: {} -> backup set {} ({} items)",
                run.id(),
                run.outcome(),
                report.set.id,
                report.set.item_count
            ),
            Ok(other) => println!(
                "   {at}  not redone: run {} exists already",
                other
                    .run()
                    .map_or_else(|| "-".to_owned(), |r| r.id().to_string())
            ),
            Err(error) => match error.failed_run() {
                Some(run) => println!(
                    "   {at}  backup_schedule_run {}: {} ({})",
                    run.id(),
                    run.outcome(),
                    first_failure(run)
                ),
                None => return Err(demo_error("a scheduled backup", error)),
            },
        }
    }
    Ok(last)
}

async fn retention_and_purge(
    ops: &ScheduleOperations,
    seed: &Seed,
    last_backup: DateTime<Utc>,
) -> CliResult {
    heading(
        5,
        &format!(
            "Retention (keep the newest {} successful backups) and purge",
            seed.schedule.keep_last
        ),
    );
    // Scheduled after this demo's last backup: a new time for every demo, so a second demo
    // applies retention and purge again instead of finding them done.
    let request = ScheduleRequest::new(
        seed.workspace,
        seed.schedule.id,
        last_backup + Duration::minutes(30),
    );
    let retention = ops
        .apply_retention(&request, Mode::Apply)
        .await
        .map_err(|e| demo_error("retention", e))?;
    indent(&describe_retention(&retention));
    // A zero grace period and history window, so the demo shows the purge doing something.
    let policy = PurgePolicy::new(Duration::zero(), Duration::zero());
    let plan = ops
        .purge(&request, policy, Mode::DryRun)
        .await
        .map_err(|e| demo_error("purge (dry run)", e))?;
    println!("   purge, dry run first (grace 0s, history window 0s):");
    indent(&describe_purge(&plan));
    let purge = ops
        .purge(&request, policy, Mode::Apply)
        .await
        .map_err(|e| demo_error("purge", e))?;
    match &purge {
        Execution::Performed { run, report } => println!(
            "   then for real: run {} (backup_schedule_purge) {}: purged {} set(s) and {} run(s)",
            run.id(),
            run.outcome(),
            report.sets_purged,
            report.runs_purged
        ),
        other => indent(&describe_purge(other)),
    }
    Ok(())
}

async fn monitoring(app: &App, seed: &Seed) -> CliResult {
    heading(6, "Who may see the workspace's runs");
    let query = RunListQuery {
        workspace_id: seed.workspace,
        filter: RunFilter::default(),
        after: None,
        limit: 1,
    };
    for (user, who) in [
        (ALICE, "a member who may view operations"),
        (BOB, "a member without the view capability"),
        (MALLORY, "not a member"),
    ] {
        let answer = match app.service.list_runs(user, &query).await {
            Ok(_) => "allowed".to_owned(),
            Err(ServiceError::Forbidden) => {
                "forbidden (HTTP 403; `oprun runs list` exits 4)".to_owned()
            }
            Err(ServiceError::NotFound) => {
                "not found (HTTP 404; `oprun runs list` exits 3)".to_owned()
            }
            Err(e) => return Err(demo_error("listing runs", e)),
        };
        println!("   user {user} ({who}): {answer}");
    }
    Ok(())
}

async fn tables(app: &App, ops: &ScheduleOperations, seed: &Seed) -> CliResult {
    const SHOWN: u32 = 20;
    heading(
        7,
        &format!("The workspace's operations, newest first (as user {ALICE})"),
    );
    let page = app
        .service
        .list_runs(
            ALICE,
            &RunListQuery {
                workspace_id: seed.workspace,
                filter: RunFilter::default(),
                after: None,
                limit: SHOWN,
            },
        )
        .await
        .map_err(|e| demo_error("listing runs", e))?;
    indent(&runs_table(&page.runs).render());
    if let Some(next) = page.next {
        println!(
            "   (older runs: oprun runs list --as-user {ALICE} --workspace {} --cursor {})",
            seed.workspace,
            next.encode()
        );
    }

    heading(
        8,
        &format!(
            "The history of backup schedule {} \"{}\"",
            seed.schedule.id, seed.schedule.name
        ),
    );
    let history = ops
        .history()
        .page(&HistoryQuery::new(seed.workspace, seed.schedule.id).limit(SHOWN))
        .await
        .map_err(|e| demo_error("reading the schedule's history", e))?;
    indent(&history_table(&history.runs).render());
    Ok(())
}
