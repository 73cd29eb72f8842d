//! The `oprun` binary, run as a user would: on a temp SQLite file always, and on PostgreSQL when
//! `OPRUN_TEST_POSTGRES_URL` is set.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::*;
use operation_runs_ports::Provisioning;
use serde_json::Value;

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn id_of(value: &Value) -> i64 {
    value["id"].as_i64().expect("an id")
}

// ---------------------------------------------------------------------------------------------
// help

#[test]
fn every_command_explains_itself_with_an_example() {
    let commands: &[&[&str]] = &[
        &[],
        &["demo"],
        &["migrate"],
        &["migrate", "up"],
        &["migrate", "down"],
        &["migrate", "status"],
        &["migrate", "fresh"],
        &["preflight"],
        &["runs"],
        &["runs", "start"],
        &["runs", "begin"],
        &["runs", "progress"],
        &["runs", "complete"],
        &["runs", "list"],
        &["runs", "show"],
        &["schedules"],
        &["schedules", "history"],
        &["schedules", "retention"],
        &["schedules", "purge"],
        &["reap"],
        &["types"],
    ];
    for command in commands {
        let ran: Ran = common::command()
            .args(*command)
            .arg("--help")
            .output()
            .unwrap()
            .into();
        assert_eq!(ran.code, 0, "{command:?}: {}", ran.stderr);
        assert!(
            ran.stdout.contains("Example"),
            "`oprun {} --help` shows no example:\n{}",
            command.join(" "),
            ran.stdout
        );
        assert!(
            ran.stdout.contains("oprun "),
            "{command:?}: the example should be an oprun command line"
        );
        // zsh refuses an unquoted `?` that matches no file: examples must be pasteable.
        for line in ran
            .stdout
            .lines()
            .filter(|l| l.trim_start().starts_with("oprun "))
        {
            let mut quote = None;
            for c in line.chars() {
                match (quote, c) {
                    (None, '\'' | '"') => quote = Some(c),
                    (Some(q), c) if c == q => quote = None,
                    (None, '#') => break,
                    (None, '?' | '*') => panic!("unquoted `{c}` in an example: {line}"),
                    _ => {}
                }
            }
        }
    }
}

#[test]
fn help_documents_the_exit_codes_and_global_options() {
    let ran: Ran = common::command().arg("--help").output().unwrap().into();
    for needle in [
        "Exit codes",
        "3  not found",
        "4  forbidden",
        "5  conflict",
        "--database-url",
        "DATABASE_URL",
        "--json",
    ] {
        assert!(ran.stdout.contains(needle), "{needle}:\n{}", ran.stdout);
    }
    let ran: Ran = common::command()
        .args(["runs", "list", "--help"])
        .output()
        .unwrap()
        .into();
    assert!(ran.stdout.contains("Exit codes"), "{}", ran.stdout);
    assert!(
        ran.stdout.contains("--database-url"),
        "global flags are listed"
    );
}

/// The exit codes `--help` lists are the ones the README documents, with the same meaning.
#[test]
fn help_and_readme_list_the_same_exit_codes() {
    let ran: Ran = common::command().arg("--help").output().unwrap().into();
    let help = ran
        .stdout
        .split("Exit codes:")
        .nth(1)
        .expect("an exit code list")
        .lines()
        .filter_map(|l| {
            let (code, meaning) = l.trim_start().split_once("  ")?;
            let code = code.parse::<u8>().ok()?;
            Some((code, meaning.split([':', ',']).next()?.trim().to_owned()))
        })
        .collect::<Vec<_>>();
    let readme = include_str!("../README.md")
        .split("## Exit codes")
        .nth(1)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let mut cells = l.split('|').map(str::trim).skip(1);
            let code = cells.next()?.parse::<u8>().ok()?;
            let meaning = cells.next()?.replace('`', "");
            Some((code, meaning.split([':', ',']).next()?.trim().to_owned()))
        })
        .collect::<Vec<_>>();
    assert_eq!(help, readme);
    assert_eq!(help.len(), 8, "{help:?}");
}

#[test]
fn usage_errors_exit_2() {
    let ran: Ran = common::command().arg("frobnicate").output().unwrap().into();
    assert_eq!(ran.code, 2);
    assert!(ran.stderr.starts_with("error:"), "{}", ran.stderr);
    let ran: Ran = common::command()
        .args(["runs", "start", "--workspace", "1"])
        .output()
        .unwrap()
        .into();
    assert_eq!(ran.code, 2, "missing --type");
    assert!(ran.stderr.contains("--type"), "{}", ran.stderr);
}

// ---------------------------------------------------------------------------------------------
// types

#[test]
fn types_lists_the_allow_list_with_legacy_spellings() {
    let ran: Ran = common::command().arg("types").output().unwrap().into();
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    for needle in [
        "inventory_sync",
        "inventory.sync",
        "entra_group_sync",
        "directory_groups.sync",
        "backup_schedule.run_now",
        "drift_generate",
        "items_seen",
        "tenant",
    ] {
        assert!(ran.stdout.contains(needle), "{needle}:\n{}", ran.stdout);
    }

    // --json after the subcommand, and before it: global either way.
    for args in [&["types", "--json"], &["--json", "types"]] {
        let ran: Ran = common::command().args(args).output().unwrap().into();
        assert_eq!(ran.code, 0, "{}", ran.stderr);
        let types: Vec<Value> = serde_json::from_str(&ran.stdout).unwrap();
        assert_eq!(types.len(), 6);
        let entra = types
            .iter()
            .find(|t| t["type"] == "entra_group_sync")
            .unwrap();
        assert_eq!(entra["scope"], "tenant");
        let spellings = entra["legacy_spellings"].as_array().unwrap();
        assert!(spellings.contains(&Value::from("entra_group.sync")));
        assert!(spellings.contains(&Value::from("directory_groups.sync")));
        let counts = entra["count_names"].as_array().unwrap();
        assert!(counts.contains(&Value::from("groups_seen")));
        assert!(counts.contains(&Value::from("processed")));
    }
}

// ---------------------------------------------------------------------------------------------
// migrate

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_up_status_down_fresh() {
    for db in databases().await {
        let url = db.url.as_str();
        let status = ok_json(url, &["migrate", "status"]);
        let all = status.as_array().unwrap();
        assert!(all.len() >= 7, "baseline plus six cutover steps");
        assert!(all.iter().all(|m| m["applied"] == false));
        let names = all
            .iter()
            .map(|m| m["name"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>();

        let up = ok(url, &["migrate", "up"]);
        assert!(
            up.contains(&format!("applied {} migration(s)", names.len())),
            "{up}"
        );
        assert!(up.contains(names.last().unwrap()), "{up}");
        let status = ok_json(url, &["migrate", "status"]);
        assert!(
            status
                .as_array()
                .unwrap()
                .iter()
                .all(|m| m["applied"] == true)
        );
        assert!(ok(url, &["migrate", "up"]).contains("nothing to apply"));
        let human = ok(url, &["migrate", "status"]);
        assert!(
            human.contains("MIGRATION") && human.contains("applied"),
            "{human}"
        );

        // down takes one step by default
        let down = ok_json(url, &["migrate", "down"]);
        assert_eq!(
            down["rolled back"],
            serde_json::json!([names.last().unwrap()])
        );
        let status = ok_json(url, &["migrate", "status"]);
        let pending = status
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["applied"] == false)
            .count();
        assert_eq!(pending, 1);
        fails(
            url,
            &["runs", "list", "--as-user", "1", "--workspace", "1"],
            1,
            &["pending migration", "oprun migrate up"],
        );

        let up = ok_json(url, &["migrate", "up", "--steps", "1"]);
        assert_eq!(up["applied"], serde_json::json!([names.last().unwrap()]));

        // Several steps, or a step that cannot give its data back, need --yes.
        let applied_count = |status: Value| {
            status
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| m["applied"] == true)
                .count()
        };
        fails(
            url,
            &["migrate", "down", "--steps", "2"],
            2,
            &["rolls back 2", "legacy run tables empty", "--yes"],
        );
        assert_eq!(
            applied_count(ok_json(url, &["migrate", "status"])),
            names.len(),
            "a refused rollback changes nothing"
        );
        let down = ok_json(url, &["migrate", "down", "--steps", "2", "--yes"]);
        assert_eq!(down["rolled back"].as_array().unwrap().len(), 2);
        fails(
            url,
            &["migrate", "down"],
            2,
            &[&names[names.len() - 3], "empty", "--yes"],
        );
        assert_eq!(
            applied_count(ok_json(url, &["migrate", "status"])),
            names.len() - 2
        );
        fails(url, &["migrate", "down", "--steps", "0"], 2, &["--steps"]);
        ok(url, &["migrate", "up"]);

        fails(url, &["migrate", "fresh"], 2, &["--yes"]);
        let fresh = ok_json(url, &["migrate", "fresh", "--yes"]);
        assert_eq!(fresh["applied"].as_array().unwrap().len(), names.len());
        assert!(ok(url, &["reap", "--older-than", "1h"]).contains("no stale runs"));
    }
}

// ---------------------------------------------------------------------------------------------
// runs

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_recorded_from_a_script() {
    for db in migrated_databases().await {
        let seed = seed(&db).await;
        let url = db.url.as_str();
        let (ws, tenant, viewer) = (s(seed.workspace), s(seed.tenant), s(seed.viewer));
        let start = [
            "runs",
            "start",
            "--workspace",
            &ws,
            "--tenant",
            &tenant,
            "--type",
            "inventory_sync",
            "--identity",
            r#"{"selection":"all","scope":{"b":2,"a":1}}"#,
            "--initiator",
            "nightly-cron",
            "--user",
            "1",
        ];
        let first = ok_json(url, &start);
        assert_eq!(first["reused"], false);
        assert_eq!(first["status"], "queued");
        let id = id_of(&first);
        let run_id = s(id);

        // The same identity, keys in another order: the active run is reused.
        let again = ok_json(
            url,
            &[
                "runs",
                "start",
                "--workspace",
                &ws,
                "--tenant",
                &tenant,
                "--type",
                "inventory_sync",
                "--identity",
                r#"{"scope":{"a":1,"b":2},"selection":"all"}"#,
            ],
        );
        assert_eq!(
            (id_of(&again), again["reused"].clone()),
            (id, Value::from(true))
        );
        let human = ok(url, &start);
        assert!(human.contains(&format!("run {id} reused")), "{human}");

        let begun = ok(url, &["runs", "begin", &run_id]);
        assert!(begun.contains("running"), "{begun}");
        ok(
            url,
            &[
                "runs",
                "progress",
                &run_id,
                "--count",
                "items_seen=3",
                "--count",
                "processed=3",
            ],
        );
        let progressed = ok_json(
            url,
            &[
                "runs",
                "progress",
                &run_id,
                "--counts",
                r#"{"processed":2}"#,
            ],
        );
        assert_eq!(progressed["summary_counts"]["processed"], 5);
        assert_eq!(progressed["summary_counts"]["items_seen"], 3);
        let done = ok_json(
            url,
            &[
                "runs",
                "complete",
                &run_id,
                "--outcome",
                "partially_succeeded",
                "--count",
                "failed=1",
                "--failure",
                "item_failed=device 7: Authorization: Bearer abcdef0123456789abcdef token rejected",
                "--failures",
                r#"[{"code":"api_error","message":"HTTP 500"}]"#,
            ],
        );
        assert_eq!(done["status"], "completed");
        assert_eq!(done["outcome"], "partially_succeeded");
        assert_eq!(done["summary_counts"]["failed"], 1);

        let shown = ok_json(
            url,
            &[
                "runs",
                "show",
                &run_id,
                "--as-user",
                &viewer,
                "--workspace",
                &ws,
            ],
        );
        assert_eq!(id_of(&shown), id);
        assert_eq!(shown["type"], "inventory_sync");
        assert_eq!(shown["initiator_name"], "nightly-cron");
        assert_eq!(shown["user_id"], 1);
        assert_eq!(shown["tenant_id"], seed.tenant.get());
        assert!(shown["started_at"].is_string() && shown["completed_at"].is_string());
        let failures = shown["failure_summary"].as_array().unwrap();
        assert_eq!(failures.len(), 2);
        assert_eq!(failures[0]["code"], "item_failed");
        let message = failures[0]["message"].as_str().unwrap();
        assert!(!message.contains("abcdef0123456789abcdef"), "{message}");
        assert!(message.contains("REDACTED"), "{message}");
        assert_eq!(failures[1]["code"], "api_error");
        assert_eq!(shown["run_identity_hash"].as_str().unwrap().len(), 64);

        let human = ok(
            url,
            &[
                "runs",
                "show",
                &run_id,
                "--as-user",
                &viewer,
                "--workspace",
                &ws,
            ],
        );
        for needle in [
            "partially_succeeded",
            "item_failed",
            "processed=5",
            "nightly-cron",
        ] {
            assert!(human.contains(needle), "{needle}:\n{human}");
        }

        // Completed: the identity may start again, as a new run.
        let next = ok_json(url, &start);
        assert_eq!(next["reused"], false);
        assert_ne!(id_of(&next), id);
    }
}

/// `runs complete … --count` writes the counts and the completion together: when the
/// completion is refused, the counts are not stored either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_completion_stores_none_of_its_counts() {
    for db in migrated_databases().await {
        let seed = seed(&db).await;
        let url = db.url.as_str();
        let (ws, tenant, viewer) = (s(seed.workspace), s(seed.tenant), s(seed.viewer));
        let run = ok_json(
            url,
            &[
                "runs",
                "start",
                "--workspace",
                &ws,
                "--tenant",
                &tenant,
                "--type",
                "inventory_sync",
            ],
        );
        let id = s(id_of(&run));
        let show = [
            "runs",
            "show",
            &id,
            "--as-user",
            &viewer,
            "--workspace",
            &ws,
        ];

        // A queued run cannot succeed: refused, and the counts given with it are not stored.
        fails(
            url,
            &[
                "runs",
                "complete",
                &id,
                "--outcome",
                "succeeded",
                "--count",
                "processed=5",
            ],
            5,
            &[&format!("run {id}"), "queued"],
        );
        let after = ok_json(url, &show);
        assert_eq!(after["status"], "queued");
        assert_eq!(
            after["summary_counts"],
            serde_json::json!({}),
            "a refused completion wrote counts"
        );

        // An undeclared count refuses the completion too, and nothing is written.
        fails(
            url,
            &[
                "runs",
                "complete",
                &id,
                "--outcome",
                "cancelled",
                "--count",
                "processed=5",
                "--count",
                "groups_seen=1",
            ],
            1,
            &["groups_seen", "not declared"],
        );
        let after = ok_json(url, &show);
        assert_eq!(after["status"], "queued");
        assert_eq!(after["summary_counts"], serde_json::json!({}));

        // An allowed completion stores its counts with it.
        let done = ok_json(
            url,
            &[
                "runs",
                "complete",
                &id,
                "--outcome",
                "cancelled",
                "--count",
                "processed=5",
                "--counts",
                r#"{"skipped":2}"#,
            ],
        );
        assert_eq!(done["status"], "completed");
        assert_eq!(done["outcome"], "cancelled");
        assert_eq!(
            done["summary_counts"],
            serde_json::json!({"processed": 5, "skipped": 2})
        );

        // Completed is final: a second completion with counts adds nothing.
        fails(
            url,
            &[
                "runs",
                "complete",
                &id,
                "--outcome",
                "failed",
                "--count",
                "processed=1",
            ],
            5,
            &["already completed"],
        );
        let after = ok_json(url, &show);
        assert_eq!(
            after["summary_counts"],
            serde_json::json!({"processed": 5, "skipped": 2})
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitoring_lists_filter_and_page() {
    for db in migrated_databases().await {
        let seed = seed(&db).await;
        let url = db.url.as_str();
        let (ws, tenant, viewer) = (s(seed.workspace), s(seed.tenant), s(seed.viewer));
        let mut ids = Vec::new();
        for (i, run_type) in [
            "inventory_sync",
            "entra_group_sync",
            "inventory_sync",
            "drift_generate",
            "inventory_sync",
        ]
        .iter()
        .enumerate()
        {
            let identity = format!(r#"{{"n":{i}}}"#);
            let run = ok_json(
                url,
                &[
                    "runs",
                    "start",
                    "--workspace",
                    &ws,
                    "--tenant",
                    &tenant,
                    "--type",
                    run_type,
                    "--identity",
                    &identity,
                ],
            );
            ids.push(id_of(&run));
        }
        ok(url, &["runs", "begin", &s(ids[0])]);
        ok(
            url,
            &["runs", "complete", &s(ids[0]), "--outcome", "succeeded"],
        );
        ok(
            url,
            &["runs", "complete", &s(ids[1]), "--outcome", "cancelled"],
        );
        // A run of the other workspace never shows up.
        ok(
            url,
            &[
                "runs",
                "start",
                "--workspace",
                &s(seed.other_workspace),
                "--tenant",
                &s(seed.other_tenant),
                "--type",
                "inventory_sync",
            ],
        );

        let list = |extra: &[&str]| -> Vec<i64> {
            let mut args = vec!["runs", "list", "--as-user", &viewer, "--workspace", &ws];
            args.extend_from_slice(extra);
            let page = ok_json(url, &args);
            page["runs"].as_array().unwrap().iter().map(id_of).collect()
        };
        let newest_first = ids.iter().rev().copied().collect::<Vec<_>>();
        assert_eq!(list(&[]), newest_first);
        assert_eq!(
            list(&["--type", "inventory_sync"]),
            vec![ids[4], ids[2], ids[0]]
        );
        assert_eq!(list(&["--status", "queued"]), vec![ids[4], ids[3], ids[2]]);
        assert_eq!(list(&["--status", "completed"]), vec![ids[1], ids[0]]);
        assert_eq!(list(&["--outcome", "cancelled"]), vec![ids[1]]);
        assert_eq!(
            list(&["--outcome", "pending", "--type", "drift_generate"]),
            vec![ids[3]]
        );
        assert_eq!(list(&["--tenant", &tenant]), newest_first);
        assert_eq!(
            list(&["--tenant", &s(seed.other_tenant)]),
            Vec::<i64>::new()
        );
        assert_eq!(list(&["--since", "1h"]), newest_first);
        assert_eq!(list(&["--until", "1h"]), Vec::<i64>::new());
        assert_eq!(
            list(&["--since", "2000-01-01", "--until", "2999-01-01T00:00:00Z"]),
            newest_first
        );

        // Walk the pages with the cursor: every run once, in order.
        let mut walked = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut args = vec![
                "runs",
                "list",
                "--as-user",
                &viewer,
                "--workspace",
                &ws,
                "--limit",
                "2",
            ];
            if let Some(c) = &cursor {
                args.extend(["--cursor", c.as_str()]);
            }
            let page = ok_json(url, &args);
            let runs = page["runs"].as_array().unwrap();
            assert!(runs.len() <= 2);
            walked.extend(runs.iter().map(id_of));
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(walked, newest_first);

        let human = ok(
            url,
            &[
                "runs",
                "list",
                "--as-user",
                &viewer,
                "--workspace",
                &ws,
                "--limit",
                "2",
            ],
        );
        assert!(
            human.contains("ID") && human.contains("TYPE") && human.contains("STATUS"),
            "{human}"
        );
        assert!(human.contains("more: --cursor r"), "{human}");
        let empty = ok(
            url,
            &[
                "runs",
                "list",
                "--as-user",
                &viewer,
                "--workspace",
                &ws,
                "--until",
                "2000-01-01",
            ],
        );
        assert!(empty.contains("no runs"), "{empty}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_concurrent_starts_of_one_identity_print_one_id() {
    for db in migrated_databases().await {
        let seed = seed(&db).await;
        let (ws, tenant) = (s(seed.workspace), s(seed.tenant));
        let children = (0..16)
            .map(|_| {
                command()
                    .args([
                        "--database-url",
                        &db.url,
                        "runs",
                        "start",
                        "--workspace",
                        &ws,
                        "--tenant",
                        &tenant,
                    ])
                    .args([
                        "--type",
                        "inventory_sync",
                        "--identity",
                        r#"{"selection":"all"}"#,
                        "--json",
                    ])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect::<Vec<_>>();
        let results = children
            .into_iter()
            .map(|child| Ran::from(child.wait_with_output().unwrap()))
            .collect::<Vec<_>>();
        let mut ids = Vec::new();
        let mut new = 0;
        for ran in &results {
            assert_eq!(ran.code, 0, "stderr: {}", ran.stderr);
            let value: Value = serde_json::from_str(&ran.stdout).unwrap();
            ids.push(id_of(&value));
            if value["reused"] == false {
                new += 1;
            }
        }
        ids.dedup();
        assert_eq!(ids.len(), 1, "one id for all: {results:?}");
        assert_eq!(new, 1, "exactly one process recorded the run");
        let listed = ok_json(
            url_of(&db),
            &[
                "runs",
                "list",
                "--as-user",
                &s(seed.viewer),
                "--workspace",
                &ws,
            ],
        );
        assert_eq!(listed["runs"].as_array().unwrap().len(), 1);
    }
}

fn url_of(db: &operation_runs_tests::TestDb) -> &str {
    &db.url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reap_completes_stale_runs() {
    for db in migrated_databases().await {
        let seed = seed(&db).await;
        let url = db.url.as_str();
        let (ws, tenant, viewer) = (s(seed.workspace), s(seed.tenant), s(seed.viewer));
        let run = ok_json(
            url,
            &[
                "runs",
                "start",
                "--workspace",
                &ws,
                "--tenant",
                &tenant,
                "--type",
                "inventory_sync",
            ],
        );
        let id = s(id_of(&run));
        ok(url, &["runs", "begin", &id]);
        let done = ok_json(
            url,
            &[
                "runs",
                "start",
                "--workspace",
                &ws,
                "--tenant",
                &tenant,
                "--type",
                "entra_group_sync",
            ],
        );
        let done_id = s(id_of(&done));
        ok(
            url,
            &["runs", "complete", &done_id, "--outcome", "cancelled"],
        );

        assert!(ok(url, &["reap", "--older-than", "1d"]).contains("no stale runs"));
        let still = ok_json(
            url,
            &[
                "runs",
                "show",
                &id,
                "--as-user",
                &viewer,
                "--workspace",
                &ws,
            ],
        );
        assert_eq!(still["status"], "running");

        std::thread::sleep(std::time::Duration::from_millis(20));
        let report = ok_json(url, &["reap", "--older-than", "0s"]);
        assert_eq!(report["reaped"], serde_json::json!([id_of(&run)]));
        let reaped = ok_json(
            url,
            &[
                "runs",
                "show",
                &id,
                "--as-user",
                &viewer,
                "--workspace",
                &ws,
            ],
        );
        assert_eq!(reaped["outcome"], "failed");
        assert_eq!(reaped["failure_summary"][0]["code"], "run_stale");
        let untouched = ok_json(
            url,
            &[
                "runs",
                "show",
                &done_id,
                "--as-user",
                &viewer,
                "--workspace",
                &ws,
            ],
        );
        assert_eq!(untouched["outcome"], "cancelled");
        fails(url, &["reap", "--older-than", "soon"], 2, &["duration"]);
    }
}

// ---------------------------------------------------------------------------------------------
// documented errors

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_error_has_its_exit_code_and_message() {
    // Not a database URL at all.
    fails(
        "mysql://root@localhost/x",
        &["runs", "list", "--as-user", "1", "--workspace", "1"],
        1,
        &["unsupported database URL"],
    );
    fails(
        "nonsense",
        &["reap", "--older-than", "1h"],
        1,
        &["unsupported database URL"],
    );
    // A password never reaches the message.
    let ran = fails(
        "postgres://app:s3cret@127.0.0.1:1/ops",
        &["reap", "--older-than", "1h"],
        1,
        &["cannot open database", "app:***@"],
    );
    assert!(!ran.stderr.contains("s3cret"));
    // The environment variable is read when the flag is absent.
    let ran: Ran = command()
        .env("DATABASE_URL", "mysql://env@host/db")
        .args(["reap", "--older-than", "1h"])
        .output()
        .unwrap()
        .into();
    assert_eq!(ran.code, 1);
    assert_error_line(&ran, &["mysql://env@host/db"]);

    for db in databases().await {
        let url = db.url.as_str();
        // Pending migrations: everything but migrate/demo/preflight/types refuses.
        for args in [
            &["runs", "list", "--as-user", "1", "--workspace", "1"][..],
            &[
                "runs",
                "start",
                "--workspace",
                "1",
                "--tenant",
                "1",
                "--type",
                "inventory_sync",
            ],
            &["reap", "--older-than", "1h"],
            &["schedules", "history", "1"],
        ] {
            fails(url, args, 1, &["pending migration", "oprun migrate up"]);
        }
        ok(url, &["migrate", "up"]);
        let seed = seed(&db).await;
        let (ws, tenant, viewer) = (s(seed.workspace), s(seed.tenant), s(seed.viewer));
        let start = |run_type: &str, identity: &str| {
            vec![
                "runs".to_owned(),
                "start".to_owned(),
                "--workspace".to_owned(),
                ws.clone(),
                "--tenant".to_owned(),
                tenant.clone(),
                "--type".to_owned(),
                run_type.to_owned(),
                "--identity".to_owned(),
                identity.to_owned(),
            ]
        };

        // Unknown, dotted, non-canonical types: refused, nothing written.
        let unknown = fails(
            url,
            &args(&start("policy_export", "{}")),
            1,
            &["policy_export", "not registered", "`oprun types`"],
        );
        assert!(
            !unknown.stderr.contains("RunTypeRegistry"),
            "a command-line user cannot register types: {}",
            unknown.stderr
        );
        // A stored run of a type this build does not register (written by another service):
        // its counts cannot be checked.
        db.exec(&format!(
            "INSERT INTO operation_runs (workspace_id, initiator_name, type, status, outcome, \
             run_identity_hash) VALUES ({}, 'system', 'custom_export', 'queued', 'pending', '{}')",
            seed.other_workspace,
            "c".repeat(64)
        ))
        .await;
        let foreign = s(db
            .scalar_i64("SELECT MAX(id) FROM operation_runs")
            .await
            .unwrap());
        let refused = fails(
            url,
            &["runs", "progress", &foreign, "--count", "processed=1"],
            1,
            &["custom_export", "not registered", "`oprun types`"],
        );
        assert!(!refused.stderr.contains("RunTypeRegistry"));
        ok(
            url,
            &["runs", "complete", &foreign, "--outcome", "cancelled"],
        );
        fails(
            url,
            &args(&start("inventory.sync", "{}")),
            1,
            &["inventory.sync", "inventory_sync"],
        );
        fails(
            url,
            &args(&start("Inventory Sync", "{}")),
            1,
            &["not canonical"],
        );
        // Invalid JSON is a usage error naming the flag.
        fails(
            url,
            &args(&start("inventory_sync", "{selection:all}")),
            2,
            &["--identity", "not valid JSON"],
        );
        fails(
            url,
            &args(&start("inventory_sync", "[1,2]")),
            2,
            &["--identity", "JSON object"],
        );
        let mut with_context = start("inventory_sync", "{}");
        with_context.extend([
            "--context".to_owned(),
            r#"{"backup_schedule_id":"3"}"#.to_owned(),
        ]);
        fails(
            url,
            &args(&with_context),
            2,
            &["--context", "backup_schedule_id"],
        );
        // Tenant rules.
        fails(
            url,
            &[
                "runs",
                "start",
                "--workspace",
                &ws,
                "--type",
                "inventory_sync",
            ],
            1,
            &["tenant"],
        );
        fails(
            url,
            &[
                "runs",
                "start",
                "--workspace",
                &ws,
                "--tenant",
                &s(seed.other_tenant),
                "--type",
                "inventory_sync",
            ],
            1,
            &["does not belong"],
        );
        let listed = ok_json(
            url,
            &["runs", "list", "--as-user", &viewer, "--workspace", &ws],
        );
        assert_eq!(
            listed["runs"],
            serde_json::json!([]),
            "refusals write nothing"
        );

        let run = ok_json(url, &args(&start("inventory_sync", "{}")));
        let id = s(id_of(&run));
        // Counts: undeclared, negative, malformed.
        fails(
            url,
            &["runs", "progress", &id, "--count", "groups_seen=1"],
            1,
            &["groups_seen", "not declared"],
        );
        fails(
            url,
            &["runs", "progress", &id, "--count", "processed=-1"],
            1,
            &["negative"],
        );
        fails(
            url,
            &["runs", "progress", &id, "--count", "processed"],
            2,
            &["NAME=VALUE"],
        );
        fails(
            url,
            &["runs", "progress", &id, "--counts", "{processed:1}"],
            2,
            &["--counts", "not valid JSON"],
        );
        fails(
            url,
            &[
                "runs",
                "complete",
                &id,
                "--outcome",
                "failed",
                "--failure",
                "Bad Code=x",
            ],
            2,
            &["snake_case"],
        );
        fails(
            url,
            &["runs", "complete", &id, "--outcome", "done"],
            2,
            &["--outcome"],
        );

        // Illegal transitions: a queued run cannot succeed; completed is final.
        fails(
            url,
            &["runs", "complete", &id, "--outcome", "succeeded"],
            5,
            &[&format!("run {id}"), "queued"],
        );
        ok(url, &["runs", "complete", &id, "--outcome", "cancelled"]);
        fails(url, &["runs", "begin", &id], 5, &["already completed"]);
        fails(
            url,
            &["runs", "complete", &id, "--outcome", "failed"],
            5,
            &["already completed"],
        );
        fails(
            url,
            &["runs", "progress", &id, "--count", "processed=1"],
            5,
            &[&format!("run {id}")],
        );

        // Not found: no such run; a run of another workspace; a non-member; an unknown workspace.
        fails(
            url,
            &["runs", "begin", "999999"],
            3,
            &["run 999999 not found"],
        );
        fails(
            url,
            &[
                "runs",
                "show",
                "999999",
                "--as-user",
                &viewer,
                "--workspace",
                &ws,
            ],
            3,
            &["not found"],
        );
        fails(
            url,
            &[
                "runs",
                "show",
                &id,
                "--as-user",
                &viewer,
                "--workspace",
                &s(seed.other_workspace),
            ],
            3,
            &["not found"],
        );
        let outsider = s(seed.outsider);
        let not_member = fails(
            url,
            &[
                "runs",
                "show",
                &id,
                "--as-user",
                &outsider,
                "--workspace",
                &ws,
            ],
            3,
            &["not found"],
        );
        let missing = fails(
            url,
            &[
                "runs",
                "show",
                "999999",
                "--as-user",
                &outsider,
                "--workspace",
                &ws,
            ],
            3,
            &["not found"],
        );
        assert_eq!(
            not_member.stderr.replace(&id, "N"),
            missing.stderr.replace("999999", "N"),
            "a non-member cannot tell an existing run from a missing one"
        );
        fails(
            url,
            &["runs", "list", "--as-user", &outsider, "--workspace", &ws],
            3,
            &["not found"],
        );
        fails(
            url,
            &[
                "runs",
                "start",
                "--workspace",
                "999999",
                "--type",
                "inventory_sync",
                "--tenant",
                &tenant,
            ],
            1,
            &["does not belong"],
        );

        // Forbidden: a member without the view capability.
        let blind = s(seed.blind);
        fails(
            url,
            &["runs", "list", "--as-user", &blind, "--workspace", &ws],
            4,
            &["forbidden"],
        );
        fails(
            url,
            &["runs", "show", &id, "--as-user", &blind, "--workspace", &ws],
            4,
            &["forbidden"],
        );

        fails(
            url,
            &[
                "runs",
                "list",
                "--as-user",
                &viewer,
                "--workspace",
                &ws,
                "--cursor",
                "abc",
            ],
            2,
            &["cursor"],
        );
        // The page size is bounded like the library's (1 to 500): a usage error, not a failure.
        for limit in ["0", "501"] {
            fails(
                url,
                &[
                    "runs",
                    "list",
                    "--as-user",
                    &viewer,
                    "--workspace",
                    &ws,
                    "--limit",
                    limit,
                ],
                2,
                &["--limit", limit],
            );
        }
        let page = ok_json(
            url,
            &[
                "runs",
                "list",
                "--as-user",
                &viewer,
                "--workspace",
                &ws,
                "--limit",
                "500",
            ],
        );
        assert!(page["runs"].is_array());
        fails(
            url,
            &[
                "runs",
                "list",
                "--as-user",
                &viewer,
                "--workspace",
                &ws,
                "--since",
                "someday",
            ],
            2,
            &["--since"],
        );
    }
}

/// Only `migrate` and `demo` create a SQLite file; the other commands name the missing file and
/// how to create it, and leave nothing behind. `preflight` sees nothing to lose.
#[test]
fn a_missing_sqlite_file_is_named_and_never_created_by_a_read() {
    let dir = tempfile::tempdir().unwrap();
    let here = |args: &[&str]| -> Ran {
        command()
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap()
            .into()
    };
    let listing = ["runs", "list", "--as-user", "1", "--workspace", "1"];

    // The default URL.
    let ran = here(&listing);
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert_error_line(&ran, &["oprun.db does not exist", "`oprun migrate up`"]);
    let ran = here(&["preflight", "--strict"]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(ran.stdout.contains("nothing to lose"), "{}", ran.stdout);
    let ran = here(&["preflight", "--json"]);
    let report: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(report["schema_present"], false);
    assert!(
        !dir.path().join("oprun.db").exists(),
        "a read left an empty database behind"
    );

    // A URL without ?mode=rwc: the raw "(code: 14) unable to open database file" is explained.
    let url = "sqlite://runs.db";
    for args in [&listing[..], &["reap", "--older-than", "1h"]] {
        let mut with_url = vec!["--database-url", url];
        with_url.extend_from_slice(args);
        let ran = here(&with_url);
        assert_eq!(ran.code, 1, "{}", ran.stderr);
        assert_error_line(
            &ran,
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
    let ran = here(&["--database-url", url, "migrate", "up"]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let ran = here(&["--database-url", url, "reap", "--older-than", "1h"]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);

    // A directory that does not exist cannot be migrated into.
    let nowhere = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("no-such-dir").join("x.db").display()
    );
    let ran = run(&nowhere, &["migrate", "up"]);
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
    let missing = format!("{server}/oprun_no_such_database{query}");
    for args in [&["reap", "--older-than", "1h"][..], &["migrate", "up"]] {
        let ran = fails(
            &missing,
            args,
            1,
            &[
                "database `oprun_no_such_database` does not exist",
                "createdb oprun_no_such_database",
            ],
        );
        assert!(!ran.stderr.contains("Connection Error"), "{}", ran.stderr);
    }
}

// ---------------------------------------------------------------------------------------------
// schedules

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedule_history_retention_and_purge() {
    use operation_runs_ports::BackupRepository;
    use operation_runs_sea_orm::SeaOrmStore;

    for db in migrated_databases().await {
        let seed = seed(&db).await;
        let url = db.url.as_str();
        let store = SeaOrmStore::from_connection(db.conn.clone());
        let schedule = store
            .create_backup_schedule(seed.workspace, seed.tenant, "nightly", 1)
            .await
            .unwrap();
        let sid = s(schedule.id);
        let (ws, tenant, viewer) = (s(seed.workspace), s(seed.tenant), s(seed.viewer));

        // Three backups recorded from a script: two succeed, the last fails.
        let mut runs = Vec::new();
        let mut sets = Vec::new();
        for (i, outcome) in ["succeeded", "succeeded", "failed"].iter().enumerate() {
            let set = store
                .create_set(schedule.id, &format!("set {i}"), 10, chrono::Utc::now())
                .await
                .unwrap();
            let context = format!(
                r#"{{"backup_schedule_id":{},"backup_set_id":{},"scheduled_for":"2026-02-1{i}T02:00:00Z"}}"#,
                schedule.id, set.id
            );
            let identity = format!(r#"{{"slot":{i}}}"#);
            let run = ok_json(
                url,
                &[
                    "runs",
                    "start",
                    "--workspace",
                    &ws,
                    "--tenant",
                    &tenant,
                    "--type",
                    "backup_schedule_run",
                    "--identity",
                    &identity,
                    "--context",
                    &context,
                    "--initiator",
                    "scheduler",
                ],
            );
            let id = s(id_of(&run));
            ok(url, &["runs", "begin", &id]);
            ok(
                url,
                &[
                    "runs",
                    "complete",
                    &id,
                    "--outcome",
                    outcome,
                    "--count",
                    "sets_created=1",
                ],
            );
            runs.push(id_of(&run));
            sets.push(set.id);
        }

        let history = ok_json(url, &["schedules", "history", &sid]);
        let ids = history["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(id_of)
            .collect::<Vec<_>>();
        assert_eq!(ids, vec![runs[2], runs[1], runs[0]]);
        assert_eq!(history["schedule"]["keep_last"], 1);
        let failed = ok_json(url, &["schedules", "history", &sid, "--outcome", "failed"]);
        assert_eq!(
            failed["runs"]
                .as_array()
                .unwrap()
                .iter()
                .map(id_of)
                .collect::<Vec<_>>(),
            vec![runs[2]]
        );
        let first_page = ok_json(url, &["schedules", "history", &sid, "--limit", "2"]);
        let cursor = first_page["next_cursor"].as_str().unwrap().to_owned();
        let second_page = ok_json(
            url,
            &[
                "schedules",
                "history",
                &sid,
                "--limit",
                "2",
                "--cursor",
                &cursor,
            ],
        );
        assert_eq!(
            second_page["runs"]
                .as_array()
                .unwrap()
                .iter()
                .map(id_of)
                .collect::<Vec<_>>(),
            vec![runs[0]]
        );
        let human = ok(url, &["schedules", "history", &sid, "--as-user", &viewer]);
        assert!(
            human.contains("nightly")
                && human.contains("SCHEDULED FOR")
                && human.contains("2026-02-10 02:00:00"),
            "{human}"
        );
        fails(
            url,
            &["schedules", "history", &sid, "--as-user", &s(seed.blind)],
            4,
            &["forbidden"],
        );
        let outsider = fails(
            url,
            &["schedules", "history", &sid, "--as-user", &s(seed.outsider)],
            3,
            &["not found"],
        );
        let missing = fails(
            url,
            &[
                "schedules",
                "history",
                "999999",
                "--as-user",
                &s(seed.outsider),
            ],
            3,
            &["not found"],
        );
        assert_eq!(
            outsider.stderr.replace(&sid, "N"),
            missing.stderr.replace("999999", "N")
        );
        fails(
            url,
            &["schedules", "history", &sid, "--type", "inventory_sync"],
            2,
            &["not a schedule run type"],
        );

        // Retention keeps the newest successful backup's set (keep last 1).
        let plan = ok_json(url, &["schedules", "retention", &sid, "--dry-run"]);
        assert_eq!(plan["result"], "dry_run");
        assert_eq!(plan["run"], Value::Null);
        assert_eq!(
            plan["plan"]["kept"],
            serde_json::json!([{ "set": sets[1].get(), "run": runs[1] }])
        );
        assert_eq!(
            plan["plan"]["to_soft_delete"],
            serde_json::json!([{ "set": sets[0].get(), "run": runs[0] }])
        );
        assert!(
            store
                .list_sets(schedule.id, false)
                .await
                .unwrap()
                .iter()
                .any(|set| set.id == sets[0]),
            "a dry run changes nothing"
        );
        let human = ok(url, &["schedules", "retention", &sid, "--dry-run"]);
        assert!(
            human.contains("dry run") && human.contains("soft-delete 1 set"),
            "{human}"
        );

        let at = "2026-02-20T03:00:00Z";
        let applied = ok_json(
            url,
            &["schedules", "retention", &sid, "--scheduled-for", at],
        );
        assert_eq!(applied["result"], "performed");
        assert_eq!(applied["run"]["type"], "backup_schedule_retention");
        assert_eq!(applied["run"]["outcome"], "succeeded");
        assert_eq!(
            applied["run"]["context"]["backup_schedule_id"],
            schedule.id.get()
        );
        assert_eq!(applied["sets_soft_deleted"], 1);
        let live = store.list_sets(schedule.id, false).await.unwrap();
        assert!(
            live.iter().all(|set| set.id != sets[0]),
            "the old set is soft-deleted"
        );
        assert!(live.iter().any(|set| set.id == sets[1]));
        let again = ok_json(
            url,
            &["schedules", "retention", &sid, "--scheduled-for", at],
        );
        assert_eq!(again["result"], "already_completed");
        assert_eq!(again["run"]["id"], applied["run"]["id"]);

        // Purge after a zero grace period: the soft-deleted set goes for good.
        let plan = ok_json(
            url,
            &[
                "schedules",
                "purge",
                &sid,
                "--dry-run",
                "--grace",
                "0s",
                "--keep-history",
                "365d",
            ],
        );
        assert_eq!(plan["result"], "dry_run");
        assert_eq!(plan["sets_purged"], 1);
        assert_eq!(plan["runs_purged"], 0);
        let purged = ok_json(
            url,
            &[
                "schedules",
                "purge",
                &sid,
                "--grace",
                "0s",
                "--keep-history",
                "365d",
            ],
        );
        assert_eq!(purged["result"], "performed");
        assert_eq!(purged["sets_purged"], 1);
        assert_eq!(purged["run"]["type"], "backup_schedule_purge");
        assert_eq!(purged["run"]["summary_counts"]["sets_purged"], 1);
        let all_sets = store.list_sets(schedule.id, true).await.unwrap();
        assert!(
            all_sets.iter().all(|set| set.id != sets[0]),
            "purged for good"
        );
        let human = ok(url, &["schedules", "purge", &sid, "--dry-run"]);
        assert!(
            human.contains("purge plan") && human.contains("dry run"),
            "{human}"
        );

        let history = ok_json(
            url,
            &[
                "schedules",
                "history",
                &sid,
                "--type",
                "backup_schedule_purge",
                "--type",
                "backup_schedule_retention",
            ],
        );
        let types = history["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["type"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>();
        assert_eq!(
            types,
            vec!["backup_schedule_purge", "backup_schedule_retention"]
        );

        fails(
            url,
            &["schedules", "retention", "999999"],
            3,
            &["backup schedule 999999 not found"],
        );
        fails(
            url,
            &["schedules", "purge", "999999", "--dry-run"],
            3,
            &["backup schedule 999999 not found"],
        );
        fails(
            url,
            &["schedules", "purge", &sid, "--grace", "a week"],
            2,
            &["--grace"],
        );
    }
}

// ---------------------------------------------------------------------------------------------
// preflight

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_reports_what_the_cutover_would_lose() {
    for db in databases().await {
        let url = db.url.as_str();
        // An empty database has nothing to lose, with or without --strict and --json.
        let human = ok(url, &["preflight"]);
        assert!(
            human.contains("no schema yet") && human.contains("nothing to lose"),
            "{human}"
        );
        assert!(ok(url, &["preflight", "--strict"]).contains("nothing to lose"));
        let empty = ok_json(url, &["preflight", "--strict"]);
        assert_eq!(empty["schema_present"], false);
        assert_eq!(empty["would_lose_anything"], false);
        assert_eq!(empty["blocking_problems"], 0);
        ok(url, &["migrate", "up", "--steps", "1"]);

        let clean = ok_json(url, &["preflight", "--strict"]);
        assert_eq!(clean["would_lose_anything"], false);
        assert_eq!(clean["cutover_complete"], false);
        assert_eq!(clean["schema_present"], true);
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(
            keys(&empty),
            keys(&clean),
            "the empty report has the keys of a real one"
        );
        assert!(ok(url, &["preflight"]).contains("preflight"));

        // Old rows breaking new rules: two active runs of one identity, a dotted custom type.
        let store = operation_runs_sea_orm::SeaOrmStore::from_connection(db.conn.clone());
        let ws = store.create_workspace("Legacy").await.unwrap();
        let hash = "a".repeat(64);
        for (run_type, status) in [
            ("inventory.sync", "queued"),
            ("inventory.sync", "running"),
            ("custom.export", "completed"),
        ] {
            let (outcome, started) = match status {
                "completed" => ("succeeded", "'2026-01-01T00:00:00+00:00'"),
                "running" => ("pending", "'2026-01-01T00:00:00+00:00'"),
                _ => ("pending", "NULL"),
            };
            db.exec(&format!(
                "INSERT INTO operation_runs (workspace_id, initiator_name, type, status, outcome, run_identity_hash, \
                 summary_counts, failure_summary, context, started_at, completed_at, created_at, updated_at) VALUES \
                 ({ws}, 'system', '{run_type}', '{status}', '{outcome}', '{hash}', '{{}}', '[]', '{{}}', {started}, \
                 {completed}, '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00')",
                completed = if status == "completed" { "'2026-01-01T00:00:00+00:00'" } else { "NULL" },
            ))
            .await;
        }
        let report = ok_json(url, &["preflight"]);
        assert_eq!(report["would_lose_anything"], true);
        assert_eq!(
            report["duplicate_active_identities"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        let dotted = report["dotted_types"].to_string();
        assert!(
            dotted.contains("inventory.sync") && dotted.contains("custom.export"),
            "{dotted}"
        );
        assert!(
            report["unregistered_types"]
                .to_string()
                .contains("custom_export")
        );
        let ran = fails(url, &["preflight", "--strict"], 6, &["would lose data"]);
        assert!(
            ran.stdout.contains("preflight"),
            "the report is printed before the refusal"
        );

        // The cutover resolves it; afterwards there is nothing left to lose.
        ok(url, &["migrate", "up", "--accept-data-loss"]);
        let after = ok_json(url, &["preflight", "--strict"]);
        assert_eq!(after["cutover_complete"], true);
        assert_eq!(after["would_lose_anything"], false);
    }
}

// ---------------------------------------------------------------------------------------------
// demo

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_twice_on_one_database() {
    for db in databases().await {
        let url = db.url.as_str();
        let first = ok(url, &["demo"]);
        for needle in [
            "applied",
            "seed (created)",
            "(reused: one active run per identity)",
            "last_seen_operation_run_id",
            "partially_succeeded",
            "Bearer [REDACTED]",
            "drift_generate run",
            "BASELINE RUN",
            "backup_schedule_run",
            "failed (backup_failed",
            "retention plan",
            "backup_schedule_purge",
            "forbidden",
            "not found",
            "The workspace's operations",
            "The history of backup schedule",
        ] {
            assert!(
                first.contains(needle),
                "first demo lacks `{needle}`:\n{first}"
            );
        }
        let second = ok(url, &["demo"]);
        assert!(second.contains("migrations up to date"), "{second}");
        assert!(
            second.contains("seed (reused from an earlier run)"),
            "{second}"
        );
        assert!(
            second.contains("then for real: run"),
            "the second demo purges again:\n{second}"
        );
        assert!(!second.contains("not done again"), "{second}");
        for table in ["workspaces", "tenants", "backup_schedules"] {
            assert_eq!(
                db.scalar_i64(&format!("SELECT COUNT(*) FROM {table}"))
                    .await,
                Some(1),
                "the seed is reused, not duplicated: {table}"
            );
        }

        // What the demo recorded is there for the other commands.
        let page = ok_json(
            url,
            &[
                "runs",
                "list",
                "--as-user",
                "1",
                "--workspace",
                "1",
                "--limit",
                "500",
            ],
        );
        let runs = page["runs"].as_array().unwrap();
        for run_type in [
            "inventory_sync",
            "entra_group_sync",
            "drift_generate",
            "backup_schedule_run",
            "backup_schedule_retention",
            "backup_schedule_purge",
        ] {
            assert!(runs.iter().any(|r| r["type"] == run_type), "{run_type}");
        }
        assert!(
            runs.iter().all(|r| r["status"] == "completed"),
            "the demo leaves nothing running"
        );
        let entra = runs
            .iter()
            .find(|r| r["type"] == "entra_group_sync")
            .unwrap();
        assert_eq!(entra["outcome"], "partially_succeeded");
        let message = entra["failure_summary"][0]["message"].as_str().unwrap();
        assert!(
            message.contains("[REDACTED]") && !message.contains("eyJhbGci"),
            "{message}"
        );
        let drift = runs.iter().find(|r| r["type"] == "drift_generate").unwrap();
        assert_eq!(drift["summary_counts"]["findings_created"], 3);
        assert!(
            runs.iter()
                .any(|r| r["type"] == "backup_schedule_run" && r["outcome"] == "failed"),
            "one scheduled backup failed"
        );
        fails(
            url,
            &["runs", "list", "--as-user", "2", "--workspace", "1"],
            4,
            &["forbidden"],
        );
        fails(
            url,
            &["runs", "list", "--as-user", "3", "--workspace", "1"],
            3,
            &["not found"],
        );
        let history = ok_json(url, &["schedules", "history", "1", "--as-user", "1"]);
        assert!(!history["runs"].as_array().unwrap().is_empty());
    }
}

/// A real database before the cutover (migrations applied, some pending) is not a playground:
/// the demo refuses it and changes nothing, on either side of the history's bookkeeping.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_refuses_a_database_before_the_cutover() {
    use operation_runs_migration::fixtures::seed_legacy_edge_cases;

    for db in databases().await {
        let url = db.url.as_str();
        ok(url, &["migrate", "up", "--steps", "1"]);
        seed_legacy_edge_cases(&db.conn).await.unwrap();
        let before = ok_json(url, &["preflight"]);
        let workspaces = db.scalar_i64("SELECT COUNT(*) FROM workspaces").await;

        let ran = fails(
            url,
            &["demo"],
            1,
            &[
                "demo refused",
                "1 applied",
                "pending",
                "oprun preflight",
                "oprun migrate up",
            ],
        );
        assert!(!ran.stdout.contains("applied"), "{}", ran.stdout);
        let status = ok_json(url, &["migrate", "status"]);
        let applied = status
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["applied"] == true)
            .count();
        assert_eq!(applied, 1, "the demo applied no migration");
        assert_eq!(
            ok_json(url, &["preflight"]),
            before,
            "legacy history intact"
        );
        assert_eq!(
            db.scalar_i64("SELECT COUNT(*) FROM workspaces").await,
            workspaces,
            "no demo rows"
        );

        // Part-way through the cutover itself, too.
        ok(url, &["migrate", "up", "--steps", "2"]);
        fails(url, &["demo"], 1, &["demo refused", "3 applied"]);

        // Tables without a record of the migrations: the same database, untracked.
        db.exec("DROP TABLE seaql_migrations").await;
        fails(url, &["demo"], 1, &["demo refused", "no record"]);
        assert_eq!(
            db.scalar_i64("SELECT COUNT(*) FROM workspaces").await,
            workspaces
        );
    }
}

/// A database migrated by hand (all migrations, no demo seed yet) runs the demo.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_on_a_fully_migrated_database() {
    for db in migrated_databases().await {
        let url = db.url.as_str();
        let ran = ok(url, &["demo"]);
        assert!(ran.contains("migrations up to date"), "{ran}");
        assert!(ran.contains("seed (created)"), "{ran}");
    }
}

#[test]
fn the_demo_uses_a_sqlite_file_in_the_current_directory_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let ran: Ran = command()
        .current_dir(dir.path())
        .arg("demo")
        .output()
        .unwrap()
        .into();
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(dir.path().join("oprun.db").exists());
    let ran: Ran = command()
        .current_dir(dir.path())
        .args([
            "runs",
            "list",
            "--as-user",
            "1",
            "--workspace",
            "1",
            "--json",
        ])
        .output()
        .unwrap()
        .into();
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let page: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert!(!page["runs"].as_array().unwrap().is_empty());
}

/// The documented deploy pipeline works on a new database: the preflight passes, the
/// migrations create the schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deploy_pipeline_sets_up_a_fresh_database() {
    for db in databases().await {
        let url = db.url.as_str();
        for args in [&["preflight", "--strict"][..], &["migrate", "up"]] {
            ok(url, args);
        }
        let status = ok_json(url, &["migrate", "status"]);
        assert!(
            status
                .as_array()
                .unwrap()
                .iter()
                .all(|m| m["applied"] == true)
        );
        let after = ok_json(url, &["preflight", "--strict"]);
        assert_eq!(after["cutover_complete"], true);
    }
}

/// A legacy database whose tables exist but whose migration history is not recorded is not
/// mistaken for an empty one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_reports_an_untracked_legacy_database_in_full() {
    use operation_runs_migration::fixtures::seed_legacy_edge_cases;

    for db in databases().await {
        let url = db.url.as_str();
        ok(url, &["migrate", "up", "--steps", "1"]);
        seed_legacy_edge_cases(&db.conn).await.unwrap();
        db.exec("DROP TABLE seaql_migrations").await;

        let report = ok_json(url, &["preflight"]);
        assert_eq!(report["schema_present"], true);
        assert_eq!(report["would_lose_anything"], true);
        assert!(!report["legacy_tables"].as_array().unwrap().is_empty());
        let human = ok(url, &["preflight"]);
        assert!(human.contains("not recorded"), "{human}");
        fails(url, &["preflight", "--strict"], 6, &["would lose data"]);
    }
}

/// Rows breaking a foreign key (SQLite files written without enforcement) make the cutover
/// refuse to start: the preflight shows them first and `--strict` exits 7, even when the
/// cutover would also lose data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_puts_rows_that_block_the_cutover_first() {
    use sea_orm::{ConnectOptions, ConnectionTrait, Database};

    let db = operation_runs_tests::TestDb::sqlite().await;
    let url = db.url.as_str();
    ok(url, &["migrate", "up", "--steps", "1"]);
    let store = operation_runs_sea_orm::SeaOrmStore::from_connection(db.conn.clone());
    let ws = store.create_workspace("Legacy").await.unwrap();
    let tenant = store.create_tenant(ws, "legacy").await.unwrap();
    let missing_tenant = tenant.get() + 100;
    // As old files were written: one connection, foreign keys not enforced.
    let mut options = ConnectOptions::new(db.url.clone());
    options.max_connections(1).sqlx_logging(false);
    let unchecked = Database::connect(options).await.unwrap();
    unchecked
        .execute_unprepared("PRAGMA foreign_keys = OFF")
        .await
        .unwrap();
    unchecked
        .execute_unprepared(&format!(
            "INSERT INTO findings (workspace_id, tenant_id, subject_external_id, change) \
             VALUES ({ws}, {missing_tenant}, 'orphan', 'added')"
        ))
        .await
        .unwrap();
    unchecked.close().await.unwrap();

    let report = ok_json(url, &["preflight"]);
    assert_eq!(report["blocking_problems"], 1);
    assert_eq!(report["broken_foreign_keys"][0]["table"], "findings");
    assert_eq!(report["broken_foreign_keys"][0]["column"], "tenant_id");
    let human = ok(url, &["preflight"]);
    assert!(
        human.starts_with("BLOCKED: the cutover will refuse to start: 1 row(s)"),
        "the blocking rows come first:\n{human}"
    );
    assert!(human.contains("findings.tenant_id"), "{human}");
    let ran = fails(
        url,
        &["preflight", "--strict"],
        7,
        &["refuse to start", "1 row(s)", "foreign keys"],
    );
    assert!(
        ran.stdout.contains("BLOCKED"),
        "the report is printed first"
    );

    // Losses as well: blocking still wins, it has to be fixed first.
    db.exec(&format!(
        "INSERT INTO operation_runs (workspace_id, initiator_name, type, status, outcome, \
         run_identity_hash) VALUES ({ws}, 'system', 'inventory.sync', 'queued', 'pending', '{h}'), \
         ({ws}, 'system', 'inventory.sync', 'queued', 'pending', '{h}')",
        h = "b".repeat(64)
    ))
    .await;
    fails(url, &["preflight", "--strict"], 7, &["refuse to start"]);

    // The cutover itself refuses, changing nothing; once the row is fixed it runs.
    // (stderr also carries the migrator's progress lines)
    let ran = run(url, &["migrate", "up"]);
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let last = ran.stderr.lines().last().unwrap();
    assert!(
        last.starts_with("error: ")
            && last.contains("cannot start")
            && last.contains("oprun preflight"),
        "{}",
        ran.stderr
    );
    let status = ok_json(url, &["migrate", "status"]);
    let applied = status
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["applied"] == true)
        .count();
    assert_eq!(applied, 1, "only the baseline");
    db.exec(&format!(
        "UPDATE findings SET tenant_id = {tenant} WHERE subject_external_id = 'orphan'"
    ))
    .await;
    fails(url, &["preflight", "--strict"], 6, &["would lose data"]);
    ok(url, &["migrate", "up", "--accept-data-loss"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_and_cutover_of_a_legacy_database() {
    use operation_runs_migration::fixtures::seed_legacy_edge_cases;

    for db in databases().await {
        let url = db.url.as_str();
        ok(url, &["migrate", "up", "--steps", "1"]);
        let expected = seed_legacy_edge_cases(&db.conn).await.unwrap();

        let report = ok_json(url, &["preflight"]);
        assert_eq!(report["would_lose_anything"], true);
        assert_eq!(
            report["legacy_tables"],
            serde_json::to_value(&expected.legacy_tables).unwrap()
        );
        assert_eq!(
            report["finding_baseline_refs"],
            serde_json::to_value(expected.finding_baseline_refs).unwrap()
        );
        assert_eq!(
            report["inventory_last_seen_refs"],
            serde_json::to_value(expected.inventory_last_seen_refs).unwrap()
        );
        assert_eq!(
            report["duplicate_active_identities"],
            serde_json::to_value(&expected.duplicate_active_identities).unwrap()
        );
        let human = ok(url, &["preflight"]);
        assert!(human.contains("preflight"), "{human}");
        fails(url, &["preflight", "--strict"], 6, &["would lose data"]);
        fails(
            url,
            &["runs", "list", "--as-user", "1", "--workspace", "1"],
            1,
            &["pending migration"],
        );

        // The cutover shows the backfill's progress on stderr.
        let ran = run(url, &["migrate", "up", "--accept-data-loss"]);
        assert_eq!(ran.code, 0, "{}", ran.stderr);
        for reference in [
            "findings.baseline_operation_run_id",
            "findings.current_operation_run_id",
            "inventory_items.last_seen_operation_run_id",
        ] {
            let line = ran
                .stderr
                .lines()
                .find(|l| l.contains("backfill progress") && l.contains(reference))
                .unwrap_or_else(|| panic!("no progress for {reference}:\n{}", ran.stderr));
            let (done, total) = line.rsplit_once(": ").unwrap().1.split_once('/').unwrap();
            assert_eq!(done, total, "{line}");
        }
        let after = ok_json(url, &["preflight", "--strict"]);
        assert_eq!(after["cutover_complete"], true);
        assert_eq!(after["would_lose_anything"], false);
    }
}
