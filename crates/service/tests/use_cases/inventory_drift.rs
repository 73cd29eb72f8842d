use crate::support::*;
use operation_runs_domain::{
    FindingId, InventoryItemId, OperationRun, RunId, RunOutcome, RunStatus,
};
use operation_runs_ports::{InventoryItem, PortError, SeenItem};
use operation_runs_service::{DriftChange, DriftRefusal, ServiceError};
use serde_json::json;

fn items() -> Vec<SeenItem> {
    ["dev-1", "dev-2"]
        .into_iter()
        .map(|id| SeenItem {
            external_id: id.into(),
            kind: "device".into(),
            display_name: format!("Device {id}"),
        })
        .collect()
}

#[tokio::test]
async fn a_running_inventory_sync_marks_the_items_it_saw() {
    let running = run(7).running().build();
    let mut mocks = Mocks::reading(&running);
    mocks
        .inventory
        .expect_upsert_seen()
        .withf(|ws, tenant, seen, run, at| {
            *ws == WS
                && *tenant == TENANT
                && *seen == items()
                && *run == RunId::new(7)
                && *at == now()
        })
        .times(1)
        .returning(|_, tenant, seen, run, _| {
            Ok(seen
                .iter()
                .zip(1..)
                .map(|(item, id)| InventoryItem {
                    id: InventoryItemId::new(id),
                    tenant_id: tenant,
                    external_id: item.external_id.clone(),
                    kind: item.kind.clone(),
                    display_name: item.display_name.clone(),
                    last_seen_operation_run_id: Some(run),
                })
                .collect())
        });
    mocks.forbid_writes_except(&[Write::UpsertSeen]);

    let stored = mocks
        .service()
        .record_seen_items(running.id(), &items())
        .await
        .unwrap();

    let seen_by: Vec<_> = stored
        .iter()
        .map(|i| i.last_seen_operation_run_id)
        .collect();
    assert_eq!(seen_by, vec![Some(RunId::new(7)); 2]);
}

async fn seen_refused(run: OperationRun) -> ServiceError {
    let mut mocks = Mocks::new();
    mocks.expect_get(&run).forbid_writes();
    mocks
        .service()
        .record_seen_items(run.id(), &items())
        .await
        .unwrap_err()
}

#[tokio::test]
async fn only_a_running_inventory_sync_with_a_tenant_may_mark_items() {
    let err = seen_refused(run(7).running().run_type("backup_schedule_run").build()).await;
    assert!(
        matches!(&err, ServiceError::WrongRunType { run, expected, found }
            if *run == RunId::new(7) && expected == "inventory_sync" && found == "backup_schedule_run"),
        "{err:?}"
    );

    let err = seen_refused(run(7).completed(RunOutcome::Succeeded).build()).await;
    assert_already_completed(&err);

    let err = seen_refused(run(7).queued().build()).await;
    assert_illegal_from(&err, RunStatus::Queued);

    let err = seen_refused(run(7).running().tenant(None).build()).await;
    assert!(
        matches!(err, ServiceError::TenantRequired { .. }),
        "{err:?}"
    );
}

fn changes() -> Vec<DriftChange> {
    vec![
        DriftChange {
            subject_external_id: "dev-1".into(),
            change: "removed".into(),
            details: json!({}),
        },
        DriftChange {
            subject_external_id: "dev-3".into(),
            change: "added".into(),
            details: json!({"display_name": "Device 3"}),
        },
    ]
}

fn baseline() -> operation_runs_domain::OperationRun {
    run(1)
        .created_at(hours_ago(26))
        .completed(RunOutcome::Succeeded)
        .build()
}

fn current() -> operation_runs_domain::OperationRun {
    run(2)
        .created_at(hours_ago(2))
        .completed(RunOutcome::PartiallySucceeded)
        .build()
}

fn expect_findings(mocks: &mut Mocks, baseline: RunId, current: RunId) {
    mocks
        .findings
        .expect_insert_findings()
        .withf(move |findings, at| {
            *at == now()
                && findings.len() == 2
                && findings.iter().zip(changes()).all(|(f, c)| {
                    f.workspace_id == WS
                        && f.tenant_id == TENANT
                        && f.baseline_operation_run_id == baseline
                        && f.current_operation_run_id == current
                        && f.subject_external_id == c.subject_external_id
                        && f.change == c.change
                        && f.details == c.details
                })
        })
        .times(1)
        .returning(|findings, _| {
            Ok(findings
                .iter()
                .zip(1..)
                .map(|(f, id)| f.stored_as(FindingId::new(id)))
                .collect())
        });
    mocks.forbid_writes_except(&[Write::InsertFindings]);
}

#[tokio::test]
async fn drift_findings_reference_both_canonical_runs() {
    let mut mocks = Mocks::new();
    mocks.expect_get(&baseline()).expect_get(&current());
    expect_findings(&mut mocks, RunId::new(1), RunId::new(2));

    let findings = mocks
        .service()
        .record_drift_findings(RunId::new(1), RunId::new(2), &changes())
        .await
        .unwrap();

    let between: Vec<_> = findings
        .iter()
        .map(|f| (f.baseline_operation_run_id, f.current_operation_run_id))
        .collect();
    assert_eq!(between, vec![(Some(RunId::new(1)), Some(RunId::new(2))); 2]);
}

#[tokio::test]
async fn on_equal_creation_times_the_lower_id_is_the_older_run() {
    let at = hours_ago(5);
    let older = run(1)
        .created_at(at)
        .completed(RunOutcome::Succeeded)
        .build();
    let newer = run(2)
        .created_at(at)
        .completed(RunOutcome::Succeeded)
        .build();

    let mut mocks = Mocks::new();
    mocks.expect_get(&older).expect_get(&newer);
    expect_findings(&mut mocks, RunId::new(1), RunId::new(2));
    mocks
        .service()
        .record_drift_findings(RunId::new(1), RunId::new(2), &changes())
        .await
        .unwrap();

    let err = drift_refused(newer, older).await;
    assert_eq!(err, DriftRefusal::BaselineNotOlder);
}

/// Drift between `baseline` and `current` that must be refused without writing.
async fn drift_refused(baseline: OperationRun, current: OperationRun) -> DriftRefusal {
    let (b, c) = (baseline.id(), current.id());
    let mut mocks = Mocks::new();
    // Refusals about the baseline may come before the current run is read.
    for run in [baseline, current] {
        mocks
            .queries
            .expect_get()
            .with(mockall::predicate::eq(run.id()))
            .times(..=1)
            .returning(move |_| Ok(run.clone()));
    }
    mocks.forbid_writes();
    match mocks
        .service()
        .record_drift_findings(b, c, &changes())
        .await
    {
        Err(ServiceError::Drift(refusal)) => refusal,
        other => panic!("expected a drift refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn drift_runs_must_be_of_one_tenant() {
    let current = || {
        run(2)
            .created_at(hours_ago(2))
            .completed(RunOutcome::Succeeded)
    };
    for (current, refusal) in [
        (
            current().tenant(Some(OTHER_TENANT)),
            DriftRefusal::DifferentTenant,
        ),
        (
            current().tenant(None),
            DriftRefusal::NoTenant(RunId::new(2)),
        ),
        (
            current().workspace(OTHER_WS),
            DriftRefusal::DifferentWorkspace,
        ),
    ] {
        assert_eq!(drift_refused(baseline(), current.build()).await, refusal);
    }
}

#[tokio::test]
async fn drift_runs_must_be_inventory_syncs() {
    let backup = run(2)
        .run_type("backup_schedule_run")
        .created_at(hours_ago(2))
        .completed(RunOutcome::Succeeded)
        .build();
    assert_eq!(
        drift_refused(baseline(), backup).await,
        DriftRefusal::WrongType {
            run: RunId::new(2),
            found: "backup_schedule_run".into()
        }
    );
}

#[tokio::test]
async fn drift_runs_must_have_completed_successfully() {
    let running = run(2).created_at(hours_ago(2)).running().build();
    assert_eq!(
        drift_refused(baseline(), running).await,
        DriftRefusal::NotCompleted(RunId::new(2))
    );

    for outcome in [RunOutcome::Failed, RunOutcome::Cancelled] {
        let unsuccessful = run(1).created_at(hours_ago(26)).completed(outcome).build();
        assert_eq!(
            drift_refused(unsuccessful, current()).await,
            DriftRefusal::NotSuccessful(RunId::new(1)),
            "{outcome}"
        );
    }
}

#[tokio::test]
async fn the_baseline_must_be_older_than_the_current_run() {
    assert_eq!(
        drift_refused(current(), baseline()).await,
        DriftRefusal::BaselineNotOlder
    );
    assert_eq!(
        drift_refused(current(), current()).await,
        DriftRefusal::BaselineNotOlder,
        "a run is not older than itself"
    );
}

#[tokio::test]
async fn a_missing_drift_run_is_named() {
    let mut mocks = Mocks::new();
    mocks.expect_get(&baseline());
    mocks
        .queries
        .expect_get()
        .with(mockall::predicate::eq(RunId::new(2)))
        .times(1)
        .returning(|_| Err(PortError::NotFound));
    mocks.forbid_writes();
    let err = mocks
        .service()
        .record_drift_findings(RunId::new(1), RunId::new(2), &changes())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ServiceError::Drift(DriftRefusal::RunNotFound(id)) if id == RunId::new(2)),
        "{err:?}"
    );
}
