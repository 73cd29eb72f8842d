//! 3. Drift between two completed inventory syncs.

use super::*;

/// The host's drift job: records itself as a `drift_generate` run, writes the findings, and
/// completes `failed` (code `drift_refused`) when the runs cannot be compared.
pub(crate) async fn drift_job(
    w: &World,
    baseline: RunId,
    current: RunId,
    changes: &[DriftChange],
) -> (RunId, Result<usize, ServiceError>) {
    let run = w
        .run(
            w.ws,
            w.tenant,
            "drift_generate",
            json!({"baseline": baseline.get(), "current": current.get()}),
            Fate::Running,
        )
        .await
        .id();
    match w
        .service
        .record_drift_findings(baseline, current, changes)
        .await
    {
        Ok(findings) => {
            let n = i64::try_from(findings.len()).unwrap();
            w.count_then_succeed(run, &[("findings_created", n)]).await;
            (run, Ok(findings.len()))
        }
        Err(refusal) => {
            let failure = Failure::new(code("drift_refused"), &refusal.to_string());
            w.service
                .complete(run, RunOutcome::Failed, FailureSummary::single(failure))
                .await
                .unwrap();
            (run, Err(refusal))
        }
    }
}

pub(crate) fn change(subject: &str, kind: &str) -> DriftChange {
    DriftChange {
        subject_external_id: subject.into(),
        change: kind.into(),
        details: json!({"field": "display_name"}),
    }
}

pub(crate) async fn drift_generation(db: TestDb) {
    let w = world(db).await;
    let other_tenant = w.another_tenant(w.ws, "fabrikam.example").await;
    let (other_ws, foreign_tenant) = w.northwind().await;
    let done = Fate::Completed(RunOutcome::Succeeded);
    let sync = |n: i64| json!({"sync": n});

    let baseline = w.own_run("inventory_sync", sync(1), done).await;
    w.clock.advance(Duration::hours(1));
    let current = w.own_run("inventory_sync", sync(2), done).await;
    w.clock.advance(Duration::hours(1));
    let of_other_tenant = w
        .run(w.ws, other_tenant, "inventory_sync", sync(3), done)
        .await
        .id();
    let of_other_workspace = w
        .run(other_ws, foreign_tenant, "inventory_sync", sync(4), done)
        .await
        .id();
    let group_sync = w.own_run("entra_group_sync", sync(5), done).await;
    let running = w.own_run("inventory_sync", sync(6), Fate::Running).await;
    let queued = w.own_run("inventory_sync", sync(7), Fate::Queued).await;
    let failed = w
        .run(
            w.ws,
            w.tenant,
            "inventory_sync",
            sync(8),
            Fate::Completed(RunOutcome::Failed),
        )
        .await
        .id();
    w.clock.advance(Duration::minutes(5));

    // The drift job between the two completed syncs.
    let changes = [
        change("dev-1", "changed"),
        change("dev-2", "removed"),
        change("dev-3", "added"),
    ];
    assert_eq!(w.count("SELECT COUNT(*) FROM findings").await, 0);
    let (drift_run, result) = drift_job(&w, baseline, current, &changes).await;
    assert_eq!(result.unwrap(), 3);

    let findings = w.store.list_findings(w.tenant).await.unwrap();
    assert_eq!(findings.len(), 3);
    for (finding, expected) in findings.iter().zip(&changes) {
        assert_eq!(finding.baseline_operation_run_id, Some(baseline));
        assert_eq!(finding.current_operation_run_id, Some(current));
        assert_eq!(finding.workspace_id, w.ws);
        assert_eq!(finding.subject_external_id, expected.subject_external_id);
        assert_eq!(finding.change, expected.change);
        assert_eq!(finding.details, expected.details);
    }
    let stored_refs: Vec<(i64, i64)> = rows(
        &w.db,
        "SELECT baseline_operation_run_id, current_operation_run_id FROM findings ORDER BY id",
    )
    .await
    .iter()
    .map(|r| {
        (
            r.try_get_by_index(0).unwrap(),
            r.try_get_by_index(1).unwrap(),
        )
    })
    .collect();
    assert_eq!(stored_refs, vec![(baseline.get(), current.get()); 3]);

    let drift = w.stored(drift_run).await;
    assert_eq!(drift.run_type, "drift_generate");
    assert_eq!(
        (drift.status.as_str(), drift.outcome.as_str()),
        ("completed", "succeeded")
    );
    assert_eq!(drift.tenant_id, Some(w.tenant.get()));
    assert_eq!(drift.summary_counts, json!({"findings_created": 3}));

    // Refused, with a typed reason and nothing written, for runs that cannot be compared.
    let refused = [
        (baseline, of_other_tenant, DriftRefusal::DifferentTenant),
        (
            baseline,
            of_other_workspace,
            DriftRefusal::DifferentWorkspace,
        ),
        (
            baseline,
            group_sync,
            DriftRefusal::WrongType {
                run: group_sync,
                found: "entra_group_sync".into(),
            },
        ),
        (
            group_sync,
            current,
            DriftRefusal::WrongType {
                run: group_sync,
                found: "entra_group_sync".into(),
            },
        ),
        (baseline, running, DriftRefusal::NotCompleted(running)),
        (queued, current, DriftRefusal::NotCompleted(queued)),
        (baseline, failed, DriftRefusal::NotSuccessful(failed)),
        (current, baseline, DriftRefusal::BaselineNotOlder),
    ];
    for (a, b, expected) in refused {
        let findings_before = w.count("SELECT COUNT(*) FROM findings").await;
        let (job_run, result) = drift_job(&w, a, b, &changes).await;
        match result {
            Err(ServiceError::Drift(refusal)) => assert_eq!(refusal, expected),
            other => panic!("drift of {a} → {b}: expected {expected:?}, got {other:?}"),
        }
        assert_eq!(
            w.count("SELECT COUNT(*) FROM findings").await,
            findings_before,
            "drift of {a} → {b} wrote findings"
        );
        let job = w.stored(job_run).await;
        assert_eq!(
            (job.status.as_str(), job.outcome.as_str()),
            ("completed", "failed")
        );
        assert_eq!(job.failure_summary[0]["code"], "drift_refused");
        assert_eq!(job.summary_counts, json!({}));
    }
    assert_eq!(w.count("SELECT COUNT(*) FROM findings").await, 3);
    assert!(
        w.store
            .list_findings(other_tenant)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        w.store
            .list_findings(foreign_tenant)
            .await
            .unwrap()
            .is_empty()
    );
}
