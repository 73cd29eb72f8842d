//! Running the real `oprun` binary against fresh databases.
//!
//! New tests drive it through the typed builder [`Oprun`] (`driver.rs`); the free functions
//! `run`, `ok`, `ok_json` and `fails` are thin forms of it over a URL and an argument list.
#![allow(dead_code)]

use operation_runs_domain::{TenantId, UserId, WorkspaceId};
use operation_runs_ports::Provisioning;
use operation_runs_sea_orm::SeaOrmStore;
use operation_runs_tests::{Backend, TestDb};
use serde_json::Value;
use std::process::Output;

mod driver;
pub use driver::*;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_oprun");

/// What a finished `oprun` invocation left behind.
#[derive(Debug)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Ran {
    fn from(output: Output) -> Self {
        Self {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// `oprun` with a clean environment, in a private working directory.
pub fn command() -> std::process::Command {
    let mut cmd = std::process::Command::new(BIN);
    cmd.env_remove("DATABASE_URL").env_remove("RUST_LOG");
    cmd
}

/// Runs `oprun --database-url URL ARGS…`.
pub fn run(url: &str, args: &[&str]) -> Ran {
    Oprun::url(url).cmd(args).run().ran
}

/// Runs and expects exit 0; returns stdout.
#[track_caller]
pub fn ok(url: &str, args: &[&str]) -> String {
    Oprun::url(url).cmd(args).ok().ran.stdout
}

/// Runs with `--json`, expects exit 0 and parses stdout.
#[track_caller]
pub fn ok_json(url: &str, args: &[&str]) -> Value {
    Oprun::url(url).cmd(args).ok_json()
}

/// Runs and expects the exit code and one `error:` line on stderr containing every needle.
#[track_caller]
pub fn fails(url: &str, args: &[&str], code: i32, needles: &[&str]) -> Ran {
    Oprun::url(url).cmd(args).fails(code, needles).ran
}

/// stderr is exactly one `error: …` line containing every needle, with no panic or backtrace.
#[track_caller]
pub fn assert_error_line(ran: &Ran, needles: &[&str]) {
    let lines = ran.stderr.lines().collect::<Vec<_>>();
    assert_eq!(
        lines.len(),
        1,
        "one error line expected, got:\n{}",
        ran.stderr
    );
    assert!(lines[0].starts_with("error: "), "{}", ran.stderr);
    for needle in needles {
        assert!(
            ran.stderr.contains(needle),
            "stderr lacks `{needle}`:\n{}",
            ran.stderr
        );
    }
    assert!(!ran.stderr.contains("panicked"), "{}", ran.stderr);
    assert!(!ran.stderr.contains("RUST_BACKTRACE"), "{}", ran.stderr);
}

/// A fresh empty database of each configured backend.
pub async fn databases() -> Vec<TestDb> {
    let mut all = Vec::new();
    for backend in [Backend::Sqlite, Backend::Postgres, Backend::MariaDb] {
        if let Some(db) = TestDb::new(backend).await {
            all.push(db);
        }
    }
    all
}

/// A fresh database of each configured backend, migrated by `oprun migrate up`.
pub async fn migrated_databases() -> Vec<TestDb> {
    let all = databases().await;
    for db in &all {
        ok(&db.url, &["migrate", "up"]);
    }
    all
}

/// A fresh database of each configured backend at the baseline (`oprun migrate up --steps 1`),
/// for legacy data to be seeded into.
pub async fn baseline_databases() -> Vec<TestDb> {
    let all = databases().await;
    for db in &all {
        ok(&db.url, &["migrate", "up", "--steps", "1"]);
    }
    all
}

/// Who and what the command tests work with.
#[derive(Debug, Clone, Copy)]
pub struct Seed {
    pub workspace: WorkspaceId,
    pub tenant: TenantId,
    /// Member who may view and manage operations.
    pub viewer: UserId,
    /// Member without the capability to view operations.
    pub blind: UserId,
    /// Member of the other workspace only.
    pub outsider: UserId,
    pub other_workspace: WorkspaceId,
    pub other_tenant: TenantId,
}

/// Two workspaces with a tenant each, and their members.
pub async fn seed(db: &TestDb) -> Seed {
    let store = SeaOrmStore::from_connection(db.conn.clone());
    let workspace = store.create_workspace("Acme").await.unwrap();
    let tenant = store.create_tenant(workspace, "acme-prod").await.unwrap();
    let other_workspace = store.create_workspace("Globex").await.unwrap();
    let other_tenant = store
        .create_tenant(other_workspace, "globex")
        .await
        .unwrap();
    let (viewer, blind, outsider) = (UserId::new(1), UserId::new(2), UserId::new(3));
    // (workspace, user, may view, may manage).
    for (ws, user, view, manage) in [
        (workspace, viewer, true, true),
        (workspace, blind, false, false),
        (other_workspace, outsider, true, true),
    ] {
        store.add_member(ws, user, view, manage).await.unwrap();
    }
    Seed {
        workspace,
        tenant,
        viewer,
        blind,
        outsider,
        other_workspace,
        other_tenant,
    }
}

impl Seed {
    /// `oprun runs start` of a new `run_type` run of the seeded tenant (then the `extra`
    /// arguments), which must succeed: the new run's id.
    #[track_caller]
    pub fn start_run(&self, url: &str, run_type: &str, extra: &[&str]) -> i64 {
        let (workspace, tenant) = (self.workspace.to_string(), self.tenant.to_string());
        let mut args = vec![
            "runs",
            "start",
            "--workspace",
            &workspace,
            "--tenant",
            &tenant,
            "--type",
            run_type,
        ];
        args.extend(extra);
        ok_json(url, &args)["id"].as_i64().unwrap()
    }

    /// A new bearer token of the viewer, from `oprun tokens create`.
    #[track_caller]
    pub fn viewer_token(&self, url: &str) -> String {
        ok_json(
            url,
            &["tokens", "create", "--user", &self.viewer.to_string()],
        )["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

/// The string form of an id, for arguments.
pub fn s(id: impl std::fmt::Display) -> String {
    id.to_string()
}
