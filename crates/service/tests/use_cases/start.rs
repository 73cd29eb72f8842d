use crate::support::*;
use operation_runs_domain::{
    ContextError, IdentityError, IdentityHash, RunContext, RunStatus, RunType, RunTypeError,
    UnknownRunType, UserId,
};
use operation_runs_ports::{PortError, StartError, StartRefusal};
use operation_runs_service::{ServiceError, StartRequest, Started};
use serde_json::json;
use std::sync::{Arc, Mutex};

fn inventory_request() -> StartRequest {
    StartRequest::new(WS, "inventory_sync", "alice")
        .tenant(TENANT)
        .user(UserId::new(5))
        .identity(json!({"scope": "devices", "full": true}))
        .context(RunContext::new().with_trigger("manual"))
}

#[tokio::test]
async fn start_validates_then_inserts_a_queued_run() {
    let mut mocks = Mocks::new();
    // No tenant_workspace expectation: the store checks the tenant as part of the insert, so a
    // start that succeeds is the insert alone, and a look-up would fail the test.
    let expected_hash = IdentityHash::compute(
        WS,
        Some(TENANT),
        &RunType::INVENTORY_SYNC,
        &json!({"full": true, "scope": "devices"}),
    )
    .unwrap();
    mocks
        .lifecycle
        .expect_insert_or_get_active()
        .withf(move |new| {
            new.workspace_id == WS
                && new.tenant_id == Some(TENANT)
                && new.user_id == Some(UserId::new(5))
                && new.initiator_name == "alice"
                && new.run_type == RunType::INVENTORY_SYNC
                && new.identity_hash == expected_hash
                && new.summary_counts.is_empty()
                && new.context.trigger() == Some("manual")
                && new.created_at == now()
        })
        .times(1)
        .returning(|new| Ok(started(inserted(41, new), false)));
    let service = mocks.service();

    let started = service.start(inventory_request()).await.unwrap();

    assert!(!started.is_reused());
    assert!(matches!(started, Started::New(_)));
    let run = started.into_run();
    assert_eq!(run.id().get(), 41);
    assert_eq!(run.status(), RunStatus::Queued);
}

#[tokio::test]
async fn starting_an_active_identity_returns_the_existing_run_as_reused() {
    let mut mocks = Mocks::new();
    // Both starts must carry the same identity although their inputs list keys differently.
    let hashes = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&hashes);
    mocks
        .lifecycle
        .expect_insert_or_get_active()
        .times(2)
        .returning(move |new| {
            let mut seen = seen.lock().unwrap();
            seen.push(new.identity_hash.clone());
            Ok(started(inserted(41, new), seen.len() > 1))
        });
    let service = mocks.service();

    let first = service.start(inventory_request()).await.unwrap();
    let again = service
        .start(inventory_request().identity(json!({"full": true, "scope": "devices"})))
        .await
        .unwrap();

    assert!(!first.is_reused());
    assert!(again.is_reused());
    assert!(matches!(again, Started::Reused(_)));
    assert_eq!(again.run().id(), first.run().id());
    let hashes = hashes.lock().unwrap();
    assert_eq!(hashes[0], hashes[1]);
}

#[tokio::test]
async fn a_workspace_scoped_type_starts_without_a_tenant_lookup() {
    let mut mocks = Mocks::new();
    mocks
        .lifecycle
        .expect_insert_or_get_active()
        .withf(|new| new.tenant_id.is_none() && new.run_type.as_str() == WORKSPACE_REPORT)
        .times(1)
        .returning(|new| Ok(started(inserted(3, new), false)));
    // No tenant_workspace expectation: looking a tenant up would fail the test.
    let service = mocks.service();

    let started = service
        .start(StartRequest::new(WS, WORKSPACE_REPORT, "system"))
        .await
        .unwrap();
    assert_eq!(started.run().tenant_id(), None);
}

/// Runs a start that must be refused before any write.
async fn refused(request: StartRequest, setup: impl FnOnce(&mut Mocks)) -> ServiceError {
    let mut mocks = Mocks::new();
    setup(&mut mocks);
    mocks.forbid_writes();
    let service = mocks.service();
    service.start(request).await.unwrap_err()
}

/// A start of a `run_type` run for [`TENANT`] by alice, refused before any write.
async fn tenant_start_refused(run_type: &str) -> ServiceError {
    refused(
        StartRequest::new(WS, run_type, "alice").tenant(TENANT),
        |_| {},
    )
    .await
}

#[tokio::test]
async fn an_unregistered_type_is_refused() {
    let err = tenant_start_refused("policy_export").await;
    assert!(
        matches!(&err, ServiceError::UnknownRunType(UnknownRunType::NotRegistered(t)) if t == "policy_export"),
        "{err:?}"
    );
    assert_eq!(err.http_status(), 422);
}

#[tokio::test]
async fn a_dotted_type_is_refused_naming_the_canonical_form() {
    let err = tenant_start_refused("inventory.sync").await;
    assert!(
        matches!(
            &err,
            ServiceError::UnknownRunType(UnknownRunType::Invalid(RunTypeError::Dotted(raw, canonical)))
                if raw == "inventory.sync" && canonical == "inventory_sync"
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("`inventory_sync`"), "{err}");
}

#[tokio::test]
async fn a_non_canonical_type_is_refused() {
    for raw in ["Inventory_Sync", "inventory-sync", "", "inventory__sync"] {
        let err = tenant_start_refused(raw).await;
        assert!(
            matches!(&err, ServiceError::UnknownRunType(UnknownRunType::Invalid(RunTypeError::NotCanonical(r))) if r == raw),
            "{raw}: {err:?}"
        );
    }
}

#[tokio::test]
async fn a_tenant_scoped_type_needs_a_tenant() {
    let err = refused(
        StartRequest::new(WS, "backup_schedule_run", "alice"),
        |_| {},
    )
    .await;
    assert!(
        matches!(&err, ServiceError::TenantRequired { run_type } if run_type == "backup_schedule_run"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_workspace_scoped_type_must_not_name_a_tenant() {
    let err = tenant_start_refused(WORKSPACE_REPORT).await;
    assert!(
        matches!(&err, ServiceError::TenantNotAllowed { run_type } if run_type == WORKSPACE_REPORT),
        "{err:?}"
    );
}

/// Runs a start whose insert the store answers with `error` (a refusal writes nothing). The
/// service must take the store's word for it: it looks nothing up and writes nothing else.
async fn refused_by_the_store(request: StartRequest, error: fn() -> StartError) -> ServiceError {
    let mut mocks = Mocks::new();
    mocks
        .lifecycle
        .expect_insert_or_get_active()
        .times(1)
        .returning(move |_| Err(error()));
    mocks.directory.expect_tenant_workspace().never();
    mocks.directory.expect_membership().never();
    mocks.forbid_writes_except(&[Write::InsertOrGetActive]);
    let service = mocks.service();
    service.start(request).await.unwrap_err()
}

#[tokio::test]
async fn the_tenant_must_belong_to_the_workspace() {
    let err = refused_by_the_store(inventory_request(), || {
        StartRefusal::TenantNotInWorkspace {
            tenant: TENANT,
            workspace: WS,
        }
        .into()
    })
    .await;
    assert!(
        matches!(err, ServiceError::TenantNotInWorkspace { tenant, workspace } if tenant == TENANT && workspace == WS),
        "{err:?}"
    );
    assert_eq!(err.http_status(), 422);
}

#[tokio::test]
async fn an_unknown_workspace_is_named() {
    let err = refused_by_the_store(StartRequest::new(WS, WORKSPACE_REPORT, "system"), || {
        StartRefusal::UnknownWorkspace(WS).into()
    })
    .await;
    assert!(
        matches!(err, ServiceError::UnknownWorkspace(workspace) if workspace == WS),
        "{err:?}"
    );
    assert_eq!(err.http_status(), 404);
    assert_eq!(err.to_string(), format!("workspace {WS} not found"));
}

#[tokio::test]
async fn a_failing_store_is_reported_without_a_tenant_lookup() {
    let err = refused_by_the_store(inventory_request(), || {
        PortError::backend("connection reset").into()
    })
    .await;
    assert!(
        matches!(&err, ServiceError::Port(PortError::Backend(source)) if source.to_string() == "connection reset"),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_identity_must_be_a_json_object() {
    for identity in [json!([1, 2]), json!("devices"), json!(null)] {
        let err = refused(inventory_request().identity(identity.clone()), |_| {}).await;
        assert!(
            matches!(
                err,
                ServiceError::InvalidIdentity(IdentityError::NotAnObject(_))
            ),
            "{identity}: {err:?}"
        );
    }
}

#[tokio::test]
async fn a_malformed_context_is_refused() {
    // `with` does not validate, so the service must: ids are stored as JSON integers.
    let context = RunContext::new().with("backup_schedule_id", json!("7"));
    let err = refused(
        StartRequest::new(WS, "backup_schedule_run", "scheduler")
            .tenant(TENANT)
            .context(context),
        |_| {},
    )
    .await;
    assert!(
        matches!(
            err,
            ServiceError::InvalidContext(ContextError::WrongType {
                key: "backup_schedule_id",
                ..
            })
        ),
        "{err:?}"
    );
}
