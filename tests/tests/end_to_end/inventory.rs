//! 1. An inventory sync job.

use super::*;

pub(crate) fn seen(external_id: &str, kind: &str, name: &str) -> SeenItem {
    SeenItem {
        external_id: external_id.into(),
        kind: kind.into(),
        display_name: name.into(),
    }
}

/// `(external_id, last_seen_operation_run_id)` of a tenant's items, as stored.
pub(crate) async fn stored_items(db: &TestDb, tenant: TenantId) -> Vec<(String, Option<i64>)> {
    column_pairs(
        db,
        &format!(
            "SELECT external_id, last_seen_operation_run_id FROM inventory_items \
             WHERE tenant_id = {} ORDER BY external_id",
            tenant.get()
        ),
    )
    .await
}

pub(crate) async fn inventory_sync_job(db: TestDb) {
    let w = world(db).await;
    let request = StartRequest::new(w.ws, "inventory_sync", "scheduler")
        .tenant(w.tenant)
        .identity(json!({"selection": "all"}));

    // Start; a second start of the same identity while it is queued, then while it is
    // running, gets the same run back.
    let created_at = w.now();
    let started = w.service.start(request.clone()).await.unwrap();
    assert!(!started.is_reused());
    let run = started.run().id();
    assert_eq!(started.run().status(), RunStatus::Queued);
    w.clock.advance(secs(5));
    let again = w.service.start(request.clone()).await.unwrap();
    assert!(again.is_reused());
    assert_eq!(again.run().id(), run);

    let begun_at = w.clock.advance(secs(5));
    assert_eq!(
        w.service.begin(run).await.unwrap().status(),
        RunStatus::Running
    );
    w.clock.advance(secs(1));
    let while_running = w.service.start(request.clone()).await.unwrap();
    assert!(while_running.is_reused());
    assert_eq!(while_running.run().id(), run);
    assert_eq!(while_running.run().status(), RunStatus::Running);
    assert_eq!(w.count("SELECT COUNT(*) FROM operation_runs").await, 1);

    // The job sees the inventory in two batches and records its progress after each.
    let items = [
        seen("dev-1", "device", "Laptop 1"),
        seen("dev-2", "device", "Laptop 2"),
        seen("pol-1", "policy", "Baseline policy"),
    ];
    w.clock.advance(secs(10));
    let marked = w.service.record_seen_items(run, &items[..2]).await.unwrap();
    assert!(
        marked
            .iter()
            .all(|i| i.last_seen_operation_run_id == Some(run))
    );
    w.service
        .record_progress(run, &[("total", 3), ("items_seen", 2), ("processed", 2)])
        .await
        .unwrap();
    let heartbeat = w.clock.advance(secs(10));
    w.service.record_seen_items(run, &items[2..]).await.unwrap();
    let progressed = w
        .service
        .record_progress(
            run,
            &[("items_seen", 1), ("processed", 1), ("succeeded", 3)],
        )
        .await
        .unwrap();
    assert_eq!(progressed.updated_at(), heartbeat);

    let (stored, completed_at) = w
        .complete_later(run, secs(30), RunOutcome::Succeeded, FailureSummary::new())
        .await;
    assert_eq!(stored.run_type, "inventory_sync");
    assert_eq!(stored.status, "completed");
    assert_eq!(stored.outcome, "succeeded");
    assert_eq!(stored.tenant_id, Some(w.tenant.get()));
    assert_eq!(
        stored.summary_counts,
        json!({"total": 3, "items_seen": 3, "processed": 3, "succeeded": 3})
    );
    assert_eq!(stored.failure_summary, json!([]));
    assert_eq!(stored.created_at, created_at);
    assert_eq!(stored.started_at, Some(begun_at));
    assert_eq!(stored.completed_at, Some(completed_at));
    assert_eq!(stored.updated_at, completed_at);
    let through_port = w.store.get(run).await.unwrap();
    assert_eq!(
        through_port
            .summary_counts()
            .readable()
            .unwrap()
            .get_str("items_seen"),
        3
    );
    assert_eq!(through_port.outcome(), RunOutcome::Succeeded);

    let expected = vec![
        ("dev-1".to_owned(), Some(run.get())),
        ("dev-2".to_owned(), Some(run.get())),
        ("pol-1".to_owned(), Some(run.get())),
    ];
    assert_eq!(stored_items(&w.db, w.tenant).await, expected);
    let listed = w.store.list_items(w.tenant).await.unwrap();
    assert_eq!(listed.len(), 3);
    assert!(
        listed
            .iter()
            .all(|i| i.last_seen_operation_run_id == Some(run))
    );

    // A completed run marks nothing any more.
    let late = w.service.record_seen_items(run, &items[..1]).await;
    assert!(matches!(late, Err(ServiceError::Transition(_))), "{late:?}");
    assert_eq!(stored_items(&w.db, w.tenant).await, expected);

    // Once completed, the same identity starts a new run; what it does not see keeps the
    // run that saw it last.
    w.clock.advance(Duration::hours(1));
    let next = w.service.start(request.clone()).await.unwrap();
    assert!(!next.is_reused());
    let next = next.run().id();
    assert_ne!(next, run);
    assert_eq!(w.stored(next).await.status, "queued");
    w.service.begin(next).await.unwrap();
    w.service
        .record_seen_items(next, &[items[0].clone(), items[2].clone()])
        .await
        .unwrap();
    w.count_then_succeed(next, &[("items_seen", 2)]).await;
    assert_eq!(
        stored_items(&w.db, w.tenant).await,
        vec![
            ("dev-1".to_owned(), Some(next.get())),
            ("dev-2".to_owned(), Some(run.get())),
            ("pol-1".to_owned(), Some(next.get())),
        ]
    );
    assert_eq!(
        w.stored(next).await.summary_counts,
        json!({"items_seen": 2})
    );
    assert_eq!(w.stored(run).await, stored, "the first run is final");
    assert_eq!(w.count("SELECT COUNT(*) FROM operation_runs").await, 2);
}
