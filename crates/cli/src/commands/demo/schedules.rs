//! A backup schedule's runs: scheduled backups (one failing), retention and purge.

use super::{Seed, demo_error, heading, indent};
use crate::commands::schedules::describe;
use crate::error::CliResult;
use crate::output::first_failure;
use chrono::{DateTime, Duration, SecondsFormat, SubsecRound, Utc};
use operation_runs_ports::BackupSchedule;
use operation_runs_schedule_history::{
    BackupContent, BackupSourceError, Execution, Mode, PurgePolicy, ScheduleOperations,
    ScheduleRequest, source_fn,
};

/// Scheduled times after every earlier demo's, so each demo records new backups.
async fn first_slot(ops: &ScheduleOperations, seed: &Seed) -> CliResult<DateTime<Utc>> {
    let latest = ops
        .history()
        .latest(seed.workspace, seed.schedule.id)
        .await
        .map_err(|e| demo_error("reading the schedule's history", e))?;
    let earlier = latest
        .backup
        .and_then(|run| run.context().ok().and_then(|c| c.scheduled_for()))
        .map(|at| at + Duration::hours(1));
    let default = Utc::now().trunc_subsecs(0) - Duration::hours(4);
    Ok(earlier.map_or(default, |e| Ord::max(e, default)))
}

/// Records four scheduled backups; returns the last scheduled time.
pub(super) async fn scheduled_backups(
    ops: &ScheduleOperations,
    seed: &Seed,
) -> CliResult<DateTime<Utc>> {
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

pub(super) async fn retention_and_purge(
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
    indent(&describe(&retention));
    // A zero grace period and history window, so the demo shows the purge doing something.
    let policy = PurgePolicy::new(Duration::zero(), Duration::zero());
    let plan = ops
        .purge(&request, policy, Mode::DryRun)
        .await
        .map_err(|e| demo_error("purge (dry run)", e))?;
    println!("   purge, dry run first (grace 0s, history window 0s):");
    indent(&describe(&plan));
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
        other => indent(&describe(other)),
    }
    Ok(())
}
