//! `oprun schedules`: a backup schedule's history, retention and purge.

use crate::common::*;
use operation_runs_ports::{BackupRepository, Provisioning};
use operation_runs_sea_orm::SeaOrmStore;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedule_history_retention_and_purge() {
    for seeded in seeded_databases().await {
        let Seeded { db, seed, oprun } = &seeded;
        let store = SeaOrmStore::from_connection(db.conn.clone());
        let schedule = store
            .create_backup_schedule(seed.workspace, seed.tenant, "nightly", 1)
            .await
            .unwrap();
        let sid = schedule.id;
        let history = || oprun.schedules("history", sid);

        // Three backups recorded from a script: two succeed, the last fails.
        let mut runs = Vec::new();
        let mut sets = Vec::new();
        for (i, outcome) in ["succeeded", "succeeded", "failed"].iter().enumerate() {
            let set = store
                .create_set(sid, &format!("set {i}"), 10, chrono::Utc::now())
                .await
                .unwrap();
            let run = seeded
                .start("backup_schedule_run")
                .identity(json!({ "slot": i }))
                .context(json!({
                    "backup_schedule_id": sid.get(),
                    "backup_set_id": set.id.get(),
                    "scheduled_for": format!("2026-02-1{i}T02:00:00Z"),
                }))
                .initiator("scheduler")
                .ok_json();
            let id = id_of(&run);
            oprun.runs_begin(id).ok();
            oprun
                .runs_complete(id, outcome)
                .count("sets_created=1")
                .ok();
            runs.push(id);
            sets.push(set.id);
        }

        let all = history().ok_json();
        assert_eq!(run_ids(&all), vec![runs[2], runs[1], runs[0]]);
        assert_eq!(all["schedule"]["keep_last"], 1);
        let failed = history().flag("--outcome", "failed").ok_json();
        assert_eq!(run_ids(&failed), vec![runs[2]]);
        let first_page = history().limit(2).ok_json();
        let cursor = first_page["next_cursor"].as_str().unwrap();
        let second_page = history().limit(2).cursor(cursor).ok_json();
        assert_eq!(run_ids(&second_page), vec![runs[0]]);
        let human = history().flag("--as-user", seed.viewer).ok().ran.stdout;
        assert!(
            human.contains("nightly")
                && human.contains("SCHEDULED FOR")
                && human.contains("2026-02-10 02:00:00"),
            "{human}"
        );
        history()
            .flag("--as-user", seed.blind)
            .fails(4, &["forbidden"]);
        let outsider = history()
            .flag("--as-user", seed.outsider)
            .fails(3, &["not found"]);
        let missing = oprun
            .schedules("history", 999_999)
            .flag("--as-user", seed.outsider)
            .fails(3, &["not found"]);
        assert_eq!(
            outsider.stderr.replace(&sid.to_string(), "N"),
            missing.stderr.replace("999999", "N")
        );
        history()
            .flag("--type", "inventory_sync")
            .fails(2, &["not a schedule run type"]);

        // Retention keeps the newest successful backup's set (keep last 1).
        let retention = || oprun.schedules("retention", sid);
        let plan = retention().arg("--dry-run").ok_json();
        assert_eq!(plan["result"], "dry_run");
        assert_eq!(plan["run"], Value::Null);
        assert_eq!(
            plan["plan"]["kept"],
            json!([{ "set": sets[1].get(), "run": runs[1] }])
        );
        assert_eq!(
            plan["plan"]["to_soft_delete"],
            json!([{ "set": sets[0].get(), "run": runs[0] }])
        );
        assert!(
            store
                .list_sets(sid, false)
                .await
                .unwrap()
                .iter()
                .any(|set| set.id == sets[0]),
            "a dry run changes nothing"
        );
        let human = retention().arg("--dry-run").ok().ran.stdout;
        assert!(
            human.contains("dry run") && human.contains("soft-delete 1 set"),
            "{human}"
        );

        let at = "2026-02-20T03:00:00Z";
        let applied = retention().flag("--scheduled-for", at).ok_json();
        assert_eq!(applied["result"], "performed");
        assert_eq!(applied["run"]["type"], "backup_schedule_retention");
        assert_eq!(applied["run"]["outcome"], "succeeded");
        assert_eq!(applied["run"]["context"]["backup_schedule_id"], sid.get());
        assert_eq!(applied["sets_soft_deleted"], 1);
        let live = store.list_sets(sid, false).await.unwrap();
        assert!(
            live.iter().all(|set| set.id != sets[0]),
            "the old set is soft-deleted"
        );
        assert!(live.iter().any(|set| set.id == sets[1]));
        let again = retention().flag("--scheduled-for", at).ok_json();
        assert_eq!(again["result"], "already_completed");
        assert_eq!(again["run"]["id"], applied["run"]["id"]);

        // Purge after a zero grace period: the soft-deleted set goes for good.
        let purge = || {
            oprun
                .schedules("purge", sid)
                .flag("--grace", "0s")
                .flag("--keep-history", "365d")
        };
        let plan = purge().arg("--dry-run").ok_json();
        assert_eq!(plan["result"], "dry_run");
        assert_eq!(plan["sets_purged"], 1);
        assert_eq!(plan["runs_purged"], 0);
        let purged = purge().ok_json();
        assert_eq!(purged["result"], "performed");
        assert_eq!(purged["sets_purged"], 1);
        assert_eq!(purged["run"]["type"], "backup_schedule_purge");
        assert_eq!(purged["run"]["summary_counts"]["sets_purged"], 1);
        let all_sets = store.list_sets(sid, true).await.unwrap();
        assert!(
            all_sets.iter().all(|set| set.id != sets[0]),
            "purged for good"
        );
        let human = oprun
            .schedules("purge", sid)
            .arg("--dry-run")
            .ok()
            .ran
            .stdout;
        assert!(
            human.contains("purge plan") && human.contains("dry run"),
            "{human}"
        );

        let types = history()
            .flag("--type", "backup_schedule_purge")
            .flag("--type", "backup_schedule_retention")
            .ok_json()["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["type"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>();
        assert_eq!(
            types,
            vec!["backup_schedule_purge", "backup_schedule_retention"]
        );

        oprun
            .schedules("retention", 999_999)
            .fails(3, &["backup schedule 999999 not found"]);
        oprun
            .schedules("purge", 999_999)
            .arg("--dry-run")
            .fails(3, &["backup schedule 999999 not found"]);
        oprun
            .schedules("purge", sid)
            .flag("--grace", "a week")
            .fails(2, &["--grace"]);
    }
}
