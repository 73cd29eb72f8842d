//! `oprun runs …`: recording runs from scripts, and the monitoring reads.

use crate::cli::{CompleteArgs, CountArgs, GlobalArgs, ListArgs, RunsCommand, ShowArgs, StartArgs};
use crate::db::{self, App};
use crate::error::{CliError, CliResult, forbidden_viewer};
use crate::output::{print_json, print_page, run_details, run_json, runs_table};
use operation_runs_domain::{OperationRun, RunId, TenantId, UserId, WorkspaceId};
use operation_runs_ports::{RunFilter, RunListQuery};
use operation_runs_service::{ServiceError, StartRequest};
use serde_json::json;

/// Runs a runs subcommand.
pub async fn run(global: &GlobalArgs, command: RunsCommand) -> CliResult {
    let app = db::open_with_types(global).await?;
    match command {
        RunsCommand::Start(args) => start(global, &app, args).await,
        RunsCommand::Begin(arg) => {
            let id = RunId::new(arg.id);
            let run = app
                .service
                .begin(id)
                .await
                .map_err(|e| CliError::service(&format!("run {id}"), e))?;
            print_changed(global, &run, "running");
            Ok(())
        }
        RunsCommand::Progress(args) => {
            let run = progress(&app, RunId::new(args.id), &args.counts).await?;
            print_changed(global, &run, "counts updated");
            Ok(())
        }
        RunsCommand::Complete(args) => complete(global, &app, &args).await,
        RunsCommand::List(args) => list(global, &app, &args).await,
        RunsCommand::Show(args) => show(global, &app, &args).await,
    }
}

fn print_changed(global: &GlobalArgs, run: &OperationRun, what: &str) {
    if global.json {
        print_json(&run_json(run));
    } else {
        println!(
            "run {}: {what} ({} {}, counts: {})",
            run.id(),
            run.status(),
            run.outcome(),
            crate::output::counts(run)
        );
    }
}

async fn start(global: &GlobalArgs, app: &App, args: StartArgs) -> CliResult {
    let mut request = StartRequest::new(
        WorkspaceId::new(args.workspace),
        args.run_type.clone(),
        args.initiator,
    )
    .identity(args.identity);
    if let Some(tenant) = args.tenant {
        request = request.tenant(TenantId::new(tenant));
    }
    if let Some(user) = args.user {
        request = request.user(UserId::new(user));
    }
    if let Some(context) = args.context {
        request = request.context(context);
    }
    let started = app
        .service
        .start(request)
        .await
        .map_err(|e| CliError::service(&format!("a new `{}` run", args.run_type), e))?;
    let run = started.run();
    if global.json {
        print_json(&json!({
            "id": run.id().get(),
            "reused": started.is_reused(),
            "status": run.status().ok().map(|s| s.as_str()),
        }));
    } else if started.is_reused() {
        println!(
            "run {} reused: a {} run of this identity is already active",
            run.id(),
            run.status()
        );
    } else {
        println!("run {} started (new, queued)", run.id());
    }
    Ok(())
}

async fn progress(app: &App, id: RunId, counts: &CountArgs) -> CliResult<OperationRun> {
    let all = counts.all();
    let pairs = all
        .iter()
        .map(|(name, value)| (name.as_str(), *value))
        .collect::<Vec<_>>();
    app.service
        .record_progress(id, &pairs)
        .await
        .map_err(|e| CliError::service(&format!("run {id}"), e))
}

async fn complete(global: &GlobalArgs, app: &App, args: &CompleteArgs) -> CliResult {
    let id = RunId::new(args.id);
    let all = args.counts.all();
    let pairs = all
        .iter()
        .map(|(name, value)| (name.as_str(), *value))
        .collect::<Vec<_>>();
    // One write: a refused completion must not leave its counts behind.
    let run = app
        .service
        .complete_with_counts(id, args.outcome.into(), args.failure_summary(), &pairs)
        .await
        .map_err(|e| CliError::service(&format!("run {id}"), e))?;
    print_changed(global, &run, "completed");
    Ok(())
}

async fn list(global: &GlobalArgs, app: &App, args: &ListArgs) -> CliResult {
    let workspace = WorkspaceId::new(args.viewer.workspace);
    let query = RunListQuery {
        workspace_id: workspace,
        filter: RunFilter {
            run_type: args.run_type.clone(),
            status: args.status.map(Into::into),
            outcome: args.outcome.map(Into::into),
            tenant_id: args.tenant.map(TenantId::new),
            created_from: args.since,
            created_before: args.until,
        },
        after: args.cursor,
        newer_than: None,
        limit: args.limit,
    };
    let page = app
        .service
        .list_runs(UserId::new(args.viewer.as_user), &query)
        .await
        .map_err(|e| match e {
            ServiceError::Forbidden => forbidden_viewer(args.viewer.as_user, workspace),
            other => CliError::service(&format!("workspace {workspace}"), other),
        })?;
    let next = page.next.map(|c| c.encode());
    if global.json {
        print_json(&json!({
            "runs": page.runs.iter().map(run_json).collect::<Vec<_>>(),
            "next_cursor": next,
        }));
        return Ok(());
    }
    print_page(&page.runs, |runs| runs_table(runs), next);
    Ok(())
}

async fn show(global: &GlobalArgs, app: &App, args: &ShowArgs) -> CliResult {
    let id = RunId::new(args.id);
    let run = app
        .service
        .show_run(
            UserId::new(args.viewer.as_user),
            WorkspaceId::new(args.viewer.workspace),
            id,
        )
        .await
        .map_err(|e| match e {
            ServiceError::Forbidden => forbidden_viewer(args.viewer.as_user, args.viewer.workspace),
            other => CliError::service(&format!("run {id}"), other),
        })?;
    if global.json {
        print_json(&run_json(&run));
    } else {
        print!("{}", run_details(&run));
    }
    Ok(())
}
