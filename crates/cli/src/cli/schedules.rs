//! `oprun schedules …` and `oprun reap`: their arguments.

use super::*;

/// `oprun schedules …`
#[derive(Debug, Subcommand)]
pub enum SchedulesCommand {
    /// A schedule's runs (backups, retention, purge), newest first.
    #[command(after_help = concat!("Examples:\n  oprun schedules history 3\n  oprun schedules history 3 --type backup_schedule_run --outcome failed --json", "\n\n", exit_codes!()))]
    History(HistoryArgs),
    /// Keep the backup sets of the newest N successful backups, soft-delete older ones.
    #[command(
        long_about = "Apply the schedule's retention: keep the backup sets of its newest N \
successful backup runs (N is the schedule's keep-last setting) and soft-delete the sets of \
older runs. The set of a queued or running backup is never touched. The retention records \
itself as a backup_schedule_retention run; --dry-run prints the plan and writes nothing.",
        after_help = concat!("Examples:\n  oprun schedules retention 3 --dry-run\n  oprun schedules retention 3", "\n\n", exit_codes!())
    )]
    Retention(RetentionArgs),
    /// Remove soft-deleted backup sets after a grace period, and old run history.
    #[command(
        long_about = "Purge a schedule: backup sets soft-deleted longer than --grace ago are \
removed for good, and the schedule's run history older than --keep-history is deleted (never an \
active run, never the newest run of each type). The purge records itself as a \
backup_schedule_purge run; --dry-run prints the plan and writes nothing.",
        after_help = concat!("Examples:\n  oprun schedules purge 3 --dry-run\n  oprun schedules purge 3 --grace 7d --keep-history 90d", "\n\n", exit_codes!())
    )]
    Purge(PurgeArgs),
}

/// `oprun schedules history`
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The backup schedule.
    #[arg(value_name = "SCHEDULE_ID")]
    pub id: i64,
    /// Read as this user: not a member of the schedule's workspace exits 3, a member without
    /// the capability to view operations exits 4.
    #[arg(long, value_name = "USER_ID")]
    pub as_user: Option<i64>,
    /// Only runs of these types (repeatable; default: all three schedule types).
    #[arg(long = "type", value_name = "TYPE", value_parser = parse::schedule_type)]
    pub run_types: Vec<RunType>,
    /// Only runs with these outcomes (repeatable).
    #[arg(long = "outcome", value_name = "OUTCOME")]
    pub outcomes: Vec<OutcomeArg>,
    /// Page size.
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub limit: u32,
    /// Continue after this cursor (printed at the end of the previous page).
    #[arg(long, value_name = "CURSOR", value_parser = parse::cursor)]
    pub cursor: Option<RunCursor>,
}

/// `oprun schedules retention`
#[derive(Debug, Args)]
pub struct RetentionArgs {
    /// The backup schedule.
    #[arg(value_name = "SCHEDULE_ID")]
    pub id: i64,
    /// Print the plan, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The scheduled time of this retention (same time twice: the second is a no-op);
    /// defaults to now.
    #[arg(long, value_name = "TIME", value_parser = parse::time)]
    pub scheduled_for: Option<chrono::DateTime<chrono::Utc>>,
}

/// `oprun schedules purge`
#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// The backup schedule.
    #[arg(value_name = "SCHEDULE_ID")]
    pub id: i64,
    /// Print the plan, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Remove backup sets soft-deleted longer ago than this.
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = parse::duration)]
    pub grace: chrono::Duration,
    /// Delete run history older than this.
    #[arg(long, value_name = "DURATION", default_value = "90d", value_parser = parse::duration)]
    pub keep_history: chrono::Duration,
    /// The scheduled time of this purge (same time twice: the second is a no-op); defaults
    /// to now.
    #[arg(long, value_name = "TIME", value_parser = parse::time)]
    pub scheduled_for: Option<chrono::DateTime<chrono::Utc>>,
}

/// `oprun reap`
#[derive(Debug, Args)]
pub struct ReapArgs {
    /// Reap runs whose heartbeat is older than this (e.g. 30m, 2h, 1d).
    #[arg(long, value_name = "DURATION", value_parser = parse::duration)]
    pub older_than: chrono::Duration,
    /// Reap at most this many runs.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: u32,
}
