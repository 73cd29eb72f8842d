//! Every error the README documents: its exit code and a one-line message that says what to do.

use crate::common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_error_has_its_exit_code_and_message() {
    for db in databases().await {
        let oprun = Oprun::on(&db);
        // Pending migrations: everything but migrate/demo/preflight/types refuses.
        for refused in [
            oprun.runs_list(1, 1),
            oprun.runs_start(1, "inventory_sync").tenant(1),
            oprun.reap("1h"),
            oprun.schedules("history", 1),
        ] {
            refused.fails(1, &["pending migration", "oprun migrate up"]);
        }
        oprun.migrate("up").ok();
        let seed = seed(&db).await;
        let (ws, viewer) = (seed.workspace, seed.viewer);
        let start = |run_type: &str, identity: &str| {
            oprun
                .runs_start(ws, run_type)
                .tenant(seed.tenant)
                .identity(identity)
        };

        // Unknown, dotted, non-canonical types: refused, nothing written.
        let unknown = start("policy_export", "{}")
            .fails(1, &["policy_export", "not registered", "`oprun types`"]);
        assert!(
            !unknown.stderr.contains("RunTypeRegistry"),
            "a command-line user cannot register types: {}",
            unknown.stderr
        );
        // A stored run of a type this build does not register (written by another service):
        // its counts cannot be checked.
        db.exec(&format!(
            "INSERT INTO operation_runs (workspace_id, initiator_name, type, status, outcome, \
             run_identity_hash) VALUES ({}, 'system', 'custom_export', 'queued', 'pending', '{}')",
            seed.other_workspace,
            "c".repeat(64)
        ))
        .await;
        let foreign = db
            .scalar_i64("SELECT MAX(id) FROM operation_runs")
            .await
            .unwrap();
        let refused = oprun
            .runs_progress(foreign)
            .count("processed=1")
            .fails(1, &["custom_export", "not registered", "`oprun types`"]);
        assert!(!refused.stderr.contains("RunTypeRegistry"));
        oprun.runs_complete(foreign, "cancelled").ok();
        start("inventory.sync", "{}").fails(1, &["inventory.sync", "inventory_sync"]);
        start("Inventory Sync", "{}").fails(1, &["not canonical"]);
        // Invalid JSON is a usage error naming the flag.
        start("inventory_sync", "{selection:all}").fails(2, &["--identity", "not valid JSON"]);
        start("inventory_sync", "[1,2]").fails(2, &["--identity", "JSON object"]);
        start("inventory_sync", "{}")
            .context(r#"{"backup_schedule_id":"3"}"#)
            .fails(2, &["--context", "backup_schedule_id"]);
        // Tenant rules.
        oprun.runs_start(ws, "inventory_sync").fails(1, &["tenant"]);
        oprun
            .runs_start(ws, "inventory_sync")
            .tenant(seed.other_tenant)
            .fails(1, &["does not belong"]);
        let listed = oprun.runs_list(viewer, ws).ok_json();
        assert_eq!(listed["runs"], json!([]), "refusals write nothing");

        let id = id_of(&start("inventory_sync", "{}").ok_json());
        // Counts: undeclared, negative, malformed.
        let progress = || oprun.runs_progress(id);
        progress()
            .count("groups_seen=1")
            .fails(1, &["groups_seen", "not declared"]);
        progress().count("processed=-1").fails(1, &["negative"]);
        progress().count("processed").fails(2, &["NAME=VALUE"]);
        progress()
            .counts("{processed:1}")
            .fails(2, &["--counts", "not valid JSON"]);
        oprun
            .runs_complete(id, "failed")
            .failure("Bad Code=x")
            .fails(2, &["snake_case"]);
        oprun.runs_complete(id, "done").fails(2, &["--outcome"]);

        // Illegal transitions: a queued run cannot succeed; completed is final.
        oprun
            .runs_complete(id, "succeeded")
            .fails(5, &[&format!("run {id}"), "queued"]);
        oprun.runs_complete(id, "cancelled").ok();
        oprun.runs_begin(id).fails(5, &["already completed"]);
        oprun
            .runs_complete(id, "failed")
            .fails(5, &["already completed"]);
        progress()
            .count("processed=1")
            .fails(5, &[&format!("run {id}")]);

        // Not found: no such run; a run of another workspace; a non-member; an unknown workspace.
        oprun
            .runs_begin(999_999)
            .fails(3, &["run 999999 not found"]);
        oprun
            .runs_show(999_999, viewer, ws)
            .fails(3, &["not found"]);
        oprun
            .runs_show(id, viewer, seed.other_workspace)
            .fails(3, &["not found"]);
        let not_member = oprun
            .runs_show(id, seed.outsider, ws)
            .fails(3, &["not found"]);
        let missing = oprun
            .runs_show(999_999, seed.outsider, ws)
            .fails(3, &["not found"]);
        assert_eq!(
            not_member.stderr.replace(&id.to_string(), "N"),
            missing.stderr.replace("999999", "N"),
            "a non-member cannot tell an existing run from a missing one"
        );
        oprun.runs_list(seed.outsider, ws).fails(3, &["not found"]);
        oprun
            .runs_start(999_999, "inventory_sync")
            .tenant(seed.tenant)
            .fails(1, &["does not belong"]);

        // Forbidden: a member without the view capability.
        oprun.runs_list(seed.blind, ws).fails(4, &["forbidden"]);
        oprun.runs_show(id, seed.blind, ws).fails(4, &["forbidden"]);

        oprun
            .runs_list(viewer, ws)
            .cursor("abc")
            .fails(2, &["cursor"]);
        // The page size is bounded like the library's (1 to 500): a usage error, not a failure.
        for limit in ["0", "501"] {
            oprun
                .runs_list(viewer, ws)
                .limit(limit)
                .fails(2, &["--limit", limit]);
        }
        let page = oprun.runs_list(viewer, ws).limit(500).ok_json();
        assert!(page["runs"].is_array());
        oprun
            .runs_list(viewer, ws)
            .flag("--since", "someday")
            .fails(2, &["--since"]);
    }
}
