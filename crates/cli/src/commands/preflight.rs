//! `oprun preflight`: what the cutover would change and lose, before it runs.

use crate::cli::{GlobalArgs, PreflightArgs};
use crate::db::{self, Purpose};
use crate::error::{CliError, CliResult, Exit};
use crate::output::print_json;
use operation_runs_migration::{PreflightReport, preflight, undeclared_counts};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Prints the preflight report.
pub async fn run(global: &GlobalArgs, args: &PreflightArgs) -> CliResult {
    // The report reads the pre-cutover schema. Without it there is nothing to lose: a deploy
    // pipeline `oprun preflight --strict && oprun migrate up` must pass on a new database,
    // and the preflight must not create the SQLite file it was asked about.
    if let Some(path) = db::missing_sqlite_file(&db::parse_url(&global.database_url)?) {
        print_nothing_yet(
            global,
            &format!("The SQLite file {} does not exist yet", path.display()),
        );
        return Ok(());
    }
    let conn = db::connect(&global.database_url, Purpose::Use).await?;
    let state = db::schema_state(&conn).await?;
    if state.is_empty() {
        print_nothing_yet(
            global,
            "The database has no schema yet (no migration is applied)",
        );
        return Ok(());
    }
    let registry = crate::registry::load(global)?;
    let allowed = registry
        .iter()
        .map(|d| d.id().to_string())
        .collect::<BTreeSet<_>>();
    let failed = |e| CliError::error(format!("preflight failed: {e}"));
    let mut report = preflight(&conn, &allowed).await.map_err(failed)?;
    let declared: BTreeMap<String, BTreeSet<String>> = registry
        .iter()
        .map(|d| {
            let names = d.count_names().iter().map(ToString::to_string).collect();
            (d.id().to_string(), names)
        })
        .collect();
    report
        .unreadable_rows
        .extend(undeclared_counts(&conn, &declared).await.map_err(failed)?);
    let blocking = report.blocking_problems();
    if global.json {
        let mut value = serde_json::to_value(&report)
            .map_err(|e| CliError::error(format!("cannot print the report: {e}")))?;
        if let Value::Object(map) = &mut value {
            for (key, extra) in summary(&report) {
                map.insert(key.to_owned(), extra);
            }
        }
        print_json(&value);
    } else {
        if blocking > 0 {
            // Above the report, not only in its last lines: this is what stops a deployment.
            println!(
                "BLOCKED: the cutover will refuse to start: {blocking} row(s) break foreign keys \
                 of tables it rebuilds or hold a value a later step fails on (listed below). Fix \
                 or delete them, then run `oprun migrate up`."
            );
            println!();
        }
        if state.is_untracked() {
            println!(
                "Note: the migration history is not recorded in this database; `oprun migrate \
                 up` adopts the existing tables as the baseline, then runs the cutover."
            );
        }
        print!("{report}");
    }
    if args.strict {
        strict_verdict(&report)?;
    }
    Ok(())
}

/// The keys `--json` adds to the report.
fn summary(report: &PreflightReport) -> [(&'static str, Value); 4] {
    [
        ("would_lose_anything", report.would_lose_anything().into()),
        ("cutover_complete", report.cutover_complete().into()),
        ("blocking_problems", report.blocking_problems().into()),
        ("schema_present", true.into()),
    ]
}

/// `--strict`: refuses when the cutover would fail to start (it must be fixed first, so it
/// wins) or would lose data.
fn strict_verdict(report: &PreflightReport) -> CliResult {
    let blocking = report.blocking_problems();
    if blocking > 0 {
        return Err(CliError::new(
            Exit::CutoverBlocked,
            format!(
                "--strict: the cutover would refuse to start: {blocking} row(s) break foreign \
                 keys or hold a value a later step fails on (see the report); fix or delete them \
                 first"
            ),
        ));
    }
    if report.would_lose_anything() {
        return Err(CliError::new(
            Exit::WouldLoseData,
            "--strict: the cutover would lose data (see the report)",
        ));
    }
    Ok(())
}

/// What the report says about a database with no schema of ours (`why`): `migrate up` creates
/// it with the cutover applied, so there is nothing to lose.
fn print_nothing_yet(global: &GlobalArgs, why: &str) {
    if global.json {
        // The keys of a real report, empty, so a script reads both the same way.
        print_json(&json!({
            "missing_legacy_objects": [],
            "legacy_tables": [],
            "finding_baseline_refs": null,
            "finding_current_refs": null,
            "inventory_last_seen_refs": null,
            "dotted_types": [],
            "unregistered_types": [],
            "duplicate_active_identities": [],
            "rejected_bridges": [],
            "unreadable_rows": [],
            "cutover_rewrites": [],
            "blocking_rows": [],
            "broken_foreign_keys": [],
            "would_lose_anything": false,
            "cutover_complete": false,
            "blocking_problems": 0,
            "schema_present": false,
        }));
    } else {
        println!("Operation runs cutover preflight");
        println!(
            "{why}: there is nothing to lose. `oprun migrate up` creates the schema with the \
             cutover applied."
        );
    }
}
