//! `--help`, usage errors, the exit codes, and `oprun types`.

use crate::common::*;
use serde_json::Value;

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
        let ran = Oprun::bare().cmd(*command).arg("--help").run();
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
    let ran = Oprun::bare().cmd(["--help"]).run();
    assert_contains_all(
        &ran.stdout,
        &[
            "Exit codes",
            "3  not found",
            "4  forbidden",
            "5  conflict",
            "--database-url",
            "DATABASE_URL",
            "--json",
        ],
    );
    let ran = Oprun::bare().cmd(["runs", "list", "--help"]).run();
    assert!(ran.stdout.contains("Exit codes"), "{}", ran.stdout);
    assert!(
        ran.stdout.contains("--database-url"),
        "global flags are listed"
    );
}

/// The exit codes `--help` lists are the ones the README documents, with the same meaning.
#[test]
fn help_and_readme_list_the_same_exit_codes() {
    let ran = Oprun::bare().cmd(["--help"]).run();
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
    let readme = include_str!("../../README.md")
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
    let ran = Oprun::bare().cmd(["frobnicate"]).run();
    assert_eq!(ran.code, 2);
    assert!(ran.stderr.starts_with("error:"), "{}", ran.stderr);
    let ran = Oprun::bare()
        .cmd(["runs", "start"])
        .flag("--workspace", 1)
        .run();
    assert_eq!(ran.code, 2, "missing --type");
    assert!(ran.stderr.contains("--type"), "{}", ran.stderr);
}

#[test]
fn types_lists_the_allow_list_with_legacy_spellings() {
    let ran = Oprun::bare().cmd(["types"]).ok();
    assert_contains_all(
        &ran.stdout,
        &[
            "inventory_sync",
            "inventory.sync",
            "entra_group_sync",
            "directory_groups.sync",
            "backup_schedule.run_now",
            "drift_generate",
            "items_seen",
            "tenant",
        ],
    );

    // --json after the subcommand, and before it: global either way.
    for args in [&["types", "--json"], &["--json", "types"]] {
        let ran = Oprun::bare().cmd(args).ok();
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
