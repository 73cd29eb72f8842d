//! The runs a worker records: inventory syncs, an Entra group sync, drift generation.

use super::{Seed, demo_error, heading, indent};
use crate::db::App;
use crate::error::CliError;
use crate::error::CliResult;
use crate::output::{Table, first_failure};
use chrono::{SecondsFormat, Utc};
use operation_runs_domain::{
    Failure, FailureCode, FailureSummary, OperationRun, RunId, RunOutcome, RunType,
};
use operation_runs_ports::{FindingRepository, InventoryRepository, SeenItem};
use operation_runs_service::{DriftChange, OperationRunService, ServiceError, StartRequest};
use serde_json::{Value, json};

fn service_error(step: &str) -> impl Fn(ServiceError) -> CliError + '_ {
    move |e| demo_error(step, e)
}

/// A start of a `run_type` run on the seed's tenant.
fn sync_request(seed: &Seed, run_type: RunType, initiator: &str, identity: Value) -> StartRequest {
    StartRequest::new(seed.workspace, run_type.as_str(), initiator)
        .tenant(seed.tenant)
        .identity(identity)
}

/// Starts a run and begins it.
async fn start_running(
    service: &OperationRunService,
    request: StartRequest,
    step: &str,
) -> Result<RunId, CliError> {
    let started = service.start(request).await.map_err(service_error(step))?;
    let id = started.run().id();
    service.begin(id).await.map_err(service_error(step))?;
    Ok(id)
}

/// Records `counts` on running run `id`, then completes it `succeeded`: the run as counted, and
/// as completed.
async fn succeed_with(
    service: &OperationRunService,
    id: RunId,
    counts: &[(&str, i64)],
    step: &str,
) -> Result<(OperationRun, OperationRun), CliError> {
    let counted = service
        .record_progress(id, counts)
        .await
        .map_err(service_error(step))?;
    let done = service
        .complete(id, RunOutcome::Succeeded, FailureSummary::new())
        .await
        .map_err(service_error(step))?;
    Ok((counted, done))
}

/// A unique identity part, so a demo never reuses a run an interrupted earlier demo left active.
fn nonce() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// One inventory sync that sees `items`; returns its completed run.
pub(super) async fn inventory_sync(
    app: &App,
    seed: &Seed,
    pass: u32,
    items: &[&str],
) -> CliResult<OperationRun> {
    let service = &app.service;
    let step = "the inventory sync";
    if pass == 1 {
        heading(1, "An inventory sync");
    }
    let identity = json!({ "selection": "all", "pass": pass, "demo": nonce() });
    let request = sync_request(seed, RunType::INVENTORY_SYNC, "inventory-worker", identity);
    let started = service
        .start(request.clone())
        .await
        .map_err(service_error(step))?;
    let id = started.run().id();
    println!(
        "   start                         -> run {id} ({})",
        new_or_reused(started.is_reused())
    );
    if pass == 1 {
        let again = service.start(request).await.map_err(service_error(step))?;
        println!(
            "   start again, same identity    -> run {} ({}: one active run per identity)",
            again.run().id(),
            new_or_reused(again.is_reused())
        );
    }
    service.begin(id).await.map_err(service_error(step))?;
    println!("   begin                         -> running");
    let seen = items
        .iter()
        .map(|external_id| SeenItem {
            external_id: (*external_id).to_owned(),
            kind: if external_id.starts_with("laptop") {
                "laptop"
            } else {
                "device"
            }
            .to_owned(),
            display_name: format!("{external_id} (pass {pass})"),
        })
        .collect::<Vec<_>>();
    let marked = service
        .record_seen_items(id, &seen)
        .await
        .map_err(service_error(step))?;
    println!(
        "   mark seen items               -> {} item(s) now have last_seen_operation_run_id = {id}: {}",
        marked.len(),
        marked
            .iter()
            .map(|i| i.external_id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let n = i64::try_from(items.len()).unwrap_or(i64::MAX);
    let (progressed, done) =
        succeed_with(service, id, &[("items_seen", n), ("processed", n)], step).await?;
    println!(
        "   progress                      -> {}",
        crate::output::counts(&progressed)
    );
    println!(
        "   complete                      -> {} {}",
        done.status(),
        done.outcome()
    );
    let items = app
        .store
        .list_items(seed.tenant)
        .await
        .map_err(|e| demo_error(step, e))?;
    let by_this_run = items
        .iter()
        .filter(|i| i.last_seen_operation_run_id == Some(id))
        .count();
    println!(
        "   the tenant's {} inventory item(s): {by_this_run} last seen by run {id}",
        items.len()
    );
    Ok(done)
}

fn new_or_reused(reused: bool) -> &'static str {
    if reused { "reused" } else { "new" }
}

pub(super) async fn entra_group_sync(app: &App, seed: &Seed) -> CliResult {
    heading(2, "An Entra group sync with a partial failure");
    let service = &app.service;
    let step = "the Entra group sync";
    let identity = json!({ "groups": "all", "demo": nonce() });
    let request = sync_request(
        seed,
        RunType::ENTRA_GROUP_SYNC,
        "directory-worker",
        identity,
    );
    let id = start_running(service, request, step).await?;
    service
        .record_progress(
            id,
            &[
                ("groups_seen", 12),
                ("members_seen", 148),
                ("succeeded", 11),
                ("failed", 1),
            ],
        )
        .await
        .map_err(service_error(step))?;
    let reported = "GET https://graph.microsoft.com/v1.0/groups/7f3c/members failed with 401 \
                    (Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJkZW1vLXVzZXIifQ.c2lnbmF0dXJlLW9mLWRlbW8)";
    let code = FailureCode::parse("group_members_unavailable").map_err(|e| demo_error(step, e))?;
    let done = service
        .complete(
            id,
            RunOutcome::PartiallySucceeded,
            FailureSummary::single(Failure::new(code, reported)),
        )
        .await
        .map_err(service_error(step))?;
    println!(
        "   run {id}: {} {}, counts {}",
        done.status(),
        done.outcome(),
        crate::output::counts(&done)
    );
    println!("   the worker reported: {reported}");
    println!("   stored (sanitized):  {}", first_failure(&done));
    Ok(())
}

pub(super) async fn drift(app: &App, seed: &Seed, baseline: OperationRun) -> CliResult {
    heading(3, "Drift between two completed inventory syncs");
    println!("   a second inventory sync: device-003 is gone, laptop-004 renamed, laptop-005 new");
    let current = inventory_sync(
        app,
        seed,
        2,
        &["device-001", "device-002", "laptop-004", "laptop-005"],
    )
    .await?;
    let service = &app.service;
    let step = "drift generation";
    let (b, c) = (baseline.id(), current.id());
    let identity = json!({ "baseline": b.get(), "current": c.get() });
    let request = sync_request(seed, RunType::DRIFT_GENERATE, "drift-worker", identity);
    let id = start_running(service, request, step).await?;
    let changes = vec![
        DriftChange {
            subject_external_id: "device-003".to_owned(),
            change: "removed".to_owned(),
            details: json!({ "kind": "device" }),
        },
        DriftChange {
            subject_external_id: "laptop-004".to_owned(),
            change: "changed".to_owned(),
            details: json!({ "display_name": { "from": "laptop-004 (pass 1)", "to": "laptop-004 (pass 2)" } }),
        },
        DriftChange {
            subject_external_id: "laptop-005".to_owned(),
            change: "added".to_owned(),
            details: json!({ "kind": "laptop" }),
        },
    ];
    let findings = service
        .record_drift_findings(b, c, &changes)
        .await
        .map_err(service_error(step))?;
    let n = i64::try_from(findings.len()).unwrap_or(i64::MAX);
    let (_, done) = succeed_with(service, id, &[("findings_created", n)], step).await?;
    println!(
        "   drift_generate run {id}: {} {}, {} finding(s) between baseline run {b} and current run {c}",
        done.status(),
        done.outcome(),
        findings.len()
    );
    let mut table = Table::new([
        "FINDING",
        "SUBJECT",
        "CHANGE",
        "BASELINE RUN",
        "CURRENT RUN",
    ]);
    let show = |id: Option<RunId>| id.map_or_else(|| "-".to_owned(), |r| r.to_string());
    for finding in &findings {
        table.row([
            finding.id.to_string(),
            finding.subject_external_id.clone(),
            finding.change.clone(),
            show(finding.baseline_operation_run_id),
            show(finding.current_operation_run_id),
        ]);
    }
    indent(&table.render());
    let all = app
        .store
        .list_findings(seed.tenant)
        .await
        .map_err(|e| demo_error(step, e))?;
    println!("   the tenant has {} finding(s) in all", all.len());
    Ok(())
}
