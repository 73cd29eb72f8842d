//! `oprun runs …`: the arguments of each run command.

use super::*;

/// `oprun runs …`
#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// Record a queued run, or print the active run of the same identity.
    #[command(
        long_about = "Record a queued run, or print the active run of the same identity.\n\n\
At most one run per (workspace, identity) is active: the identity is the workspace, the tenant, \
the type and the --identity object (key order does not matter). Concurrent invocations with one \
identity all print the same id; all but one say `reused`.",
        after_help = concat!("Examples:\n  oprun runs start --workspace 1 --tenant 1 --type inventory_sync --identity '{\"selection\":\"all\"}'\n  oprun runs start --workspace 1 --tenant 1 --type backup_schedule_run --context '{\"backup_schedule_id\":3}' --json\n    {\"id\":42,\"reused\":false,\"status\":\"queued\"}", "\n\n", exit_codes!())
    )]
    Start(StartArgs),
    /// Mark a queued run as running.
    #[command(after_help = concat!("Example:\n  oprun runs begin 42", "\n\n", exit_codes!()))]
    Begin(RunIdArg),
    /// Add to a run's counts (and bump its heartbeat).
    #[command(
        long_about = "Add to a run's counts and bump its heartbeat. Counts add up: two updates of \
processed=5 leave processed at 10. Only the count names the run's type declares are accepted \
(see `oprun types`).",
        after_help = concat!("Examples:\n  oprun runs progress 42 --count items_seen=120 --count processed=120\n  oprun runs progress 42 --counts '{\"items_seen\":120}'", "\n\n", exit_codes!())
    )]
    Progress(ProgressArgs),
    /// Complete a run with an outcome, optional failures and final counts.
    #[command(
        long_about = "Complete a run with an outcome. Failures are stored sanitized (secrets such \
as bearer tokens are redacted). Counts given here are added in the same write that completes \
the run: when the completion is refused (exit 5) or a count is refused (exit 1), nothing is \
stored. A queued run can only be completed as failed or cancelled; a completed run is final.",
        after_help = concat!("Examples:\n  oprun runs complete 42 --outcome succeeded\n  oprun runs complete 42 --outcome partially_succeeded --count failed=2 --failure group_sync_failed='group 7: timeout'\n  oprun runs complete 42 --outcome failed --failures '[{\"code\":\"api_error\",\"message\":\"HTTP 500\"}]'", "\n\n", exit_codes!())
    )]
    Complete(CompleteArgs),
    /// List a workspace's runs, newest first, as a member sees them.
    #[command(
        long_about = "List a workspace's runs, newest first, as a member sees them. A user who is \
not a member of the workspace gets `not found` (exit 3); a member without the capability to \
view operations gets `forbidden` (exit 4). Pages are walked with the printed --cursor.",
        after_help = concat!("Examples:\n  oprun runs list --as-user 7 --workspace 1\n  oprun runs list --as-user 7 --workspace 1 --type backup_schedule_run --outcome failed --since 1d\n  oprun runs list --as-user 7 --workspace 1 --limit 50 --cursor r1234 --json", "\n\n", exit_codes!())
    )]
    List(ListArgs),
    /// Show one run of a workspace, as a member sees it.
    #[command(
        long_about = "Show one run of a workspace, as a member sees it: exit 3 when the run does \
not exist, belongs to another workspace, or the user is not a member; exit 4 when the user may \
not view operations.",
        after_help = concat!("Examples:\n  oprun runs show 42 --as-user 7 --workspace 1\n  oprun runs show 42 --as-user 7 --workspace 1 --json", "\n\n", exit_codes!())
    )]
    Show(ShowArgs),
}

/// A run id argument.
#[derive(Debug, Args)]
pub struct RunIdArg {
    /// The run.
    #[arg(value_name = "RUN_ID")]
    pub id: i64,
}

/// `oprun runs start`
#[derive(Debug, Args)]
pub struct StartArgs {
    /// The workspace the run belongs to.
    #[arg(long, value_name = "ID")]
    pub workspace: i64,
    /// The tenant (required by tenant-scoped types, refused by workspace-scoped ones).
    #[arg(long, value_name = "ID")]
    pub tenant: Option<i64>,
    /// The run type: a canonical id of the allow-list (see `oprun types`).
    #[arg(long = "type", value_name = "TYPE")]
    pub run_type: String,
    /// What makes two starts the same operation, as a JSON object.
    #[arg(long, value_name = "JSON", default_value = "{}", value_parser = parse::json_object)]
    pub identity: serde_json::Value,
    /// Type-specific data, as a JSON object (ids as integers, e.g. {"backup_schedule_id":3}).
    #[arg(long, value_name = "JSON", value_parser = parse::context)]
    pub context: Option<RunContext>,
    /// Display name of who starts the run (a person, `scheduler`, `system`).
    #[arg(long, value_name = "NAME", default_value = "oprun")]
    pub initiator: String,
    /// The id of the person who starts the run.
    #[arg(long, value_name = "ID")]
    pub user: Option<i64>,
}

/// Counts given as flags or as JSON.
#[derive(Debug, Args, Default)]
pub struct CountArgs {
    /// A count to add, as NAME=VALUE (repeatable).
    #[arg(long = "count", value_name = "NAME=VALUE", value_parser = parse::count_pair)]
    pub count: Vec<(String, i64)>,
    /// Counts to add, as a JSON object of integers.
    #[arg(long, value_name = "JSON", value_parser = parse::counts_json)]
    pub counts: Option<parse::CountsJson>,
}

impl CountArgs {
    /// All counts given, flags first.
    pub fn all(&self) -> Vec<(String, i64)> {
        let mut all = self.count.clone();
        all.extend(self.counts.iter().flat_map(|c| c.0.iter().cloned()));
        all
    }
}

/// `oprun runs progress`
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("counts_given").args(["count", "counts"]).required(true).multiple(true)))]
pub struct ProgressArgs {
    /// The run.
    #[arg(value_name = "RUN_ID")]
    pub id: i64,
    /// The counts.
    #[command(flatten)]
    pub counts: CountArgs,
}

/// A final outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum FinalOutcome {
    /// Everything worked.
    Succeeded,
    /// Some items failed.
    PartiallySucceeded,
    /// The operation failed.
    Failed,
    /// Cancelled.
    Cancelled,
}

impl From<FinalOutcome> for RunOutcome {
    fn from(value: FinalOutcome) -> Self {
        match value {
            FinalOutcome::Succeeded => Self::Succeeded,
            FinalOutcome::PartiallySucceeded => Self::PartiallySucceeded,
            FinalOutcome::Failed => Self::Failed,
            FinalOutcome::Cancelled => Self::Cancelled,
        }
    }
}

/// `oprun runs complete`
#[derive(Debug, Args)]
pub struct CompleteArgs {
    /// The run.
    #[arg(value_name = "RUN_ID")]
    pub id: i64,
    /// How the run ended.
    #[arg(long, value_name = "OUTCOME")]
    pub outcome: FinalOutcome,
    /// A failure, as CODE=MESSAGE with a snake_case code (repeatable).
    #[arg(long = "failure", value_name = "CODE=MESSAGE", value_parser = parse::failure_pair)]
    pub failure: Vec<Failure>,
    /// Failures, as a JSON array of {"code": …, "message": …} objects.
    #[arg(long, value_name = "JSON", value_parser = parse::failures_json)]
    pub failures: Option<parse::FailuresJson>,
    /// Final counts, added in the same write that completes the run.
    #[command(flatten)]
    pub counts: CountArgs,
}

impl CompleteArgs {
    /// All failures given, flags first.
    pub fn failure_summary(&self) -> FailureSummary {
        let mut summary = FailureSummary::new();
        for failure in self
            .failure
            .iter()
            .chain(self.failures.iter().flat_map(|f| f.0.iter()))
        {
            summary.push(failure.clone());
        }
        summary
    }
}

/// Who reads, and in which workspace.
#[derive(Debug, Args)]
pub struct ViewerArgs {
    /// The user reading (their membership decides what they may see).
    #[arg(long, value_name = "USER_ID")]
    pub as_user: i64,
    /// The workspace.
    #[arg(long, value_name = "ID")]
    pub workspace: i64,
}

/// A status filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum StatusArg {
    /// Recorded, not started.
    Queued,
    /// Started.
    Running,
    /// Final.
    Completed,
}

impl From<StatusArg> for RunStatus {
    fn from(value: StatusArg) -> Self {
        match value {
            StatusArg::Queued => Self::Queued,
            StatusArg::Running => Self::Running,
            StatusArg::Completed => Self::Completed,
        }
    }
}

/// An outcome filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum OutcomeArg {
    /// Not completed yet.
    Pending,
    /// Everything worked.
    Succeeded,
    /// Some items failed.
    PartiallySucceeded,
    /// The operation failed.
    Failed,
    /// Cancelled.
    Cancelled,
}

impl From<OutcomeArg> for RunOutcome {
    fn from(value: OutcomeArg) -> Self {
        match value {
            OutcomeArg::Pending => Self::Pending,
            OutcomeArg::Succeeded => Self::Succeeded,
            OutcomeArg::PartiallySucceeded => Self::PartiallySucceeded,
            OutcomeArg::Failed => Self::Failed,
            OutcomeArg::Cancelled => Self::Cancelled,
        }
    }
}

/// `oprun runs list`
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Who reads where.
    #[command(flatten)]
    pub viewer: ViewerArgs,
    /// Only runs of this stored type.
    #[arg(long = "type", value_name = "TYPE")]
    pub run_type: Option<String>,
    /// Only runs with this status.
    #[arg(long, value_name = "STATUS")]
    pub status: Option<StatusArg>,
    /// Only runs with this outcome.
    #[arg(long, value_name = "OUTCOME")]
    pub outcome: Option<OutcomeArg>,
    /// Only runs of this tenant.
    #[arg(long, value_name = "ID")]
    pub tenant: Option<i64>,
    /// Only runs created at or after TIME (RFC 3339, a date, or a duration ago such as 2h).
    #[arg(long, value_name = "TIME", value_parser = parse::time)]
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Only runs created before TIME (RFC 3339, a date, or a duration ago such as 2h).
    #[arg(long, value_name = "TIME", value_parser = parse::time)]
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// Page size.
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_PAGE_SIZE)))]
    pub limit: u32,
    /// Continue after this cursor (printed at the end of the previous page).
    #[arg(long, value_name = "CURSOR", value_parser = parse::cursor)]
    pub cursor: Option<RunCursor>,
}

/// `oprun runs show`
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The run.
    #[arg(value_name = "RUN_ID")]
    pub id: i64,
    /// Who reads where.
    #[command(flatten)]
    pub viewer: ViewerArgs,
}
