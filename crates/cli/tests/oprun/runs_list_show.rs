//! `oprun runs list`: filters, keyset pages and the human table.

use crate::common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitoring_lists_filter_and_page() {
    for seeded in seeded_databases().await {
        let Seeded { seed, oprun, .. } = &seeded;
        let mut ids = Vec::new();
        for (i, run_type) in [
            "inventory_sync",
            "entra_group_sync",
            "inventory_sync",
            "drift_generate",
            "inventory_sync",
        ]
        .iter()
        .enumerate()
        {
            let run = seeded.start(run_type).identity(json!({ "n": i })).ok_json();
            ids.push(id_of(&run));
        }
        oprun.runs_begin(ids[0]).ok();
        oprun.runs_complete(ids[0], "succeeded").ok();
        oprun.runs_complete(ids[1], "cancelled").ok();
        // A run of the other workspace never shows up.
        oprun
            .runs_start(seed.other_workspace, "inventory_sync")
            .tenant(seed.other_tenant)
            .ok();

        let listing = || oprun.runs_list(seed.viewer, seed.workspace);
        let list = |extra: &[&str]| run_ids(&listing().args(extra).ok_json());
        let newest_first = ids.iter().rev().copied().collect::<Vec<_>>();
        assert_eq!(list(&[]), newest_first);
        assert_eq!(
            list(&["--type", "inventory_sync"]),
            vec![ids[4], ids[2], ids[0]]
        );
        assert_eq!(list(&["--status", "queued"]), vec![ids[4], ids[3], ids[2]]);
        assert_eq!(list(&["--status", "completed"]), vec![ids[1], ids[0]]);
        assert_eq!(list(&["--outcome", "cancelled"]), vec![ids[1]]);
        assert_eq!(
            list(&["--outcome", "pending", "--type", "drift_generate"]),
            vec![ids[3]]
        );
        assert_eq!(list(&["--tenant", &seed.tenant.to_string()]), newest_first);
        assert_eq!(
            list(&["--tenant", &seed.other_tenant.to_string()]),
            Vec::<i64>::new()
        );
        assert_eq!(list(&["--since", "1h"]), newest_first);
        assert_eq!(list(&["--until", "1h"]), Vec::<i64>::new());
        assert_eq!(
            list(&["--since", "2000-01-01", "--until", "2999-01-01T00:00:00Z"]),
            newest_first
        );

        // Walk the pages with the cursor: every run once, in order.
        let mut walked = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut page = listing().limit(2);
            if let Some(c) = &cursor {
                page = page.cursor(c);
            }
            let page = page.ok_json();
            let runs = run_ids(&page);
            assert!(runs.len() <= 2);
            walked.extend(runs);
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(walked, newest_first);

        let human = listing().limit(2).ok().ran.stdout;
        assert!(
            human.contains("ID") && human.contains("TYPE") && human.contains("STATUS"),
            "{human}"
        );
        assert!(human.contains("more: --cursor r"), "{human}");
        let empty = listing().flag("--until", "2000-01-01").ok().ran.stdout;
        assert!(empty.contains("no runs"), "{empty}");
    }
}
