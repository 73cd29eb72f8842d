//! `oprun migrate`: up, status, down (one step by default, `--yes` for more), fresh.

use crate::common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_up_status_down_fresh() {
    for db in databases().await {
        let oprun = Oprun::on(&db);
        let status = oprun.migrate("status").ok_json();
        let all = status.as_array().unwrap();
        assert!(all.len() >= 7, "baseline plus six cutover steps");
        assert_eq!(oprun.applied_migrations(), 0);
        let names = all
            .iter()
            .map(|m| m["name"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>();
        let last = names.last().unwrap();

        let up = oprun.migrate("up").ok().ran.stdout;
        assert!(
            up.contains(&format!("applied {} migration(s)", names.len())),
            "{up}"
        );
        assert!(up.contains(last), "{up}");
        assert_eq!(oprun.applied_migrations(), names.len());
        assert!(oprun.migrate("up").ok().stdout.contains("nothing to apply"));
        let human = oprun.migrate("status").ok();
        assert!(
            human.stdout.contains("MIGRATION") && human.stdout.contains("applied"),
            "{}",
            human.stdout
        );

        // down takes one step by default
        let down = oprun.migrate("down").ok_json();
        assert_eq!(down["rolled back"], json!([last]));
        assert_eq!(oprun.applied_migrations(), names.len() - 1, "one pending");
        oprun
            .runs_list(1, 1)
            .fails(1, &["pending migration", "oprun migrate up"]);

        let up = oprun.migrate("up").flag("--steps", 1).ok_json();
        assert_eq!(up["applied"], json!([last]));

        // Several steps, or a step that cannot give its data back, need --yes.
        oprun
            .migrate("down")
            .flag("--steps", 2)
            .fails(2, &["rolls back 2", "legacy run tables empty", "--yes"]);
        assert_eq!(
            oprun.applied_migrations(),
            names.len(),
            "a refused rollback changes nothing"
        );
        let down = oprun
            .migrate("down")
            .flag("--steps", 2)
            .arg("--yes")
            .ok_json();
        assert_eq!(down["rolled back"].as_array().unwrap().len(), 2);
        oprun
            .migrate("down")
            .fails(2, &[&names[names.len() - 3], "empty", "--yes"]);
        assert_eq!(oprun.applied_migrations(), names.len() - 2);
        oprun
            .migrate("down")
            .flag("--steps", 0)
            .fails(2, &["--steps"]);
        oprun.migrate("up").ok();

        oprun.migrate("fresh").fails(2, &["--yes"]);
        let fresh = oprun.migrate("fresh").arg("--yes").ok_json();
        assert_eq!(fresh["applied"].as_array().unwrap().len(), names.len());
        assert!(oprun.reap("1h").ok().stdout.contains("no stale runs"));
    }
}

/// The documented deploy pipeline works on a new database: the preflight passes, the
/// migrations create the schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deploy_pipeline_sets_up_a_fresh_database() {
    for db in databases().await {
        let oprun = Oprun::on(&db);
        oprun.cmd(["preflight", "--strict"]).ok();
        oprun.migrate("up").ok();
        let status = oprun.migrate("status").ok_json();
        assert_eq!(oprun.applied_migrations(), status.as_array().unwrap().len());
        let after = oprun.cmd(["preflight", "--strict"]).ok_json();
        assert_eq!(after["cutover_complete"], true);
    }
}
