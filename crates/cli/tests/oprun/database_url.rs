//! The database URL: unsupported kinds, hidden passwords, missing SQLite files and PostgreSQL
//! databases.

use crate::common::*;
use serde_json::Value;

#[test]
fn unsupported_urls_are_refused_and_passwords_never_shown() {
    // Not a database URL at all.
    Oprun::url("mongodb://root@localhost/x")
        .runs_list(1, 1)
        .fails(1, &["unsupported database URL"]);
    Oprun::url("nonsense")
        .reap("1h")
        .fails(1, &["unsupported database URL"]);
    // A password never reaches the message.
    let ran = Oprun::url("postgres://app:s3cret@127.0.0.1:1/ops")
        .reap("1h")
        .fails(1, &["cannot open database", "app:***@"]);
    assert!(!ran.stderr.contains("s3cret"));
    // The environment variable is read when the flag is absent.
    Oprun::bare()
        .env("DATABASE_URL", "mysql://env@host/db")
        .reap("1h")
        .fails(1, &["mysql://env@host/db"]);
}

/// Only `migrate` and `demo` create a SQLite file; the other commands name the missing file and
/// how to create it, and leave nothing behind. `preflight` sees nothing to lose.
#[test]
fn a_missing_sqlite_file_is_named_and_never_created_by_a_read() {
    let dir = tempfile::tempdir().unwrap();
    let here = Oprun::bare().in_dir(dir.path());
    let listing = ["runs", "list", "--as-user", "1", "--workspace", "1"];

    // The default URL.
    here.cmd(listing)
        .fails(1, &["oprun.db does not exist", "`oprun migrate up`"]);
    let ran = here.cmd(["preflight", "--strict"]).ok();
    assert!(ran.stdout.contains("nothing to lose"), "{}", ran.stdout);
    let report: Value = here.cmd(["preflight"]).ok_json();
    assert_eq!(report["schema_present"], false);
    assert!(
        !dir.path().join("oprun.db").exists(),
        "a read left an empty database behind"
    );

    // A URL without ?mode=rwc: the raw "(code: 14) unable to open database file" is explained.
    let here = Oprun::url("sqlite://runs.db").in_dir(dir.path());
    for args in [&listing[..], &["reap", "--older-than", "1h"]] {
        let ran = here.cmd(args).fails(
            1,
            &[
                "runs.db does not exist",
                "current directory",
                "`oprun migrate up`",
            ],
        );
        assert!(!ran.stderr.contains("code: 14"), "{}", ran.stderr);
    }
    assert!(!dir.path().join("runs.db").exists());
    // migrate creates it, with or without ?mode=rwc; then the reads work.
    here.migrate("up").ok();
    here.reap("1h").ok();

    // A directory that does not exist cannot be migrated into.
    let nowhere = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("no-such-dir").join("x.db").display()
    );
    let ran = Oprun::url(&nowhere).migrate("up").run();
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("no-such-dir does not exist"),
        "{}",
        ran.stderr
    );
}

/// A PostgreSQL database that does not exist is one line naming it, with a hint.
#[test]
fn a_missing_postgres_database_is_named_with_a_hint() {
    let Some(url) = operation_runs_tests::postgres_admin_url() else {
        return;
    };
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base.to_owned(), format!("?{query}")),
        None => (url.clone(), String::new()),
    };
    let (server, _) = base.rsplit_once('/').unwrap();
    let missing = Oprun::url(&format!("{server}/oprun_no_such_database{query}"));
    for invocation in [missing.reap("1h"), missing.migrate("up")] {
        let ran = invocation.fails(
            1,
            &[
                "database `oprun_no_such_database` does not exist",
                "createdb oprun_no_such_database",
            ],
        );
        assert!(!ran.stderr.contains("Connection Error"), "{}", ran.stderr);
    }
}
