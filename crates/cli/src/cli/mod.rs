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
multi-tenant product, stored in SQLite (the default), PostgreSQL or MariaDB.",
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
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DB` or `mysql://USER[:PASSWORD]@HOST[:PORT]/DB`
    /// (MariaDB 10.6+). Quote a URL containing `?`.
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

mod runs;
mod schedules;

pub use runs::*;
pub use schedules::*;
