//! A typed driver for `oprun`: a builder per command line, a typed reply.
//!
//! ```ignore
//! let run = Oprun::on(&db)
//!     .runs_start(seed.workspace, "inventory_sync")
//!     .tenant(seed.tenant)
//!     .identity(json!({"selection": "all"}))
//!     .ok_json();
//! ```

use super::{Ran, assert_error_line};
use super::{Seed, databases, seed};
use operation_runs_migration::fixtures::{EdgeCaseExpectations, seed_legacy_edge_cases};
use operation_runs_tests::TestDb;
use serde_json::Value;
use std::fmt::Display;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// Where and how `oprun` runs: the database URL it is given (if any), its working directory
/// and extra environment. Commands are built from it with [`Oprun::cmd`] and the shortcuts.
#[derive(Debug, Clone, Default)]
pub struct Oprun {
    url: Option<String>,
    dir: Option<PathBuf>,
    env: Vec<(String, String)>,
}

impl Oprun {
    /// `oprun --database-url` the test database.
    pub fn on(db: &TestDb) -> Self {
        Self::url(&db.url)
    }

    /// `oprun --database-url URL`.
    pub fn url(url: &str) -> Self {
        Self {
            url: Some(url.to_owned()),
            ..Self::default()
        }
    }

    /// `oprun` without `--database-url`: the default database, or the environment's.
    pub fn bare() -> Self {
        Self::default()
    }

    /// Runs in `dir` (where the default `oprun.db` and relative SQLite paths live).
    pub fn in_dir(mut self, dir: &Path) -> Self {
        self.dir = Some(dir.to_path_buf());
        self
    }

    /// Runs with an extra environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Any command line: `oprun ARGS…`.
    pub fn cmd<A: Display>(&self, args: impl IntoIterator<Item = A>) -> Invocation {
        Invocation {
            on: self.clone(),
            args: args.into_iter().map(|a| a.to_string()).collect(),
            json: false,
        }
    }

    /// `oprun runs start --workspace WS --type TYPE`.
    pub fn runs_start(&self, workspace: impl Display, run_type: &str) -> Invocation {
        self.cmd(["runs", "start"])
            .flag("--workspace", workspace)
            .flag("--type", run_type)
    }

    /// `oprun runs begin RUN`.
    pub fn runs_begin(&self, run: impl Display) -> Invocation {
        self.cmd(["runs", "begin"]).arg(run)
    }

    /// `oprun runs progress RUN` (add `.count(…)` / `.counts(…)`).
    pub fn runs_progress(&self, run: impl Display) -> Invocation {
        self.cmd(["runs", "progress"]).arg(run)
    }

    /// `oprun runs complete RUN --outcome OUTCOME`.
    pub fn runs_complete(&self, run: impl Display, outcome: &str) -> Invocation {
        self.cmd(["runs", "complete"])
            .arg(run)
            .flag("--outcome", outcome)
    }

    /// `oprun runs show RUN --as-user USER --workspace WS`.
    pub fn runs_show(
        &self,
        run: impl Display,
        as_user: impl Display,
        workspace: impl Display,
    ) -> Invocation {
        self.cmd(["runs", "show"])
            .arg(run)
            .flag("--as-user", as_user)
            .flag("--workspace", workspace)
    }

    /// `oprun runs list --as-user USER --workspace WS`.
    pub fn runs_list(&self, as_user: impl Display, workspace: impl Display) -> Invocation {
        self.cmd(["runs", "list"])
            .flag("--as-user", as_user)
            .flag("--workspace", workspace)
    }

    /// `oprun schedules SUBCOMMAND SCHEDULE` (`history`, `retention`, `purge`).
    pub fn schedules(&self, subcommand: &str, schedule: impl Display) -> Invocation {
        self.cmd(["schedules", subcommand]).arg(schedule)
    }

    /// `oprun reap --older-than AGE`.
    pub fn reap(&self, older_than: &str) -> Invocation {
        self.cmd(["reap", "--older-than", older_than])
    }

    /// `oprun migrate SUBCOMMAND`.
    pub fn migrate(&self, subcommand: &str) -> Invocation {
        self.cmd(["migrate", subcommand])
    }

    /// How many migrations `oprun migrate status` reports applied.
    #[track_caller]
    pub fn applied_migrations(&self) -> usize {
        self.migrate("status")
            .ok_json()
            .as_array()
            .expect("a list of migrations")
            .iter()
            .filter(|m| m["applied"] == true)
            .count()
    }
}

/// One `fn NAME(self, value) -> Self` per flag, appending `FLAG VALUE`.
macro_rules! flag_setters {
    ($($(#[$doc:meta])* $name:ident => $flag:literal;)+) => {
        $(
            $(#[$doc])*
            pub fn $name(self, value: impl Display) -> Self {
                self.flag($flag, value)
            }
        )+
    };
}

/// One `oprun` command line, ready to run.
#[derive(Debug, Clone)]
#[must_use]
pub struct Invocation {
    on: Oprun,
    args: Vec<String>,
    json: bool,
}

impl Invocation {
    /// Appends one argument.
    pub fn arg(mut self, arg: impl Display) -> Self {
        self.args.push(arg.to_string());
        self
    }

    /// Appends several arguments.
    pub fn args<A: Display>(mut self, args: impl IntoIterator<Item = A>) -> Self {
        self.args.extend(args.into_iter().map(|a| a.to_string()));
        self
    }

    /// Appends `NAME VALUE`.
    pub fn flag(self, name: &str, value: impl Display) -> Self {
        self.arg(name).arg(value)
    }

    flag_setters! {
        /// `--tenant TENANT`.
        tenant => "--tenant";
        /// `--identity JSON`; a `Value` prints as compact JSON, a `&str` is passed as written.
        identity => "--identity";
        /// `--context JSON`.
        context => "--context";
        /// `--initiator NAME`.
        initiator => "--initiator";
        /// `--user USER`.
        user => "--user";
        /// `--count NAME=VALUE`.
        count => "--count";
        /// `--counts JSON`.
        counts => "--counts";
        /// `--failure CODE=MESSAGE`.
        failure => "--failure";
        /// `--failures JSON`.
        failures => "--failures";
        /// `--limit N`.
        limit => "--limit";
        /// `--cursor CURSOR`.
        cursor => "--cursor";
    }

    /// Asks for `--json` output; the reply carries it parsed.
    pub fn json(mut self) -> Self {
        self.json = true;
        self
    }

    /// The arguments, as `oprun` receives them after the global ones.
    fn argv(&self) -> Vec<&str> {
        let mut argv = self.args.iter().map(String::as_str).collect::<Vec<_>>();
        if self.json {
            argv.push("--json");
        }
        argv
    }

    fn command(&self) -> Command {
        let mut cmd = super::command();
        if let Some(url) = &self.on.url {
            cmd.arg("--database-url").arg(url);
        }
        if let Some(dir) = &self.on.dir {
            cmd.current_dir(dir);
        }
        cmd.envs(self.on.env.iter().map(|(k, v)| (k, v)));
        cmd.args(self.argv());
        cmd
    }

    /// Runs it, whatever the exit code.
    pub fn run(self) -> Reply {
        let output = self.command().output().expect("oprun runs");
        Reply::new(output, self.json)
    }

    /// Starts it without waiting, stdout and stderr captured.
    pub fn spawn(self) -> Running {
        let child = self
            .command()
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("oprun starts");
        Running {
            child,
            json: self.json,
        }
    }

    /// Runs it and expects exit 0.
    #[track_caller]
    pub fn ok(self) -> Reply {
        let argv = self.argv().join(" ");
        let reply = self.run();
        assert_eq!(
            reply.code, 0,
            "oprun {argv} failed:\nstdout: {}\nstderr: {}",
            reply.stdout, reply.stderr
        );
        reply
    }

    /// Runs it with `--json`, expects exit 0 and returns the parsed output.
    #[track_caller]
    pub fn ok_json(self) -> Value {
        self.json().ok().into_json()
    }

    /// Runs it and expects the exit code and one `error:` line containing every needle.
    #[track_caller]
    pub fn fails(self, code: i32, needles: &[&str]) -> Reply {
        let argv = self.argv().join(" ");
        let reply = self.run();
        assert_eq!(
            reply.code, code,
            "oprun {argv}: expected exit {code}:\nstdout: {}\nstderr: {}",
            reply.stdout, reply.stderr
        );
        assert_error_line(&reply, needles);
        reply
    }
}

/// An `oprun` started by [`Invocation::spawn`].
#[derive(Debug)]
pub struct Running {
    child: Child,
    json: bool,
}

impl Running {
    /// Waits for it to finish.
    pub fn wait(self) -> Reply {
        let output = self.child.wait_with_output().expect("oprun finishes");
        Reply::new(output, self.json)
    }
}

/// What a finished `oprun` left behind, with its `--json` output parsed when it was asked for
/// and is valid JSON.
#[derive(Debug)]
pub struct Reply {
    pub ran: Ran,
    pub json: Option<Value>,
}

impl Reply {
    fn new(output: Output, json: bool) -> Self {
        let ran = Ran::from(output);
        let json = json
            .then(|| serde_json::from_str(&ran.stdout).ok())
            .flatten();
        Self { ran, json }
    }

    /// The parsed `--json` output.
    #[track_caller]
    pub fn into_json(self) -> Value {
        match self.json {
            Some(value) => value,
            None => panic!("no JSON output:\n{}", self.ran.stdout),
        }
    }
}

impl Deref for Reply {
    type Target = Ran;

    fn deref(&self) -> &Ran {
        &self.ran
    }
}

/// The `id` of a run (or any object) in JSON output.
#[track_caller]
pub fn id_of(value: &Value) -> i64 {
    value["id"].as_i64().expect("an id")
}

/// The ids of a page's `runs`, in order.
#[track_caller]
pub fn run_ids(page: &Value) -> Vec<i64> {
    page["runs"]
        .as_array()
        .expect("a page of runs")
        .iter()
        .map(id_of)
        .collect()
}

/// Asserts that `text` contains every needle, naming the first one missing.
#[track_caller]
pub fn assert_contains_all(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "lacks `{needle}`:\n{text}");
    }
}

/// A migrated, seeded database with `oprun` pointed at it.
pub struct Seeded {
    pub db: TestDb,
    pub seed: Seed,
    pub oprun: Oprun,
}

impl Seeded {
    /// `oprun runs start` of the seed's workspace and tenant.
    pub fn start(&self, run_type: &str) -> Invocation {
        self.oprun
            .runs_start(self.seed.workspace, run_type)
            .tenant(self.seed.tenant)
    }
}

/// A database of each configured backend, migrated by `oprun migrate up` and seeded.
pub async fn seeded_databases() -> Vec<Seeded> {
    let mut all = Vec::new();
    for db in databases().await {
        let oprun = Oprun::on(&db);
        oprun.migrate("up").ok();
        let seed = seed(&db).await;
        all.push(Seeded { db, seed, oprun });
    }
    all
}

/// A database of each configured backend before the cutover (the baseline migration only),
/// holding the legacy edge cases, with what the cutover must make of them.
pub async fn legacy_databases() -> Vec<(TestDb, EdgeCaseExpectations)> {
    let mut all = Vec::new();
    for db in databases().await {
        Oprun::on(&db).migrate("up").flag("--steps", 1).ok();
        let expected = seed_legacy_edge_cases(&db.conn).await.unwrap();
        all.push((db, expected));
    }
    all
}
