//! `oprun reap`: stale running runs fail, finished ones stay as they are.

use crate::common::*;
use operation_runs_tests::Backend;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reap_completes_stale_runs() {
    for seeded in seeded_databases().await {
        let Seeded { seed, oprun, .. } = &seeded;
        let run = id_of(&seeded.start("inventory_sync").ok_json());
        oprun.runs_begin(run).ok();
        let done = id_of(&seeded.start("entra_group_sync").ok_json());
        oprun.runs_complete(done, "cancelled").ok();
        let show = |id: i64| oprun.runs_show(id, seed.viewer, seed.workspace).ok_json();

        assert!(oprun.reap("1d").ok().stdout.contains("no stale runs"));
        assert_eq!(show(run)["status"], "running");

        std::thread::sleep(std::time::Duration::from_millis(20));
        let report = oprun.reap("0s").ok_json();
        assert_eq!(report["reaped"], json!([run]));
        let reaped = show(run);
        assert_eq!(reaped["outcome"], "failed");
        assert_eq!(reaped["failure_summary"][0]["code"], "run_stale");
        assert_eq!(show(done)["outcome"], "cancelled");
        oprun.reap("soon").fails(2, &["duration"]);
    }
}

/// The operator's story with a row the legacy product wrote: listing, showing and reaping keep
/// working, and the broken field is shown as such, its stored value redacted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_rows_are_listed_shown_and_reaped() {
    for seeded in seeded_databases().await {
        let Seeded { seed, oprun, db } = &seeded;
        let run = id_of(&seeded.start("inventory_sync").ok_json());
        oprun.runs_begin(run).ok();
        let legacy = if db.backend == Backend::Postgres {
            "'\"legacy: password=hunter2\"'::jsonb"
        } else {
            "'\"legacy: password=hunter2\"'"
        };
        db.exec(&format!(
            "UPDATE operation_runs SET failure_summary = {legacy}, started_at = NULL WHERE id = {run}"
        ))
        .await;

        let listed = oprun.runs_list(seed.viewer, seed.workspace).ok().ran.stdout;
        assert!(listed.contains(&run.to_string()), "{listed}");
        let shown = oprun
            .runs_show(run, seed.viewer, seed.workspace)
            .ok()
            .ran
            .stdout;
        assert_contains_all(
            &shown,
            &[
                "failure_summary is unreadable",
                "started_at is unreadable",
                "legacy",
            ],
        );
        assert!(!shown.contains("hunter2"), "{shown}");

        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(oprun.reap("0s").ok_json()["reaped"], json!([run]));
        let reaped = oprun.runs_show(run, seed.viewer, seed.workspace).ok_json();
        assert_eq!(reaped["outcome"], "failed");
        assert_eq!(reaped["unreadable"], json!([]));
        assert_eq!(
            reaped["failure_summary"][0]["code"],
            "unreadable_failure_summary"
        );
        assert_eq!(reaped["failure_summary"][1]["code"], "run_stale");
    }
}
