//! `oprun preflight` and `oprun migrate up` on what real legacy databases hold: values today's
//! rules reject, values the cutover rewrites, bridges to another tenant's run. On a temp SQLite
//! file always, and on PostgreSQL when `OPRUN_TEST_POSTGRES_URL` is set.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::*;
use operation_runs_migration::fixtures::{
    RowChange, seed_legacy_bridges, seed_legacy_unreadable_rows,
};

/// The lines the human report gives a section's classes.
fn class_lines(sections: &serde_json::Value) -> Vec<String> {
    sections
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let ids: Vec<String> = s["ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|id| id.as_i64().unwrap().to_string())
                .collect();
            format!(
                "  {}.{} {}: {} rows (ids {})",
                s["table"].as_str().unwrap(),
                s["column"].as_str().unwrap(),
                s["class"].as_str().unwrap(),
                s["rows"],
                ids.join(", ")
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_lists_unreadable_and_rewritten_values_without_calling_them_a_loss() {
    for db in baseline_databases().await {
        let url = db.url.as_str();
        let exp = seed_legacy_unreadable_rows(&db.conn).await.unwrap();
        // Without the duplicate identity the hash rewrite creates, nothing would be lost.
        for (id, change) in &exp.changes {
            if *change == RowChange::Superseded {
                db.exec(&format!(
                    "UPDATE operation_runs SET status = 'completed', outcome = 'failed', \
                     completed_at = updated_at WHERE id = {id}"
                ))
                .await;
            }
        }

        let report = ok_json(url, &["preflight"]);
        assert_eq!(
            report["unreadable_rows"],
            serde_json::to_value(&exp.unreadable_rows).unwrap()
        );
        assert_eq!(
            report["cutover_rewrites"],
            serde_json::to_value(&exp.cutover_rewrites).unwrap()
        );
        assert_eq!(report["would_lose_anything"], false);

        let human = ok(url, &["preflight"]);
        assert!(human.contains("Rows today's rules would reject"), "{human}");
        assert!(human.contains("Values the cutover rewrites"), "{human}");
        for line in class_lines(&report["unreadable_rows"])
            .into_iter()
            .chain(class_lines(&report["cutover_rewrites"]))
        {
            assert!(human.contains(&line), "{line} missing from:\n{human}");
        }
        // Information, not loss: `--strict` passes.
        ok(url, &["preflight", "--strict"]);

        // The cutover counts each rewrite on stderr.
        let ran = run(url, &["migrate", "up"]);
        assert_eq!(ran.code, 0, "{}", ran.stderr);
        for (column, class, n) in &exp.rewritten_values {
            let line = format!(
                "normalized legacy values table=operation_runs column={column} class={class} \
                 rewritten={n}"
            );
            assert!(
                ran.stderr.contains(&line),
                "{line} missing from:\n{}",
                ran.stderr
            );
        }

        // Afterwards the rest is still listed, and nothing is left to rewrite.
        let after = ok_json(url, &["preflight"]);
        assert_eq!(after["cutover_complete"], true);
        assert_eq!(after["cutover_rewrites"], serde_json::json!([]));
        assert_eq!(after["unreadable_rows"], report["unreadable_rows"]);
        ok(url, &["preflight", "--strict"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_lists_bridges_to_another_tenants_run_as_lost_references() {
    for db in baseline_databases().await {
        let url = db.url.as_str();
        let exp = seed_legacy_bridges(&db.conn).await.unwrap();

        let report = ok_json(url, &["preflight"]);
        assert_eq!(
            report["rejected_bridges"],
            serde_json::to_value(&exp.rejected_bridges).unwrap()
        );
        assert_eq!(
            report["finding_baseline_refs"]["bridge_foreign_tenant"],
            exp.finding_baseline_refs.bridge_foreign_tenant
        );
        assert_eq!(report["would_lose_anything"], true);
        let human = ok(url, &["preflight"]);
        for rejected in &exp.rejected_bridges {
            let line = format!(
                "  {}.{}: {}: {} rows (ids {}",
                rejected.table,
                rejected.column,
                rejected.reason,
                rejected.rows,
                operation_runs_tests::listed_ids(&rejected.ids)
            );
            assert!(human.contains(&line), "{line} missing from:\n{human}");
        }
        assert!(human.contains("bridge to another tenant's run"), "{human}");
        fails(url, &["preflight", "--strict"], 6, &["would lose data"]);
    }
}
