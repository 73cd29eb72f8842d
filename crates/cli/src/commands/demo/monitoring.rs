//! What monitoring sees: who may list the runs, the workspace's runs, the schedule's history.

use super::{ALICE, BOB, MALLORY, Seed, demo_error, heading, indent};
use crate::db::App;
use crate::error::CliResult;
use crate::output::{history_table, runs_table};
use operation_runs_ports::{RunFilter, RunListQuery};
use operation_runs_schedule_history::{HistoryQuery, ScheduleOperations};
use operation_runs_service::ServiceError;

/// Who may see the workspace's runs, and what each one is told.
pub(super) async fn access(app: &App, seed: &Seed) -> CliResult {
    heading(6, "Who may see the workspace's runs");
    let query = RunListQuery {
        workspace_id: seed.workspace,
        filter: RunFilter::default(),
        after: None,
        newer_than: None,
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

/// The workspace's runs and the schedule's history, as tables.
pub(super) async fn tables(app: &App, ops: &ScheduleOperations, seed: &Seed) -> CliResult {
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
                newer_than: None,
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

    println!();
    println!("To look at it in a browser:");
    let create = format!("oprun tokens create --user {ALICE}");
    println!("   {create:<32} # prints a token, once");
    println!(
        "   {:<32} # then sign in at http://127.0.0.1:8080/sign-in",
        "oprun serve"
    );
    println!(
        "   and open http://127.0.0.1:8080/workspaces/{}/operations",
        seed.workspace
    );
    Ok(())
}
