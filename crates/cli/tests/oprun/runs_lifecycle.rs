//! `oprun runs complete`: counts and completion written together, or not at all.

use crate::common::*;
use serde_json::json;

/// `runs complete … --count` writes the counts and the completion together: when the
/// completion is refused, the counts are not stored either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_completion_stores_none_of_its_counts() {
    for seeded in seeded_databases().await {
        let Seeded { seed, oprun, .. } = &seeded;
        let run = seeded.start("inventory_sync").ok_json();
        let id = id_of(&run);
        let show = || oprun.runs_show(id, seed.viewer, seed.workspace).ok_json();

        // A queued run cannot succeed: refused, and the counts given with it are not stored.
        oprun
            .runs_complete(id, "succeeded")
            .count("processed=5")
            .fails(5, &[&format!("run {id}"), "queued"]);
        let after = show();
        assert_eq!(after["status"], "queued");
        assert_eq!(
            after["summary_counts"],
            json!({}),
            "a refused completion wrote counts"
        );

        // An undeclared count refuses the completion too, and nothing is written.
        oprun
            .runs_complete(id, "cancelled")
            .count("processed=5")
            .count("groups_seen=1")
            .fails(1, &["groups_seen", "not declared"]);
        let after = show();
        assert_eq!(after["status"], "queued");
        assert_eq!(after["summary_counts"], json!({}));

        // An allowed completion stores its counts with it.
        let done = oprun
            .runs_complete(id, "cancelled")
            .count("processed=5")
            .counts(json!({"skipped": 2}))
            .ok_json();
        assert_eq!(done["status"], "completed");
        assert_eq!(done["outcome"], "cancelled");
        assert_eq!(
            done["summary_counts"],
            json!({"processed": 5, "skipped": 2})
        );

        // Completed is final: a second completion with counts adds nothing.
        oprun
            .runs_complete(id, "failed")
            .count("processed=1")
            .fails(5, &["already completed"]);
        assert_eq!(
            show()["summary_counts"],
            json!({"processed": 5, "skipped": 2})
        );
    }
}
