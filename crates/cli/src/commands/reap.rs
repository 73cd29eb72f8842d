//! `oprun reap`: completing stale runs.

use crate::cli::{GlobalArgs, ReapArgs};
use crate::db;
use crate::error::{CliError, CliResult};
use crate::output::print_json;
use serde_json::json;

/// Reaps stale runs.
pub async fn run(global: &GlobalArgs, args: &ReapArgs) -> CliResult {
    let app = db::open(&global.database_url).await?;
    let report = app
        .service
        .reap_stale(args.older_than, args.limit)
        .await
        .map_err(|e| CliError::service("stale runs", e))?;
    let ids =
        |ids: &[operation_runs_domain::RunId]| ids.iter().map(|id| id.get()).collect::<Vec<_>>();
    if global.json {
        print_json(&json!({
            "reaped": ids(&report.reaped),
            "lost_races": ids(&report.lost_races),
        }));
        return Ok(());
    }
    let list = |ids: &[operation_runs_domain::RunId]| {
        ids.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if report.reaped.is_empty() {
        println!("no stale runs");
    } else {
        println!(
            "reaped {} stale run(s) as failed (run_stale): {}",
            report.reaped.len(),
            list(&report.reaped)
        );
    }
    if !report.lost_races.is_empty() {
        println!(
            "left {} run(s) alone that changed meanwhile: {}",
            report.lost_races.len(),
            list(&report.lost_races)
        );
    }
    Ok(())
}
