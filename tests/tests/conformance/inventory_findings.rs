//! Inventory items marked with the run that saw them, and drift findings.

use crate::support::*;
use chrono::Duration;
use operation_runs_domain::{RunId, RunOutcome, TenantId};
use operation_runs_ports::{NewFinding, PortError, SeenItem};
use operation_runs_tests::{TestStore, on_every_store};
use serde_json::json;

async fn inventory_upsert_marks_items_with_their_run(store: TestStore) {
    let f = fixture(store).await;
    let run1 = f.queued(1, t0()).await.id();
    let run2 = f.queued(2, t0()).await.id();
    let first = f
        .store
        .upsert_seen(
            f.ws,
            f.tenant,
            &[seen("c", "Charlie"), seen("a", "Alpha"), seen("b", "Bravo")],
            run1,
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(
        first
            .iter()
            .map(|i| i.external_id.as_str())
            .collect::<Vec<_>>(),
        vec!["c", "a", "b"],
        "in the order given"
    );
    assert!(
        first
            .iter()
            .all(|i| i.last_seen_operation_run_id == Some(run1))
    );
    assert!(first.iter().all(|i| i.tenant_id == f.tenant));

    let mut renamed = seen("a", "Alpha 2");
    renamed.kind = "policy".into();
    let second = f
        .store
        .upsert_seen(
            f.ws,
            f.tenant,
            &[
                renamed.clone(),
                seen("d", "Delta"),
                seen("d", "Delta again"),
            ],
            run2,
            t0() + Duration::hours(1),
        )
        .await
        .unwrap();
    assert_eq!(second.len(), 3);
    assert_eq!(second[0].id, first[1].id, "existing item keeps its id");
    assert_eq!(second[0].display_name, "Alpha 2");
    assert_eq!(second[0].kind, "policy");
    assert_eq!(
        second[1], second[2],
        "a repeated item is one row, the last sighting wins"
    );
    assert_eq!(second[1].display_name, "Delta again");

    let items = f.store.list_items(f.tenant).await.unwrap();
    let view: Vec<(&str, Option<RunId>)> = items
        .iter()
        .map(|i| (i.external_id.as_str(), i.last_seen_operation_run_id))
        .collect();
    assert_eq!(
        view,
        vec![
            ("a", Some(run2)),
            ("b", Some(run1)),
            ("c", Some(run1)),
            ("d", Some(run2))
        ]
    );

    // A missing run or tenant: NotFound, and nothing written.
    let missing_run = f
        .store
        .upsert_seen(
            f.ws,
            f.tenant,
            &[seen("e", "Echo")],
            RunId::new(424_242),
            t0(),
        )
        .await;
    assert!(
        matches!(missing_run, Err(PortError::NotFound)),
        "{missing_run:?}"
    );
    let missing_tenant = f
        .store
        .upsert_seen(
            f.ws,
            TenantId::new(424_242),
            &[seen("e", "Echo")],
            run1,
            t0(),
        )
        .await;
    assert!(
        matches!(missing_tenant, Err(PortError::NotFound)),
        "{missing_tenant:?}"
    );
    assert_eq!(f.store.list_items(f.tenant).await.unwrap(), items);
    assert!(
        f.store
            .upsert_seen(f.ws, f.tenant, &[], run1, t0())
            .await
            .unwrap()
            .is_empty()
    );

    // Large syncs span several statements, still in one transaction.
    let many: Vec<SeenItem> = (0..2500)
        .map(|i| seen(&format!("bulk-{i:05}"), "Bulk"))
        .collect();
    let stored = f
        .store
        .upsert_seen(f.ws, f.tenant, &many, run2, t0())
        .await
        .unwrap();
    let stored_ids: Vec<_> = stored.iter().map(|s| &s.external_id).collect();
    let many_ids: Vec<_> = many.iter().map(|m| &m.external_id).collect();
    assert_eq!(stored_ids, many_ids, "every item, in the order given");
    assert_eq!(f.store.list_items(f.tenant).await.unwrap().len(), 2504);
}

async fn findings_are_inserted_all_or_nothing(store: TestStore) {
    let f = fixture(store).await;
    let baseline = f.queued(1, t0()).await;
    f.complete(&baseline, RunOutcome::Succeeded, t0()).await;
    let current = f.queued(2, t0()).await;
    f.complete(&current, RunOutcome::Succeeded, t0()).await;
    let finding = |subject: &str, current_id: RunId| NewFinding {
        workspace_id: f.ws,
        tenant_id: f.tenant,
        baseline_operation_run_id: baseline.id(),
        current_operation_run_id: current_id,
        subject_external_id: subject.into(),
        change: "changed".into(),
        details: json!({"field": "name", "from": "a", "to": subject}),
    };
    let stored = f
        .store
        .insert_findings(
            &[finding("x", current.id()), finding("y", current.id())],
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(stored.len(), 2);
    assert!(stored[0].id < stored[1].id);
    assert_eq!(stored[0].subject_external_id, "x");
    assert_eq!(
        stored[1].details,
        json!({"field": "name", "from": "a", "to": "y"})
    );
    assert_eq!(stored[0].baseline_operation_run_id, Some(baseline.id()));
    assert_eq!(stored[0].current_operation_run_id, Some(current.id()));
    assert_eq!(stored[0].workspace_id, f.ws);
    assert_eq!(f.store.list_findings(f.tenant).await.unwrap(), stored);

    let broken = f
        .store
        .insert_findings(
            &[
                finding("z", current.id()),
                finding("w", RunId::new(424_242)),
            ],
            t0(),
        )
        .await;
    assert!(matches!(broken, Err(PortError::NotFound)), "{broken:?}");
    assert_eq!(
        f.store.list_findings(f.tenant).await.unwrap(),
        stored,
        "nothing written"
    );
    assert!(f.store.insert_findings(&[], t0()).await.unwrap().is_empty());
}

on_every_store!(
    inventory_upsert_marks_items_with_their_run,
    findings_are_inserted_all_or_nothing,
);
