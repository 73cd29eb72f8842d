//! `oprun demo`: the product end to end on a demo workspace, narrated.

mod monitoring;
mod schedules;
mod syncs;

use crate::cli::GlobalArgs;
use crate::commands::migrate;
use crate::commands::schedules::operations;
use crate::db::{self, App, Purpose, SchemaState};
use crate::error::{CliError, CliResult};
use operation_runs_domain::{TenantId, UserId, WorkspaceId};
use operation_runs_migration::DataLoss;
use operation_runs_ports::{BackupSchedule, Provisioning};
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

    let first = syncs::inventory_sync(
        &app,
        &seed,
        1,
        &["device-001", "device-002", "device-003", "laptop-004"],
    )
    .await?;
    syncs::entra_group_sync(&app, &seed).await?;
    syncs::drift(&app, &seed, first).await?;
    let last_backup = schedules::scheduled_backups(&ops, &seed).await?;
    schedules::retention_and_purge(&ops, &seed, last_backup).await?;
    monitoring::access(&app, &seed).await?;
    monitoring::tables(&app, &ops, &seed).await?;
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

/// Finds the seed rows of an earlier demo, or creates them.
async fn seed(app: &App) -> CliResult<Seed> {
    let store = &app.store;
    let failed = |e| demo_error("seeding", e);
    let (workspace, reused) = match store.find_workspace(WORKSPACE).await.map_err(failed)? {
        Some(id) => (id, true),
        None => (
            store.create_workspace(WORKSPACE).await.map_err(failed)?,
            false,
        ),
    };
    let tenant = match store.find_tenant(workspace, TENANT).await.map_err(failed)? {
        Some(id) => id,
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
    let schedule = match store
        .find_backup_schedule(workspace, tenant, SCHEDULE)
        .await
        .map_err(failed)?
    {
        Some(schedule) => schedule,
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

fn indent(text: &str) {
    for line in text.lines() {
        println!("   {line}");
    }
}
