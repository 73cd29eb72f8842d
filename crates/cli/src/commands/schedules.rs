//! `oprun schedules history|retention|purge`.

use crate::cli::{GlobalArgs, HistoryArgs, PurgeArgs, RetentionArgs, SchedulesCommand};
use crate::db::{self, App};
use crate::error::{CliError, CliResult, Exit, forbidden_viewer};
use crate::output::{history_table, print_json, print_page, run_json};
use chrono::{DateTime, SecondsFormat, Utc};
use operation_runs_domain::{BackupScheduleId, OperationRun, RunOutcome, UserId};
use operation_runs_ports::{BackupRepository, BackupSchedule, PortError};
use operation_runs_schedule_history::{
    Execution, HistoryQuery, Mode, PurgePlan, PurgePolicy, PurgeReport, RetentionPlan,
    RetentionReport, RunSet, ScheduleError, ScheduleOperations, SchedulePorts, ScheduleRequest,
    Trigger,
};
use serde_json::{Value, json};

/// The schedule operations over an open database.
pub fn operations(app: &App) -> ScheduleOperations {
    ScheduleOperations::new(
        app.service.clone(),
        SchedulePorts::from_store(app.store.clone()),
    )
}

/// Maps a schedule error.
pub fn schedule_error(schedule: BackupScheduleId, error: ScheduleError) -> CliError {
    let subject = format!("backup schedule {schedule}");
    match error {
        ScheduleError::NotFound => CliError::not_found(format!("{subject} not found")),
        ScheduleError::Forbidden => CliError::new(
            Exit::Forbidden,
            format!("forbidden: missing the capability needed for {subject}"),
        ),
        ScheduleError::Service(e) => CliError::service(&subject, e),
        ScheduleError::InvalidQuery(reason) | ScheduleError::InvalidPolicy(reason) => {
            CliError::usage(reason)
        }
        other => CliError::error(other.to_string()),
    }
}

async fn schedule(app: &App, id: BackupScheduleId) -> CliResult<BackupSchedule> {
    match app.store.get_schedule(id).await {
        Ok(schedule) => Ok(schedule),
        Err(PortError::NotFound) => Err(CliError::not_found(format!(
            "backup schedule {id} not found"
        ))),
        Err(e) => Err(CliError::error(format!(
            "cannot read backup schedule {id}: {e}"
        ))),
    }
}

/// Runs a schedules subcommand.
pub async fn run(global: &GlobalArgs, command: SchedulesCommand) -> CliResult {
    let app = db::open(&global.database_url).await?;
    match command {
        SchedulesCommand::History(args) => history(global, &app, &args).await,
        SchedulesCommand::Retention(args) => retention(global, &app, &args).await,
        SchedulesCommand::Purge(args) => purge(global, &app, &args).await,
    }
}

async fn history(global: &GlobalArgs, app: &App, args: &HistoryArgs) -> CliResult {
    let id = BackupScheduleId::new(args.id);
    let schedule = schedule(app, id).await?;
    let ops = operations(app);
    let mut query = HistoryQuery::new(schedule.workspace_id, id)
        .after(args.cursor)
        .limit(args.limit);
    for run_type in &args.run_types {
        query = query.run_type(run_type.clone());
    }
    for outcome in &args.outcomes {
        query = query.outcome(RunOutcome::from(*outcome));
    }
    let page = match args.as_user {
        Some(user) => ops
            .history()
            .page_for_viewer(UserId::new(user), &query)
            .await
            .map_err(|e| match e {
                ScheduleError::Forbidden => forbidden_viewer(user, schedule.workspace_id),
                other => schedule_error(id, other),
            }),
        None => ops
            .history()
            .page(&query)
            .await
            .map_err(|e| schedule_error(id, e)),
    }?;
    let next = page.next.map(|c| c.encode());
    if global.json {
        print_json(&json!({
            "schedule": schedule_json(&schedule),
            "runs": page.runs.iter().map(run_json).collect::<Vec<_>>(),
            "next_cursor": next,
        }));
        return Ok(());
    }
    println!(
        "backup schedule {} \"{}\" (workspace {}, tenant {}, keep last {})",
        schedule.id, schedule.name, schedule.workspace_id, schedule.tenant_id, schedule.keep_last
    );
    print_page(&page.runs, |runs| history_table(runs), next);
    Ok(())
}

fn request(schedule: &BackupSchedule, scheduled_for: Option<DateTime<Utc>>) -> ScheduleRequest {
    ScheduleRequest::new(
        schedule.workspace_id,
        schedule.id,
        scheduled_for.unwrap_or_else(Utc::now),
    )
    .trigger(Trigger::Manual)
    .initiator("oprun")
}

async fn retention(global: &GlobalArgs, app: &App, args: &RetentionArgs) -> CliResult {
    let id = BackupScheduleId::new(args.id);
    let request = request(&schedule(app, id).await?, args.scheduled_for);
    let execution = operations(app)
        .apply_retention(&request, mode(args.dry_run))
        .await;
    print_execution(global, &execution.map_err(|e| schedule_error(id, e))?);
    Ok(())
}

async fn purge(global: &GlobalArgs, app: &App, args: &PurgeArgs) -> CliResult {
    let id = BackupScheduleId::new(args.id);
    let request = request(&schedule(app, id).await?, args.scheduled_for);
    let policy = PurgePolicy::new(args.grace, args.keep_history);
    let execution = operations(app)
        .purge(&request, policy, mode(args.dry_run))
        .await;
    print_execution(global, &execution.map_err(|e| schedule_error(id, e))?);
    Ok(())
}

fn mode(dry_run: bool) -> Mode {
    if dry_run { Mode::DryRun } else { Mode::Apply }
}

/// Prints what a retention or purge call did, as JSON or for people.
fn print_execution<R: Reported>(global: &GlobalArgs, execution: &Execution<R>) {
    if global.json {
        print_json(&execution_json(execution));
    } else {
        print!("{}", describe(execution));
    }
}

fn schedule_json(schedule: &BackupSchedule) -> Value {
    json!({
        "id": schedule.id.get(),
        "workspace_id": schedule.workspace_id.get(),
        "tenant_id": schedule.tenant_id.get(),
        "name": schedule.name,
        "keep_last": schedule.keep_last,
    })
}

fn execution_json<R: Reported>(execution: &Execution<R>) -> Value {
    let result = match execution {
        Execution::DryRun(_) => "dry_run",
        Execution::Performed { .. } => "performed",
        Execution::AlreadyActive(_) => "already_active",
        Execution::AlreadyCompleted(_) => "already_completed",
    };
    let mut value = json!({
        "result": result,
        "run": execution.run().map(run_json),
    });
    if let (Some(r), Value::Object(map)) = (execution.report(), &mut value)
        && let Value::Object(extra) = r.json()
    {
        map.extend(extra);
    }
    value
}

fn run_sets(sets: &[RunSet]) -> Value {
    sets.iter()
        .map(|s| json!({ "set": s.set.get(), "run": s.run.get() }))
        .collect()
}

fn retention_plan_json(plan: &RetentionPlan) -> Value {
    json!({
        "keep_last": plan.keep_last,
        "successful_runs": plan.successful_runs,
        "kept": run_sets(&plan.kept),
        "to_soft_delete": run_sets(&plan.to_soft_delete),
        "already_deleted": run_sets(&plan.already_deleted),
        "left": plan.left.iter().map(|l| json!({
            "set": l.run_set.set.get(),
            "run": l.run_set.run.get(),
            "reason": l.reason.to_string(),
        })).collect::<Vec<_>>(),
    })
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn purge_plan_json(plan: &PurgePlan) -> Value {
    json!({
        "planned_at": rfc3339(plan.planned_at),
        "sets_deleted_before": rfc3339(plan.sets_deleted_before),
        "sets_to_purge": plan.sets_to_purge,
        "window_cutoff": rfc3339(plan.window_cutoff),
        "runs_created_before": rfc3339(plan.runs_created_before),
        "held_back_by": plan.held_back_by.map(|s| json!({ "set": s.set.get(), "run": s.run.get() })),
        "runs_to_purge": plan.runs_to_purge,
    })
}

fn not_redone(run: &OperationRun, state: &str) -> String {
    format!(
        "not done again: `{}` run {} of this schedule and scheduled time is {state} ({})\n",
        run.run_type(),
        run.id(),
        run.outcome()
    )
}

/// The report of a schedule operation, as [`describe`] prints it.
pub trait Reported {
    /// The plan the operation followed.
    fn plan(&self) -> &dyn std::fmt::Display;
    /// What a performed operation changed.
    fn changes(&self) -> String;
    /// The report's fields for `--json`.
    fn json(&self) -> Value;
}

impl Reported for RetentionReport {
    fn plan(&self) -> &dyn std::fmt::Display {
        &self.plan
    }

    fn changes(&self) -> String {
        let (deleted, kept) = (self.sets_soft_deleted, self.plan.kept.len());
        format!("soft-deleted {deleted} set(s), kept {kept}")
    }

    fn json(&self) -> Value {
        json!({
            "plan": retention_plan_json(&self.plan),
            "sets_soft_deleted": self.sets_soft_deleted,
        })
    }
}

impl Reported for PurgeReport {
    fn plan(&self) -> &dyn std::fmt::Display {
        &self.plan
    }

    fn changes(&self) -> String {
        let (sets, runs) = (self.sets_purged, self.runs_purged);
        format!("purged {sets} set(s) and {runs} run(s)")
    }

    fn json(&self) -> Value {
        json!({
            "plan": purge_plan_json(&self.plan),
            "sets_purged": self.sets_purged,
            "runs_purged": self.runs_purged,
        })
    }
}

/// What a retention or purge call did, for people.
pub fn describe<R: Reported>(execution: &Execution<R>) -> String {
    match execution {
        Execution::DryRun(report) => format!("{}\ndry run: nothing changed\n", report.plan()),
        Execution::Performed { run, report } => format!(
            "{}\nrun {} ({}) {}: {}\n",
            report.plan(),
            run.id(),
            run.run_type(),
            run.outcome(),
            report.changes()
        ),
        Execution::AlreadyActive(run) => not_redone(run, "active"),
        Execution::AlreadyCompleted(run) => not_redone(run, "completed"),
    }
}
