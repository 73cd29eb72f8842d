//! `oprun demo`: the product end to end, repeatable, and never on a real database.

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_twice_on_one_database() {
    for db in databases().await {
        let oprun = Oprun::on(&db);
        let first = oprun.cmd(["demo"]).ok().ran.stdout;
        assert_contains_all(
            &first,
            &[
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
            ],
        );
        let second = oprun.cmd(["demo"]).ok().ran.stdout;
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
        let page = oprun.runs_list(1, 1).limit(500).ok_json();
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
        oprun.runs_list(2, 1).fails(4, &["forbidden"]);
        oprun.runs_list(3, 1).fails(3, &["not found"]);
        let history = oprun.schedules("history", 1).flag("--as-user", 1).ok_json();
        assert!(!run_ids(&history).is_empty());
    }
}

/// A real database before the cutover (migrations applied, some pending) is not a playground:
/// the demo refuses it and changes nothing, on either side of the history's bookkeeping.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_refuses_a_database_before_the_cutover() {
    for (db, _) in legacy_databases().await {
        let oprun = Oprun::on(&db);
        let before = oprun.cmd(["preflight"]).ok_json();
        let workspaces = db.scalar_i64("SELECT COUNT(*) FROM workspaces").await;

        let ran = oprun.cmd(["demo"]).fails(
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
        assert_eq!(
            oprun.applied_migrations(),
            1,
            "the demo applied no migration"
        );
        assert_eq!(
            oprun.cmd(["preflight"]).ok_json(),
            before,
            "legacy history intact"
        );
        assert_eq!(
            db.scalar_i64("SELECT COUNT(*) FROM workspaces").await,
            workspaces,
            "no demo rows"
        );

        // Part-way through the cutover itself, too.
        oprun.migrate("up").flag("--steps", 2).ok();
        oprun.cmd(["demo"]).fails(1, &["demo refused", "3 applied"]);

        // Tables without a record of the migrations: the same database, untracked.
        db.exec("DROP TABLE seaql_migrations").await;
        oprun.cmd(["demo"]).fails(1, &["demo refused", "no record"]);
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
        let ran = Oprun::on(&db).cmd(["demo"]).ok().ran.stdout;
        assert!(ran.contains("migrations up to date"), "{ran}");
        assert!(ran.contains("seed (created)"), "{ran}");
    }
}

#[test]
fn the_demo_uses_a_sqlite_file_in_the_current_directory_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let here = Oprun::bare().in_dir(dir.path());
    here.cmd(["demo"]).ok();
    assert!(dir.path().join("oprun.db").exists());
    let page = here.runs_list(1, 1).ok_json();
    assert!(!run_ids(&page).is_empty());
}
