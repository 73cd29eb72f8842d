//! `oprun runs start`: one active run per identity, from a script and from concurrent processes.

use crate::common::*;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_recorded_from_a_script() {
    for seeded in seeded_databases().await {
        let Seeded { seed, oprun, .. } = &seeded;
        let start = seeded
            .start("inventory_sync")
            .identity(r#"{"selection":"all","scope":{"b":2,"a":1}}"#)
            .initiator("nightly-cron")
            .user(1);
        let first = start.clone().ok_json();
        assert_eq!(first["reused"], false);
        assert_eq!(first["status"], "queued");
        let id = id_of(&first);

        // The same identity, keys in another order: the active run is reused.
        let again = seeded
            .start("inventory_sync")
            .identity(r#"{"scope":{"a":1,"b":2},"selection":"all"}"#)
            .ok_json();
        assert_eq!(
            (id_of(&again), again["reused"].clone()),
            (id, Value::from(true))
        );
        let human = start.clone().ok();
        assert!(
            human.stdout.contains(&format!("run {id} reused")),
            "{}",
            human.stdout
        );

        let begun = oprun.runs_begin(id).ok();
        assert!(begun.stdout.contains("running"), "{}", begun.stdout);
        oprun
            .runs_progress(id)
            .count("items_seen=3")
            .count("processed=3")
            .ok();
        let progressed = oprun
            .runs_progress(id)
            .counts(json!({"processed": 2}))
            .ok_json();
        assert_eq!(progressed["summary_counts"]["processed"], 5);
        assert_eq!(progressed["summary_counts"]["items_seen"], 3);
        let done = oprun
            .runs_complete(id, "partially_succeeded")
            .count("failed=1")
            .failure(
                "item_failed=device 7: Authorization: Bearer abcdef0123456789abcdef token rejected",
            )
            .failures(json!([{"code": "api_error", "message": "HTTP 500"}]))
            .ok_json();
        assert_eq!(done["status"], "completed");
        assert_eq!(done["outcome"], "partially_succeeded");
        assert_eq!(done["summary_counts"]["failed"], 1);

        let show = oprun.runs_show(id, seed.viewer, seed.workspace);
        let shown = show.clone().ok_json();
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

        let human = show.ok().ran.stdout;
        assert_contains_all(
            &human,
            &[
                "partially_succeeded",
                "item_failed",
                "processed=5",
                "nightly-cron",
            ],
        );

        // Completed: the identity may start again, as a new run.
        let next = start.ok_json();
        assert_eq!(next["reused"], false);
        assert_ne!(id_of(&next), id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_concurrent_starts_of_one_identity_print_one_id() {
    for seeded in seeded_databases().await {
        let Seeded { seed, oprun, .. } = &seeded;
        let children = (0..16)
            .map(|_| {
                seeded
                    .start("inventory_sync")
                    .identity(json!({"selection": "all"}))
                    .json()
                    .spawn()
            })
            .collect::<Vec<_>>();
        let results = children.into_iter().map(Running::wait).collect::<Vec<_>>();
        let mut ids = Vec::new();
        let mut new = 0;
        for reply in &results {
            assert_eq!(reply.code, 0, "stderr: {}", reply.stderr);
            let value = reply.json.as_ref().expect("JSON output");
            ids.push(id_of(value));
            if value["reused"] == false {
                new += 1;
            }
        }
        ids.dedup();
        assert_eq!(ids.len(), 1, "one id for all: {results:?}");
        assert_eq!(new, 1, "exactly one process recorded the run");
        let listed = oprun.runs_list(seed.viewer, seed.workspace).ok_json();
        assert_eq!(run_ids(&listed).len(), 1);
    }
}
