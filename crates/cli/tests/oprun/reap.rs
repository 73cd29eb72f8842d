//! `oprun reap`: stale running runs fail, finished ones stay as they are.

use crate::common::*;
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
