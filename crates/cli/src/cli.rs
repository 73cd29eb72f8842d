//! The command line, as clap parses it.

use crate::parse;
use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use operation_runs_domain::{Failure, FailureSummary, RunContext, RunOutcome, RunStatus, RunType};
use operation_runs_ports::RunCursor;
use operation_runs_service::MAX_PAGE_SIZE;

/// Where `oprun` keeps its data unless told otherwise: a SQLite file in the current directory,
/// created on first use.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://oprun.db?mode=rwc";

/// The exit codes, for the `--help` of the commands that use them.
macro_rules! exit_codes {
    () => {
        "Exit codes:\n  \
0  ok\n  \
1  error: cannot connect, bad database URL, migrations pending, request refused, storage\n     \
failure, demo on a database awaiting the cutover\n  \
2  usage: unknown flag, missing argument, a value that does not parse (invalid JSON, NAME=VALUE,\n     \
duration, time, cursor), migrate fresh or a data-losing migrate down without --yes\n  \
3  not found: no such run or schedule, or the user is not a member of its workspace\n  \
4  forbidden: the user is a member without the capability to view operations\n  \
5  conflict: illegal lifecycle transition, or another writer changed the run first\n  \
6  preflight --strict, or migrate up without --accept-data-loss: the cutover would lose data\n  \
7  preflight --strict: the cutover would refuse to start (rows breaking foreign keys; fix them first)"
    };
}

const TOP_AFTER_HELP: &str = concat!(
    "Examples:\n",
    "  oprun demo                          # the product end to end in ./oprun.db\n",
    "  oprun migrate up --database-url postgres://app@db.internal/ops\n",
    "  oprun runs start --workspace 1 --tenant 1 --type inventory_sync --identity '{\"selection\":\"all\"}'\n",
    "  oprun runs list --as-user 1 --workspace 1 --status running --json\n",
    "\n",
    exit_codes!(),
);

/// Record, inspect and maintain operation runs.
#[derive(Debug, Parser)]
#[command(
    name = "oprun",
    version,
    about = "Record, inspect and maintain operation runs",
    long_about = "Record, inspect and maintain operation runs: the canonical history of background \
operations (inventory syncs, directory group syncs, scheduled backups, drift generation) of a \
multi-tenant product, stored in SQLite (the default) or PostgreSQL.",
    after_help = TOP_AFTER_HELP,
)]
pub struct Cli {
    /// Options every command accepts.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts, before or after the subcommand.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Database to use: `sqlite://FILE` (only `migrate` and `demo` create a missing file) or
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DB`. Quote a URL containing `?`.
    #[arg(
        long,
        global = true,
        env = "DATABASE_URL",
        hide_env_values = true,
        default_value = DEFAULT_DATABASE_URL,
        value_name = "URL"
    )]
    pub database_url: String,

    /// Print machine-readable JSON instead of human tables.
    #[arg(long, global = true)]
    pub json: bool,

    /// Allow a host's own run types besides the built-ins (`runs`, `serve`, `types`): a JSON
    /// file `[{"id": "policy_export", "scope": "tenant", "counts": ["policies_exported"],
    /// "legacy_spellings": ["policy.export"]}]`.
    #[arg(long, global = true, env = "OPRUN_TYPES", value_name = "FILE")]
    pub types: Option<std::path::PathBuf>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the product end to end on a demo workspace, printing what happens.
    #[command(
        long_about = "Run the product end to end on a demo workspace, printing what happens.\n\n\
Creates (or reuses) the database, applies the migrations, seeds a demo workspace (idempotently: \
a second run reuses the rows of the first), then records an inventory sync (a second start is \
reused), an Entra group sync with a partial failure, drift findings between two inventory syncs, \
several scheduled backups (one failing), retention and purge, and prints the workspace's \
operations and the schedule's history. Running it again adds another round of runs.\n\n\
It runs on a new (empty) database or a fully migrated one. A database part-way through its \
migrations, or holding run tables without a record of its migrations, is a real database \
before the cutover: the demo refuses it (exit 1) rather than drop its legacy history and mix \
demo rows into its data; upgrade it with `oprun preflight` and `oprun migrate up`.",
        after_help = "Example:\n  oprun demo                                   # ./oprun.db\n  oprun demo --database-url 'sqlite:///tmp/demo.db?mode=rwc'   # quoted: `?` is a shell wildcard"
    )]
    Demo,

    /// Apply, roll back or inspect the database migrations.
    #[command(
        subcommand,
        long_about = "Apply, roll back or inspect the database migrations: the pre-cutover baseline \
and the cutover that makes operation_runs the only run system. Run `oprun preflight` before \
applying the cutover to an existing database.",
        after_help = concat!("Examples:\n  oprun migrate status\n  oprun migrate up\n  oprun migrate down\n  oprun migrate down --steps 3 --yes\n  oprun migrate fresh --yes", "\n\n", exit_codes!())
    )]
    Migrate(MigrateCommand),

    /// Report what the cutover migrations would lose, before applying them.
    #[command(
        long_about = "Report what the cutover migrations would lose, before applying them: legacy \
runs without a bridge to a canonical run, references that will become null, dotted run types \
not on the allow-list, duplicate active identities, and rows that would make the cutover refuse \
to start (on SQLite, rows breaking foreign keys; shown first). Runs on a database with pending \
migrations (that is its purpose). An empty database has nothing to lose: the report says so \
and exits 0, so `oprun preflight --strict && oprun migrate up` also sets up a new database.",
        after_help = concat!("Examples:\n  oprun preflight\n  oprun preflight --json\n  oprun preflight --strict && oprun migrate up   # exit 6 when anything would be lost, 7 when the cutover would refuse to start", "\n\n", exit_codes!())
    )]
    Preflight(PreflightArgs),

    /// Record runs from scripts and cron jobs, and read a workspace's runs.
    #[command(
        subcommand,
        after_help = concat!("Examples:\n  oprun runs start --workspace 1 --tenant 1 --type inventory_sync --identity '{\"selection\":\"all\"}'\n  oprun runs begin 42\n  oprun runs progress 42 --count items_seen=120 --count processed=120\n  oprun runs complete 42 --outcome succeeded\n  oprun runs list --as-user 7 --workspace 1 --type inventory_sync --limit 20", "\n\n", exit_codes!())
    )]
    Runs(RunsCommand),

    /// Read a backup schedule's history, apply its retention, purge it.
    #[command(
        subcommand,
        after_help = concat!("Examples:\n  oprun schedules history 3\n  oprun schedules retention 3 --dry-run\n  oprun schedules purge 3 --grace 7d --keep-history 90d", "\n\n", exit_codes!())
    )]
    Schedules(SchedulesCommand),

    /// Complete runs whose heartbeat stopped as `failed` with failure code `run_stale`.
    #[command(
        long_about = "Complete runs whose heartbeat stopped as `failed` with failure code \
`run_stale`. A run is stale when it is queued or running and its heartbeat (updated_at, bumped \
by every progress update) is older than --older-than. Each run is completed with a \
compare-and-set, so a run that finishes meanwhile is left alone.",
        after_help = "Examples:\n  oprun reap --older-than 30m\n  oprun reap --older-than 1d --limit 1000 --json"
    )]
    Reap(ReapArgs),

    /// List the run types new runs may use (the allow-list), with scope, count names and
    /// legacy spellings.
    #[command(after_help = "Examples:\n  oprun types\n  oprun types --json")]
    Types,

    /// Serve the monitoring pages and the JSON API over HTTP.
    #[command(
        long_about = "Serve the monitoring pages (a workspace's operations, a run, a backup \
schedule's history) and the JSON API under /api, with its OpenAPI document at \
/api/openapi.json. Who asks is told by an API token (`oprun tokens create`): scripts send \
`Authorization: Bearer TOKEN`; people sign in at /sign-in with the token, which sets an \
HttpOnly, SameSite=Strict session cookie. Prints `listening on http://ADDRESS` once it \
accepts connections; stops gracefully on Ctrl-C or SIGTERM, finishing requests in flight.",
        after_help = "Examples:\n  oprun demo && oprun tokens create --user 1 && oprun serve\n  oprun serve --listen 0.0.0.0:8080 --database-url postgres://app@db.internal/ops\n  curl -H 'Authorization: Bearer oprun_…' http://127.0.0.1:8080/api/workspaces/1/operations"
    )]
    Serve(ServeArgs),

    /// Create, list and revoke the API tokens `oprun serve` accepts.
    #[command(
        subcommand,
        after_help = "Examples:\n  oprun tokens create --user 1 --name laptop\n  oprun tokens list --user 1\n  oprun tokens revoke 3"
    )]
    Tokens(TokensCommand),
}

/// `oprun serve`
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on (port 0: any free port, printed at start).
    #[arg(long, value_name = "ADDRESS", default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
}

/// `oprun tokens …`
#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Create a token for a user and print it once (only its SHA-256 is stored).
    #[command(
        after_help = "Examples:\n  oprun tokens create --user 1\n  oprun tokens create --user 1 --name ci --json"
    )]
    Create {
        /// The user the token signs in.
        #[arg(long, value_name = "ID", value_parser = clap::value_parser!(i64).range(1..))]
        user: i64,
        /// A label to recognise it by in `tokens list`.
        #[arg(long, value_name = "NAME", default_value = "token")]
        name: String,
    },
    /// List tokens (never the tokens themselves), oldest first.
    List {
        /// Only this user's tokens.
        #[arg(long, value_name = "ID")]
        user: Option<i64>,
    },
    /// Revoke a token: it signs nobody in any more, sessions included.
    Revoke {
        /// The token's id (from `tokens list`).
        #[arg(value_name = "TOKEN_ID")]
        id: i64,
    },
}

/// `oprun migrate …`
#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Apply pending migrations (all, or the next N), showing the backfill's progress.
    #[command(
        long_about = "Apply pending migrations (all, or the next N), showing the backfill's \
progress on stderr: a bar per table (rows done, total, rate, time left) on a terminal, a line per \
batch otherwise.\n\n\
Before a destructive cutover step (dropping the legacy reference columns or run tables, \
superseding duplicate active runs) it runs the preflight. When the cutover would lose data it \
refuses with exit 6, printing the preflight on stderr and applying nothing, unless \
--accept-data-loss is given. A new database and a lossless cutover need no flag.\n\n\
On PostgreSQL the cutover runs beside the application: each schema change waits at most 3 s for \
its table lock (OPRUN_MIGRATION_LOCK_TIMEOUT_MS) and is retried with backoff, logging each retry, \
so the application's queries queue behind it for at most that long; the backfill commits batch by batch \
(OPRUN_MIGRATION_BATCH_ROWS); indexes are built CONCURRENTLY and foreign keys added NOT VALID, \
then validated. Killed at any point, running `migrate up` again finishes the job. On SQLite each \
step is one exclusive transaction: other writers wait, so run it in a quiet window.",
        after_help = concat!("Examples:\n  oprun migrate up\n  oprun migrate up --steps 1\n  oprun preflight; oprun migrate up --accept-data-loss   # after reading what is lost", "\n\n", exit_codes!())
    )]
    Up {
        /// Apply only the next N pending migrations.
        #[arg(long, value_name = "N")]
        steps: Option<u32>,
        /// Apply the cutover even though the preflight says it loses data (legacy runs without
        /// a canonical run, references that become null, superseded duplicate active runs).
        #[arg(long)]
        accept_data_loss: bool,
    },
    /// Roll back the last applied migration (or the last N).
    #[command(
        long_about = "Roll back the last applied migration (or the last N). Rolling back more \
than one, or one that cannot give back the data its `up` removed, needs --yes: the cutover's \
legacy columns and tables come back empty, the findings' run references are dropped, the \
baseline drops every table and the API tokens' migration drops every token. Rolling back only \
the cutover's index step does not.",
        after_help = "Examples:\n  oprun migrate down\n  oprun migrate down --steps 3 --yes"
    )]
    Down {
        /// How many migrations to roll back.
        #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        steps: u32,
        /// Confirm a rollback of several migrations, or of one that loses data.
        #[arg(long)]
        yes: bool,
    },
    /// List every migration and whether it is applied.
    #[command(after_help = "Examples:\n  oprun migrate status\n  oprun migrate status --json")]
    Status,
    /// Drop every table and apply all migrations again (destroys all data).
    #[command(after_help = "Example:\n  oprun migrate fresh --yes")]
    Fresh {
        /// Confirm that every table may be dropped.
        #[arg(long)]
        yes: bool,
    },
}

/// `oprun preflight`
#[derive(Debug, Args)]
pub struct PreflightArgs {
    /// Exit with code 7 when the cutover would refuse to start, 6 when it would lose data.
    #[arg(long)]
    pub strict: bool,
}

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
