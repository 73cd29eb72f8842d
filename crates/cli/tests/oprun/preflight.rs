//! `oprun preflight`: what the cutover would lose or refuse, before it runs; then the cutover.

use crate::common::*;
use operation_runs_ports::Provisioning;
use operation_runs_sea_orm::SeaOrmStore;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_reports_what_the_cutover_would_lose() {
    for db in databases().await {
        let oprun = Oprun::on(&db);
        let preflight = || oprun.cmd(["preflight"]);
        // An empty database has nothing to lose, with or without --strict and --json.
        let human = preflight().ok().ran.stdout;
        assert!(
            human.contains("no schema yet") && human.contains("nothing to lose"),
            "{human}"
        );
        assert!(
            preflight()
                .arg("--strict")
                .ok()
                .stdout
                .contains("nothing to lose")
        );
        let empty = preflight().arg("--strict").ok_json();
        assert_eq!(empty["schema_present"], false);
        assert_eq!(empty["would_lose_anything"], false);
        assert_eq!(empty["blocking_problems"], 0);
        oprun.migrate("up").flag("--steps", 1).ok();

        let clean = preflight().arg("--strict").ok_json();
        assert_eq!(clean["would_lose_anything"], false);
        assert_eq!(clean["cutover_complete"], false);
        assert_eq!(clean["schema_present"], true);
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(
            keys(&empty),
            keys(&clean),
            "the empty report has the keys of a real one"
        );
        assert!(preflight().ok().stdout.contains("preflight"));

        // Old rows breaking new rules: two active runs of one identity, a dotted custom type.
        let store = SeaOrmStore::from_connection(db.conn.clone());
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
        let report = preflight().ok_json();
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
        let ran = preflight().arg("--strict").fails(6, &["would lose data"]);
        assert!(
            ran.stdout.contains("preflight"),
            "the report is printed before the refusal"
        );

        // The cutover resolves it; afterwards there is nothing left to lose.
        oprun.migrate("up").arg("--accept-data-loss").ok();
        let after = preflight().arg("--strict").ok_json();
        assert_eq!(after["cutover_complete"], true);
        assert_eq!(after["would_lose_anything"], false);
    }
}

/// A legacy database whose tables exist but whose migration history is not recorded is not
/// mistaken for an empty one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_reports_an_untracked_legacy_database_in_full() {
    for (db, _) in legacy_databases().await {
        let oprun = Oprun::on(&db);
        db.exec("DROP TABLE seaql_migrations").await;

        let report = oprun.cmd(["preflight"]).ok_json();
        assert_eq!(report["schema_present"], true);
        assert_eq!(report["would_lose_anything"], true);
        assert!(!report["legacy_tables"].as_array().unwrap().is_empty());
        let human = oprun.cmd(["preflight"]).ok().ran.stdout;
        assert!(human.contains("not recorded"), "{human}");
        oprun
            .cmd(["preflight", "--strict"])
            .fails(6, &["would lose data"]);
    }
}

/// Rows breaking a foreign key (SQLite files written without enforcement) make the cutover
/// refuse to start: the preflight shows them first and `--strict` exits 7, even when the
/// cutover would also lose data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_puts_rows_that_block_the_cutover_first() {
    use sea_orm::{ConnectOptions, ConnectionTrait, Database};

    let db = operation_runs_tests::TestDb::sqlite().await;
    let oprun = Oprun::on(&db);
    let strict = || oprun.cmd(["preflight", "--strict"]);
    oprun.migrate("up").flag("--steps", 1).ok();
    let store = SeaOrmStore::from_connection(db.conn.clone());
    let ws = store.create_workspace("Legacy").await.unwrap();
    let tenant = store.create_tenant(ws, "legacy").await.unwrap();
    let missing_tenant = tenant.get() + 100;
    // As old files were written: one connection, foreign keys not enforced.
    let mut options = ConnectOptions::new(db.url.clone());
    options
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| o.foreign_keys(false));
    let unchecked = Database::connect(options).await.unwrap();
    unchecked
        .execute_unprepared(&format!(
            "INSERT INTO findings (workspace_id, tenant_id, subject_external_id, change) \
             VALUES ({ws}, {missing_tenant}, 'orphan', 'added')"
        ))
        .await
        .unwrap();
    unchecked.close().await.unwrap();

    let report = oprun.cmd(["preflight"]).ok_json();
    assert_eq!(report["blocking_problems"], 1);
    assert_eq!(report["broken_foreign_keys"][0]["table"], "findings");
    assert_eq!(report["broken_foreign_keys"][0]["column"], "tenant_id");
    let human = oprun.cmd(["preflight"]).ok().ran.stdout;
    assert!(
        human.starts_with("BLOCKED: the cutover will refuse to start: 1 row(s)"),
        "the blocking rows come first:\n{human}"
    );
    assert!(human.contains("findings.tenant_id"), "{human}");
    let ran = strict().fails(7, &["refuse to start", "1 row(s)", "foreign keys"]);
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
    strict().fails(7, &["refuse to start"]);

    // The cutover itself refuses, changing nothing; once the row is fixed it runs.
    // (stderr also carries the migrator's progress lines)
    let ran = oprun.migrate("up").run();
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let last = ran.stderr.lines().last().unwrap();
    assert!(
        last.starts_with("error: ")
            && last.contains("cannot start")
            && last.contains("oprun preflight"),
        "{}",
        ran.stderr
    );
    assert_eq!(oprun.applied_migrations(), 1, "only the baseline");
    db.exec(&format!(
        "UPDATE findings SET tenant_id = {tenant} WHERE subject_external_id = 'orphan'"
    ))
    .await;
    strict().fails(6, &["would lose data"]);
    oprun.migrate("up").arg("--accept-data-loss").ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_and_cutover_of_a_legacy_database() {
    for (db, expected) in legacy_databases().await {
        let oprun = Oprun::on(&db);

        let report = oprun.cmd(["preflight"]).ok_json();
        assert_eq!(report["would_lose_anything"], true);
        for (key, value) in [
            (
                "legacy_tables",
                serde_json::to_value(&expected.legacy_tables),
            ),
            (
                "finding_baseline_refs",
                serde_json::to_value(expected.finding_baseline_refs),
            ),
            (
                "inventory_last_seen_refs",
                serde_json::to_value(expected.inventory_last_seen_refs),
            ),
            (
                "duplicate_active_identities",
                serde_json::to_value(&expected.duplicate_active_identities),
            ),
        ] {
            assert_eq!(report[key], value.unwrap(), "{key}");
        }
        let human = oprun.cmd(["preflight"]).ok().ran.stdout;
        assert!(human.contains("preflight"), "{human}");
        oprun
            .cmd(["preflight", "--strict"])
            .fails(6, &["would lose data"]);
        oprun.runs_list(1, 1).fails(1, &["pending migration"]);

        // The cutover shows the backfill's progress on stderr.
        let ran = oprun.migrate("up").arg("--accept-data-loss").ok();
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
        let after = oprun.cmd(["preflight", "--strict"]).ok_json();
        assert_eq!(after["cutover_complete"], true);
        assert_eq!(after["would_lose_anything"], false);
    }
}

/// Counts a registered type does not declare (the host's declarations, from `--types` too) are
/// reported as unreadable rows, and only for the types that do not declare them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_reports_counts_their_type_does_not_declare() {
    for seeded in seeded_databases().await {
        let Seeded { oprun, db, .. } = &seeded;
        let undeclared = id_of(&seeded.start("inventory_sync").ok_json());
        let declared = id_of(&seeded.start("entra_group_sync").ok_json());
        let counts = |id: i64, json: &str| {
            let value = if db.backend == operation_runs_tests::Backend::Postgres {
                format!("'{json}'::jsonb")
            } else {
                format!("'{json}'")
            };
            format!("UPDATE operation_runs SET summary_counts = {value} WHERE id = {id}")
        };
        db.exec(&counts(undeclared, r#"{"processed": 1, "bogus_count": 2}"#))
            .await;
        db.exec(&counts(declared, r#"{"processed": 3}"#)).await;

        let report = oprun.cmd(["preflight"]).arg("--strict").ok_json();
        let sections: Vec<&Value> = report["unreadable_rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["class"] == "count_not_declared")
            .collect();
        assert_eq!(sections.len(), 1, "{report:#}");
        assert_eq!(sections[0]["column"], "summary_counts");
        assert_eq!(sections[0]["ids"], serde_json::json!([undeclared]));
        assert_eq!(
            report["would_lose_anything"], false,
            "information, not loss"
        );
    }
}
