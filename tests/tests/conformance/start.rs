//! Starting a run: insert or reuse the active run of an identity, refusals with their
//! reason, reading one run, and the newest completed run of an identity.

use crate::support::*;
use chrono::Duration;
use operation_runs_domain::{
    RunContext, RunId, RunOutcome, RunStatus, RunType, TenantId, UserId, WorkspaceId,
};
use operation_runs_ports::{PortError, StartError, StartRefusal};
use operation_runs_tests::{TestStore, on_every_store};
use serde_json::json;

async fn start_inserts_then_reuses_until_completed(store: TestStore) {
    let f = fixture(store).await;
    let context = RunContext::new().with_trigger("manual");
    let mut new = new_run(
        f.ws,
        Some(f.tenant),
        RunType::INVENTORY_SYNC,
        json!({"selection": "all"}),
        t0(),
    );
    new.context = context.clone();
    new.summary_counts = counts(&[("total", 4)]);

    let first = f.store.insert_or_get_active(&new).await.unwrap();
    assert!(!first.reused);
    let run = &first.run;
    assert_eq!(run.workspace_id(), f.ws);
    assert_eq!(run.tenant_id(), Some(f.tenant));
    assert_eq!(run.user_id(), Some(UserId::new(7)));
    assert_eq!(run.initiator_name(), "Ada");
    assert_eq!(run.run_type(), "inventory_sync");
    assert_eq!(*run.status().readable().unwrap(), RunStatus::Queued);
    assert_eq!(*run.outcome().readable().unwrap(), RunOutcome::Pending);
    assert_eq!(run.identity_hash(), &new.identity_hash);
    assert_eq!(run.summary_counts(), &counts(&[("total", 4)]));
    assert_eq!(run.context(), &context);
    assert!(run.failure_summary().readable().unwrap().is_empty());
    assert_eq!(
        (
            *run.started_at().readable().unwrap(),
            *run.completed_at().readable().unwrap()
        ),
        (None, None)
    );
    assert_eq!((run.created_at(), run.updated_at()), (t0(), t0()));
    assert_eq!(f.store.get(run.id()).await.unwrap(), *run);

    let again = f.store.insert_or_get_active(&new).await.unwrap();
    assert!(again.reused);
    assert_eq!(again.run, *run);

    // Still the same run once it is running.
    let running = f.begin(run, t0() + Duration::seconds(1)).await;
    let again = f.store.insert_or_get_active(&new).await.unwrap();
    assert!(again.reused);
    assert_eq!(again.run, running);

    // Completed: the identity may start again, as a new run.
    f.complete(&running, RunOutcome::Succeeded, t0() + Duration::seconds(2))
        .await;
    let next = f.store.insert_or_get_active(&new).await.unwrap();
    assert!(!next.reused);
    assert!(next.run.id() > run.id());
    assert_eq!(next.run.status(), RunStatus::Queued);

    // Another identity, or the same inputs in another workspace, is another run.
    let other = f
        .start(&new_run(
            f.ws,
            Some(f.tenant),
            RunType::INVENTORY_SYNC,
            json!({"selection": "some"}),
            t0(),
        ))
        .await;
    assert_ne!(other.id(), next.run.id());
    let ws2 = f.store.create_workspace("Fabrikam").await.unwrap();
    let mut elsewhere = new.clone();
    elsewhere.workspace_id = ws2;
    elsewhere.tenant_id = None;
    let elsewhere = f.store.insert_or_get_active(&elsewhere).await.unwrap();
    assert!(!elsewhere.reused);
    assert_eq!(elsewhere.run.workspace_id(), ws2);
    assert_eq!(f.count_runs(&[f.ws, ws2]).await, 4);
}

async fn start_with_a_missing_workspace_or_tenant_is_refused_with_the_reason(store: TestStore) {
    let f = fixture(store).await;
    let inventory_sync = |ws, tenant| new_run(ws, tenant, RunType::INVENTORY_SYNC, json!({}), t0());
    let missing_ws = inventory_sync(WorkspaceId::new(999_999), None);
    let r = f.store.insert_or_get_active(&missing_ws).await;
    assert!(
        matches!(r, Err(StartError::Refused(StartRefusal::UnknownWorkspace(ws))) if ws == WorkspaceId::new(999_999)),
        "{r:?}"
    );
    let missing_tenant = inventory_sync(f.ws, Some(TenantId::new(999_999)));
    let r = f.store.insert_or_get_active(&missing_tenant).await;
    assert!(
        matches!(r, Err(StartError::Refused(StartRefusal::TenantNotInWorkspace { tenant, workspace }))
            if tenant == TenantId::new(999_999) && workspace == f.ws),
        "{r:?}"
    );
    // Both wrong at once (a real tenant named with an unknown workspace): the tenant is not one
    // of that workspace's, and that is the reason given.
    let unknown = WorkspaceId::new(999_999);
    let both = inventory_sync(unknown, Some(f.tenant));
    let r = f.store.insert_or_get_active(&both).await;
    assert!(
        matches!(r, Err(StartError::Refused(StartRefusal::TenantNotInWorkspace { tenant, workspace }))
            if tenant == f.tenant && workspace == unknown),
        "{r:?}"
    );
    assert_eq!(f.count_runs(&[f.ws, unknown]).await, 0);
}

/// The store, not its caller, enforces that a run's tenant belongs to its workspace: a start
/// naming another workspace's tenant is refused, saying so, and writes nothing, also once that tenant
/// has runs of its own, which stay as they are.
async fn start_with_a_tenant_of_another_workspace_is_refused(store: TestStore) {
    let f = fixture(store).await;
    let ws2 = f.store.create_workspace("Fabrikam").await.unwrap();
    let tenant2 = f
        .store
        .create_tenant(ws2, "fabrikam.example")
        .await
        .unwrap();
    let both = [f.ws, ws2];
    let count = || f.count_runs(&both);

    // Workspace 1 with workspace 2's tenant, on an empty table and then again.
    let foreign = new_run(
        f.ws,
        Some(tenant2),
        RunType::INVENTORY_SYNC,
        json!({"selection": "all"}),
        t0(),
    );
    for _ in 0..2 {
        let r = f.store.insert_or_get_active(&foreign).await;
        assert!(
            matches!(r, Err(StartError::Refused(StartRefusal::TenantNotInWorkspace { tenant, workspace }))
                if tenant == tenant2 && workspace == f.ws),
            "{r:?}"
        );
    }
    assert_eq!(count().await, 0);

    // The tenant's own start succeeds; the foreign start is still refused, and does not reuse
    // that run (other workspace, other identity).
    let own = new_run(
        ws2,
        Some(tenant2),
        RunType::INVENTORY_SYNC,
        json!({"selection": "all"}),
        t0(),
    );
    let started = f.store.insert_or_get_active(&own).await.unwrap();
    assert!(!started.reused);
    assert_eq!(
        (started.run.workspace_id(), started.run.tenant_id()),
        (ws2, Some(tenant2))
    );
    let r = f.store.insert_or_get_active(&foreign).await;
    assert!(
        matches!(
            r,
            Err(StartError::Refused(
                StartRefusal::TenantNotInWorkspace { .. }
            ))
        ),
        "{r:?}"
    );

    assert_eq!(count().await, 1);
    assert_eq!(f.count_runs(&[f.ws]).await, 0);
    assert_eq!(f.store.get(started.run.id()).await.unwrap(), started.run);

    // The happy path is unchanged: the workspace's own tenant starts, then reuses.
    let ours = new_run(
        f.ws,
        Some(f.tenant),
        RunType::INVENTORY_SYNC,
        json!({"selection": "all"}),
        t0(),
    );
    let first = f.store.insert_or_get_active(&ours).await.unwrap();
    assert!(!first.reused);
    assert_eq!(first.run.tenant_id(), Some(f.tenant));
    let again = f.store.insert_or_get_active(&ours).await.unwrap();
    assert!(again.reused);
    assert_eq!(again.run.id(), first.run.id());
    assert_eq!(count().await, 2);
}

async fn get_of_a_missing_run_is_not_found(store: TestStore) {
    let f = fixture(store).await;
    assert!(matches!(
        f.store.get(RunId::new(424_242)).await,
        Err(PortError::NotFound)
    ));
}

async fn latest_completed_run_of_an_identity(store: TestStore) {
    let f = fixture(store).await;
    let identity = |n: i64| {
        new_run(
            f.ws,
            Some(f.tenant),
            RunType::INVENTORY_SYNC,
            json!({ "n": n }),
            t0(),
        )
    };
    let hash = identity(1).identity_hash;
    let latest = |outcomes: &'static [RunOutcome]| {
        let (store, ws, hash) = (f.store.clone(), f.ws, hash.clone());
        async move {
            store
                .latest_completed_with_identity(ws, &hash, outcomes)
                .await
                .unwrap()
        }
    };
    const SUCCESSFUL: &[RunOutcome] = &[RunOutcome::Succeeded, RunOutcome::PartiallySucceeded];
    assert_eq!(latest(&[]).await, None);

    // Active runs never count.
    let first = f.start(&identity(1)).await;
    assert_eq!(latest(&[]).await, None);
    let first = f
        .complete(&first, RunOutcome::Succeeded, t0() + Duration::seconds(1))
        .await;
    assert_eq!(latest(SUCCESSFUL).await, Some(first.clone()));

    // A newer failure is the newest completed run, but not the newest successful one.
    let second = f.start(&identity(1)).await;
    let second = f
        .complete(&second, RunOutcome::Failed, t0() + Duration::seconds(2))
        .await;
    assert_eq!(latest(&[]).await, Some(second.clone()));
    assert_eq!(latest(SUCCESSFUL).await, Some(first.clone()));
    assert_eq!(latest(&[RunOutcome::Failed]).await, Some(second));
    let active = f.start(&identity(1)).await;
    assert_eq!(latest(SUCCESSFUL).await, Some(first.clone()));
    let third = f
        .complete(
            &active,
            RunOutcome::PartiallySucceeded,
            t0() + Duration::seconds(3),
        )
        .await;
    assert_eq!(latest(SUCCESSFUL).await, Some(third));

    // Other identities, and the same identity hash in another workspace, are other operations.
    let other = f.start(&identity(2)).await;
    f.complete(&other, RunOutcome::Succeeded, t0()).await;
    let ws2 = f.store.create_workspace("Fabrikam").await.unwrap();
    assert_eq!(
        f.store
            .latest_completed_with_identity(ws2, &hash, &[])
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        f.store
            .latest_completed_with_identity(f.ws, &identity(3).identity_hash, &[])
            .await
            .unwrap(),
        None
    );
}

on_every_store!(
    start_inserts_then_reuses_until_completed,
    start_with_a_missing_workspace_or_tenant_is_refused_with_the_reason,
    start_with_a_tenant_of_another_workspace_is_refused,
    get_of_a_missing_run_is_not_found,
    latest_completed_run_of_an_identity,
);
